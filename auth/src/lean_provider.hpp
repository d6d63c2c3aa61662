#pragma once
// Library contexts running the "lean" provider: OpenSSL's default provider with fewer
// algorithms on show, so that OpenSSL 3.0's per-parse decoder set-up has less to build.

#include <string>

#include <openssl/types.h>

namespace portcullis::auth::detail {

enum class lean_profile {
  /// Certificate and signature verification (thread_libctx): SubjectPublicKeyInfo decoders and
  /// key managers for RSA, RSA-PSS, EC, Ed25519 and Ed448 only. A certificate with any other
  /// key type still parses; its public key reads as absent (the chain rules refuse it).
  verify,
  /// Parsing certificates with RSA keys (parse_der tries it first): the RSA SubjectPublicKeyInfo
  /// decoder and key manager only. A certificate with any other key parses with the key absent
  /// and is parsed again in a verify context. A third of the verify context's parse cost.
  rsa_parse,
  /// TLS server contexts: the same decoders, the symmetric ciphers of OpenSSL's default
  /// cipher suites (AES, ChaCha20-Poly1305), every other operation of the default provider
  /// (key exchange groups, signatures, digests, KDFs, RNG) as it is.
  tls,
};

/// "RSA, RSA-PSS, EC, Ed25519, Ed448": the key types the verify profile decodes, for messages.
const std::string& supported_key_types();

/// True when the default library context runs the plain default provider and nothing else
/// (no FIPS, no provider from openssl.cnf): only then is a private context equivalent.
bool default_context_is_plain();

/// A new library context running the lean provider of `profile`, or nullptr when it cannot be
/// set up (the caller then uses a plain one). Never freed: keys and certificates made in it
/// may outlive every user of the context. `provider_out`, when given, receives the provider
/// that owns the keys decoded in it (EVP_PKEY_get0_provider).
OSSL_LIB_CTX* new_lean_libctx(lean_profile profile, const OSSL_PROVIDER** provider_out = nullptr);

}  // namespace portcullis::auth::detail
