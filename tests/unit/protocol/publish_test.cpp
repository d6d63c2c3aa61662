// PUBLISH (MQTT 3.1.1 §3.3): byte-exact vectors, zero-copy decoding (STYLE §c31),
// the outbound fixed-header helper, and one SECTION per malformed case.

#include <catch2/catch.hpp>

#include "portcullis/protocol/codec.hpp"
#include "test_util.hpp"

using namespace portcullis::protocol;
using namespace portcullis::protocol::test;

namespace {

bool lies_within(std::string_view view, const shared_buffer& buffer) {
  const auto* begin = reinterpret_cast<const char*>(buffer.data());
  return view.data() >= begin && view.data() + view.size() <= begin + buffer.size();
}

publish make_publish(std::string_view topic, std::string_view payload, std::uint8_t qos, std::uint16_t id) {
  publish p;
  p.qos = qos;
  p.packet_id = id;
  p.topic = topic;
  p.payload = payload;
  return p;
}

}  // namespace

TEST_CASE("PUBLISH QoS 0: byte-exact") {
  const bytes wire = {
      0x30,                                  // PUBLISH, DUP 0, QoS 0, RETAIN 0
      0x0A,                                  // remaining length 10
      0x00, 0x03, 'a', '/', 'b',             // topic "a/b"
      'h', 'e', 'l', 'l', 'o',               // payload "hello" (no packet id at QoS 0)
  };
  const auto p = decode_as<publish>(wire);
  CHECK_FALSE(p.dup);
  CHECK(p.qos == 0);
  CHECK_FALSE(p.retain);
  CHECK(p.packet_id == 0);
  CHECK(p.topic == "a/b");
  CHECK(p.payload == "hello");
  CHECK(encode_bytes(p) == wire);
}

TEST_CASE("PUBLISH QoS 1 with DUP and RETAIN: byte-exact") {
  const bytes wire = {
      0x3B,                                  // PUBLISH, DUP 1, QoS 1, RETAIN 1
      0x0A,                                  // remaining length 10
      0x00, 0x04, 's', '/', 't', '1',        // topic "s/t1"
      0x12, 0x34,                            // packet id 0x1234
      0x01, 0x02,                            // payload (binary)
  };
  const auto p = decode_as<publish>(wire);
  CHECK(p.dup);
  CHECK(p.qos == 1);
  CHECK(p.retain);
  CHECK(p.packet_id == 0x1234);
  CHECK(p.topic == "s/t1");
  CHECK(p.payload == std::string_view("\x01\x02", 2));
  CHECK(encode_bytes(p) == wire);
}

TEST_CASE("PUBLISH QoS 2 with an empty payload: byte-exact") {
  const bytes wire = {
      0x34,        // PUBLISH, QoS 2
      0x05,        // remaining length 5
      0x00, 0x01, 'x',  // topic "x"
      0xFF, 0xFF,  // packet id 65535
  };
  const auto p = decode_as<publish>(wire);
  CHECK(p.qos == 2);
  CHECK(p.packet_id == 65535);
  CHECK(p.payload.empty());
  CHECK(encode_bytes(p) == wire);
}

TEST_CASE("PUBLISH: round trips") {
  require_round_trip(make_publish("a", "", 0, 0));
  require_round_trip(make_publish("a/b/c", "payload", 1, 1));
  require_round_trip(make_publish("/", std::string(300, 'z'), 2, 42));  // 2-byte remaining length
  const std::string big(20'000, 'q');
  require_round_trip(make_publish("big", big, 1, 7));                   // 3-byte remaining length
  auto p = make_publish("r", "x", 1, 9);
  p.dup = true;
  p.retain = true;
  require_round_trip(p);
}

TEST_CASE("PUBLISH decode does not copy the payload") {
  bytes framed = {
      0x32,                               // PUBLISH, QoS 1
      0xF1, 0x07,                         // remaining length 1009 (0x71 + 7 * 128)
      0x00, 0x05, 't', 'o', 'p', 'i', 'c',  // topic "topic"
      0x00, 0x01,                         // packet id 1
  };
  framed.resize(framed.size() + 1000, 'p');  // payload: 1000 x 'p', body offset 9

  const frame f = read_frame(framed);
  REQUIRE(f.body.size() == 1009);
  REQUIRE(f.body.use_count() == 1);
  const auto result = decode(f);
  REQUIRE(std::holds_alternative<packet>(result));
  const auto& p = std::get<publish>(std::get<packet>(result));

  CHECK(p.payload.size() == 1000);
  CHECK(lies_within(p.payload, f.body));
  CHECK(lies_within(p.topic, f.body));
  CHECK(p.frame.data() == f.body.data());  // shares the allocation
  CHECK(f.body.use_count() == 2);          // the frame and the packet, no third copy
  CHECK(reinterpret_cast<const std::uint8_t*>(p.payload.data()) == f.body.data() + 9);

  SECTION("the packet keeps the bytes alive after the frame is gone") {
    auto moved = std::get<publish>(std::get<packet>(result));
    const auto* payload = moved.payload.data();
    {
      frame dropped = f;  // copy shares, too
      CHECK(dropped.body.use_count() == 4);
    }
    CHECK(moved.frame.use_count() == 3);
    CHECK(moved.payload.data() == payload);
    CHECK(moved.payload == std::string(1000, 'p'));
  }
}

TEST_CASE("PUBLISH: encode_publish_fixed_header for outbound frames") {
  std::uint8_t out[5];
  SECTION("QoS 1 with DUP") {
    const auto n = encode_publish_fixed_header(true, 1, false, 10, out);
    CHECK(n == 2);
    CHECK(out[0] == 0x3A);  // 0011 1010: PUBLISH, DUP, QoS 1
    CHECK(out[1] == 10);
  }
  SECTION("QoS 0 retained, 3-byte remaining length") {
    const auto n = encode_publish_fixed_header(false, 0, true, 20'000, out);
    CHECK(n == 4);
    CHECK(out[0] == 0x31);
    CHECK(out[1] == (0x80 | (20'000 % 128)));
    CHECK(out[2] == (0x80 | ((20'000 / 128) % 128)));
    CHECK(out[3] == 20'000 / 16'384);
  }
  SECTION("matches encode()") {
    const auto p = make_publish("a/b", "hello", 1, 5);
    const auto wire = encode_bytes(p);
    const std::size_t rl = 2 + 3 + 2 + 5;
    const auto n = encode_publish_fixed_header(false, 1, false, rl, out);
    REQUIRE(n == 2);
    CHECK(bytes(out, out + n) == bytes(wire.begin(), wire.begin() + 2));
  }
}

TEST_CASE("PUBLISH: malformed") {
  SECTION("[MQTT-3.3.2-2] '+' in the topic name") {
    CHECK(error_of({0x30, 0x05, 0x00, 0x03, 'a', '/', '+'}) == decode_error::invalid_topic_name);
  }
  SECTION("[MQTT-3.3.2-2] '#' in the topic name") {
    CHECK(error_of({0x30, 0x03, 0x00, 0x01, '#'}) == decode_error::invalid_topic_name);
  }
  SECTION("[MQTT-3.3.2-2] '+' inside a level") {
    CHECK(error_of({0x30, 0x04, 0x00, 0x02, 'a', '+'}) == decode_error::invalid_topic_name);
  }
  SECTION("[MQTT-4.7.3-1] empty topic name") {
    CHECK(error_of({0x30, 0x03, 0x00, 0x00, 'p'}) == decode_error::invalid_topic_name);
  }
  SECTION("[MQTT-3.3.2-1] topic name is not UTF-8") {
    CHECK(error_of({0x30, 0x03, 0x00, 0x01, 0x80}) == decode_error::invalid_utf8);
  }
  SECTION("[MQTT-1.5.3-2] topic name contains U+0000") {
    CHECK(error_of({0x30, 0x04, 0x00, 0x02, 'a', 0x00}) == decode_error::utf8_null_character);
  }
  SECTION("[MQTT-1.5.3-1] topic name encodes a surrogate") {
    CHECK(error_of({0x30, 0x05, 0x00, 0x03, 0xED, 0xA0, 0x80}) == decode_error::utf8_surrogate);
  }
  SECTION("[MQTT-2.3.1-1] QoS 1 with packet id 0") {
    CHECK(error_of({0x32, 0x05, 0x00, 0x01, 't', 0x00, 0x00}) == decode_error::zero_packet_id);
  }
  SECTION("[MQTT-2.3.1-1] QoS 2 with packet id 0") {
    CHECK(error_of({0x34, 0x05, 0x00, 0x01, 't', 0x00, 0x00}) == decode_error::zero_packet_id);
  }
  SECTION("[MQTT-3.3.1-4] QoS 3") {
    CHECK(error_of({0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01}) == decode_error::invalid_qos);
  }
  SECTION("[MQTT-3.3.1-4] QoS 3 in a hand-built frame (decode checks too)") {
    frame f;
    f.header = 0x36;
    f.body = shared_buffer::copy_of(std::string_view("\x00\x01t\x00\x01", 5));
    CHECK(std::get<decode_error>(decode(f)) == decode_error::invalid_qos);
  }
  SECTION("[MQTT-3.3.1-2] DUP set on a QoS 0 message") {
    CHECK(error_of({0x38, 0x03, 0x00, 0x01, 't'}) == decode_error::invalid_fixed_header_flags);
  }
  SECTION("topic length overruns the packet") {
    CHECK(error_of({0x30, 0x03, 0x00, 0x05, 't'}) == decode_error::length_mismatch);
  }
  SECTION("QoS 1 without room for the packet id") {
    CHECK(error_of({0x32, 0x04, 0x00, 0x01, 't', 0x01}) == decode_error::length_mismatch);
  }
  SECTION("empty body") {
    CHECK(error_of({0x30, 0x00}) == decode_error::length_mismatch);
  }
  SECTION("one byte body") {
    CHECK(error_of({0x30, 0x01, 0x00}) == decode_error::length_mismatch);
  }
}

TEST_CASE("PUBLISH: decode leaves the SPEC §6 character set to the broker") {
  // '$' and spaces are valid on the wire; is_valid_topic_name() refuses them.
  CHECK(decode_as<publish>({0x30, 0x05, 0x00, 0x03, '$', 'S', ' '}).topic == "$S ");
}
