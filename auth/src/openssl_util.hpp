#pragma once
// Private OpenSSL plumbing for auth/: owning pointers for every object type we use, error-queue
// draining (STYLE §c22: nothing is left on the thread's queue for the next call), DER/PEM
// parsing with full-consumption checks, fingerprints, RFC 2253 names and ASN.1 times, and the
// per-thread library context the verifiers work in (see thread_libctx).

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace portcullis::auth::detail {

/// OpenSSL security level of device path validation, and the strength it stands for: keys of
/// at least 112-bit security (RSA 2048, EC P-224) and no SHA-1 or MD5 signatures.
constexpr int chain_security_level = 2;
constexpr int min_security_bits = 112;

template <auto Free>
struct ossl_deleter {
  template <class T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};

using x509_ptr = std::unique_ptr<X509, ossl_deleter<X509_free>>;
using x509_name_ptr = std::unique_ptr<X509_NAME, ossl_deleter<X509_NAME_free>>;
using x509_store_ptr = std::unique_ptr<X509_STORE, ossl_deleter<X509_STORE_free>>;
using x509_store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, ossl_deleter<X509_STORE_CTX_free>>;
using evp_pkey_ptr = std::unique_ptr<EVP_PKEY, ossl_deleter<EVP_PKEY_free>>;
using evp_pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, ossl_deleter<EVP_PKEY_CTX_free>>;
using evp_md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, ossl_deleter<EVP_MD_CTX_free>>;
using bio_ptr = std::unique_ptr<BIO, ossl_deleter<BIO_free_all>>;
using asn1_time_ptr = std::unique_ptr<ASN1_TIME, ossl_deleter<ASN1_TIME_free>>;
using asn1_integer_ptr = std::unique_ptr<ASN1_INTEGER, ossl_deleter<ASN1_INTEGER_free>>;
using bignum_ptr = std::unique_ptr<BIGNUM, ossl_deleter<BN_free>>;
using x509_extension_ptr = std::unique_ptr<X509_EXTENSION, ossl_deleter<X509_EXTENSION_free>>;

struct x509_stack_deleter {
  void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_free(s); }  // does not free certs
};
using x509_stack_ptr = std::unique_ptr<STACK_OF(X509), x509_stack_deleter>;

/// The calling thread's OpenSSL library context for verification work, or nullptr (= the
/// default context) when the process runs anything but the plain default provider.
///
/// Why: OpenSSL 3.0 takes read/write locks of the library context for every implicit
/// algorithm fetch and rebuilds a decoder set for every public key it parses (each
/// d2i_X509), so concurrent verifications in ONE context spend most of their time on lock
/// cache lines (measured: a certificate parse costs 160 us alone, 500 us with two threads).
/// One context per thread has the same provider and no cross-thread locks. Objects made in
/// one context (certificates, keys in the chain cache) stay valid in any thread: contexts are
/// never freed, only handed to the next thread when a thread ends.
OSSL_LIB_CTX* thread_libctx();
/// SHA-256 fetched once in thread_libctx() (explicit fetch: no lookup per digest).
const EVP_MD* thread_sha256();
/// The context to run signature operations with `key` in: the one whose provider decoded it
/// when that is this thread's RSA parse context (no key export per operation), else
/// thread_libctx().
OSSL_LIB_CTX* key_libctx(const EVP_PKEY* key);

/// Pops every queued OpenSSL error on this thread; returns them joined with "; " (or "").
std::string drain_errors();

/// "what: <errors>" after draining, for failure details.
std::string with_errors(std::string_view what);

/// Parses exactly one DER certificate occupying all of `der` (trailing bytes → nullptr), with
/// its extensions cached (safe to share read-only afterwards). Certificates with RSA keys are
/// parsed in this thread's RSA-only context (a third of the decoder set-up), others in
/// thread_libctx(); run signature checks with the key in key_libctx(key).
x509_ptr parse_der(std::span<const std::uint8_t> der);
std::vector<std::uint8_t> to_der(X509* cert);

/// First certificate in PEM text (nullptr if none). Drains errors on failure.
x509_ptr parse_pem_cert(std::string_view pem);
/// Every certificate in PEM text; nullopt when one is malformed or there is none.
std::optional<std::vector<x509_ptr>> parse_pem_certs(std::string_view pem);
evp_pkey_ptr parse_pem_private_key(std::string_view pem);
/// Why parse_pem_private_key refused `pem`, for a message: a passphrase-protected key (PKCS#8
/// encrypted or legacy Proc-Type, refused rather than prompting), or no PEM private key.
std::string_view unreadable_key_reason(std::string_view pem);
std::string cert_to_pem(X509* cert);
std::string private_key_to_pem(EVP_PKEY* key);

std::string hex(std::span<const std::uint8_t> bytes);
std::string sha256_hex_of(std::span<const std::uint8_t> bytes);
/// SHA-256 of the concatenation of `parts`, without concatenating them (cache keys).
std::string sha256_hex_of_parts(std::span<const std::span<const std::uint8_t>> parts);
std::string fingerprint(X509* cert);  ///< SHA-256 of the DER, lowercase hex

/// RFC 2253 string, UTF-8 unescaped (see identity.hpp).
std::string name_to_string(const X509_NAME* name);
std::string subject_of(const X509* cert);
std::string issuer_of(const X509* cert);
/// First commonName of the subject, UTF-8; "" when absent or unconvertible.
/// The SubjectPublicKeyInfo algorithm ("rsaEncryption", "X25519", an OID), or "unknown".
std::string public_key_algorithm(const X509* cert);
std::string common_name_of(const X509* cert);

/// Epoch seconds of an ASN.1 time; nullopt if malformed.
std::optional<std::int64_t> to_epoch(const ASN1_TIME* t);
std::int64_t not_before_of(const X509* cert);  ///< INT64_MAX when malformed (never valid)
std::int64_t not_after_of(const X509* cert);   ///< INT64_MIN when malformed (never valid)
/// "2024-01-31T12:00:00Z".
std::string format_time(std::int64_t epoch);

/// basicConstraints CA:TRUE.
bool is_ca_cert(X509* cert);

}  // namespace portcullis::auth::detail
