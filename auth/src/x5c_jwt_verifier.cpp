// verify_x5c_jwt and the shared rule sequence behind it and `token explain` (SPEC §4.1).
//
// Sequence (cheap first): username → client id length → JWS format → header (alg, typ, key
// parameters) → claims → x5c decoding → certificate parsing → chain rules
// (chain_validation.cpp) → ten vs CA tenant → RS256 signature.
//
// The chain cache is keyed by the JWS header exactly as sent (x5c_key): a hit means this very
// header passed the header, x5c and chain rules, against a CA still registered and within the
// chain's validity. It skips decoding and parsing the header (mostly the base64 certificates),
// the header rules, certificate parsing and path validation; the rules before and after the
// header run in the same order as on a miss, so a hit reports the same first failure. Every
// claim and the signature are checked on every connect. In explain mode (no cache) each stage
// runs whenever its inputs exist, so one report shows every broken rule.

#include "portcullis/auth/x5c_jwt_verifier.hpp"

#include "chain_cache_impl.hpp"
#include "chain_validation.hpp"
#include "jws.hpp"
#include "openssl_util.hpp"
#include "strict_json.hpp"
#include "x5c_jwt_checks.hpp"

namespace portcullis::auth {

std::size_t client_id_length(std::string_view client_id) noexcept { return detail::utf8_length(client_id); }

namespace detail {

bool check_client_id_length(std::string_view client_id, std::size_t min, std::size_t max, rule_log& log) {
  std::size_t n = client_id_length(client_id);
  bool ok = n >= min && n <= max;
  return log.check(ok, reason::client_id_length,
                   "client id is " + std::to_string(n) + " characters (allowed " + std::to_string(min) + ".." +
                       std::to_string(max) + ")");
}

namespace {

identity make_identity(const chain_facts& facts, std::string_view client_id, const claim_values& claims) {
  identity id;
  id.tenant = facts.tenant;
  id.client_id = std::string(client_id);
  id.subject_dn = facts.subject_dn;
  id.cert_sha256 = facts.cert_sha256;
  id.ca_id = facts.ca_id;
  id.ca_sha256 = facts.ca_sha256;
  id.expires_at = claims.exp;
  id.chain_not_after = facts.not_after;
  id.jti = claims.jti;
  id.method = "x5c-jwt";
  return id;
}

// Certificate stage of a cache miss: parse + validate (+ insert under `key` when caching).
// Returns the facts, or nullopt with the failure recorded. `device_key_out` keeps the parsed
// device key for explain mode, so the signature can still be reported when the chain is broken.
std::optional<chain_facts> certificate_stage(const parsed_jws& jws, const trust_store& store, std::int64_t now,
                                             chain_cache* cache, const std::string& key, rule_log& log,
                                             evp_pkey_ptr& device_key_out) {
  auto ders = decode_x5c(jws.header.HasMember("x5c") ? &jws.header["x5c"] : nullptr, log);
  if (!ders) {
    return std::nullopt;
  }
  auto chain = parse_chain(*ders, reason::jwt_x5c, log, &store);
  if (!chain) {
    return std::nullopt;
  }
  if (EVP_PKEY* k = X509_get0_pubkey(chain->front().get()); k != nullptr && EVP_PKEY_up_ref(k) == 1) {
    device_key_out.reset(k);
  }
  drain_errors();
  auto facts = validate_chain(*chain, store, now, chain_policy{.anchor_presented = true}, log);
  if (facts && cache != nullptr && !log.failed()) {
    // Worth setting up only for the reconnects a cache entry serves; this token's own
    // check may as well use it.
    facts->rs256 = make_rs256_context(facts->device_key.get(), facts->key_libctx);
    chain_cache_access::insert(*cache, key, *facts, now);
  }
  return facts;
}

}  // namespace

std::optional<identity> run_x5c_jwt_checks(std::string_view username, std::string_view password,
                                           std::string_view client_id, const trust_store& store,
                                           const x5c_options& options, std::int64_t now, chain_cache* cache,
                                           rule_log& log, bool* needs_validation) {
  log.check(username == options.username, reason::auth_username,
            username == options.username ? "username is the certificate bearer name"
                                         : "username is not \"" + options.username + "\"");
  if (log.stop()) {
    return std::nullopt;
  }
  if (!check_client_id_length(client_id, options.client_id_min, options.client_id_max, log) && log.stop()) {
    return std::nullopt;
  }
  std::string key;
  std::optional<chain_facts> cached;
  if (cache != nullptr && password.size() <= max_password_bytes) {
    key = x5c_key(jws_header_part(password));
    cached = chain_cache_access::lookup(*cache, key, store, now, needs_validation == nullptr);
  }
  if (!cached && needs_validation != nullptr) {
    *needs_validation = true;  // the caller validates elsewhere (verify_x5c_jwt_cached)
    return std::nullopt;
  }
  auto jws = parse_jws(password, log, !cached);
  if (!jws) {
    return std::nullopt;  // nothing below has inputs
  }
  // After a header or claim refusal the refusal stands, but whose device it was is still worth
  // knowing (an expired token is the usual one): the tenant whose CA issued it (validate_chain
  // attributes even a failing chain). Only with `header_passed` may the chain enter the cache,
  // whose key (the header) stands for "passed every header rule".
  auto attribute_refusal = [&](bool header_passed) {
    if (cached) {
      log.attribute(cached->tenant);
      return;
    }
    rule_log quiet;
    evp_pkey_ptr unused;
    auto f = certificate_stage(*jws, store, now, header_passed ? cache : nullptr, key, quiet, unused);
    if (f && !quiet.failed()) {
      log.attribute(f->tenant);
    } else if (quiet.failed() && !quiet.failure().tenant.empty()) {
      log.attribute(quiet.failure().tenant);
    }
  };
  if (!cached) {
    check_header(jws->header, log);
    if (log.stop()) {
      attribute_refusal(false);
      return std::nullopt;
    }
  }
  auto claims = check_claims(jws->claims, client_id, options, now, log);
  if (log.stop()) {
    attribute_refusal(true);
    return std::nullopt;
  }
  evp_pkey_ptr device_key;
  std::optional<chain_facts> facts;
  if (cached) {
    facts = std::move(cached);
    log.pass_lazy(reason::jwt_x5c, [&] { return "chain cached (validated against CA " + facts->ca_id + ")"; });
  } else {
    facts = certificate_stage(*jws, store, now, cache, key, log, device_key);
  }
  if (log.stop()) {
    return std::nullopt;
  }
  if (facts) {
    log.attribute(facts->tenant);  // every rule below is checked against this tenant's CA
    check_tenant(claims, facts->tenant, log);
    if (log.stop()) {
      return std::nullopt;
    }
    // A token verified before under this cached key (header) is the same signing input and
    // signature again: no RSA operation (chain_facts::verified_token).
    std::string token_digest;
    if (cache != nullptr && !key.empty()) {
      std::string_view rest = password.substr(jws_header_part(password).size());
      token_digest = sha256_hex_of({reinterpret_cast<const std::uint8_t*>(rest.data()), rest.size()});
    }
    if (!token_digest.empty() && facts->verified_token == token_digest) {
      chain_cache_access::count_repeated_token(*cache);
      log.pass_lazy(reason::jwt_signature, [] { return "RS256 signature verified before (the same token again)"; });
    } else {
      check_signature(*jws, facts->device_key.get(), facts->key_libctx, log, facts->rs256.get());
      if (!token_digest.empty() && !log.failed()) {
        chain_cache_access::remember_token(*cache, key, token_digest);
      }
    }
  } else if (device_key) {
    // explain mode: report it despite the chain (the key was parsed in this thread)
    check_signature(*jws, device_key.get(), key_libctx(device_key.get()), log);
  }
  if (log.failed() || !facts) {
    return std::nullopt;
  }
  return make_identity(*facts, client_id, claims);
}

}  // namespace detail

namespace {

using verify_result = boost::system::result<identity, auth_failure>;

// One run of the rules as a result; std::nullopt only with `cached_only`, when the chain is not
// in the cache and must be validated.
std::optional<verify_result> verify(std::string_view username, std::string_view password, std::string_view client_id,
                                    const trust_store& store, const x5c_options& options, std::int64_t now,
                                    chain_cache* cache, bool cached_only) {
  detail::rule_log log;
  bool needs_validation = false;
  auto id = detail::run_x5c_jwt_checks(username, password, client_id, store, options, now, cache, log,
                                       cached_only ? &needs_validation : nullptr);
  detail::drain_errors();  // belt and braces: nothing stays queued for the next call on this thread
  if (needs_validation) {
    return std::nullopt;
  }
  if (id) {
    return std::move(*id);
  }
  if (log.failed()) {
    return log.failure();
  }
  return auth_failure{reason::internal, "verification ended without a result"};
}

}  // namespace

verify_result verify_x5c_jwt(std::string_view username, std::string_view password, std::string_view client_id,
                             const trust_store& store, const x5c_options& options, std::int64_t now,
                             chain_cache* cache) {
  return *verify(username, password, client_id, store, options, now, cache, false);
}

std::optional<verify_result> verify_x5c_jwt_cached(std::string_view username, std::string_view password,
                                                   std::string_view client_id, const trust_store& store,
                                                   const x5c_options& options, std::int64_t now, chain_cache& cache) {
  return verify(username, password, client_id, store, options, now, &cache, true);
}

}  // namespace portcullis::auth
