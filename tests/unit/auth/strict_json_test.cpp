// Strict JSON (auth/src/strict_json.hpp) for JWS headers and claims: valid UTF-8 only, whether
// the text is plain ASCII (parsed without the encoding check) or not.

#include "strict_json.hpp"

#include <string>

#include <catch2/catch.hpp>

namespace {

using portcullis::auth::detail::parse_strict_object;

bool parses(const std::string& text) {
  auto r = parse_strict_object(text);
  INFO(text << " -> " << (r ? std::string("ok") : r.error()));
  return r.has_value();
}

}  // namespace

TEST_CASE("strict JSON objects", "[auth][json]") {
  CHECK(parses(R"({"alg":"RS256","x5c":["MIIB"]})"));
  CHECK(parses("{\"sub\":\"caf\xC3\xA9\"}"));                  // é, two bytes
  CHECK(parses("{\"sub\":\"\xF0\x9F\x94\x92\"}"));             // a four-byte code point
  CHECK(parses(R"({"sub":"\u00e9\ud83d\udd12"})"));            // escapes, a surrogate pair
  SECTION("invalid UTF-8 is refused") {
    CHECK_FALSE(parses("{\"sub\":\"\xC3(\"}"));                 // truncated sequence
    CHECK_FALSE(parses("{\"sub\":\"\xC0\xAF\"}"));              // overlong '/'
    CHECK_FALSE(parses("{\"sub\":\"\xED\xA0\x80\"}"));          // an encoded surrogate
    CHECK_FALSE(parses("{\"sub\":\"\xFF\"}"));
    CHECK_FALSE(parses("{\"s\xFF\":1}"));                      // in a member name
  }
  SECTION("a lone surrogate escape is refused, ASCII text or not") {
    CHECK_FALSE(parses(R"({"sub":"\ud800"})"));
    CHECK_FALSE(parses("{\"sub\":\"\\ud800\",\"n\":\"\xC3\xA9\"}"));
  }
  SECTION("duplicates, trailing content, non-objects") {
    CHECK_FALSE(parses(R"({"alg":"RS256","alg":"none"})"));
    CHECK_FALSE(parses(R"({"a":{"b":1,"b":2}})"));
    CHECK_FALSE(parses(R"({"a":1} x)"));
    CHECK_FALSE(parses(R"(["a"])"));
    CHECK_FALSE(parses(R"({"a":NaN})"));
  }
  SECTION("a raw NUL byte is refused, after the object too (RapidJSON would stop at it)") {
    CHECK_FALSE(parses(std::string("{\"a\":1}\0,\"alg\":\"none\"}", 22)));
    CHECK_FALSE(parses(std::string("{\"a\":\"x\0y\"}", 11)));
    CHECK(parses(R"({"a":"x\u0000y"})"));  // escaped, it is a character of the string
  }
}
