#pragma once
// A cache of validated certificate chains so that a reconnecting device costs one RSA verify
// (x5c) or none (mTLS: the TLS handshake proved key possession) instead of a full path
// validation. Key: SHA-256 over the rule set (x5c or mTLS: a chain validated under one never
// stands for the other) and the DER certificates (length-prefixed). Value: what path
// validation established (tenant, CA, device subject, CN and fingerprint, the validity window
// of the whole chain, the device public key). A hit still verifies the JWT signature and every
// claim (x5c) and the client id = CN rule (mTLS); it only skips parsing and validating the
// certificates. Only chains that passed are cached: a refusal is never remembered.
//
// An entry is used only while: the validity window still covers `now`, and the CA it
// validated against is still in the current trust_store with the same fingerprint (so deleting
// a CA revokes cached chains even before invalidate_ca runs). Bounded: when full, expired
// entries are swept, then arbitrary entries evicted.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

namespace portcullis::auth {

namespace detail {
struct chain_cache_access;
}

/// Thread-safety: all member functions are safe to call concurrently (internal shared_mutex).
class chain_cache {
public:
  explicit chain_cache(std::size_t max_entries = 100'000);
  ~chain_cache();
  chain_cache(const chain_cache&) = delete;
  chain_cache& operator=(const chain_cache&) = delete;

  /// Drops every entry validated against this CA (call when a CA is deleted).
  void invalidate_ca(std::string_view ca_id);
  void clear();
  std::size_t size() const;

  struct counters {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    /// x5c hits whose token (payload and signature) had verified before: no RSA operation.
    std::uint64_t repeated_tokens = 0;
  };
  counters stats() const;

  struct impl;

private:
  std::unique_ptr<impl> impl_;
  friend struct detail::chain_cache_access;
};

}  // namespace portcullis::auth
