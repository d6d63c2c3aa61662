// Token bucket of SPEC §6 with explicit time.

#include "rate_limiter.hpp"

#include <catch2/catch.hpp>

using namespace portcullis::broker;
using namespace std::chrono_literals;

TEST_CASE("token bucket: burst, then 1 message per 5 s", "[rate]") {
  auto t0 = token_bucket::clock::time_point{} + 1000s;
  token_bucket b(1, 5, 5, t0);
  for (int i = 0; i < 5; ++i) REQUIRE(b.try_take(t0));
  REQUIRE_FALSE(b.try_take(t0));
  auto wait = b.time_until_token(t0);
  REQUIRE(wait > 4900ms);
  REQUIRE(wait < 5100ms);
  REQUIRE_FALSE(b.try_take(t0 + 4s));
  REQUIRE(b.try_take(t0 + 5s + 1ms));
  REQUIRE_FALSE(b.try_take(t0 + 5s + 2ms));
}

TEST_CASE("token bucket never exceeds its burst", "[rate]") {
  auto t0 = token_bucket::clock::time_point{} + 1000s;
  token_bucket b(1, 1, 2, t0);
  REQUIRE(b.try_take(t0 + 1h));
  REQUIRE(b.try_take(t0 + 1h));
  REQUIRE_FALSE(b.try_take(t0 + 1h));
}

TEST_CASE("token bucket: full again after the refill time", "[rate]") {
  auto t0 = token_bucket::clock::time_point{} + 1000s;
  token_bucket b(1, 5, 5, t0);
  REQUIRE(b.is_full(t0));
  REQUIRE(b.try_take(t0));
  REQUIRE_FALSE(b.is_full(t0 + 4s));
  REQUIRE(b.is_full(t0 + 5s));
}

TEST_CASE("rate memory: a reconnecting client carries on with the bucket it left", "[rate]") {
  auto t0 = token_bucket::clock::time_point{} + 1000s;
  rate_memory mem;
  token_bucket b(1, 5, 3, t0);
  REQUIRE(b.try_take(t0));
  REQUIRE(b.try_take(t0));
  REQUIRE(b.try_take(t0));
  mem.remember("acme", "pump-1", b, t0);
  REQUIRE(mem.size() == 1);
  // Another tenant's client of the same id, or another id, starts fresh.
  REQUIRE_FALSE(mem.recall("other", "pump-1", t0 + 1s));
  REQUIRE_FALSE(mem.recall("acme", "pump-2", t0 + 1s));
  auto back = mem.recall("acme", "pump-1", t0 + 1s);
  REQUIRE(back);
  REQUIRE_FALSE(back->try_take(t0 + 1s));  // still empty: no fresh burst
  REQUIRE(back->try_take(t0 + 5s + 1ms));  // refilled at the configured rate meanwhile
  REQUIRE(mem.size() == 0);                // recalled once
}

TEST_CASE("rate memory keeps only buckets short of full, and no more than its capacity", "[rate]") {
  auto t0 = token_bucket::clock::time_point{} + 1000s;
  rate_memory mem(2);
  token_bucket full(1, 5, 3, t0);
  mem.remember("t", "idle", full, t0);
  REQUIRE(mem.size() == 0);  // a full bucket is what a new connection gets anyway
  token_bucket used(1, 5, 3, t0);
  REQUIRE(used.try_take(t0));
  mem.remember("t", "a", used, t0);
  mem.remember("t", "b", used, t0);
  mem.remember("t", "c", used, t0);  // at capacity, nothing full to sweep: forgotten
  REQUIRE(mem.size() == 2);
  REQUIRE_FALSE(mem.recall("t", "c", t0));
  // Once a's and b's buckets have refilled (one token in 5 s), they make room.
  token_bucket later(1, 5, 3, t0 + 6s);
  REQUIRE(later.try_take(t0 + 6s));
  mem.remember("t", "c", later, t0 + 6s);
  REQUIRE(mem.size() == 1);
  REQUIRE(mem.recall("t", "c", t0 + 6s));
  // A bucket that refilled while its client was away is not handed back.
  mem.remember("t", "d", used, t0);
  REQUIRE_FALSE(mem.recall("t", "d", t0 + 6s));
}
