// validate_utf8 (MQTT 3.1.1 §1.5.3, RFC 3629 §4): well-formedness edge cases.

#include <catch2/catch.hpp>

#include <string>

#include "portcullis/protocol/codec.hpp"
#include "test_util.hpp"

using namespace portcullis::protocol;

namespace {

decode_error check(std::string_view s) { return validate_utf8(s); }

}  // namespace

TEST_CASE("UTF-8: well-formed strings") {
  CHECK(check("") == decode_error::none);
  CHECK(check("plain/ascii 123") == decode_error::none);
  CHECK(check("\x01\x1F\x7F") == decode_error::none);           // controls: MAY close, we accept
  CHECK(check("\xC2\x80") == decode_error::none);               // U+0080, smallest 2-byte
  CHECK(check("\xDF\xBF") == decode_error::none);               // U+07FF
  CHECK(check("\xE0\xA0\x80") == decode_error::none);           // U+0800, smallest 3-byte
  CHECK(check("\xED\x9F\xBF") == decode_error::none);           // U+D7FF, just below surrogates
  CHECK(check("\xEE\x80\x80") == decode_error::none);           // U+E000, just above surrogates
  CHECK(check("\xEF\xBB\xBF") == decode_error::none);           // BOM U+FEFF [MQTT-1.5.3-3]
  CHECK(check("\xEF\xBF\xBF") == decode_error::none);           // U+FFFF (non-character, allowed)
  CHECK(check("\xF0\x90\x80\x80") == decode_error::none);       // U+10000, smallest 4-byte
  CHECK(check("\xF4\x8F\xBF\xBF") == decode_error::none);       // U+10FFFF, the largest
  CHECK(check("caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80") == decode_error::none);  // é € 😀
}

TEST_CASE("UTF-8: ill-formed strings") {
  SECTION("[MQTT-1.5.3-2] U+0000") {
    CHECK(check(std::string_view("a\0b", 3)) == decode_error::utf8_null_character);
  }
  SECTION("[MQTT-1.5.3-1] overlong U+0000 (C0 80)") {
    CHECK(check("\xC0\x80") == decode_error::invalid_utf8);
  }
  SECTION("[MQTT-1.5.3-1] overlong 2-byte (C1 BF)") {
    CHECK(check("\xC1\xBF") == decode_error::invalid_utf8);
  }
  SECTION("[MQTT-1.5.3-1] overlong 3-byte (E0 9F BF)") {
    CHECK(check("\xE0\x9F\xBF") == decode_error::invalid_utf8);
  }
  SECTION("[MQTT-1.5.3-1] overlong 4-byte (F0 8F BF BF)") {
    CHECK(check("\xF0\x8F\xBF\xBF") == decode_error::invalid_utf8);
  }
  SECTION("[MQTT-1.5.3-1] above U+10FFFF (F4 90 80 80)") {
    CHECK(check("\xF4\x90\x80\x80") == decode_error::invalid_utf8);
  }
  SECTION("[MQTT-1.5.3-1] lead bytes F5..FF") {
    CHECK(check("\xF5\x80\x80\x80") == decode_error::invalid_utf8);
    CHECK(check("\xFF") == decode_error::invalid_utf8);
  }
  SECTION("[MQTT-1.5.3-1] surrogate U+D800 (ED A0 80)") {
    CHECK(check("\xED\xA0\x80") == decode_error::utf8_surrogate);
  }
  SECTION("[MQTT-1.5.3-1] surrogate U+DFFF (ED BF BF)") {
    CHECK(check("\xED\xBF\xBF") == decode_error::utf8_surrogate);
  }
  SECTION("[MQTT-1.5.3-1] CESU-8 surrogate pair") {
    CHECK(check("\xED\xA0\xBD\xED\xB8\x80") == decode_error::utf8_surrogate);
  }
  SECTION("[MQTT-1.5.3-1] stray continuation byte") {
    CHECK(check("a\x80") == decode_error::invalid_utf8);
  }
  SECTION("[MQTT-1.5.3-1] truncated 2-byte sequence at the end") {
    CHECK(check("a\xC3") == decode_error::invalid_utf8);
  }
  SECTION("[MQTT-1.5.3-1] truncated 4-byte sequence at the end") {
    CHECK(check("\xF0\x9F\x98") == decode_error::invalid_utf8);
  }
  SECTION("[MQTT-1.5.3-1] continuation replaced by ASCII") {
    CHECK(check("\xE2\x82" "A") == decode_error::invalid_utf8);
  }
  SECTION("[MQTT-1.5.3-1] truncated surrogate is ill-formed, not a surrogate") {
    CHECK(check("\xED\xA0") == decode_error::invalid_utf8);
  }
}
