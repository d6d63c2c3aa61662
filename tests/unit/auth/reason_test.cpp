// The reason table: unique stable codes, CONNACK mapping, enumeration.

#include "portcullis/auth/failure.hpp"

#include <set>

#include <catch2/catch.hpp>

using namespace portcullis::auth;

TEST_CASE("reason table", "[auth][reason]") {
  std::set<std::string_view> codes;
  for (reason r : all_reasons()) {
    CHECK_FALSE(code_of(r).empty());
    CHECK_FALSE(describe(r).empty());
    CHECK(codes.insert(code_of(r)).second);
    reason back{};
    REQUIRE(reason_from_code(code_of(r), back));
    CHECK(back == r);
    CHECK(connack_of(r) == (r == reason::client_id_length ? 0x02 : 0x04));
  }
  CHECK(all_reasons().size() == 33);
  CHECK(code_of(reason::jwt_exp) == "jwt.exp");
  CHECK(code_of(reason::x5c_no_tenant_ca) == "x5c.no_tenant_ca");
  CHECK(code_of(reason::cert_key_usage) == "cert.key_usage");
  CHECK(code_of(reason::binding_conflict) == "binding.conflict");
  reason unused{};
  CHECK_FALSE(reason_from_code("jwt.nope", unused));
}
