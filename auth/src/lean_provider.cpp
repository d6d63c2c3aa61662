// The lean provider (lean_provider.hpp).
//
// Why it exists: OpenSSL 3.0 decodes the public key of every certificate it parses (d2i_X509)
// through OSSL_DECODER_CTX_new_for_pkey, which constructs a method object for EVERY decoder and
// EVERY key manager the context's providers offer (≈40 and ≈20 in the default provider) on
// each call, keeps the few that fit, and throws the rest away. Measured here: 185 us per
// RSA-2048 certificate, 40 % of a cold x5c connect and the largest cost of an mTLS handshake
// after the server's RSA signature. OpenSSL 3.2 caches that set-up; 3.0 cannot be told to.
//
// What it is: a built-in provider that loads the real default provider into a private library
// context and forwards to it, answering the decoder (and, for verification, the key manager)
// queries with the few algorithms certificate parsing needs. The implementations are the
// default provider's own, called with its own provider context, so nothing cryptographic is
// reimplemented or changed: only what OpenSSL enumerates per parse shrinks (185 → ~40 us).

#include "lean_provider.hpp"

#include <array>
#include <mutex>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/provider.h>

#include <portcullis/auth/crypto_context.hpp>

#include "openssl_util.hpp"

namespace portcullis::auth::detail {
namespace {

// Key types a device chain, a tenant CA or a TLS client certificate may carry: the provider's
// name, and the usual spelling for messages.
struct key_type {
  std::string_view provider_name;
  std::string_view display_name;
};
constexpr std::array<key_type, 5> key_types{{
    {"RSA", "RSA"}, {"RSA-PSS", "RSA-PSS"}, {"EC", "EC"}, {"ED25519", "Ed25519"}, {"ED448", "Ed448"}}};

struct lean_instance {
  OSSL_PROVIDER* backing = nullptr;      // the default provider, in a private context of its own
  std::vector<OSSL_ALGORITHM> decoders;  // terminated by an empty entry
  std::vector<OSSL_ALGORITHM> keymgmt;   // terminated; empty = the default provider's own list
  std::vector<OSSL_ALGORITHM> ciphers;   // terminated; empty = the default provider's own list
};

// The default provider's algorithms must be called with its own provider context, so the lean
// provider hands that context out as its own and finds its instance by it.
struct registry {
  std::mutex mutex;
  std::unordered_map<void*, lean_instance> by_provctx;  // node-based: entries never move
};
registry& instances() {
  static auto* r = new registry;  // leaked: providers are never torn down
  return *r;
}

// OpenSSL queries the provider on every certificate parse (the decoder and key-manager
// enumerations), from every verifying thread: remember the last answer per thread (each
// thread works in its own context) instead of taking the shared lock each time.
const lean_instance* find_instance(void* provctx) {
  thread_local void* last_provctx = nullptr;
  thread_local const lean_instance* last = nullptr;
  if (provctx == last_provctx && last != nullptr) {
    return last;  // instances are never removed or moved
  }
  auto& r = instances();
  std::lock_guard lock(r.mutex);
  auto it = r.by_provctx.find(provctx);
  if (it == r.by_provctx.end()) {
    return nullptr;
  }
  last_provctx = provctx;
  last = &it->second;
  return last;
}

// "RSA:rsaEncryption:1.2.840.113549.1.1.1" → "RSA"
std::string_view first_name(const char* names) {
  std::string_view all(names == nullptr ? "" : names);
  return all.substr(0, all.find(':'));
}

bool is_key_type(std::string_view name) {
  for (auto k : key_types) {
    if (name == k.provider_name) return true;
  }
  return false;
}

// DER SubjectPublicKeyInfo → key of a wanted type, or the generic SPKI → typed-SPKI step.
bool is_wanted_decoder(const OSSL_ALGORITHM& a) {
  std::string_view props(a.property_definition == nullptr ? "" : a.property_definition);
  if (props.find("input=der") == std::string_view::npos ||
      props.find("structure=SubjectPublicKeyInfo") == std::string_view::npos) {
    return false;
  }
  std::string_view name = first_name(a.algorithm_names);
  return name == "DER" || is_key_type(name);
}

bool is_wanted_keymgmt(const OSSL_ALGORITHM& a) {
  return is_key_type(first_name(a.algorithm_names));
}

// TLS: the symmetric ciphers of the cipher suites OpenSSL offers by default (AES-GCM, AES-CCM,
// AES-CBC, ChaCha20-Poly1305), the stitched AES-CBC-HMAC variants libssl prefers for CBC
// suites, and the AES modes random generators and ticket keys use. OpenSSL 3.0 keeps every
// cipher a provider lists in the context's method store once libssl fetches one, and each
// certificate parse walks that whole store twice: 16 ciphers instead of 124 make a client
// certificate's parse in a TLS context a third cheaper. (Camellia, ARIA, SEED, DES, ... are
// not in OpenSSL's default cipher list, so no suite the broker offers goes away.)
bool is_tls_cipher(const OSSL_ALGORITHM& a) {
  std::string_view name = first_name(a.algorithm_names);
  for (std::string_view c : {"AES-128-GCM", "AES-256-GCM", "AES-128-CCM", "AES-256-CCM", "AES-128-CBC", "AES-256-CBC",
                             "AES-128-CBC-HMAC-SHA1", "AES-256-CBC-HMAC-SHA1", "AES-128-CBC-HMAC-SHA256",
                             "AES-256-CBC-HMAC-SHA256", "ChaCha20-Poly1305", "ChaCha20", "AES-128-CTR", "AES-256-CTR",
                             "AES-128-ECB", "AES-256-ECB"}) {
    if (name == c) return true;
  }
  return false;
}

// The rsa_parse profile: with the key type known from the certificate, the RSA decoder alone
// turns a SubjectPublicKeyInfo into a key; the generic "DER" step is not needed.
bool is_rsa_decoder(const OSSL_ALGORITHM& a) {
  return is_wanted_decoder(a) && first_name(a.algorithm_names) == "RSA";
}

bool is_rsa_keymgmt(const OSSL_ALGORITHM& a) {
  return first_name(a.algorithm_names) == "RSA";
}

template <class Pred>
std::vector<OSSL_ALGORITHM> filtered(const OSSL_ALGORITHM* all, Pred wanted) {
  std::vector<OSSL_ALGORITHM> out;
  for (const OSSL_ALGORITHM* a = all; a != nullptr && a->algorithm_names != nullptr; ++a) {
    if (wanted(*a)) out.push_back(*a);
  }
  if (!out.empty()) out.push_back(OSSL_ALGORITHM{});
  return out;
}

bool offers(const std::vector<OSSL_ALGORITHM>& algs, std::string_view name) {
  for (const auto& a : algs) {
    if (a.algorithm_names != nullptr && first_name(a.algorithm_names) == name) return true;
  }
  return false;
}

const OSSL_ALGORITHM* lean_query(void* provctx, int operation, int* no_cache) {
  *no_cache = 0;
  const lean_instance* self = find_instance(provctx);
  if (self == nullptr) return nullptr;
  if (operation == OSSL_OP_DECODER) return self->decoders.data();
  if (operation == OSSL_OP_KEYMGMT && !self->keymgmt.empty()) return self->keymgmt.data();
  if (operation == OSSL_OP_CIPHER && !self->ciphers.empty()) return self->ciphers.data();
  return OSSL_PROVIDER_query_operation(self->backing, operation, no_cache);
}

// libssl asks every provider for its TLS groups through this.
int lean_get_capabilities(void* provctx, const char* capability, OSSL_CALLBACK* cb, void* arg) {
  const lean_instance* self = find_instance(provctx);
  return self != nullptr && OSSL_PROVIDER_get_capabilities(self->backing, capability, cb, arg) == 1 ? 1 : 0;
}

const OSSL_PARAM* lean_gettable_params(void* provctx) {
  const lean_instance* self = find_instance(provctx);
  return self != nullptr ? OSSL_PROVIDER_gettable_params(self->backing) : nullptr;
}

int lean_get_params(void* provctx, OSSL_PARAM params[]) {
  const lean_instance* self = find_instance(provctx);
  return self != nullptr && OSSL_PROVIDER_get_params(self->backing, params) == 1 ? 1 : 0;
}

template <class F>
void (*as_function(F* f))() {
  return reinterpret_cast<void (*)()>(f);  // OSSL_DISPATCH's generic function type
}

const OSSL_DISPATCH lean_dispatch[] = {
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, as_function(&lean_query)},
    {OSSL_FUNC_PROVIDER_GET_CAPABILITIES, as_function(&lean_get_capabilities)},
    {OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, as_function(&lean_gettable_params)},
    {OSSL_FUNC_PROVIDER_GET_PARAMS, as_function(&lean_get_params)},
    {0, nullptr},
};

int lean_init(lean_profile profile, const OSSL_DISPATCH** out, void** provctx) {
  OSSL_LIB_CTX* backing_ctx = OSSL_LIB_CTX_new();
  OSSL_PROVIDER* backing = backing_ctx != nullptr ? OSSL_PROVIDER_load(backing_ctx, "default") : nullptr;
  if (backing == nullptr) {
    OSSL_LIB_CTX_free(backing_ctx);
    return 0;
  }
  lean_instance self;
  self.backing = backing;
  int no_cache = 0;
  const bool rsa_only = profile == lean_profile::rsa_parse;
  self.decoders = filtered(OSSL_PROVIDER_query_operation(backing, OSSL_OP_DECODER, &no_cache),
                           rsa_only ? is_rsa_decoder : is_wanted_decoder);
  if (profile == lean_profile::tls) {
    // The key managers stay whole (measured twice: filtering them saved nothing a storm could
    // show; the decoder set-up's cost follows every method libssl fetched, i.e. the ciphers).
    self.ciphers = filtered(OSSL_PROVIDER_query_operation(backing, OSSL_OP_CIPHER, &no_cache), is_tls_cipher);
  } else {
    self.keymgmt = filtered(OSSL_PROVIDER_query_operation(backing, OSSL_OP_KEYMGMT, &no_cache),
                            rsa_only ? is_rsa_keymgmt : is_wanted_keymgmt);
  }
  // A default provider that names its algorithms differently would leave RSA (or AES-GCM) out:
  // refuse, and the caller falls back to a plain context.
  bool complete = offers(self.decoders, "RSA") && (rsa_only || offers(self.decoders, "DER")) &&
                  (profile == lean_profile::tls ? offers(self.ciphers, "AES-128-GCM") && offers(self.ciphers, "AES-256-GCM")
                                                : offers(self.keymgmt, "RSA"));
  if (!complete) {
    OSSL_PROVIDER_unload(backing);
    OSSL_LIB_CTX_free(backing_ctx);
    return 0;
  }
  void* ctx = OSSL_PROVIDER_get0_provider_ctx(backing);
  {
    auto& r = instances();
    std::lock_guard lock(r.mutex);
    r.by_provctx.emplace(ctx, std::move(self));
  }
  *out = lean_dispatch;
  *provctx = ctx;
  return 1;
}

int lean_verify_init(const OSSL_CORE_HANDLE*, const OSSL_DISPATCH*, const OSSL_DISPATCH** out, void** provctx) {
  return lean_init(lean_profile::verify, out, provctx);
}

int lean_rsa_parse_init(const OSSL_CORE_HANDLE*, const OSSL_DISPATCH*, const OSSL_DISPATCH** out, void** provctx) {
  return lean_init(lean_profile::rsa_parse, out, provctx);
}

int lean_tls_init(const OSSL_CORE_HANDLE*, const OSSL_DISPATCH*, const OSSL_DISPATCH** out, void** provctx) {
  return lean_init(lean_profile::tls, out, provctx);
}

}  // namespace

const std::string& supported_key_types() {
  static const std::string text = [] {
    std::string out;
    for (auto k : key_types) {
      if (!out.empty()) out += ", ";
      out += k.display_name;
    }
    return out;
  }();
  return text;
}

bool default_context_is_plain() {
  static const bool plain = [] {
    // The configuration may load providers: it must have been read before we look.
    OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, nullptr);
    std::vector<std::string> names;
    OSSL_PROVIDER_do_all(
        nullptr,
        [](OSSL_PROVIDER* p, void* out) {
          static_cast<std::vector<std::string>*>(out)->emplace_back(OSSL_PROVIDER_get0_name(p));
          return 1;
        },
        &names);
    bool ok = names.size() == 1 && names[0] == "default" && EVP_default_properties_is_fips_enabled(nullptr) == 0;
    drain_errors();
    return ok;
  }();
  return plain;
}

OSSL_LIB_CTX* new_lean_libctx(lean_profile profile, const OSSL_PROVIDER** provider_out) {
  const char* name = "portcullis-lean-tls";
  OSSL_provider_init_fn* init = lean_tls_init;
  if (profile == lean_profile::verify) {
    name = "portcullis-lean-verify";
    init = lean_verify_init;
  } else if (profile == lean_profile::rsa_parse) {
    name = "portcullis-lean-rsa";
    init = lean_rsa_parse_init;
  }
  OSSL_LIB_CTX* ctx = OSSL_LIB_CTX_new();
  OSSL_PROVIDER* provider = nullptr;
  if (ctx == nullptr || OSSL_PROVIDER_add_builtin(ctx, name, init) != 1 ||
      (provider = OSSL_PROVIDER_load(ctx, name)) == nullptr) {
    OSSL_LIB_CTX_free(ctx);
    drain_errors();
    return nullptr;
  }
  if (provider_out != nullptr) {
    *provider_out = provider;
  }
  return ctx;
}

}  // namespace portcullis::auth::detail

namespace portcullis::auth {

ossl_lib_ctx_st* tls_library_context(std::size_t slot) {
  if (!detail::default_context_is_plain()) {
    return nullptr;
  }
  static std::mutex mutex;
  static auto* contexts = new std::vector<OSSL_LIB_CTX*>;  // leaked: contexts are never freed
  std::lock_guard lock(mutex);
  if (slot >= contexts->size()) {
    contexts->resize(slot + 1, nullptr);
  }
  OSSL_LIB_CTX*& ctx = (*contexts)[slot];
  if (ctx == nullptr) {
    ctx = detail::new_lean_libctx(detail::lean_profile::tls);  // nullptr again: the default one
  }
  return ctx;
}

}  // namespace portcullis::auth
