#pragma once
// Verifies a TLS client certificate chain (SPEC §4.2 "mtls"): the peer chain (DER, leaf first,
// as the TLS peer sent it; extra certificates may come in any order) must validate with
// OpenSSL against exactly one registered tenant CA (partial chain allowed, verification time
// `now`, purpose sslclient: keyUsage, when present, must allow digitalSignature and
// extendedKeyUsage, when present, must allow clientAuth), and the MQTT client id must equal
// the leaf's subject CN. Policy: the x5c device-profile rules (v3, keyUsage present, AKI
// present) are NOT required here: the TLS handshake already proved key possession and SPEC
// §4.2 asks only for a chain to a registered CA. Every chain failure is mtls.chain with the
// underlying check named in the detail.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include <boost/system/result.hpp>

#include "portcullis/auth/failure.hpp"
#include "portcullis/auth/identity.hpp"
#include "portcullis/auth/peer_chain.hpp"

namespace portcullis::auth {

class trust_store;
class chain_cache;

struct mtls_options {
  std::size_t client_id_min = 16;  ///< characters (client_id_length)
  std::size_t client_id_max = 128;
  std::size_t max_chain_certificates = 8;
  /// false: the chain rules only, not "client id = CN" (a `client_certs: "required"` listener
  /// checks the certificate of a device that authenticates another way).
  bool client_id_is_cn = true;
};

/// Returns the identity (method "mtls", no expires_at) or the failure.
/// `cache` (optional) remembers validated chains exactly as for x5c (chain_cache.hpp): a hit
/// skips parsing and path validation while the chain's validity window covers `now` and its
/// CA is still in `store`; the client id / CN rule is checked on every call.
/// Never throws for bad input. Thread-safety: reentrant; `store` and `cache` may be shared.
boost::system::result<identity, auth_failure> verify_mtls(
    const std::vector<std::vector<std::uint8_t>>& peer_chain_der, std::string_view client_id,
    const trust_store& store, std::int64_t now, const mtls_options& options = {}, chain_cache* cache = nullptr);

/// The same, reading the TLS stack's parsed certificates when `chain.parsed` has one per DER.
boost::system::result<identity, auth_failure> verify_mtls(const peer_chain& chain, std::string_view client_id,
                                                          const trust_store& store, std::int64_t now,
                                                          const mtls_options& options = {},
                                                          chain_cache* cache = nullptr);

/// The part of verify_mtls that needs no certificate parsing or path validation, cheap enough
/// for an I/O thread: the input checks, then a `cache` lookup. Returns what verify_mtls would
/// return when those decide (a cache hit, or bad input), and std::nullopt when the chain is
/// not in the cache and must be validated (call verify_mtls with the same `chain`, off the I/O
/// thread: it reuses the cache key this leaves in `chain.cache_key`).
std::optional<boost::system::result<identity, auth_failure>> verify_mtls_cached(peer_chain& chain,
                                                                                std::string_view client_id,
                                                                                const trust_store& store,
                                                                                std::int64_t now,
                                                                                const mtls_options& options,
                                                                                chain_cache& cache);

}  // namespace portcullis::auth
