#pragma once
// Certificate-chain rules shared by the x5c JWT and mTLS verifiers: x5c decoding, the device
// certificate profile (seed 000), validity at `now`, issuer order, matching the chain to ONE
// registered tenant CA, and OpenSSL path validation with that CA as the only trust anchor.

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <rapidjson/document.h>

#include "openssl_util.hpp"
#include "rule_log.hpp"
#include "trust_store_impl.hpp"

namespace portcullis::auth::detail {

/// What a successful chain validation established (also the chain_cache value).
struct chain_facts {
  std::string tenant;
  std::string ca_id;
  std::string ca_sha256;
  std::string subject_dn;
  std::string common_name;
  std::string cert_sha256;
  std::int64_t not_before = 0;  ///< latest notBefore over the chain and anchor
  std::int64_t not_after = 0;   ///< earliest notAfter over the chain and anchor
  std::shared_ptr<EVP_PKEY> device_key;
  /// The library context the device key was decoded in (parse_der: the validating thread's).
  /// The signature is verified there: another context would export the key into itself first.
  OSSL_LIB_CTX* key_libctx = nullptr;
  /// RS256 verification with device_key, set up once (make_rs256_context); nullptr for a key
  /// that cannot verify RS256, and for mTLS (the handshake proved the key).
  std::shared_ptr<const EVP_PKEY_CTX> rs256;
  /// x5c, in the cache only: SHA-256 (hex) of the payload and signature parts of the last token
  /// whose RS256 signature verified under this entry's key (the header). The same token again
  /// (a client library reconnecting with the credentials it has) needs no RSA operation: its
  /// signing input and signature are byte for byte the ones that verified. Claims are still
  /// checked every time. Empty: none yet.
  std::string verified_token;
};

struct chain_policy {
  bool ordered = true;         ///< x5c.order: each certificate is issued by the next one
  bool device_profile = true;  ///< cert.version / cert.key_usage / cert.aki / cert.issuer / cert.subject
  int purpose = 0;             ///< X509_PURPOSE_* for path validation, 0 = none
  /// The registered CA must be one of the certificates sent (x5c: SPEC §4.1 "the chain
  /// contains a CA certificate currently registered for a tenant"; seed 000 "Contains TenantCA
  /// Certificate"). Off for mTLS, whose clients usually send their certificate alone.
  bool anchor_presented = false;
};

/// Decodes the x5c header value into DER blobs (jwt.x5c: array of 1–3 strings, strict
/// standard base64 with padding, ≤ max_certificate_bytes each). Records the rule on failure only.
std::optional<std::vector<std::vector<std::uint8_t>>> decode_x5c(const rapidjson::Value* x5c, rule_log& log);

/// Parses each DER (whole input must be one certificate). Records jwt.x5c on failure only;
/// `failure_reason` lets mTLS report its own code. With `anchors`, an entry after the first
/// whose DER is exactly a registered CA's shares that CA's parsed certificate (read-only).
/// `parsed` (one per DER, or empty): the same certificates already parsed (by libssl), taken
/// instead of parsing the DER again.
std::optional<std::vector<x509_ptr>> parse_chain(const std::vector<std::vector<std::uint8_t>>& ders,
                                                 reason failure_reason, rule_log& log,
                                                 const trust_store* anchors = nullptr,
                                                 std::span<const std::shared_ptr<X509>> parsed = {});

/// Which rules a cached chain passed: mTLS (any order, purpose sslclient; keyed by its DERs,
/// chain_key) or x5c (ordered, device profile, no purpose, and the header rules; keyed by the
/// JWS header, x5c_key). Part of the cache key, so one never stands for the other. (1 was the
/// x5c chain keyed by its DERs.)
enum class chain_kind : std::uint8_t { mtls = 2, x5c_header = 3 };

/// SHA-256 over the kind and the length-prefixed DERs: the chain_cache key.
std::string chain_key(chain_kind kind, const std::vector<std::vector<std::uint8_t>>& ders);

/// The chain_cache key of an x5c JWT: SHA-256 over chain_kind::x5c_header and the header part
/// of the compact JWS exactly as sent (base64url). The header carries the x5c chain and the
/// header rules' inputs, so an entry stands for "this header passed every header, x5c and chain
/// rule" and a reconnect needs neither to decode nor to parse it.
std::string x5c_key(std::string_view header_b64);

/// Runs every chain rule of `policy` and records each. Returns the facts when all passed.
std::optional<chain_facts> validate_chain(const std::vector<x509_ptr>& chain, const trust_store& store,
                                          std::int64_t now, const chain_policy& policy, rule_log& log);

/// "x5c[1] CN=Acme Intermediate" style label for details.
std::string label(const std::vector<x509_ptr>& chain, std::size_t index);

}  // namespace portcullis::auth::detail
