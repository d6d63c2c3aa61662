// Tenants, admin tokens and registration codes.
#include "store_test_support.hpp"

#include <atomic>
#include <thread>

using namespace portcullis::store;
using portcullis::store::test::hex64;
using portcullis::store::test::open_db;
using portcullis::store::test::t0;
using portcullis::store::test::temp_dir;

TEST_CASE("tenants: create, list, exists, conflict, delete", "[store][tenants]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  REQUIRE(db->create_tenant("zeta", t0));
  REQUIRE(db->create_tenant("acme", t0 + 1));

  auto dup = db->create_tenant("acme", t0 + 2);
  REQUIRE_FALSE(dup);
  CHECK(dup.error() == errc::conflict);
  CHECK(db->last_error().find("acme") != std::string::npos);

  auto empty = db->create_tenant("", t0);
  REQUIRE_FALSE(empty);
  CHECK(empty.error() == errc::invalid_argument);

  auto tenants = db->list_tenants();
  REQUIRE(tenants);
  REQUIRE(tenants->size() == 2);
  CHECK((*tenants)[0].id == "acme");
  CHECK((*tenants)[0].created_at == t0 + 1);
  CHECK((*tenants)[1].id == "zeta");

  CHECK(*db->tenant_exists("acme"));
  CHECK_FALSE(*db->tenant_exists("nope"));

  REQUIRE(db->delete_tenant("zeta"));
  CHECK_FALSE(*db->tenant_exists("zeta"));
  auto gone = db->delete_tenant("zeta");
  REQUIRE_FALSE(gone);
  CHECK(gone.error() == errc::not_found);
}

TEST_CASE("deleting a tenant removes everything it owns", "[store][tenants]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  REQUIRE(db->create_tenant("acme", t0));
  REQUIRE(db->create_tenant("keep", t0));
  REQUIRE(db->create_registration_code("acme", "code-1", t0 + 3600));
  REQUIRE(db->add_ca({"", "acme", {1, 2, 3}, hex64(1), "CN=CA", t0, t0 + 100, t0}));
  REQUIRE(db->bind_or_provision("acme", "client-aaaaaaaaaaaa", "CN=dev", hex64(2), 50, t0));
  REQUIRE(db->bind_or_provision("keep", "client-kkkkkkkkkkkk", "CN=dev", hex64(2), 50, t0));
  REQUIRE(db->add_admin_token(hex64(3), std::string("acme"), t0));
  REQUIRE(db->upsert_session({"acme", "client-aaaaaaaaaaaa", t0, {}, {}, 1}));
  REQUIRE(db->apply({enqueue_op{"acme", "a/b", {9}, 1, t0, {}, {"client-aaaaaaaaaaaa"}, 0}}));

  REQUIRE(db->delete_tenant("acme"));
  auto stats = db->stats();
  REQUIRE(stats);
  CHECK(stats->tenants == 1);
  CHECK(stats->registration_codes == 0);
  CHECK(stats->cas == 0);
  CHECK(stats->agents == 1);  // tenant "keep"
  CHECK(stats->assets == 1);
  CHECK(stats->bindings == 1);
  CHECK(stats->admin_tokens == 0);
  CHECK(stats->sessions == 0);
  CHECK(stats->messages == 0);
  CHECK(stats->queue_entries == 0);
}

TEST_CASE("admin tokens are found by hash with their scope", "[store][tokens]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  REQUIRE(db->create_tenant("acme", t0));
  REQUIRE(db->add_admin_token(hex64(1), std::nullopt, t0));
  REQUIRE(db->add_admin_token(hex64(2), std::string("acme"), t0));

  auto global = db->find_admin_token(hex64(1));
  REQUIRE(global);
  CHECK_FALSE(global->has_value());

  auto scoped = db->find_admin_token(hex64(2));
  REQUIRE(scoped);
  REQUIRE(scoped->has_value());
  CHECK(**scoped == "acme");

  auto unknown = db->find_admin_token(hex64(3));
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error() == errc::not_found);

  auto dup = db->add_admin_token(hex64(1), std::nullopt, t0);
  REQUIRE_FALSE(dup);
  CHECK(dup.error() == errc::conflict);

  auto no_tenant = db->add_admin_token(hex64(4), std::string("nope"), t0);
  REQUIRE_FALSE(no_tenant);
  CHECK(no_tenant.error() == errc::not_found);

  auto not_hex = db->add_admin_token("the-token-in-clear", std::nullopt, t0);
  REQUIRE_FALSE(not_hex);
  CHECK(not_hex.error() == errc::invalid_argument);
  auto upper = db->add_admin_token(std::string(64, 'A'), std::nullopt, t0);
  REQUIRE_FALSE(upper);
  CHECK(upper.error() == errc::invalid_argument);
}

TEST_CASE("registration codes are single use, expire, and belong to one tenant", "[store][codes]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  REQUIRE(db->create_tenant("acme", t0));
  REQUIRE(db->create_tenant("other", t0));
  const std::int64_t expires = t0 + 3600;
  REQUIRE(db->create_registration_code("acme", "CODE-1", expires));
  REQUIRE(db->create_registration_code("acme", "CODE-2", expires));

  SECTION("consumed once") {
    REQUIRE(db->consume_registration_code("acme", "CODE-1", t0 + 10));
    auto again = db->consume_registration_code("acme", "CODE-1", t0 + 11);
    REQUIRE_FALSE(again);
    CHECK(again.error() == errc::already_used);
  }
  SECTION("expired at expires_at") {
    REQUIRE(db->consume_registration_code("acme", "CODE-1", expires - 1));
    auto late = db->consume_registration_code("acme", "CODE-2", expires);
    REQUIRE_FALSE(late);
    CHECK(late.error() == errc::expired);
  }
  SECTION("another tenant's code is not found, and stays usable") {
    auto foreign = db->consume_registration_code("other", "CODE-1", t0);
    REQUIRE_FALSE(foreign);
    CHECK(foreign.error() == errc::not_found);
    CHECK(db->consume_registration_code("acme", "CODE-1", t0));
  }
  SECTION("unknown code and unknown tenant") {
    auto unknown = db->consume_registration_code("acme", "NOPE", t0);
    REQUIRE_FALSE(unknown);
    CHECK(unknown.error() == errc::not_found);
    auto no_tenant = db->create_registration_code("nope", "CODE-9", expires);
    REQUIRE_FALSE(no_tenant);
    CHECK(no_tenant.error() == errc::not_found);
  }
  SECTION("duplicate code is a conflict, even across tenants") {
    auto dup = db->create_registration_code("other", "CODE-1", expires);
    REQUIRE_FALSE(dup);
    CHECK(dup.error() == errc::conflict);
  }
  SECTION("cleanup prunes expired codes only") {
    auto cleaned = db->cleanup(expires);
    REQUIRE(cleaned);
    CHECK(cleaned->registration_codes == 2);
    REQUIRE(db->create_registration_code("acme", "CODE-3", expires + 3600));
    cleaned = db->cleanup(expires + 1);
    REQUIRE(cleaned);
    CHECK(cleaned->registration_codes == 0);
    CHECK(db->stats()->registration_codes == 1);
  }
}

TEST_CASE("two connections racing for one registration code: exactly one wins", "[store][codes][race]") {
  temp_dir dir;
  auto setup = open_db(dir.file());
  REQUIRE(setup->create_tenant("acme", t0));
  for (int round = 0; round < 10; ++round) {
    const std::string code = "RACE-" + std::to_string(round);
    REQUIRE(setup->create_registration_code("acme", code, t0 + 3600));
    auto a = open_db(dir.file());
    auto b = open_db(dir.file());
    std::atomic<int> wins{0};
    std::atomic<int> used{0};
    auto consume = [&](database& db) {
      auto r = db.consume_registration_code("acme", code, t0);
      if (r) {
        ++wins;
      } else if (r.error() == errc::already_used) {
        ++used;
      }
    };
    std::thread ta([&] { consume(*a); });
    std::thread tb([&] { consume(*b); });
    ta.join();
    tb.join();
    CHECK(wins == 1);
    CHECK(used == 1);
  }
}
