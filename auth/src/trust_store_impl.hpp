#pragma once
// Private view of a trust_store snapshot for the verifiers: the parsed anchors.

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "openssl_util.hpp"
#include "portcullis/auth/trust_store.hpp"

namespace portcullis::auth {

struct trust_store::impl {
  struct entry {
    anchor_info info;
    detail::x509_ptr cert;  // extensions pre-cached: safe for concurrent reads
  };
  std::vector<entry> entries;
  std::unordered_map<std::string, std::size_t> by_sha256;          // DER fingerprint → entry
  std::unordered_multimap<std::string, std::size_t> by_subject;    // RFC 2253 subject → entries
  std::uint64_t generation = 0;
};

namespace detail {
struct trust_store_access {
  static const trust_store::impl& of(const trust_store& store) { return *store.impl_; }
};
}  // namespace detail

}  // namespace portcullis::auth
