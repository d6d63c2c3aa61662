// Session registry: lookup by (tenant, client id) held in the sessions themselves,
// takeover, CleanSession semantics and retiring a clean session on release.

#include "session_registry.hpp"

#include <catch2/catch.hpp>

#include "metrics.hpp"
#include "router.hpp"

using namespace portcullis::broker;

namespace {

struct fake_owner : session_owner {
  std::vector<std::string> kicks;
  void wake() override {}
  void kick(std::string reason) override { kicks.push_back(std::move(reason)); }
};

std::size_t count(const session_registry& reg, const std::string& tenant) {
  std::size_t n = 0;
  reg.for_each(tenant, [&n](const std::shared_ptr<session>&) { ++n; });
  return n;
}

}  // namespace

TEST_CASE("clean sessions: one per (tenant, client id), gone on release", "[registry]") {
  router r;
  metrics m;
  session_registry reg(r, m);
  auto a = std::make_shared<fake_owner>();
  auto b = std::make_shared<fake_owner>();
  auto first = reg.attach("t1", std::string("device-with-a-long-client-id"), true, a, 0);
  REQUIRE(first.s);
  REQUIRE_FALSE(first.session_present);
  REQUIRE_FALSE(first.previous);
  REQUIRE(first.s->client_id() == "device-with-a-long-client-id");
  REQUIRE(first.s->tenant() == "t1");

  // Same client id in another tenant is another session.
  auto other = reg.attach("t2", std::string("device-with-a-long-client-id"), true, b, 0);
  REQUIRE(other.s != first.s);
  REQUIRE_FALSE(other.previous);
  REQUIRE(reg.size() == 2);
  REQUIRE(count(reg, "t1") == 1);
  REQUIRE(count(reg, "") == 2);

  REQUIRE(reg.subscribe(first.s, "a/#", 1));
  REQUIRE(r.subscription_count() == 1);
  reg.release(first.s, a.get(), 100);
  REQUIRE(reg.size() == 1);
  REQUIRE(r.subscription_count() == 0);  // unsubscribed before it can be destroyed
  REQUIRE_FALSE(reg.subscribe(first.s, "a/#", 1));  // retired
}

TEST_CASE("[MQTT-3.1.4-2] takeover returns the previous owner; its release is then a no-op", "[registry]") {
  router r;
  metrics m;
  session_registry reg(r, m);
  auto a = std::make_shared<fake_owner>();
  auto b = std::make_shared<fake_owner>();
  auto first = reg.attach("t", std::string("c"), true, a, 0);
  auto second = reg.attach("t", std::string("c"), true, b, 0);
  REQUIRE(second.previous == a);
  REQUIRE(second.s != first.s);  // CleanSession=1 discards the old state [MQTT-3.1.2-6]
  reg.release(first.s, a.get(), 100);
  REQUIRE(reg.size() == 1);
  REQUIRE(second.s->connected());
}

TEST_CASE("persistent session outlives its connection and resumes", "[registry]") {
  router r;
  metrics m;
  session_registry reg(r, m);
  auto a = std::make_shared<fake_owner>();
  auto first = reg.attach("t", std::string("p"), false, a, 0);
  REQUIRE(reg.subscribe(first.s, "x", 1));
  reg.release(first.s, a.get(), 100);
  REQUIRE(reg.size() == 1);
  REQUIRE_FALSE(first.s->connected());
  REQUIRE(r.subscription_count() == 1);

  auto b = std::make_shared<fake_owner>();
  auto again = reg.attach("t", std::string("p"), false, b, 150);
  REQUIRE(again.session_present);
  REQUIRE(again.s == first.s);
  REQUIRE(m.sessions_persistent.load() == 1);

  // Expiry only applies while offline.
  REQUIRE(reg.sweep(1'000'000'000, 10) == 0);
  // Released at 200.9 s (epoch ms): expiry is counted in milliseconds, never early.
  reg.release(again.s, b.get(), 200'900);
  REQUIRE(reg.sweep(210'000, 10) == 0);
  REQUIRE(reg.sweep(210'899, 10) == 0);
  REQUIRE(reg.sweep(210'900, 10) == 1);
  REQUIRE(reg.size() == 0);
  REQUIRE(r.subscription_count() == 0);
}

TEST_CASE("a persistent session past its expiry is not resumed, swept or not", "[registry]") {
  router r;
  metrics m;
  session_registry reg(r, m);
  reg.set_persistence(nullptr, 10);
  auto a = std::make_shared<fake_owner>();
  auto first = reg.attach("t", std::string("p"), false, a, 100'000);
  REQUIRE(reg.subscribe(first.s, "x", 1));
  reg.release(first.s, a.get(), 200'900);
  auto b = std::make_shared<fake_owner>();
  SECTION("one millisecond before: resumed") {
    auto again = reg.attach("t", std::string("p"), false, b, 210'899);
    CHECK(again.session_present);
    CHECK(again.s == first.s);
  }
  SECTION("at the expiry, before any sweep: a new session, the old one's subscriptions gone") {
    auto again = reg.attach("t", std::string("p"), false, b, 210'900);
    CHECK_FALSE(again.session_present);
    CHECK(again.s != first.s);
    CHECK(r.subscription_count() == 0);
    CHECK(reg.size() == 1);
    CHECK(m.sessions_persistent.load() == 1);
  }
}

TEST_CASE("remove kicks the connected owner", "[registry]") {
  router r;
  metrics m;
  session_registry reg(r, m);
  auto a = std::make_shared<fake_owner>();
  reg.attach("t", std::string("c"), true, a, 0);
  REQUIRE_FALSE(reg.remove("t", "other", "agent deleted"));
  REQUIRE(reg.remove("t", "c", "agent deleted"));
  REQUIRE(a->kicks == std::vector<std::string>{"agent deleted"});
  REQUIRE(reg.size() == 0);
}

TEST_CASE("sessions of a tenant share one tenant string", "[registry]") {
  metrics m;
  session s1(std::string("tenant-with-a-long-name"), "a", false, m);
  session s2(std::string("tenant-with-a-long-name"), "b", false, m);
  REQUIRE(&s1.tenant() == &s2.tenant());
  REQUIRE(s1.tenant() == "tenant-with-a-long-name");
}
