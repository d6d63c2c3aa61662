#pragma once
/*
 * Private: consuming a registration code inside a caller's transaction, so
 * add_ca_with_code can consume and insert atomically.
 */

#include "connection.hpp"

#include <cstdint>
#include <string>

namespace portcullis::store::detail {

/// Marks the code used. Must run inside an IMMEDIATE transaction.
/// Errors: not_found, already_used, expired.
result<void> consume_code(connection& conn, const std::string& tenant, const std::string& code,
                          std::int64_t now);

}  // namespace portcullis::store::detail
