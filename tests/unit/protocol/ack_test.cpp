// The fixed-size packets (MQTT 3.1.1 §3.4-3.7, §3.11-3.14): PUBACK, PUBREC, PUBREL,
// PUBCOMP, UNSUBACK carry a 2-byte packet id; PINGREQ, PINGRESP, DISCONNECT carry
// nothing. Byte-exact vectors, round trips, one SECTION per malformed case.

#include <catch2/catch.hpp>

#include "portcullis/protocol/codec.hpp"
#include "test_util.hpp"

using namespace portcullis::protocol;
using namespace portcullis::protocol::test;

TEST_CASE("acknowledgements: byte-exact") {
  SECTION("PUBACK") {
    const bytes wire = {0x40, 0x02, 0x00, 0x07};  // PUBACK, RL 2, packet id 7
    CHECK(decode_as<puback>(wire).packet_id == 7);
    CHECK(encode_bytes(puback{7}) == wire);
  }
  SECTION("PUBREC") {
    const bytes wire = {0x50, 0x02, 0x01, 0x00};  // PUBREC, RL 2, packet id 256
    CHECK(decode_as<pubrec>(wire).packet_id == 256);
    CHECK(encode_bytes(pubrec{256}) == wire);
  }
  SECTION("PUBREL (flags 0b0010)") {
    const bytes wire = {0x62, 0x02, 0xFF, 0xFF};  // PUBREL, RL 2, packet id 65535
    CHECK(decode_as<pubrel>(wire).packet_id == 65535);
    CHECK(encode_bytes(pubrel{65535}) == wire);
  }
  SECTION("PUBCOMP") {
    const bytes wire = {0x70, 0x02, 0x00, 0x01};  // PUBCOMP, RL 2, packet id 1
    CHECK(decode_as<pubcomp>(wire).packet_id == 1);
    CHECK(encode_bytes(pubcomp{1}) == wire);
  }
  SECTION("UNSUBACK") {
    const bytes wire = {0xB0, 0x02, 0x12, 0x34};  // UNSUBACK, RL 2, packet id 0x1234
    CHECK(decode_as<unsuback>(wire).packet_id == 0x1234);
    CHECK(encode_bytes(unsuback{0x1234}) == wire);
  }
  SECTION("PINGREQ") {
    const bytes wire = {0xC0, 0x00};
    decode_as<pingreq>(wire);
    CHECK(encode_bytes(pingreq{}) == wire);
  }
  SECTION("PINGRESP") {
    const bytes wire = {0xD0, 0x00};
    decode_as<pingresp>(wire);
    CHECK(encode_bytes(pingresp{}) == wire);
  }
  SECTION("DISCONNECT") {
    const bytes wire = {0xE0, 0x00};
    decode_as<disconnect>(wire);
    CHECK(encode_bytes(disconnect{}) == wire);
  }
}

TEST_CASE("acknowledgements: round trips") {
  require_round_trip(puback{1});
  require_round_trip(pubrec{2});
  require_round_trip(pubrel{3});
  require_round_trip(pubcomp{4});
  require_round_trip(unsuback{5});
  require_round_trip(pingreq{});
  require_round_trip(pingresp{});
  require_round_trip(disconnect{});
}

TEST_CASE("acknowledgements: malformed") {
  SECTION("[MQTT-2.3.1-1] PUBACK with packet id 0") {
    CHECK(error_of({0x40, 0x02, 0x00, 0x00}) == decode_error::zero_packet_id);
  }
  SECTION("[MQTT-2.3.1-1] PUBREL with packet id 0") {
    CHECK(error_of({0x62, 0x02, 0x00, 0x00}) == decode_error::zero_packet_id);
  }
  SECTION("[MQTT-2.3.1-1] UNSUBACK with packet id 0") {
    CHECK(error_of({0xB0, 0x02, 0x00, 0x00}) == decode_error::zero_packet_id);
  }
  SECTION("PUBACK remaining length 3") {
    CHECK(error_of({0x40, 0x03, 0x00, 0x01, 0x00}) == decode_error::length_mismatch);
  }
  SECTION("PUBCOMP remaining length 1") {
    CHECK(error_of({0x70, 0x01, 0x01}) == decode_error::length_mismatch);
  }
  SECTION("PUBREC remaining length 0") {
    CHECK(error_of({0x50, 0x00}) == decode_error::length_mismatch);
  }
  SECTION("[MQTT-3.6.1-1] PUBREL with flags 0b0000") {
    CHECK(error_of({0x60, 0x02, 0x00, 0x01}) == decode_error::invalid_fixed_header_flags);
  }
  SECTION("[MQTT-2.2.2-2] PUBACK with flags 0b0010") {
    CHECK(error_of({0x42, 0x02, 0x00, 0x01}) == decode_error::invalid_fixed_header_flags);
  }
  SECTION("[MQTT-2.2.2-2] DISCONNECT with flags") {
    CHECK(error_of({0xE8, 0x00}) == decode_error::invalid_fixed_header_flags);
  }
  SECTION("PINGREQ with a body") {
    CHECK(error_of({0xC0, 0x01, 0x00}) == decode_error::length_mismatch);
  }
  SECTION("PINGRESP with a body") {
    CHECK(error_of({0xD0, 0x01, 0x00}) == decode_error::length_mismatch);
  }
  SECTION("DISCONNECT with a body") {
    CHECK(error_of({0xE0, 0x02, 0x00, 0x00}) == decode_error::length_mismatch);
  }
}

TEST_CASE("decode checks the fixed header of a hand-built frame") {
  SECTION("[MQTT-2.2.1] reserved type 0") {
    frame f;
    f.header = 0x00;
    CHECK(std::get<decode_error>(decode(f)) == decode_error::reserved_packet_type);
  }
  SECTION("[MQTT-2.2.1] reserved type 15") {
    frame f;
    f.header = 0xF0;
    CHECK(std::get<decode_error>(decode(f)) == decode_error::reserved_packet_type);
  }
  SECTION("[MQTT-3.8.1-1] SUBSCRIBE with flags 0") {
    frame f;
    f.header = 0x80;
    f.body = shared_buffer::copy_of(std::string_view("\x00\x01\x00\x01" "a\x00", 6));
    CHECK(std::get<decode_error>(decode(f)) == decode_error::invalid_fixed_header_flags);
  }
}
