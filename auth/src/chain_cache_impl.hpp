#pragma once
// Private interface of chain_cache for the x5c verifier.

#include <optional>
#include <string>

#include "chain_validation.hpp"
#include "portcullis/auth/chain_cache.hpp"

namespace portcullis::auth::detail {

struct chain_cache_access {
  /// The cached facts when still usable at `now` against `store`; counts a hit or a miss
  /// (not a miss when `count_miss` is false: a probe whose miss is looked up again later).
  static std::optional<chain_facts> lookup(chain_cache& cache, const std::string& key, const trust_store& store,
                                           std::int64_t now, bool count_miss = true);
  static void insert(chain_cache& cache, const std::string& key, const chain_facts& facts, std::int64_t now);
  /// Records on the entry under `key` (when there is one) the token digest whose signature verified.
  static void count_repeated_token(chain_cache& cache);
  static void remember_token(chain_cache& cache, const std::string& key, const std::string& token_digest);
};

}  // namespace portcullis::auth::detail
