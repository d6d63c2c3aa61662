// Router: wildcard matching, once-per-session delivery at the highest QoS,
// tenant isolation, unsubscribe pruning.

#include "router.hpp"

#include <catch2/catch.hpp>

#include "metrics.hpp"
#include "session.hpp"

using namespace portcullis::broker;

namespace {

struct collected {
  std::vector<std::pair<session*, std::uint8_t>> hits;
};

collected route(const router& r, const std::string& tenant, const std::string& topic) {
  collected c;
  std::vector<route_target> scratch;
  r.route(tenant, topic, scratch, [&](session& s, std::uint8_t qos) { c.hits.emplace_back(&s, qos); });
  return c;
}

}  // namespace

TEST_CASE("router matches + and # per MQTT 4.7", "[router]") {
  metrics m;
  router r;
  session a("t", "a", false, m), b("t", "b", false, m), c("t", "c", false, m), d("t", "d", false, m);
  r.subscribe("t", "sport/tennis/+", &a, 0);
  r.subscribe("t", "sport/#", &b, 1);
  r.subscribe("t", "#", &c, 0);
  r.subscribe("t", "+/+", &d, 0);

  SECTION("[MQTT-4.7.1-2] # matches the parent level too") {
    auto hits = route(r, "t", "sport").hits;
    REQUIRE(hits.size() == 2);  // sport/# and #
  }
  SECTION("+ matches exactly one level") {
    auto hits = route(r, "t", "sport/tennis/player1").hits;
    REQUIRE(hits.size() == 3);  // a, b, c (not d: three levels)
    REQUIRE(route(r, "t", "sport/tennis").hits.size() == 3);  // b, c, d
  }
  SECTION("+ matches an empty level") {
    REQUIRE(route(r, "t", "sport/tennis/").hits.size() == 3);  // a, b, c
    REQUIRE(route(r, "t", "/x").hits.size() == 2);  // c, d
  }
  SECTION("no match") {
    REQUIRE(route(r, "t", "news/a/b").hits.size() == 1);  // only #
  }
}

TEST_CASE("overlapping subscriptions deliver once at the highest QoS", "[router]") {
  metrics m;
  router r;
  session a("t", "a", false, m);
  r.subscribe("t", "a/+", &a, 0);
  r.subscribe("t", "a/#", &a, 1);
  r.subscribe("t", "a/b", &a, 0);
  auto hits = route(r, "t", "a/b").hits;
  REQUIRE(hits.size() == 1);
  REQUIRE(hits[0].second == 1);
}

TEST_CASE("tenants are isolated", "[router][tenant]") {
  metrics m;
  router r;
  session a("acme", "a", false, m), b("globex", "b", false, m);
  r.subscribe("acme", "#", &a, 0);
  r.subscribe("globex", "#", &b, 0);
  auto hits = route(r, "acme", "x/y").hits;
  REQUIRE(hits.size() == 1);
  REQUIRE(hits[0].first == &a);
  REQUIRE(route(r, "unknown", "x").hits.empty());
}

TEST_CASE("unsubscribe removes and prunes", "[router]") {
  metrics m;
  router r;
  session a("t", "a", false, m);
  r.subscribe("t", "a/b/c", &a, 1);
  r.subscribe("t", "a/+", &a, 1);
  REQUIRE(r.subscription_count() == 2);
  REQUIRE(r.unsubscribe("t", "a/b/c", &a));
  REQUIRE_FALSE(r.unsubscribe("t", "a/b/c", &a));
  REQUIRE(route(r, "t", "a/b/c").hits.empty());
  REQUIRE(route(r, "t", "a/b").hits.size() == 1);
  REQUIRE(r.subscription_count() == 1);
  // Re-subscribing the same filter replaces the QoS instead of adding a second entry.
  r.subscribe("t", "a/+", &a, 0);
  REQUIRE(r.subscription_count() == 1);
  REQUIRE(route(r, "t", "a/x").hits[0].second == 0);
}
