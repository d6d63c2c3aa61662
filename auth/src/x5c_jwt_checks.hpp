#pragma once
// The single implementation of the SPEC §4.1 rule sequence, driven by a rule_log: verify mode
// (stop at the first failure) for verify_x5c_jwt, explain mode (record all) for explain_x5c_jwt.

#include <cstdint>
#include <optional>
#include <string_view>

#include "portcullis/auth/identity.hpp"
#include "portcullis/auth/x5c_jwt_verifier.hpp"
#include "rule_log.hpp"

namespace portcullis::auth::detail {

std::optional<identity> run_x5c_jwt_checks(std::string_view username, std::string_view password,
                                           std::string_view client_id, const trust_store& store,
                                           const x5c_options& options, std::int64_t now, chain_cache* cache,
                                           rule_log& log, bool* needs_validation = nullptr);

/// client_id.length, shared with mTLS.
bool check_client_id_length(std::string_view client_id, std::size_t min, std::size_t max, rule_log& log);

}  // namespace portcullis::auth::detail
