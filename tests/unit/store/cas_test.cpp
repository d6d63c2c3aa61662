// Tenant CAs: add, list, get, delete, fingerprint uniqueness across tenants,
// and the atomic add-with-registration-code.
#include "store_test_support.hpp"

using namespace portcullis::store;
using portcullis::store::test::hex64;
using portcullis::store::test::open_db;
using portcullis::store::test::t0;
using portcullis::store::test::temp_dir;

namespace {

ca_record make_ca(const std::string& tenant, unsigned n) {
  ca_record ca;
  ca.tenant = tenant;
  ca.der = {0x30, 0x82, static_cast<std::uint8_t>(n), 0x00, 0xff};
  ca.sha256 = hex64(n);
  ca.subject = "CN=Test CA " + std::to_string(n) + ",O=Acme";
  ca.not_before = t0 - 100;
  ca.not_after = t0 + 86400;
  ca.created_at = t0 + n;
  return ca;
}

}  // namespace

TEST_CASE("CAs: add, list, get, delete", "[store][cas]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  REQUIRE(db->create_tenant("acme", t0));
  REQUIRE(db->create_tenant("beta", t0));

  auto first = db->add_ca(make_ca("acme", 1));
  REQUIRE(first);
  CHECK(first->id.size() == 16);
  auto second = db->add_ca(make_ca("acme", 2));
  REQUIRE(second);
  CHECK(second->id != first->id);
  REQUIRE(db->add_ca(make_ca("beta", 3)));

  auto listed = db->list_cas("acme");
  REQUIRE(listed);
  REQUIRE(listed->size() == 2);
  CHECK((*listed)[0].id == first->id);
  CHECK((*listed)[0].der == make_ca("acme", 1).der);
  CHECK((*listed)[0].sha256 == hex64(1));
  CHECK((*listed)[0].subject == "CN=Test CA 1,O=Acme");
  CHECK((*listed)[0].not_before == t0 - 100);
  CHECK((*listed)[0].not_after == t0 + 86400);
  CHECK((*listed)[1].id == second->id);

  auto all = db->list_all_cas();
  REQUIRE(all);
  CHECK(all->size() == 3);

  auto got = db->get_ca("acme", first->id);
  REQUIRE(got);
  CHECK(got->sha256 == hex64(1));

  SECTION("reads and deletes are scoped by tenant") {
    auto foreign = db->get_ca("beta", first->id);
    REQUIRE_FALSE(foreign);
    CHECK(foreign.error() == errc::not_found);
    auto foreign_delete = db->delete_ca("beta", first->id);
    REQUIRE_FALSE(foreign_delete);
    CHECK(foreign_delete.error() == errc::not_found);
  }
  SECTION("delete") {
    REQUIRE(db->delete_ca("acme", first->id));
    CHECK(db->list_cas("acme")->size() == 1);
    auto again = db->delete_ca("acme", first->id);
    REQUIRE_FALSE(again);
    CHECK(again.error() == errc::not_found);
  }
}

TEST_CASE("a CA fingerprint belongs to one tenant only", "[store][cas]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  REQUIRE(db->create_tenant("acme", t0));
  REQUIRE(db->create_tenant("beta", t0));
  REQUIRE(db->add_ca(make_ca("acme", 7)));

  auto other_tenant = db->add_ca(make_ca("beta", 7));
  REQUIRE_FALSE(other_tenant);
  CHECK(other_tenant.error() == errc::conflict);
  auto same_tenant = db->add_ca(make_ca("acme", 7));
  REQUIRE_FALSE(same_tenant);
  CHECK(same_tenant.error() == errc::conflict);
  CHECK(db->list_all_cas()->size() == 1);
}

TEST_CASE("add_ca validates its input", "[store][cas]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  REQUIRE(db->create_tenant("acme", t0));

  auto no_tenant = db->add_ca(make_ca("nope", 1));
  REQUIRE_FALSE(no_tenant);
  CHECK(no_tenant.error() == errc::not_found);

  auto bad_hex = make_ca("acme", 1);
  bad_hex.sha256 = "AB" + bad_hex.sha256.substr(2);
  auto bad = db->add_ca(bad_hex);
  REQUIRE_FALSE(bad);
  CHECK(bad.error() == errc::invalid_argument);

  auto empty = make_ca("acme", 1);
  empty.der.clear();
  auto no_der = db->add_ca(empty);
  REQUIRE_FALSE(no_der);
  CHECK(no_der.error() == errc::invalid_argument);

  auto given_id = make_ca("acme", 2);
  given_id.id = "my-ca";
  auto kept = db->add_ca(given_id);
  REQUIRE(kept);
  CHECK(kept->id == "my-ca");
  auto dup_id = make_ca("acme", 3);
  dup_id.id = "my-ca";
  auto taken = db->add_ca(dup_id);
  REQUIRE_FALSE(taken);
  CHECK(taken.error() == errc::conflict);
}

TEST_CASE("add_ca_with_code consumes the code and adds atomically", "[store][cas][codes]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  REQUIRE(db->create_tenant("acme", t0));
  REQUIRE(db->create_tenant("beta", t0));
  REQUIRE(db->add_ca(make_ca("beta", 5)));
  REQUIRE(db->create_registration_code("acme", "CODE", t0 + 3600));

  // The CA is refused (fingerprint owned by beta): the code must stay unused.
  auto refused = db->add_ca_with_code(make_ca("acme", 5), "CODE", t0);
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == errc::conflict);

  auto added = db->add_ca_with_code(make_ca("acme", 6), "CODE", t0);
  REQUIRE(added);
  CHECK(added->tenant == "acme");

  auto reused = db->add_ca_with_code(make_ca("acme", 8), "CODE", t0);
  REQUIRE_FALSE(reused);
  CHECK(reused.error() == errc::already_used);

  REQUIRE(db->create_registration_code("acme", "OLD", t0 + 10));
  auto expired = db->add_ca_with_code(make_ca("acme", 9), "OLD", t0 + 10);
  REQUIRE_FALSE(expired);
  CHECK(expired.error() == errc::expired);
  CHECK(db->list_cas("acme")->size() == 1);
}
