// CONNECT and CONNACK (MQTT 3.1.1 §3.1, §3.2): byte-exact vectors, round trips,
// and one SECTION per malformed case.

#include <catch2/catch.hpp>

#include "portcullis/protocol/codec.hpp"
#include "test_util.hpp"

using namespace portcullis::protocol;
using namespace portcullis::protocol::test;

namespace {

// A CONNECT with every optional field present.
const bytes full_connect = {
    0x10,                                // CONNECT
    0x29,                                // remaining length 41
    0x00, 0x04, 'M', 'Q', 'T', 'T',      // protocol name "MQTT"
    0x04,                                // protocol level 4
    0xEE,                                // flags: username, password, will retain, will QoS 1, will, clean
    0x00, 0x3C,                          // keep alive 60 s
    0x00, 0x05, 'd', 'e', 'v', '-', '1',  // client id "dev-1"
    0x00, 0x06, 'w', 'i', 'l', 'l', '/', 't',  // will topic "will/t"
    0x00, 0x03, 'b', 'y', 'e',           // will message "bye"
    0x00, 0x04, 'u', 's', 'e', 'r',      // user name "user"
    0x00, 0x03, 0x00, 'p', 'w',          // password (binary, starts with 0x00)
};

connect full_connect_packet() {
  connect c;
  c.protocol_name = "MQTT";
  c.protocol_level = 4;
  c.clean_session = true;
  c.keep_alive = 60;
  c.client_id = "dev-1";
  c.will = will_message{"will/t", "bye", 1, true};
  c.username = "user";
  c.password = std::string("\0pw", 3);
  return c;
}

/// A minimal CONNECT whose flags byte and payload are given.
bytes connect_with(std::uint8_t flags, const bytes& payload) {
  bytes body = {0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, flags, 0x00, 0x00};
  body.insert(body.end(), payload.begin(), payload.end());
  bytes wire = {0x10, static_cast<std::uint8_t>(body.size())};
  wire.insert(wire.end(), body.begin(), body.end());
  return wire;
}

}  // namespace

TEST_CASE("CONNECT: full packet decodes field by field") {
  const auto c = decode_as<connect>(full_connect);
  CHECK(c.protocol_name == "MQTT");
  CHECK(c.protocol_level == 4);
  CHECK(c.clean_session);
  CHECK(c.keep_alive == 60);
  CHECK(c.client_id == "dev-1");
  REQUIRE(c.will.has_value());
  CHECK(c.will->topic == "will/t");
  CHECK(c.will->payload == "bye");
  CHECK(c.will->qos == 1);
  CHECK(c.will->retain);
  CHECK(c.username == std::optional<std::string>("user"));
  CHECK(c.password == std::optional<std::string>(std::string("\0pw", 3)));
  CHECK(c == full_connect_packet());
}

TEST_CASE("CONNECT: encode computes the flags and is byte-exact") {
  CHECK(encode_bytes(full_connect_packet()) == full_connect);

  connect minimal;
  minimal.protocol_name = "MQTT";
  minimal.keep_alive = 30;
  minimal.client_id = "c";
  const bytes expected = {
      0x10, 0x0D,                     // CONNECT, remaining length 13
      0x00, 0x04, 'M', 'Q', 'T', 'T',  // protocol name
      0x04,                           // level 4
      0x02,                           // flags: clean session only
      0x00, 0x1E,                     // keep alive 30
      0x00, 0x01, 'c',                // client id "c"
  };
  CHECK(encode_bytes(minimal) == expected);
  CHECK(decode_as<connect>(expected) == minimal);
}

TEST_CASE("CONNECT: round trips") {
  auto c = full_connect_packet();
  require_round_trip(c);
  c.clean_session = false;
  c.will.reset();
  require_round_trip(c);
  c.password.reset();
  require_round_trip(c);
  c.username.reset();
  c.client_id.clear();  // empty client id is valid on the wire [MQTT-3.1.3-6]
  require_round_trip(c);
  c.will = will_message{"t", std::string("\xFF\x00", 2), 2, false};
  require_round_trip(c);
}

TEST_CASE("CONNECT: accepted variants (policy is the broker's)") {
  SECTION("MQTT 3.1 'MQIsdp' level 3: name and level, for the broker to answer CONNACK 0x01") {
    const bytes wire = {
        0x10, 0x0F,                                // CONNECT, RL 15
        0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p',  // protocol name "MQIsdp"
        0x03,                                      // level 3
        0x02,                                      // clean session
        0x00, 0x0A,                                // keep alive 10
        0x00, 0x01, 'x',                           // client id
    };
    const auto c = decode_as<connect>(wire);
    CHECK(c.protocol_name == "MQIsdp");
    CHECK(c.protocol_level == 3);
  }
  SECTION("unknown level 5 is returned for the broker to answer CONNACK 0x01") {
    auto wire = connect_with(0x02, {0x00, 0x01, 'x'});
    wire[8] = 5;
    CHECK(decode_as<connect>(wire).protocol_level == 5);
  }
  SECTION("a real MQTT 5 CONNECT (properties after the keep-alive) is not malformed: level 5") {
    const bytes wire = {
        0x10, 0x11,                           // CONNECT, RL 17
        0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05,  // "MQTT" level 5
        0x02,                                 // clean start
        0x00, 0x1E,                           // keep alive 30
        0x03, 0x21, 0x00, 0x0A,               // properties (3 bytes): receive maximum 10
        0x00, 0x01, 'x',                      // client id
    };
    const auto c = decode_as<connect>(wire);
    CHECK(c.protocol_name == "MQTT");
    CHECK(c.protocol_level == 5);
  }
  SECTION("password may be any binary, including invalid UTF-8") {
    const auto wire = connect_with(0xC0, {0x00, 0x01, 'x', 0x00, 0x01, 'u', 0x00, 0x03, 0xFF, 0x00, 0xED});
    CHECK(decode_as<connect>(wire).password == std::optional<std::string>(std::string("\xFF\x00\xED", 3)));
  }
  SECTION("will message may be any binary") {
    const auto wire = connect_with(0x04, {0x00, 0x01, 'x', 0x00, 0x01, 't', 0x00, 0x02, 0xC0, 0x80});
    CHECK(decode_as<connect>(wire).will->payload == "\xC0\x80");
  }
}

TEST_CASE("CONNECT: malformed") {
  SECTION("[MQTT-3.1.2-1] protocol name not MQTT") {
    auto wire = connect_with(0x02, {0x00, 0x01, 'x'});
    wire[7] = 'X';  // "MQTX"
    CHECK(error_of(wire) == decode_error::invalid_protocol_name);
  }
  SECTION("[MQTT-3.1.2-1] protocol name in lower case") {
    const bytes wire = {0x10, 0x0D, 0x00, 0x04, 'm', 'q', 't', 't', 0x04, 0x02, 0x00, 0x00, 0x00, 0x01, 'x'};
    CHECK(error_of(wire) == decode_error::invalid_protocol_name);
  }
  SECTION("[MQTT-3.1.2-3] reserved connect flag set") {
    CHECK(error_of(connect_with(0x03, {0x00, 0x01, 'x'})) == decode_error::invalid_connect_flags);
  }
  SECTION("[MQTT-3.1.2-11] will QoS and retain set without will flag") {
    CHECK(error_of(connect_with(0x3A, {0x00, 0x01, 'x'})) == decode_error::invalid_connect_flags);
  }
  SECTION("[MQTT-3.1.2-13] will QoS 2 without will flag") {
    CHECK(error_of(connect_with(0x12, {0x00, 0x01, 'x'})) == decode_error::invalid_connect_flags);
  }
  SECTION("[MQTT-3.1.2-13] will QoS 3 without will flag") {
    CHECK(error_of(connect_with(0x1A, {0x00, 0x01, 'x'})) == decode_error::invalid_connect_flags);
  }
  SECTION("[MQTT-3.1.2-15] will retain without will flag") {
    CHECK(error_of(connect_with(0x22, {0x00, 0x01, 'x'})) == decode_error::invalid_connect_flags);
  }
  SECTION("[MQTT-3.1.2-14] will QoS 3") {
    const auto wire = connect_with(0x1C, {0x00, 0x01, 'x', 0x00, 0x01, 't', 0x00, 0x00});
    CHECK(error_of(wire) == decode_error::invalid_qos);
  }
  SECTION("[MQTT-3.1.2-22] password flag without user name flag") {
    const auto wire = connect_with(0x42, {0x00, 0x01, 'x', 0x00, 0x01, 'p'});
    CHECK(error_of(wire) == decode_error::invalid_connect_flags);
  }
  SECTION("[MQTT-3.1.3-4] client id is not UTF-8") {
    CHECK(error_of(connect_with(0x02, {0x00, 0x02, 0xC3, 0x28})) == decode_error::invalid_utf8);
  }
  SECTION("[MQTT-1.5.3-2] client id contains U+0000") {
    CHECK(error_of(connect_with(0x02, {0x00, 0x02, 'a', 0x00})) == decode_error::utf8_null_character);
  }
  SECTION("[MQTT-3.1.3-10] will topic encodes a surrogate") {
    const auto wire = connect_with(0x06, {0x00, 0x01, 'x', 0x00, 0x03, 0xED, 0xB0, 0x80, 0x00, 0x00});
    CHECK(error_of(wire) == decode_error::utf8_surrogate);
  }
  SECTION("[MQTT-3.1.3-11] user name is not UTF-8") {
    const auto wire = connect_with(0x82, {0x00, 0x01, 'x', 0x00, 0x01, 0xFF});
    CHECK(error_of(wire) == decode_error::invalid_utf8);
  }
  SECTION("[MQTT-3.1.3-1] will flag set but will fields missing") {
    CHECK(error_of(connect_with(0x06, {0x00, 0x01, 'x'})) == decode_error::length_mismatch);
  }
  SECTION("[MQTT-3.1.3-1] user name flag set but user name missing") {
    CHECK(error_of(connect_with(0x82, {0x00, 0x01, 'x'})) == decode_error::length_mismatch);
  }
  SECTION("[MQTT-3.1.3-1] password flag set but password missing") {
    CHECK(error_of(connect_with(0xC2, {0x00, 0x01, 'x', 0x00, 0x01, 'u'})) == decode_error::length_mismatch);
  }
  SECTION("bytes after the last field") {
    CHECK(error_of(connect_with(0x02, {0x00, 0x01, 'x', 0x00})) == decode_error::length_mismatch);
  }
  SECTION("client id length overruns the packet") {
    CHECK(error_of(connect_with(0x02, {0x00, 0x05, 'x'})) == decode_error::length_mismatch);
  }
  SECTION("no client id at all") {
    CHECK(error_of(connect_with(0x02, {})) == decode_error::length_mismatch);
  }
  SECTION("variable header truncated before keep alive") {
    const bytes wire = {0x10, 0x08, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x02};
    CHECK(error_of(wire) == decode_error::length_mismatch);
  }
  SECTION("empty body") {
    const bytes wire = {0x10, 0x00};
    CHECK(error_of(wire) == decode_error::length_mismatch);
  }
  SECTION("[MQTT-2.2.2-2] CONNECT with fixed-header flags") {
    auto wire = connect_with(0x02, {0x00, 0x01, 'x'});
    wire[0] = 0x11;
    CHECK(error_of(wire) == decode_error::invalid_fixed_header_flags);
  }
}

TEST_CASE("CONNACK: byte-exact and round trip") {
  const bytes wire = {
      0x20, 0x02,  // CONNACK, remaining length 2
      0x01,        // acknowledge flags: session present
      0x00,        // return code: accepted
  };
  const auto c = decode_as<connack>(wire);
  CHECK(c.session_present);
  CHECK(c.return_code == connack_code::accepted);
  CHECK(encode_bytes(c) == wire);

  for (std::uint8_t code = 0; code <= 5; ++code) {
    require_round_trip(connack{false, static_cast<connack_code>(code)});
  }
  CHECK(encode_bytes(connack{false, connack_code::not_authorized}) == bytes{0x20, 0x02, 0x00, 0x05});
}

TEST_CASE("CONNACK: malformed") {
  SECTION("(§3.2.2.1) reserved acknowledge flag bits set") {
    CHECK(error_of({0x20, 0x02, 0x02, 0x00}) == decode_error::invalid_connack_flags);
  }
  SECTION("(§3.2.2.3) return code 6 is undefined") {
    CHECK(error_of({0x20, 0x02, 0x00, 0x06}) == decode_error::invalid_return_code);
  }
  SECTION("remaining length 3") {
    CHECK(error_of({0x20, 0x03, 0x00, 0x00, 0x00}) == decode_error::length_mismatch);
  }
  SECTION("remaining length 1") {
    CHECK(error_of({0x20, 0x01, 0x00}) == decode_error::length_mismatch);
  }
  SECTION("[MQTT-2.2.2-2] CONNACK with fixed-header flags") {
    CHECK(error_of({0x21, 0x02, 0x00, 0x00}) == decode_error::invalid_fixed_header_flags);
  }
}
