#pragma once
// Private view of a trust_store snapshot for the verifiers: the parsed anchors.

#include <cstdint>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "openssl_util.hpp"
#include "portcullis/auth/trust_store.hpp"

namespace portcullis::auth {

struct trust_store::impl {
  struct entry {
    anchor_info info;
    detail::x509_ptr cert;          // extensions pre-cached: safe for concurrent reads
    std::vector<std::uint8_t> der;  // as registered (x5c copies of it are not parsed again)
  };
  std::vector<entry> entries;
  std::unordered_map<std::string, std::size_t> by_sha256;          // DER fingerprint → entry
  std::unordered_multimap<std::string, std::size_t> by_subject;    // RFC 2253 subject → entries
  std::unordered_map<const X509*, std::size_t> by_object;          // entry.cert → entry

  /// The anchor whose DER is exactly `der`, or nullptr.
  const entry* find_der(std::span<const std::uint8_t> der) const;
  /// The anchor whose parsed certificate is `cert` (shared by parse_chain), or nullptr.
  const entry* find_object(const X509* cert) const {
    auto it = by_object.find(cert);
    return it == by_object.end() ? nullptr : &entries[it->second];
  }
  std::uint64_t generation = 0;
};

namespace detail {
struct trust_store_access {
  static const trust_store::impl& of(const trust_store& store) { return *store.impl_; }
};
}  // namespace detail

}  // namespace portcullis::auth
