// store::errc as boost::system and std error codes: category, names, comparisons.
#include "portcullis/store/error.hpp"

#include <catch2/catch.hpp>

#include <system_error>

using portcullis::store::errc;

TEST_CASE("store errc converts to boost and std error codes", "[store][error]") {
  const boost::system::error_code ec = errc::quota_exceeded;
  CHECK(ec == errc::quota_exceeded);
  CHECK(ec != errc::conflict);
  CHECK(std::string(ec.category().name()) == "portcullis.store");
  CHECK(ec.message() == "quota exceeded");

  const std::error_code std_ec = errc::busy;
  CHECK(std_ec == errc::busy);
  CHECK(std_ec.message() == "database busy");

  const std::error_code converted = ec;
  CHECK(converted == errc::quota_exceeded);
}

TEST_CASE("store errc names are stable", "[store][error]") {
  CHECK(portcullis::store::name_of(errc::not_found) == "store.not_found");
  CHECK(portcullis::store::name_of(errc::schema_too_new) == "store.schema_too_new");
  CHECK(portcullis::store::name_of(errc::internal) == "store.internal");
}

TEST_CASE("store result carries the error", "[store][error]") {
  portcullis::store::result<int> r = portcullis::store::make_error_code(errc::expired);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == errc::expired);
}
