// verify_mtls: a TLS client chain validated against one registered tenant CA, client id =
// certificate CN (SPEC §4.2; policy notes in mtls_verifier.hpp). Reuses the x5c chain rules
// without the ordering and device-profile rules, with purpose sslclient, and reports every
// chain failure as mtls.chain naming the underlying rule. Validated chains go into the same
// chain_cache as x5c chains (under their own kind of key), with the same revocation rules.

#include "portcullis/auth/mtls_verifier.hpp"

#include <optional>
#include <span>

#include "chain_cache_impl.hpp"
#include "chain_validation.hpp"
#include "openssl_util.hpp"
#include "portcullis/auth/x5c_jwt_verifier.hpp"
#include "x5c_jwt_checks.hpp"

namespace portcullis::auth {
namespace {

// Cache lookup, else parse + validate (+ insert), as the x5c certificate stage does. Only a
// chain that passed every mTLS chain rule is cached, under the mTLS kind of key. A `key`
// given by the caller comes from a lookup that just missed: it is not repeated.
std::optional<detail::chain_facts> mtls_chain_facts(const std::vector<std::vector<std::uint8_t>>& peer_chain_der,
                                                    std::span<const std::shared_ptr<x509_st>> parsed,
                                                    const trust_store& store, std::int64_t now, chain_cache* cache,
                                                    std::string key, detail::rule_log& log) {
  if (cache != nullptr && key.empty()) {
    key = detail::chain_key(detail::chain_kind::mtls, peer_chain_der);
    if (auto hit = detail::chain_cache_access::lookup(*cache, key, store, now)) {
      return hit;
    }
  }
  auto chain = detail::parse_chain(peer_chain_der, reason::mtls_chain, log, &store, parsed);
  if (!chain) {
    return std::nullopt;
  }
  detail::chain_policy policy{.ordered = false, .device_profile = false, .purpose = X509_PURPOSE_SSL_CLIENT};
  auto facts = detail::validate_chain(*chain, store, now, policy, log);
  if (facts && cache != nullptr && !log.failed()) {
    detail::chain_cache_access::insert(*cache, key, *facts, now);
  }
  return facts;
}

// parse_chain takes the parsed certificates only when there is one per DER (peer_chain.hpp).
// `cached_only`: answer only what needs no parsing or path validation (the input checks, a
// chain cache hit); std::nullopt when the chain would have to be validated, with its cache
// key left in `key`. Otherwise a non-empty `key` is such a key, and the lookup is not repeated.
std::optional<boost::system::result<identity, auth_failure>> verify(
    const std::vector<std::vector<std::uint8_t>>& peer_chain_der, std::span<const std::shared_ptr<x509_st>> parsed,
    std::string_view client_id, const trust_store& store, std::int64_t now, const mtls_options& options,
    chain_cache* cache, bool cached_only, std::string& key) {
  detail::rule_log log;
  if (!detail::check_client_id_length(client_id, options.client_id_min, options.client_id_max, log)) {
    return log.failure();
  }
  if (peer_chain_der.empty()) {
    return auth_failure{reason::mtls_no_certificate, "the TLS peer sent no client certificate"};
  }
  if (peer_chain_der.size() > options.max_chain_certificates) {
    return auth_failure{reason::mtls_chain, "peer sent " + std::to_string(peer_chain_der.size()) +
                                                " certificates, at most " +
                                                std::to_string(options.max_chain_certificates) + " accepted"};
  }
  for (const auto& der : peer_chain_der) {
    if (der.size() > max_certificate_bytes) {
      return auth_failure{reason::mtls_chain, "a peer certificate exceeds " + std::to_string(max_certificate_bytes) +
                                                  " bytes"};
    }
  }
  std::optional<detail::chain_facts> facts;
  if (cached_only) {
    if (cache == nullptr) return std::nullopt;
    key = detail::chain_key(detail::chain_kind::mtls, peer_chain_der);
    facts = detail::chain_cache_access::lookup(*cache, key, store, now);
    if (!facts) return std::nullopt;
  } else {
    facts = mtls_chain_facts(peer_chain_der, parsed, store, now, cache, std::move(key), log);
    detail::drain_errors();
  }
  if (!facts) {
    const auto& f = log.failure();
    if (f.code == reason::internal) {
      return f;
    }
    // The tenant whose CA issued the device, when validation could tell (validate_chain
    // attributes even a failing chain, by signatures): that tenant's admin sees the refusal.
    return auth_failure{reason::mtls_chain, std::string(code_of(f.code)) + ": " + f.detail, f.tenant};
  }
  if (options.client_id_is_cn && facts->common_name != client_id) {
    return auth_failure{reason::mtls_cn_mismatch, "client id is not the certificate CN \"" + facts->common_name + "\"",
                        facts->tenant};
  }
  identity id;
  id.tenant = facts->tenant;
  id.client_id = std::string(client_id);
  id.subject_dn = facts->subject_dn;
  id.cert_sha256 = facts->cert_sha256;
  id.ca_id = facts->ca_id;
  id.ca_sha256 = facts->ca_sha256;
  id.chain_not_after = facts->not_after;
  id.method = "mtls";
  return id;
}

}  // namespace

boost::system::result<identity, auth_failure> verify_mtls(const std::vector<std::vector<std::uint8_t>>& peer_chain_der,
                                                          std::string_view client_id, const trust_store& store,
                                                          std::int64_t now, const mtls_options& options,
                                                          chain_cache* cache) {
  std::string key;
  return *verify(peer_chain_der, {}, client_id, store, now, options, cache, false, key);
}

boost::system::result<identity, auth_failure> verify_mtls(const peer_chain& chain, std::string_view client_id,
                                                          const trust_store& store, std::int64_t now,
                                                          const mtls_options& options, chain_cache* cache) {
  std::string key = chain.cache_key;
  return *verify(chain.der, chain.parsed, client_id, store, now, options, cache, false, key);
}

std::optional<boost::system::result<identity, auth_failure>> verify_mtls_cached(peer_chain& chain,
                                                                                std::string_view client_id,
                                                                                const trust_store& store,
                                                                                std::int64_t now,
                                                                                const mtls_options& options,
                                                                                chain_cache& cache) {
  return verify(chain.der, chain.parsed, client_id, store, now, options, &cache, true, chain.cache_key);
}

}  // namespace portcullis::auth
