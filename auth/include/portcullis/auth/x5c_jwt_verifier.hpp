#pragma once
// Verifies an MQTT CONNECT carrying an x5c JWT (SPEC §4.1, seed 000): username is the
// configured bearer name, the password is a compact RS256 JWS whose x5c header holds the
// device certificate chain (device first), chaining to a registered tenant CA.
//
// Rules, in the order they are checked (cheap first; the first failure is returned):
//   auth.username, client_id.length, jwt.format (size ≤ 16 KiB, 3 strict base64url parts,
//   strict JSON objects without duplicate keys), jwt.alg (exactly "RS256"), jwt.typ ("JWT"),
//   jwt.x5c (header jwk/jku/x5u refused: the key comes only from x5c), claims jti, iss, sub,
//   aud, iat, exp, nbf, lifetime, schemas, ten (format); then x5c parsing (1–3 standard base64
//   DER certs ≤ 8 KiB each) → [chain cache] → cert.version, cert.key_usage, cert.aki,
//   cert.issuer, cert.subject, x5c.expired, x5c.order, x5c.no_tenant_ca, x5c.chain → jwt.ten (tenant of the
//   matched CA) → jwt.signature (device key, RSA ≥ 2048 bits, RSASSA-PKCS1-v1_5 SHA-256).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

#include "portcullis/auth/failure.hpp"
#include "portcullis/auth/identity.hpp"

namespace portcullis::auth {

class trust_store;
class chain_cache;

/// Mirrors the `auth.x5c_jwt` and `auth.client_id` config keys; initialisers are the defaults.
struct x5c_options {
  std::string username = "_CertificateBearer";
  std::string audience = "MQTTBroker";
  std::vector<std::string> schemas = {"urn:siemens:mindsphere:v1"};
  std::int64_t max_lifetime_seconds = 3600;
  std::int64_t clock_skew_seconds = 60;
  std::size_t client_id_min = 16;  ///< characters (UTF-8 code points), as seed 000 counts them
  std::size_t client_id_max = 128;
};

/// Hard input limits (DoS guards): larger inputs are refused before any parsing.
/// The password limit is MQTT's own (a 2-byte length): what bounds a token in practice is the
/// packet limit (`limits.max_packet_bytes`, 24 KiB by default), not a second, hidden one.
inline constexpr std::size_t max_password_bytes = 65535;  // → jwt.format
inline constexpr std::size_t max_certificate_bytes = 8 * 1024;  // per x5c entry → jwt.x5c
inline constexpr std::size_t max_x5c_certificates = 3;

/// Verifies one CONNECT's credentials at time `now` (epoch seconds; also the X.509
/// verification time). Returns the identity, or the first rule that failed.
/// `cache` (optional) remembers validated chains; the signature and claims are always checked.
/// Never throws for bad input. Thread-safety: reentrant; `store` and `cache` may be shared.
boost::system::result<identity, auth_failure> verify_x5c_jwt(std::string_view username,
                                                              std::string_view password,
                                                              std::string_view client_id,
                                                              const trust_store& store,
                                                              const x5c_options& options,
                                                              std::int64_t now,
                                                              chain_cache* cache = nullptr);

/// The part of verify_x5c_jwt cheap enough for an I/O thread: the username and client id
/// checks, then a `cache` lookup of the token's chain. On a hit, everything verify_x5c_jwt
/// checks on a hit (claims, tenant, the RS256 signature: one RSA public operation) and its
/// result; std::nullopt when the chain is not in the cache (or the token is too large to look
/// up) and must be parsed and validated: call verify_x5c_jwt off the I/O thread.
std::optional<boost::system::result<identity, auth_failure>> verify_x5c_jwt_cached(std::string_view username,
                                                                                  std::string_view password,
                                                                                  std::string_view client_id,
                                                                                  const trust_store& store,
                                                                                  const x5c_options& options,
                                                                                  std::int64_t now,
                                                                                  chain_cache& cache);

}  // namespace portcullis::auth
