#pragma once
// Compact JWS parsing and the header/claim rules of SPEC §4.1 that need no cryptography.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/evp.h>
#include <rapidjson/document.h>

#include "portcullis/auth/x5c_jwt_verifier.hpp"
#include "rule_log.hpp"

namespace portcullis::auth::detail {

struct parsed_jws {
  rapidjson::Document header;
  rapidjson::Document claims;
  std::string_view signing_input;  ///< "<header b64>.<payload b64>", a view into the token
  std::vector<std::uint8_t> signature;
};

/// jwt.format: size ≤ max_password_bytes, exactly three '.'-separated strict base64url parts,
/// header and claims strict JSON objects. Records jwt.format (pass or fail). Without
/// `decode_header` the header part is left undecoded (`header` stays null): the caller knows
/// it passed before, byte for byte (a chain cache hit, see x5c_key).
std::optional<parsed_jws> parse_jws(std::string_view token, rule_log& log, bool decode_header = true);

/// The header part of a compact JWS ("" when `token` has no '.').
std::string_view jws_header_part(std::string_view token);

/// jwt.alg (exactly "RS256"), jwt.typ (exactly "JWT"), and refuses key-bearing header
/// parameters (jwk, jku, x5u → jwt.x5c) and crit (→ jwt.format: no extensions understood).
void check_header(const rapidjson::Document& header, rule_log& log);

/// Values later rules need.
struct claim_values {
  std::string jti;
  std::optional<std::int64_t> exp;
  std::string ten;  ///< "" when absent
};

/// Every claim rule: jti, iss, sub, aud, iat, exp, nbf, lifetime, schemas, ten (format only).
claim_values check_claims(const rapidjson::Document& claims, std::string_view client_id,
                          const x5c_options& options, std::int64_t now, rule_log& log);

/// jwt.ten: a non-empty ten must name the tenant owning the matched CA.
void check_tenant(const claim_values& values, const std::string& ca_tenant, rule_log& log);

/// jwt.signature: RS256 over signing_input with `key` (RSA, ≥ 2048 bits), fetching the
/// algorithms in `libctx` (the key's own context, see chain_facts::key_libctx). With
/// `prepared` (make_rs256_context for this key) nothing is fetched: the prepared context is
/// duplicated, which saves OpenSSL 3.0 a fifth of the verification's cost.
void check_signature(const parsed_jws& jws, EVP_PKEY* key, OSSL_LIB_CTX* libctx, rule_log& log,
                     const EVP_PKEY_CTX* prepared = nullptr);

/// An RS256 verification context for `key` (RSA PKCS#1 v1.5 with SHA-256), set up once in
/// `libctx` for check_signature to duplicate. nullptr when `key` is not an RSA key of at least
/// 2048 bits or OpenSSL cannot set it up (check_signature then takes the long way, and says
/// why a key is refused). Only read once made: duplicating it is safe from any thread.
std::shared_ptr<const EVP_PKEY_CTX> make_rs256_context(EVP_PKEY* key, OSSL_LIB_CTX* libctx);

}  // namespace portcullis::auth::detail
