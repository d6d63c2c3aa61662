#pragma once
// Why a credential was refused. One enum, one table (reason.cpp) mapping each value to its
// stable SPEC §4.1 reason code (logged, counted in /metrics, listed by the admin API), the
// CONNACK return code the device sees (always 0x04 "bad user name or password", except a client
// id of the wrong length: 0x02 "identifier rejected") and a short human description that
// `portcullis token explain` prints. STYLE §c16-17: failures are values, never exceptions.

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace portcullis::auth {

/// Every reason a connect can be refused for. The enumerator order is the table order.
enum class reason : std::uint8_t {
  // JWS envelope and header
  jwt_format,        // jwt.format: not 3 base64url parts, bad base64url, bad/duplicate-key JSON, too big
  jwt_alg,           // jwt.alg: alg is not exactly "RS256"
  jwt_typ,           // jwt.typ: typ is not exactly "JWT"
  jwt_x5c,           // jwt.x5c: missing, not an array, 0 or >3 entries, bad base64, bad DER, jwk/jku/x5u
  jwt_signature,     // jwt.signature: RS256 signature does not verify with the device key
  // claims
  jwt_jti,
  jwt_iss,
  jwt_sub,
  jwt_aud,
  jwt_iat,
  jwt_exp,
  jwt_nbf,
  jwt_lifetime,      // jwt.lifetime: not 0 < exp - iat <= max_lifetime_seconds
  jwt_schemas,
  jwt_ten,           // jwt.ten: not a string of <= 36 chars, or not the tenant of the matched CA
  // CONNECT fields
  auth_username,     // auth.username: username is not the configured one
  client_id_length,  // client_id.length: outside auth.client_id bounds (CONNACK 0x02)
  // certificate chain
  x5c_order,         // x5c.order: x5c[i+1] is not the issuer of x5c[i]
  x5c_no_tenant_ca,  // x5c.no_tenant_ca: no registered CA in or directly above the chain
  x5c_chain,         // x5c.chain: OpenSSL path validation failed
  x5c_expired,       // x5c.expired: a certificate outside its validity period
  // device certificate profile (seed 000 "Device Certificate Requirements")
  cert_version,      // cert.version: not X.509 v3
  cert_key_usage,    // cert.key_usage: keyUsage missing or without digitalSignature
  cert_aki,          // cert.aki: Authority Key Identifier missing
  cert_issuer,       // cert.issuer: empty issuer DN
  cert_subject,      // cert.subject: empty subject DN (the binding is to the subject)
  // mutual TLS
  mtls_no_certificate,
  mtls_chain,
  mtls_cn_mismatch,
  // decided by the broker after auth returned an identity (store-backed)
  binding_conflict,
  quota_agents,
  tenant_mismatch,
  internal,          // internal: an unexpected library failure (OpenSSL allocation, ...)
};

/// A refusal: the reason plus an operator-facing detail, specific enough to act on
/// (e.g. "exp 1700000000 is 75 s in the past (skew 60 s)"). The detail never contains the
/// token, a signature or key material; certificates are named by position/subject.
struct auth_failure {
  reason code = reason::internal;
  std::string detail;
  /// The tenant that owns the CA the presented chain validated against, when the refusal is
  /// for a rule checked against a valid chain (a claim, `ten`, the signature, the mTLS CN):
  /// that tenant's admin can then see the refusal. Empty when no chain validated.
  std::string tenant{};
};

/// Stable SPEC reason code, e.g. "jwt.exp". Never changes once released (metrics labels).
std::string_view code_of(reason r) noexcept;

/// MQTT 3.1.1 CONNACK return code for this refusal: 0x02 for client_id_length, else 0x04.
std::uint8_t connack_of(reason r) noexcept;

/// One-line human description, e.g. "token expired".
std::string_view describe(reason r) noexcept;

/// Every reason, in table order (for pre-registering metrics with zero counts).
std::span<const reason> all_reasons() noexcept;

/// Parses a code string back ("jwt.exp" → reason::jwt_exp); false when unknown.
bool reason_from_code(std::string_view code, reason& out) noexcept;

}  // namespace portcullis::auth
