// chain_cache: validated x5c chains keyed by the SHA-256 of their DER (chain_cache.hpp).
// Readers take the shared lock; inserts and invalidation the exclusive one. A stale entry
// (window passed, or CA gone from the snapshot) is a miss; it is overwritten by the next
// insert or swept when the cache is full.

#include "portcullis/auth/chain_cache.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>

#include "chain_cache_impl.hpp"

namespace portcullis::auth {

struct chain_cache::impl {
  explicit impl(std::size_t max) : max_entries(max) {}
  std::size_t max_entries;
  mutable std::shared_mutex mutex;
  std::unordered_map<std::string, detail::chain_facts> entries;
  std::atomic<std::uint64_t> hits{0};
  std::atomic<std::uint64_t> misses{0};
  std::atomic<std::uint64_t> repeated_tokens{0};
};

chain_cache::chain_cache(std::size_t max_entries) : impl_(std::make_unique<impl>(max_entries)) {}
chain_cache::~chain_cache() = default;

void chain_cache::invalidate_ca(std::string_view ca_id) {
  std::unique_lock lock(impl_->mutex);
  std::erase_if(impl_->entries, [&](const auto& kv) { return kv.second.ca_id == ca_id; });
}

void chain_cache::clear() {
  std::unique_lock lock(impl_->mutex);
  impl_->entries.clear();
}

std::size_t chain_cache::size() const {
  std::shared_lock lock(impl_->mutex);
  return impl_->entries.size();
}

chain_cache::counters chain_cache::stats() const {
  return {impl_->hits.load(std::memory_order_relaxed), impl_->misses.load(std::memory_order_relaxed),
          impl_->repeated_tokens.load(std::memory_order_relaxed)};
}

namespace detail {
namespace {

bool usable(const chain_facts& facts, const trust_store& store, std::int64_t now) {
  // The snapshot check makes a deleted (or replaced) CA revoke cached chains at once.
  return facts.not_before <= now && now < facts.not_after && store.contains(facts.ca_id, facts.ca_sha256);
}

}  // namespace

std::optional<chain_facts> chain_cache_access::lookup(chain_cache& cache, const std::string& key,
                                                      const trust_store& store, std::int64_t now,
                                                      bool count_miss) {
  auto& p = *cache.impl_;
  {
    std::shared_lock lock(p.mutex);
    if (auto it = p.entries.find(key); it != p.entries.end() && usable(it->second, store, now)) {
      p.hits.fetch_add(1, std::memory_order_relaxed);
      return it->second;
    }
  }
  if (count_miss) p.misses.fetch_add(1, std::memory_order_relaxed);
  return std::nullopt;
}

void chain_cache_access::insert(chain_cache& cache, const std::string& key, const chain_facts& facts,
                                std::int64_t now) {
  auto& p = *cache.impl_;
  if (p.max_entries == 0) {
    return;
  }
  std::unique_lock lock(p.mutex);
  if (p.entries.size() >= p.max_entries && p.entries.find(key) == p.entries.end()) {
    std::erase_if(p.entries, [&](const auto& kv) { return now >= kv.second.not_after; });
    // Evict down to 90 % so the O(n) sweep is amortised over many inserts. Victims are
    // arbitrary: cheap, and a miss only costs one re-validation.
    std::size_t target = p.max_entries - std::max<std::size_t>(1, p.max_entries / 10);
    while (p.entries.size() > target) {
      p.entries.erase(p.entries.begin());
    }
  }
  p.entries.insert_or_assign(key, facts);
}

void chain_cache_access::count_repeated_token(chain_cache& cache) {
  cache.impl_->repeated_tokens.fetch_add(1, std::memory_order_relaxed);
}

void chain_cache_access::remember_token(chain_cache& cache, const std::string& key, const std::string& token_digest) {
  auto& p = *cache.impl_;
  std::unique_lock lock(p.mutex);
  if (auto it = p.entries.find(key); it != p.entries.end()) {
    it->second.verified_token = token_digest;
  }
}

}  // namespace detail
}  // namespace portcullis::auth
