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
