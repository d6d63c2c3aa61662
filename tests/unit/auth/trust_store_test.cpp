// trust_store snapshots: parsing, fingerprints, lookups, rejected anchors.

#include "portcullis/auth/trust_store.hpp"

#include <catch2/catch.hpp>

#include "portcullis/auth/secrets.hpp"
#include "test_pki.hpp"

using namespace portcullis::auth;
using namespace portcullis::auth::test;

TEST_CASE("trust_store", "[auth][trust]") {
  const auto& f = pki_fixture();
  auto root_der = f.der(f.root);
  std::vector<std::string> rejected;
  auto store = trust_store::create({{"a", "acme", root_der}, {"b", "acme", {1, 2, 3}}, {"a", "x", f.der(f.intermediate)}},
                                   &rejected);
  CHECK(store->size() == 1);
  CHECK(rejected.size() == 2);
  auto info = store->find("a");
  REQUIRE(info);
  CHECK(info->tenant == "acme");
  CHECK(info->subject == "CN=Acme Root");
  CHECK(info->sha256 == sha256_hex({reinterpret_cast<const char*>(root_der.data()), root_der.size()}));
  CHECK(store->contains("a", info->sha256));
  CHECK_FALSE(store->contains("a", std::string(64, '0')));
  CHECK_FALSE(store->find("b"));
  CHECK(trust_store::empty()->size() == 0);
  CHECK(trust_store::empty()->generation() > store->generation());
  CHECK(store->anchors().size() == 1);
}
