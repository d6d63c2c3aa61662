// Random tokens, codes, UUIDs, SHA-256 and constant-time comparison.

#include "portcullis/auth/secrets.hpp"

#include <regex>

#include <catch2/catch.hpp>

using namespace portcullis::auth;

TEST_CASE("secrets", "[auth][secrets]") {
  SECTION("random_token is base64url of the requested size and differs each time") {
    auto a = random_token();
    CHECK(a.size() == 43);
    CHECK(std::regex_match(a, std::regex("[A-Za-z0-9_-]+")));
    CHECK(a != random_token());
    CHECK(random_token(3).size() == 4);
  }
  SECTION("random_code is 32 hex characters") {
    CHECK(std::regex_match(random_code(), std::regex("[0-9a-f]{32}")));
  }
  SECTION("uuid_v4 format") {
    CHECK(std::regex_match(uuid_v4(), std::regex("[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")));
  }
  SECTION("sha256_hex known vector") {
    CHECK(sha256_hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  }
  SECTION("constant_time_equal") {
    CHECK(constant_time_equal("secret", "secret"));
    CHECK_FALSE(constant_time_equal("secret", "secreT"));
    CHECK_FALSE(constant_time_equal("secret", "secrets"));
    CHECK(constant_time_equal("", ""));
  }
}
