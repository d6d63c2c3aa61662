#pragma once
// Minting x5c JWTs (`portcullis token mint`, tests, bench): a compact RS256 JWS whose header
// carries x5c = [device, chain...] and whose claims follow SPEC §4.1 / seed 000.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

namespace portcullis::auth {

struct mint_request {
  std::string cert_pem;                 ///< device certificate first; certificates after it go into x5c too
  std::string key_pem;                  ///< device private key (RSA), PEM
  std::vector<std::string> chain_pems;  ///< issuer certificates in order (each may hold several)
  std::string client_id;                ///< becomes iss and sub
  std::int64_t lifetime_seconds = 3600; ///< exp = now + lifetime
  std::string tenant;                   ///< "ten" claim ("" = not asserted)
  std::string audience = "MQTTBroker";  ///< aud (array form)
  std::vector<std::string> schemas = {"urn:siemens:mindsphere:v1"};
  std::int64_t now = 0;                 ///< iat (epoch s)
  std::string jti;                      ///< random UUID v4 when empty
};

/// Returns the compact JWS, or a one-line error (bad PEM, non-RSA key, key/cert mismatch).
/// x5c holds the certificates of cert_pem, then of chain_pems, in order, each once (the
/// broker needs the tenant CA among them: SPEC §4.1).
/// Thread-safety: reentrant.
boost::system::result<std::string, std::string> mint_x5c_jwt(const mint_request& request);

/// Low-level: signs `header_json`.`claims_json` (used verbatim, base64url-encoded) with the
/// RSA key in `key_pem` using RS256. For tools and tests that need unusual tokens.
boost::system::result<std::string, std::string> sign_jws(std::string_view header_json,
                                                         std::string_view claims_json,
                                                         std::string_view key_pem);

/// Base64url without padding (RFC 7515 §2) of arbitrary bytes.
std::string base64url_encode(std::string_view bytes);

}  // namespace portcullis::auth
