// The strict base64 / base64url decoders (auth/src/base64.hpp): every byte string has exactly one
// accepted encoding, and the decoders agree with the encoders on every length.

#include "base64.hpp"

#include <random>
#include <string>

#include <catch2/catch.hpp>

namespace {

using namespace portcullis::auth::detail;

std::string as_string(const std::optional<std::vector<std::uint8_t>>& v) {
  REQUIRE(v.has_value());
  return {v->begin(), v->end()};
}

}  // namespace

TEST_CASE("base64 decoders round-trip every length", "[auth][base64]") {
  std::mt19937 rng(7);
  for (std::size_t n = 0; n <= 70; ++n) {
    std::string bytes(n, '\0');
    for (auto& b : bytes) b = static_cast<char>(rng() & 0xFF);
    INFO("length " << n);
    CHECK(as_string(decode_base64url(encode_base64url(bytes))) == bytes);
    CHECK(as_string(decode_base64(encode_base64(bytes))) == bytes);
  }
}

TEST_CASE("base64 decoders accept one encoding only", "[auth][base64]") {
  CHECK(as_string(decode_base64("QQ==")) == "A");
  CHECK(as_string(decode_base64("QUI=")) == "AB");
  CHECK(as_string(decode_base64url("QQ")) == "A");
  CHECK(as_string(decode_base64url("QUI")) == "AB");
  CHECK(as_string(decode_base64url("-_-_")) == "\xfb\xff\xbf");
  CHECK(as_string(decode_base64("+/+/")) == "\xfb\xff\xbf");
  SECTION("non-zero unused bits in the last character") {
    CHECK_FALSE(decode_base64("QR=="));
    CHECK_FALSE(decode_base64("QUJ="));
    CHECK_FALSE(decode_base64url("QR"));
    CHECK_FALSE(decode_base64url("QUJ"));
  }
  SECTION("a length of 1 mod 4, or padding where none belongs") {
    CHECK_FALSE(decode_base64url("QUJDR"));
    CHECK_FALSE(decode_base64url("QQ=="));
    CHECK_FALSE(decode_base64("QQ"));
    CHECK_FALSE(decode_base64("QQ="));
    CHECK_FALSE(decode_base64("Q==="));
  }
  SECTION("characters of the other alphabet, whitespace, NUL, bytes above 0x7F") {
    CHECK_FALSE(decode_base64url("ab+d"));
    CHECK_FALSE(decode_base64url("ab/d"));
    CHECK_FALSE(decode_base64("ab-d"));
    CHECK_FALSE(decode_base64("ab_d"));
    CHECK_FALSE(decode_base64url("ab d"));
    CHECK_FALSE(decode_base64url(std::string("abc\0", 4)));
    CHECK_FALSE(decode_base64url("abc\xC3"));
    CHECK_FALSE(decode_base64url("QUJDRE\xff"));  // in the partial last quantum
    CHECK_FALSE(decode_base64("QUJD=Q=="));       // padding inside
  }
}
