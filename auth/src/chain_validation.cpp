// Certificate-chain rules shared by the x5c JWT and mTLS verifiers (chain_validation.hpp).
//
// Order of checks (each recorded in the rule_log): the device certificate is not itself a
// registered CA (x5c.no_tenant_ca), device profile (cert.version,
// cert.key_usage, cert.aki, cert.issuer), validity of every presented certificate
// (x5c.expired, naming the certificate), issuer order (x5c.order), the registered CA
// (x5c.no_tenant_ca), then X509_verify_cert with that CA as the ONLY trusted certificate,
// X509_V_FLAG_PARTIAL_CHAIN (the CA may be an intermediate) and verification time `now`
// (x5c.chain; an expired anchor is reported as x5c.expired).
//
// Anchor choice: the lowest registered CA wins: a presented certificate (index ≥ 1) whose DER
// equals an anchor, else (mTLS, whose clients send their certificate alone) an anchor that
// issued (name match + signature) a presented certificate. An x5c chain must contain its
// tenant CA (chain_policy::anchor_presented): one that stops below it is refused with the CA
// named, so the operator sees what the device left out. Index 0 is never an anchor: the
// device certificate must be issued by a tenant CA, not be one. For the last certificate and a
// single CA of its issuer's name, the signature is left to path validation (find_anchor).

#include "chain_validation.hpp"

#include <algorithm>
#include <array>
#include <iterator>
#include <span>

#include <openssl/evp.h>
#include <openssl/x509_vfy.h>

#include "base64.hpp"
#include "lean_provider.hpp"
#include "portcullis/auth/x5c_jwt_verifier.hpp"

namespace portcullis::auth::detail {
namespace {

using entry = trust_store::impl::entry;

void check_device_profile(const std::vector<x509_ptr>& chain, rule_log& log) {
  X509* device = chain.front().get();
  auto who = [&] { return label(chain, 0); };
  long version = X509_get_version(device);  // 0-based: 2 means v3
  log.check_lazy(version == X509_VERSION_3, reason::cert_version, [&] {
    return who() + " is X.509 v" + std::to_string(version + 1) + (version == X509_VERSION_3 ? "" : ", v3 required");
  });
  if (log.stop()) {
    return;
  }
  std::uint32_t flags = X509_get_extension_flags(device);
  if ((flags & EXFLAG_KUSAGE) == 0) {
    log.fail(reason::cert_key_usage, who() + " has no keyUsage extension");
  } else {
    bool ds = (X509_get_key_usage(device) & KU_DIGITAL_SIGNATURE) != 0;
    log.check_lazy(ds, reason::cert_key_usage, [&] {
      return who() + (ds ? " keyUsage includes digitalSignature" : " keyUsage lacks digitalSignature");
    });
  }
  if (log.stop()) {
    return;
  }
  bool has_aki = X509_get_ext_by_NID(device, NID_authority_key_identifier, -1) >= 0;
  log.check_lazy(has_aki, reason::cert_aki, [&] {
    return who() + (has_aki ? " has an Authority Key Identifier" : " has no Authority Key Identifier");
  });
  if (log.stop()) {
    return;
  }
  bool has_issuer = X509_NAME_entry_count(X509_get_issuer_name(device)) > 0;
  log.check_lazy(has_issuer, reason::cert_issuer,
                 [&] { return has_issuer ? "issuer " + issuer_of(device) : who() + " has an empty issuer DN"; });
  if (log.stop()) {
    return;
  }
  // Not in seed 000's list, but the client id is bound to the subject: an empty one names nobody.
  bool has_subject = X509_NAME_entry_count(X509_get_subject_name(device)) > 0;
  log.check_lazy(has_subject, reason::cert_subject,
                 [&] { return has_subject ? "subject " + subject_of(device) : who() + " has an empty subject DN"; });
}

bool check_validity(const std::vector<x509_ptr>& chain, std::int64_t now, rule_log& log) {
  for (std::size_t i = 0; i < chain.size(); ++i) {
    std::int64_t nb = not_before_of(chain[i].get());
    std::int64_t na = not_after_of(chain[i].get());
    if (now < nb) {
      return log.fail(reason::x5c_expired, label(chain, i) + " is not valid before " + format_time(nb) +
                                               " (now " + format_time(now) + ")");
    }
    if (now > na) {
      return log.fail(reason::x5c_expired, label(chain, i) + " expired at " + format_time(na) + " (now " +
                                               format_time(now) + ")");
    }
  }
  return log.pass_lazy(reason::x5c_expired,
                       [&] { return "all " + std::to_string(chain.size()) + " certificates valid now"; });
}

bool check_order(const std::vector<x509_ptr>& chain, rule_log& log) {
  for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
    int rc = X509_check_issued(chain[i + 1].get(), chain[i].get());
    // Only name/key-identifier mismatches mean "wrong order"; other problems of a real issuer
    // (e.g. keyUsage without keyCertSign) are left for path validation to report.
    if (rc == X509_V_ERR_SUBJECT_ISSUER_MISMATCH || rc == X509_V_ERR_AKID_SKID_MISMATCH ||
        rc == X509_V_ERR_AKID_ISSUER_SERIAL_MISMATCH) {
      return log.fail(reason::x5c_order, label(chain, i + 1) + " is not the issuer of " + label(chain, i) + " (" +
                                             X509_verify_cert_error_string(rc) + ")");
    }
  }
  return log.pass(reason::x5c_order, "each certificate is issued by the next");
}

// True when `cert`'s signature verifies with `issuer`'s public key (nothing else is compared).
bool signature_by(X509* issuer, X509* cert) {
  EVP_PKEY* key = X509_get0_pubkey(issuer);
  bool ok = key != nullptr && X509_verify(cert, key) == 1;
  drain_errors();
  return ok;
}

// True when `anchor` issued `cert`: names and key identifiers match and the signature verifies.
bool issued_by(const entry& anchor, X509* cert) {
  return X509_check_issued(anchor.cert.get(), cert) == X509_V_OK && signature_by(anchor.cert.get(), cert);
}

// The registered CA that `cert` is (the same DER), or nullptr.
const entry* registered(X509* cert, const trust_store::impl& store) {
  if (const entry* shared = store.find_object(cert)) {
    return shared;  // parse_chain recognised the registered DER and reused its certificate
  }
  auto it = store.by_sha256.find(fingerprint(cert));
  return it != store.by_sha256.end() ? &store.entries[it->second] : nullptr;
}

// `presented` tells whether the anchor is one of the certificates sent (else it issued the last
// one that is looked at).
const entry* find_anchor(const std::vector<x509_ptr>& chain, const trust_store::impl& store, bool ordered,
                         bool& presented) {
  presented = true;
  for (std::size_t i = 1; i < chain.size(); ++i) {
    if (const entry* ca = registered(chain[i].get(), store)) {
      return ca;
    }
  }
  presented = false;
  std::size_t first = ordered ? chain.size() - 1 : 0;
  for (std::size_t i = first; i < chain.size(); ++i) {
    auto [lo, hi] = store.by_subject.equal_range(issuer_of(chain[i].get()));
    if (i + 1 == chain.size() && lo != hi && std::next(lo) == hi) {
      // The last chance, and one CA of that name: names and key identifiers are enough to
      // choose it. verify_path checks the signature with it anyway, so checking it here too
      // would verify every leaf-only chain (the usual mTLS client) twice. A forged signature
      // is then refused as x5c.chain ("certificate signature failure") instead of
      // x5c.no_tenant_ca; with several candidates the signature still picks the issuer.
      const entry& only = store.entries[lo->second];
      if (X509_check_issued(only.cert.get(), chain[i].get()) == X509_V_OK) {
        return &only;
      }
      continue;
    }
    for (auto it = lo; it != hi; ++it) {
      if (issued_by(store.entries[it->second], chain[i].get())) {
        return &store.entries[it->second];
      }
    }
  }
  return nullptr;
}

// X509_verify_cert against `anchor` only. On success fills the validity window of the built
// chain into facts.
// `check_time` false: the presented certificates' validity was already reported as failed (explain
// mode goes on after a failure), so the path is checked for everything else instead of stopping
// at the same expired certificate again.
bool verify_path(const std::vector<x509_ptr>& chain, const entry& anchor, std::int64_t now, int purpose,
                 chain_facts& facts, rule_log& log, bool check_time) {
  // The anchor is given as a trusted stack rather than an X509_STORE: same verification, but
  // no store to build per call and no store lock taken (X509_STORE lookups write-lock it).
  x509_store_ctx_ptr ctx(X509_STORE_CTX_new_ex(thread_libctx(), nullptr));
  x509_stack_ptr trusted(sk_X509_new_reserve(nullptr, 1));
  x509_stack_ptr untrusted(sk_X509_new_reserve(nullptr, static_cast<int>(chain.size())));
  if (!ctx || !trusted || !untrusted || sk_X509_push(trusted.get(), anchor.cert.get()) <= 0) {
    return log.fail(reason::internal, with_errors("cannot set up path validation"));
  }
  for (std::size_t i = 1; i < chain.size(); ++i) {
    if (sk_X509_push(untrusted.get(), chain[i].get()) <= 0) {  // borrowed: chain outlives ctx
      return log.fail(reason::internal, with_errors("cannot set up path validation"));
    }
  }
  if (X509_STORE_CTX_init(ctx.get(), nullptr, chain[0].get(), untrusted.get()) != 1) {
    return log.fail(reason::internal, with_errors("cannot set up path validation"));
  }
  X509_STORE_CTX_set0_trusted_stack(ctx.get(), trusted.get());  // borrowed: outlives ctx
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
  if (check_time) {
    X509_VERIFY_PARAM_set_time(param, static_cast<time_t>(now));
  } else {
    X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_NO_CHECK_TIME);  // USE_CHECK_TIME (set_time) would win
  }
  X509_VERIFY_PARAM_set_depth(param, 8);
  // Security level 2 (112-bit): every key in the path at least RSA 2048 / EC P-224, and every
  // signature below the anchor with a hash of at least that strength, so no SHA-1 or MD5
  // signature (collision-forgeable) vouches for a device. The anchor's self-signature is not
  // judged: a registered CA is trusted for being registered, not for its own signature.
  X509_VERIFY_PARAM_set_auth_level(param, chain_security_level);
  if (purpose != 0 && X509_STORE_CTX_set_purpose(ctx.get(), purpose) != 1) {
    return log.fail(reason::internal, with_errors("cannot set verification purpose"));
  }
  int rc = X509_verify_cert(ctx.get());
  std::string errors = drain_errors();
  if (rc != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    X509* where = X509_STORE_CTX_get_current_cert(ctx.get());
    std::string detail = "depth " + std::to_string(depth) + (where ? " (" + subject_of(where) + ")" : "") + ": " +
                         X509_verify_cert_error_string(err) + " (CA " + anchor.info.id + ")";
    bool time_error = err == X509_V_ERR_CERT_HAS_EXPIRED || err == X509_V_ERR_CERT_NOT_YET_VALID;
    return log.fail(time_error ? reason::x5c_expired : reason::x5c_chain, detail);
  }
  STACK_OF(X509)* built = X509_STORE_CTX_get0_chain(ctx.get());
  for (int i = 0; i < sk_X509_num(built); ++i) {
    X509* c = sk_X509_value(built, i);
    facts.not_before = std::max(facts.not_before, not_before_of(c));
    facts.not_after = std::min(facts.not_after, not_after_of(c));
  }
  return log.pass_lazy(reason::x5c_chain, [&] {
    return "verified " + std::to_string(sk_X509_num(built)) + " certificates up to CA " + anchor.info.id + " (" +
           anchor.info.subject + ")";
  });
}

}  // namespace

std::string label(const std::vector<x509_ptr>& chain, std::size_t index) {
  return "x5c[" + std::to_string(index) + "] " + subject_of(chain[index].get());
}

std::optional<std::vector<std::vector<std::uint8_t>>> decode_x5c(const rapidjson::Value* x5c, rule_log& log) {
  if (x5c == nullptr) {
    log.fail(reason::jwt_x5c, "header has no x5c");
    return std::nullopt;
  }
  if (!x5c->IsArray()) {
    log.fail(reason::jwt_x5c, "x5c is not an array");
    return std::nullopt;
  }
  auto n = x5c->Size();
  if (n == 0 || n > max_x5c_certificates) {
    log.fail(reason::jwt_x5c, "x5c has " + std::to_string(n) + " certificates, 1-3 allowed");
    return std::nullopt;
  }
  std::vector<std::vector<std::uint8_t>> ders;
  for (rapidjson::SizeType i = 0; i < n; ++i) {
    const auto& v = (*x5c)[i];
    std::string where = "x5c[" + std::to_string(i) + "]";
    if (!v.IsString()) {
      log.fail(reason::jwt_x5c, where + " is not a string");
      return std::nullopt;
    }
    if (v.GetStringLength() > (max_certificate_bytes + 2) / 3 * 4) {
      log.fail(reason::jwt_x5c, where + " exceeds " + std::to_string(max_certificate_bytes) + " bytes");
      return std::nullopt;
    }
    auto der = decode_base64({v.GetString(), v.GetStringLength()});
    if (!der || der->empty()) {
      log.fail(reason::jwt_x5c, where + " is not strict standard base64 (with padding)");
      return std::nullopt;
    }
    if (der->size() > max_certificate_bytes) {
      log.fail(reason::jwt_x5c, where + " exceeds " + std::to_string(max_certificate_bytes) + " bytes");
      return std::nullopt;
    }
    ders.push_back(std::move(*der));
  }
  return ders;
}

std::optional<std::vector<x509_ptr>> parse_chain(const std::vector<std::vector<std::uint8_t>>& ders,
                                                 reason failure_reason, rule_log& log, const trust_store* anchors,
                                                 std::span<const std::shared_ptr<X509>> parsed) {
  const trust_store::impl* known = anchors != nullptr ? &trust_store_access::of(*anchors) : nullptr;
  std::vector<x509_ptr> chain;
  chain.reserve(ders.size());
  for (std::size_t i = 0; i < ders.size(); ++i) {
    // A copy of a registered CA (the usual x5c tail) is that CA byte for byte: share its
    // parsed certificate instead of decoding it again. Index 0 never is (find_anchor).
    if (const entry* e = (i > 0 && known != nullptr) ? known->find_der(ders[i]) : nullptr;
        e != nullptr && X509_up_ref(e->cert.get()) == 1) {
      chain.emplace_back(e->cert.get());
      continue;
    }
    x509_ptr cert;
    if (parsed.size() == ders.size() && parsed[i] && X509_up_ref(parsed[i].get()) == 1) {
      cert.reset(parsed[i].get());  // shared read-only, like the registered CAs above
    } else {
      cert = parse_der(ders[i]);
    }
    if (!cert) {
      log.fail(failure_reason, "certificate " + std::to_string(i) + " is not one DER X.509 certificate");
      return std::nullopt;
    }
    // The parse context decodes the key types in lean_provider.hpp only; anything else (DSA,
    // X25519, SM2, ...) leaves the key absent. Say so here rather than as an unspecified
    // path-validation error later.
    if (X509_get0_pubkey(cert.get()) == nullptr) {
      drain_errors();
      log.fail(failure_reason, "certificate " + std::to_string(i) + " (" + subject_of(cert.get()) +
                                   ") has a public key of an unsupported type (" + public_key_algorithm(cert.get()) +
                                   "); supported: " + supported_key_types());
      return std::nullopt;
    }
    chain.push_back(std::move(cert));
  }
  log.pass_lazy(failure_reason,
                [&] { return std::to_string(chain.size()) + " certificates, device " + subject_of(chain[0].get()); });
  return chain;
}

std::string chain_key(chain_kind kind, const std::vector<std::vector<std::uint8_t>>& ders) {
  const auto tag = static_cast<std::uint8_t>(kind);
  std::vector<std::array<std::uint8_t, 4>> lengths(ders.size());  // big-endian, one per DER
  std::vector<std::span<const std::uint8_t>> parts;
  parts.reserve(1 + 2 * ders.size());
  parts.emplace_back(&tag, 1);
  for (std::size_t i = 0; i < ders.size(); ++i) {
    auto n = static_cast<std::uint32_t>(ders[i].size());
    lengths[i] = {static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
                  static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)};
    parts.emplace_back(lengths[i]);
    parts.emplace_back(ders[i]);
  }
  return sha256_hex_of_parts(parts);
}

std::string x5c_key(std::string_view header_b64) {
  const auto tag = static_cast<std::uint8_t>(chain_kind::x5c_header);
  const std::span<const std::uint8_t> parts[] = {
      {&tag, 1}, {reinterpret_cast<const std::uint8_t*>(header_b64.data()), header_b64.size()}};
  return sha256_hex_of_parts(parts);
}

namespace {

// The tenant whose registered CA the device certificate was issued under, by signatures alone:
// each presented certificate signed by the next up to a registered CA, or the last one signed by
// a registered CA that was not sent. Validity, profile, order rules and path constraints may all
// be broken, so a refusal of a device the tenant really issued (an expired certificate, a missing
// keyUsage, a CA left out of x5c) reaches that tenant's admin; a chain that merely carries a
// tenant's (public) CA certificates above a leaf they did not sign reaches nobody's.
std::string signing_tenant(const std::vector<x509_ptr>& chain, const trust_store::impl& store) {
  // Not the CA itself sent as the certificate it signed (a self-signed CA verifies itself).
  auto signs = [](X509* issuer, X509* cert) { return X509_cmp(issuer, cert) != 0 && signature_by(issuer, cert); };
  for (std::size_t i = 0; i + 1 < chain.size(); ++i) {
    if (!signs(chain[i + 1].get(), chain[i].get())) {
      return {};
    }
    if (const entry* ca = registered(chain[i + 1].get(), store)) {
      return ca->info.tenant;
    }
  }
  X509* last = chain.back().get();
  auto [lo, hi] = store.by_subject.equal_range(issuer_of(last));
  for (auto it = lo; it != hi; ++it) {
    if (signs(store.entries[it->second].cert.get(), last)) {
      return store.entries[it->second].info.tenant;
    }
  }
  return {};
}

std::optional<chain_facts> validate_chain_rules(const std::vector<x509_ptr>& chain, const trust_store& store,
                                                std::int64_t now, const chain_policy& policy, rule_log& log) {
  X509* device = chain.front().get();
  const std::size_t failures_before = log.failures();
  const auto& impl = trust_store_access::of(store);
  std::string device_sha256 = fingerprint(device);  // also the binding's certificate fingerprint
  if (auto it = impl.by_sha256.find(device_sha256); it != impl.by_sha256.end()) {
    // The registered CA itself in the device's place (it would chain to itself): a device
    // certificate is issued by a tenant CA, never one. First, as no other rule says it.
    log.fail(reason::x5c_no_tenant_ca, label(chain, 0) + " is the registered CA " + impl.entries[it->second].info.id +
                                           " itself, not a device certificate issued by it");
    return std::nullopt;
  }
  if (policy.device_profile) {
    check_device_profile(chain, log);
  }
  if (log.stop()) {
    return std::nullopt;
  }
  const bool valid_now = check_validity(chain, now, log);
  if (!valid_now && log.stop()) {
    return std::nullopt;
  }
  if (policy.ordered && !check_order(chain, log) && log.stop()) {
    return std::nullopt;
  }
  bool presented = false;
  const entry* anchor = find_anchor(chain, impl, policy.ordered, presented);
  if (anchor == nullptr) {
    log.fail(reason::x5c_no_tenant_ca, "no registered CA is in the chain or issued " +
                                           label(chain, chain.size() - 1) + " (issuer " +
                                           issuer_of(chain.back().get()) + ")");
    return std::nullopt;
  }
  if (policy.anchor_presented && !presented) {
    // The CA that issued the last certificate is registered, but the chain does not contain
    // it: the tenant is the owner of a CA the device sends, never one the broker infers.
    log.fail(reason::x5c_no_tenant_ca, "the chain does not contain a registered tenant CA certificate: CA " +
                                           anchor->info.id + " (" + anchor->info.subject + ") issued " +
                                           label(chain, chain.size() - 1) + "; send it in x5c");
    return std::nullopt;
  }
  log.pass_lazy(reason::x5c_no_tenant_ca, [&] { return "CA " + anchor->info.id + " of tenant " + anchor->info.tenant; });
  chain_facts facts;
  facts.not_before = INT64_MIN;
  facts.not_after = INT64_MAX;
  for (const auto& c : chain) {
    facts.not_before = std::max(facts.not_before, not_before_of(c.get()));
    facts.not_after = std::min(facts.not_after, not_after_of(c.get()));
  }
  if (!verify_path(chain, *anchor, now, policy.purpose, facts, log, valid_now) || log.failures() != failures_before) {
    return std::nullopt;
  }
  facts.tenant = anchor->info.tenant;
  facts.ca_id = anchor->info.id;
  facts.ca_sha256 = anchor->info.sha256;
  facts.subject_dn = subject_of(device);
  facts.common_name = common_name_of(device);
  facts.cert_sha256 = std::move(device_sha256);
  EVP_PKEY* key = X509_get0_pubkey(device);
  if (key == nullptr || EVP_PKEY_up_ref(key) != 1) {
    log.fail(reason::jwt_signature, with_errors(label(chain, 0) + " public key unreadable"));
    return std::nullopt;
  }
  facts.device_key = std::shared_ptr<EVP_PKEY>(key, EVP_PKEY_free);
  // chain[0] is never a shared anchor: parsed here. (An mTLS leaf may come parsed by libssl in
  // the TLS context instead; mTLS never verifies a signature with the device key.)
  facts.key_libctx = key_libctx(key);
  return facts;
}

}  // namespace

std::optional<chain_facts> validate_chain(const std::vector<x509_ptr>& chain, const trust_store& store,
                                          std::int64_t now, const chain_policy& policy, rule_log& log) {
  const std::size_t failures_before = log.failures();
  auto facts = validate_chain_rules(chain, store, now, policy, log);
  if (log.failures() != failures_before) {
    // The rule that failed stands; whose device it was is worth knowing all the same.
    if (std::string tenant = signing_tenant(chain, trust_store_access::of(store)); !tenant.empty()) {
      log.attribute(std::move(tenant));
    }
  }
  return facts;
}

}  // namespace portcullis::auth::detail
