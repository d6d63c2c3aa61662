// Private OpenSSL plumbing (see openssl_util.hpp). Every function here leaves the calling
// thread's OpenSSL error queue empty, whatever the outcome.

#include "openssl_util.hpp"

#include "lean_provider.hpp"

#include <climits>
#include <memory>
#include <ctime>
#include <mutex>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>

namespace portcullis::auth::detail {
namespace {

struct libctx_slot {
  OSSL_LIB_CTX* libctx = nullptr;  // nullptr: the default context
  EVP_MD* sha256 = nullptr;
  // parse_der's first try (lean_profile::rsa_parse); nullptr when libctx is not lean.
  OSSL_LIB_CTX* rsa_libctx = nullptr;
  const OSSL_PROVIDER* rsa_provider = nullptr;  // owns the keys decoded in rsa_libctx
};

libctx_slot make_slot() {
  libctx_slot slot;
  if (default_context_is_plain()) {
    // The lean provider (lean_provider.cpp) parses a certificate in a quarter of the time;
    // should it not come up, a private context with the plain default provider.
    slot.libctx = new_lean_libctx(lean_profile::verify);
    if (slot.libctx != nullptr) {
      slot.rsa_libctx = new_lean_libctx(lean_profile::rsa_parse, &slot.rsa_provider);
    } else {
      slot.libctx = OSSL_LIB_CTX_new();
      if (slot.libctx != nullptr && OSSL_PROVIDER_load(slot.libctx, "default") == nullptr) {
        OSSL_LIB_CTX_free(slot.libctx);
        slot.libctx = nullptr;
      }
    }
  }
  slot.sha256 = EVP_MD_fetch(slot.libctx, "SHA256", nullptr);
  drain_errors();
  return slot;
}

// Contexts of ended threads, for the next thread. Deliberately never destroyed (leaked at
// exit): keys and certificates made in a context may live in caches beyond its thread.
struct spare_slots {
  std::mutex mutex;
  std::vector<libctx_slot> slots;
};
spare_slots& spares() {
  static auto* s = new spare_slots;
  return *s;
}

struct thread_slot {
  libctx_slot slot;
  bool ready = false;
  ~thread_slot() {
    if (ready) {
      auto& s = spares();
      std::lock_guard lock(s.mutex);
      s.slots.push_back(slot);
    }
  }
  const libctx_slot& get() {
    if (!ready) {
      {
        auto& s = spares();
        std::lock_guard lock(s.mutex);
        if (!s.slots.empty()) {
          slot = s.slots.back();
          s.slots.pop_back();
          ready = true;
        }
      }
      if (!ready) {
        slot = make_slot();
        ready = true;
      }
    }
    return slot;
  }
};

thread_local thread_slot current_slot;

}  // namespace

OSSL_LIB_CTX* thread_libctx() {
  return current_slot.get().libctx;
}

const EVP_MD* thread_sha256() {
  return current_slot.get().sha256;
}

OSSL_LIB_CTX* key_libctx(const EVP_PKEY* key) {
  const auto& slot = current_slot.get();
  if (key != nullptr && slot.rsa_provider != nullptr && EVP_PKEY_get0_provider(key) == slot.rsa_provider) {
    return slot.rsa_libctx;
  }
  return slot.libctx;
}

std::string drain_errors() {
  std::string out;
  char buf[256];
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) {
      out += "; ";
    }
    out += buf;
  }
  return out;
}

std::string with_errors(std::string_view what) {
  std::string out(what);
  if (auto errors = drain_errors(); !errors.empty()) {
    out += ": ";
    out += errors;
  }
  return out;
}

namespace {

// One DER certificate occupying all of `der`, parsed in `libctx`, or nullptr.
x509_ptr parse_der_in(OSSL_LIB_CTX* libctx, std::span<const std::uint8_t> der) {
  // Parsed into an object created in this thread's context: the public-key decoder set-up that
  // every d2i_X509 does then runs without cross-thread locks (see thread_libctx).
  X509* raw = X509_new_ex(libctx, nullptr);
  if (raw == nullptr) {
    drain_errors();
    return nullptr;
  }
  const unsigned char* p = der.data();
  // A failed decode frees *raw and sets it to null; the return value is not needed.
  d2i_X509(&raw, &p, static_cast<long>(der.size()));
  x509_ptr cert(raw);
  if (!cert || p != der.data() + der.size()) {
    drain_errors();
    return nullptr;  // trailing garbage after the certificate is refused too
  }
  return cert;
}

}  // namespace

x509_ptr parse_der(std::span<const std::uint8_t> der) {
  if (der.empty() || der.size() > LONG_MAX) {
    return nullptr;
  }
  const auto& slot = current_slot.get();
  x509_ptr cert;
  if (slot.rsa_libctx != nullptr) {
    // Devices and CAs almost always have RSA keys: try the context that decodes only those.
    // A structural failure is the same in any context; a key of another type reads as absent
    // there, and the certificate is parsed again below.
    cert = parse_der_in(slot.rsa_libctx, der);
    if (!cert) {
      return nullptr;
    }
    if (X509_get0_pubkey(cert.get()) == nullptr) {
      cert.reset();
    }
    drain_errors();
  }
  if (!cert) {
    cert = parse_der_in(slot.libctx, der);
    if (!cert) {
      return nullptr;
    }
  }
  // Cache the decoded extensions now, while the object is still private to this thread.
  X509_check_purpose(cert.get(), -1, 0);
  drain_errors();
  return cert;
}

std::vector<std::uint8_t> to_der(X509* cert) {
  unsigned char* out = nullptr;
  int len = i2d_X509(cert, &out);
  if (len <= 0) {
    drain_errors();
    return {};
  }
  std::vector<std::uint8_t> der(out, out + len);
  OPENSSL_free(out);
  return der;
}

namespace {

bio_ptr memory_bio(std::string_view text) {
  if (text.size() > INT_MAX) {
    return nullptr;
  }
  return bio_ptr(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
}

std::string bio_contents(BIO* bio) {
  char* data = nullptr;
  long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string();
}

}  // namespace

x509_ptr parse_pem_cert(std::string_view pem) {
  auto bio = memory_bio(pem);
  x509_ptr cert(bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr);
  drain_errors();
  if (cert) {
    X509_check_purpose(cert.get(), -1, 0);
    drain_errors();
  }
  return cert;
}

std::optional<std::vector<x509_ptr>> parse_pem_certs(std::string_view pem) {
  auto bio = memory_bio(pem);
  if (!bio) {
    return std::nullopt;
  }
  std::vector<x509_ptr> certs;
  for (;;) {
    x509_ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) {
      unsigned long e = ERR_peek_last_error();
      bool clean_end = ERR_GET_LIB(e) == ERR_LIB_PEM && ERR_GET_REASON(e) == PEM_R_NO_START_LINE;
      drain_errors();
      if (!clean_end || certs.empty()) {
        return std::nullopt;
      }
      return certs;
    }
    X509_check_purpose(cert.get(), -1, 0);
    drain_errors();
    certs.push_back(std::move(cert));
  }
}

evp_pkey_ptr parse_pem_private_key(std::string_view pem) {
  auto bio = memory_bio(pem);
  // No passphrase: an encrypted key fails here instead of OpenSSL prompting on the terminal
  // (unreadable_key_reason tells the caller why).
  auto no_passphrase = [](char*, int, int, void*) { return -1; };
  evp_pkey_ptr key(bio ? PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr) : nullptr);
  drain_errors();
  return key;
}

std::string_view unreadable_key_reason(std::string_view pem) {
  const bool encrypted = pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string_view::npos ||
                         pem.find("Proc-Type: 4,ENCRYPTED") != std::string_view::npos;
  return encrypted ? "encrypted; give an unencrypted copy (openssl pkey -in KEY -out PLAIN)"
                   : "not a PEM private key";
}

std::string cert_to_pem(X509* cert) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) {
    drain_errors();
    return {};
  }
  return bio_contents(bio.get());
}

std::string private_key_to_pem(EVP_PKEY* key) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    drain_errors();
    return {};
  }
  return bio_contents(bio.get());
}

std::string hex(std::span<const std::uint8_t> bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out += digits[b >> 4];
    out += digits[b & 0x0f];
  }
  return out;
}

std::string sha256_hex_of(std::span<const std::uint8_t> bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const EVP_MD* sha256 = thread_sha256();
  if (sha256 == nullptr || EVP_Digest(bytes.data(), bytes.size(), md, &len, sha256, nullptr) != 1) {
    drain_errors();
    return {};
  }
  return hex({md, len});
}

std::string sha256_hex_of_parts(std::span<const std::span<const std::uint8_t>> parts) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  const EVP_MD* sha256 = thread_sha256();
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  bool ok = sha256 != nullptr && ctx && EVP_DigestInit_ex(ctx.get(), sha256, nullptr) == 1;
  for (std::size_t i = 0; ok && i < parts.size(); ++i) {
    ok = EVP_DigestUpdate(ctx.get(), parts[i].data(), parts[i].size()) == 1;
  }
  if (!ok || EVP_DigestFinal_ex(ctx.get(), md, &len) != 1) {
    drain_errors();
    return {};
  }
  return hex({md, len});
}

std::string fingerprint(X509* cert) {
  return sha256_hex_of(to_der(cert));
}

std::string name_to_string(const X509_NAME* name) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio || name == nullptr ||
      X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0) {
    drain_errors();
    return {};
  }
  return bio_contents(bio.get());
}

std::string subject_of(const X509* cert) {
  return name_to_string(X509_get_subject_name(cert));
}

std::string issuer_of(const X509* cert) {
  return name_to_string(X509_get_issuer_name(cert));
}

std::string public_key_algorithm(const X509* cert) {
  ASN1_OBJECT* alg = nullptr;
  const X509_PUBKEY* pub = X509_get_X509_PUBKEY(cert);
  char buf[80] = "";
  if (pub == nullptr || X509_PUBKEY_get0_param(&alg, nullptr, nullptr, nullptr, pub) != 1 ||
      OBJ_obj2txt(buf, sizeof buf, alg, 0) <= 0) {
    drain_errors();
    return "unknown";
  }
  return buf;
}

std::string common_name_of(const X509* cert) {
  const X509_NAME* name = X509_get_subject_name(cert);
  int index = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (index < 0) {
    return {};
  }
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, index));
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) {
    drain_errors();
    return {};
  }
  std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

std::optional<std::int64_t> to_epoch(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) {
    drain_errors();
    return std::nullopt;
  }
  return static_cast<std::int64_t>(timegm(&tm));
}

std::int64_t not_before_of(const X509* cert) {
  return to_epoch(X509_get0_notBefore(cert)).value_or(INT64_MAX);
}

std::int64_t not_after_of(const X509* cert) {
  return to_epoch(X509_get0_notAfter(cert)).value_or(INT64_MIN);
}

std::string format_time(std::int64_t epoch) {
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  char buf[32];
  if (gmtime_r(&t, &tm) == nullptr || std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
    return std::to_string(epoch);
  }
  return buf;
}

bool is_ca_cert(X509* cert) {
  // X509_check_ca also accepts v1 self-signed roots and nsCertType; SPEC §4.4 wants CA:TRUE.
  return (X509_get_extension_flags(cert) & EXFLAG_CA) != 0;
}

}  // namespace portcullis::auth::detail
