#pragma once
// The admin bootstrap token (SPEC §2): from PORTCULLIS_ADMIN_TOKEN, else from the
// file named by admin.token_file, else generated on first start into
// <data_dir>/admin.token (mode 0600). Only its path is logged, never the token.

#include <string>

#include "portcullis/broker/config.hpp"

namespace portcullis::broker {

/// Throws config_error when serve would: the token comes from admin.token_file (the
/// environment variable is not set) and that file cannot be read or is empty. Reads only.
void check_bootstrap_token_source(const config& cfg);

/// Returns the SHA-256 hex of the bootstrap token. Throws config_error when the
/// configured token file cannot be read or is empty.
std::string load_bootstrap_token_hash(const config& cfg);

}  // namespace portcullis::broker
