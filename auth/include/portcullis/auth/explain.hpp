#pragma once
// `portcullis token explain`: runs the exact checks of verify_x5c_jwt (same code path, see
// x5c_jwt_checks.cpp) but records every rule with pass/fail instead of stopping at the first
// failure, continuing wherever the later rules still have their inputs. Plus a plain decode of
// the JWS for display.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

#include "portcullis/auth/failure.hpp"
#include "portcullis/auth/x5c_jwt_verifier.hpp"

namespace portcullis::auth {

/// One checked rule: `rule` is the SPEC reason code ("jwt.exp"), detail says what was seen.
struct rule_result {
  std::string rule;
  bool passed = false;
  std::string detail;
};

/// All rules checked, in check order. The token is accepted iff every entry passed (and the
/// list is non-empty); then `accepted` (when given) receives the identity the broker would
/// bind, else it is reset. Never throws for bad input. Thread-safety: reentrant.
std::vector<rule_result> explain_x5c_jwt(std::string_view username, std::string_view password,
                                         std::string_view client_id, const trust_store& store,
                                         const x5c_options& options, std::int64_t now,
                                         std::optional<identity>* accepted = nullptr);

/// The JWS decoded for display (no verification at all).
struct decoded_jws {
  std::string header_json;   ///< pretty-printed header, x5c entries replaced by a summary
  std::string claims_json;   ///< pretty-printed claims
  std::vector<std::string> certificates;  ///< per x5c entry: "subject | issuer | notAfter"
};

/// Fails with jwt.format (or jwt.x5c for undecodable certificates) like the verifier would.
boost::system::result<decoded_jws, auth_failure> decode_jws(std::string_view token);

}  // namespace portcullis::auth
