// frame_reader: incremental framing, Remaining Length limits, the size cap decided
// from the fixed header, and fixed-header flag checks (MQTT 3.1.1 §2.2).

#include <catch2/catch.hpp>

#include "portcullis/protocol/codec.hpp"
#include "portcullis/protocol/frame_reader.hpp"
#include "test_util.hpp"

using namespace portcullis::protocol;
using namespace portcullis::protocol::test;
using status = frame_reader::status;

TEST_CASE("frame_reader: one complete frame") {
  const bytes wire = {
      0x30,             // PUBLISH, QoS 0
      0x05,             // remaining length 5
      0x00, 0x01, 't',  // topic "t"
      'h', 'i',         // payload
  };
  frame_reader reader(max_packet);
  REQUIRE(reader.idle());
  const auto r = reader.feed(wire);
  CHECK(r.state == status::complete);
  CHECK(r.consumed == 7);
  CHECK(r.error == decode_error::none);
  CHECK_FALSE(reader.idle());
  const auto f = reader.take();
  CHECK(reader.idle());
  CHECK(f.header == 0x30);
  CHECK(f.type() == 3);
  CHECK(f.flags() == 0);
  CHECK(f.body.size() == 5);
  CHECK(f.wire_size() == 7);
  CHECK(f.body.view() == std::string_view("\x00\x01thi", 5));
}

TEST_CASE("frame_reader: byte-at-a-time feeding") {
  const bytes wire = {
      0x82,                    // SUBSCRIBE, flags 0b0010
      0x08,                    // remaining length 8
      0x00, 0x0A,              // packet id 10
      0x00, 0x03, 'a', '/', 'b',  // filter "a/b"
      0x01,                    // QoS 1
  };
  frame_reader reader(max_packet);
  for (std::size_t i = 0; i + 1 < wire.size(); ++i) {
    const auto r = reader.feed({&wire[i], 1});
    REQUIRE(r.state == status::need_more);
    REQUIRE(r.consumed == 1);
    REQUIRE_FALSE(reader.idle());
  }
  const auto r = reader.feed({&wire.back(), 1});
  REQUIRE(r.state == status::complete);
  REQUIRE(r.consumed == 1);
  const auto f = reader.take();
  CHECK(f.header == 0x82);
  CHECK(f.body.size() == 8);
  CHECK(reader.idle());
}

TEST_CASE("frame_reader: several frames in one buffer") {
  const bytes wire = {
      0xC0, 0x00,                          // PINGREQ
      0x40, 0x02, 0x00, 0x07,              // PUBACK id 7
      0x30, 0x04, 0x00, 0x01, 'x', 'y',    // PUBLISH "x" payload "y"
      0xE0, 0x00,                          // DISCONNECT
  };
  frame_reader reader(max_packet);
  std::span<const std::uint8_t> in(wire);
  std::vector<std::size_t> consumed;
  std::vector<std::uint8_t> headers;
  while (!in.empty()) {
    const auto r = reader.feed(in);
    REQUIRE(r.state == status::complete);
    consumed.push_back(r.consumed);
    in = in.subspan(r.consumed);
    headers.push_back(reader.take().header);
  }
  CHECK(consumed == std::vector<std::size_t>{2, 4, 6, 2});
  CHECK(headers == std::vector<std::uint8_t>{0xC0, 0x40, 0x30, 0xE0});
  CHECK(reader.idle());
}

TEST_CASE("frame_reader: a frame split across feeds ends mid-buffer") {
  const bytes first = {0x40, 0x02, 0x00};        // PUBACK, RL 2, half the id
  const bytes second = {0x09, 0xC0, 0x00};       // rest of id 9, then PINGREQ
  frame_reader reader(max_packet);
  auto r = reader.feed(first);
  CHECK(r.state == status::need_more);
  CHECK(r.consumed == 3);
  r = reader.feed(second);
  CHECK(r.state == status::complete);
  CHECK(r.consumed == 1);  // only the last id byte belongs to the PUBACK
  CHECK(reader.take().body.view() == std::string_view("\x00\x09", 2));
  r = reader.feed(std::span(second).subspan(1));
  CHECK(r.state == status::complete);
  CHECK(r.consumed == 2);
  CHECK(reader.take().header == 0xC0);
}

TEST_CASE("frame_reader: zero-length body needs no allocation") {
  frame_reader reader(max_packet);
  const bytes wire = {0xD0, 0x00};  // PINGRESP
  REQUIRE(reader.feed(wire).state == status::complete);
  const auto f = reader.take();
  CHECK(f.body.empty());
  CHECK(f.body.data() == nullptr);
  CHECK(f.body.use_count() == 0);
}

TEST_CASE("frame_reader: the body is one buffer of exactly remaining length") {
  bytes wire = {0x30, 0xC8, 0x01, 0x00, 0x01, 't'};  // RL 200 (0xC8 0x01)
  wire.resize(2 + 1 + 200, 'p');
  frame_reader reader(max_packet);
  REQUIRE(reader.feed(wire).state == status::complete);
  const auto f = reader.take();
  CHECK(f.body.size() == 200);
  CHECK(f.body.use_count() == 1);
  CHECK(f.wire_size() == wire.size());
}

TEST_CASE("frame_reader: remaining length encodings") {
  std::uint8_t buf[4];
  CHECK(encode_remaining_length(0, buf) == 1);
  CHECK(buf[0] == 0x00);
  CHECK(encode_remaining_length(127, buf) == 1);
  CHECK(buf[0] == 0x7F);
  CHECK(encode_remaining_length(128, buf) == 2);
  CHECK((buf[0] == 0x80 && buf[1] == 0x01));
  CHECK(encode_remaining_length(16'383, buf) == 2);
  CHECK((buf[0] == 0xFF && buf[1] == 0x7F));
  CHECK(encode_remaining_length(16'384, buf) == 3);
  CHECK((buf[0] == 0x80 && buf[1] == 0x80 && buf[2] == 0x01));
  CHECK(encode_remaining_length(268'435'455, buf) == 4);
  CHECK((buf[0] == 0xFF && buf[1] == 0xFF && buf[2] == 0xFF && buf[3] == 0x7F));
  CHECK(remaining_length_size(0) == 1);
  CHECK(remaining_length_size(127) == 1);
  CHECK(remaining_length_size(128) == 2);
  CHECK(remaining_length_size(16'383) == 2);
  CHECK(remaining_length_size(16'384) == 3);
  CHECK(remaining_length_size(2'097'151) == 3);
  CHECK(remaining_length_size(2'097'152) == 4);
  CHECK(remaining_length_size(268'435'455) == 4);

  SECTION("the 4-byte maximum is read back (and refused only for size)") {
    frame_reader reader(1u << 30);
    const bytes header = {0x30, 0xFF, 0xFF, 0xFF, 0x7F};
    const auto r = reader.feed(header);
    CHECK(r.state == status::need_more);
    CHECK(r.consumed == 5);
  }
  SECTION("non-minimal encodings are accepted (MQTT 3.1.1 has no rule against them)") {
    frame_reader reader(max_packet);
    const bytes wire = {0xC0, 0x80, 0x80, 0x00};  // PINGREQ, RL 0 in three bytes
    const auto r = reader.feed(wire);
    CHECK(r.state == status::complete);
    CHECK(r.consumed == 4);
    CHECK(reader.take().body.empty());
  }
}

TEST_CASE("frame_reader: malformed fixed headers") {
  frame_reader reader(max_packet);

  SECTION("[MQTT-2.2.3] remaining length of 5 bytes") {
    const bytes wire = {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01};
    const auto r = reader.feed(wire);
    CHECK(r.state == status::error);
    CHECK(r.error == decode_error::remaining_length_overflow);
    CHECK(r.consumed == 5);  // refused on the 4th length byte's continuation bit
    CHECK_FALSE(reader.idle());
    SECTION("the reader stays failed") {
      const auto again = reader.feed(wire);
      CHECK(again.state == status::error);
      CHECK(again.error == decode_error::remaining_length_overflow);
      CHECK(again.consumed == 0);
    }
  }
  SECTION("[MQTT-2.2.3] remaining length of 5 bytes, byte at a time") {
    const bytes wire = {0x30, 0x80, 0x80, 0x80, 0x80};
    for (std::size_t i = 0; i < 4; ++i) {
      REQUIRE(reader.feed({&wire[i], 1}).state == status::need_more);
    }
    const auto r = reader.feed({&wire[4], 1});
    CHECK(r.state == status::error);
    CHECK(r.error == decode_error::remaining_length_overflow);
  }
  SECTION("[MQTT-2.2.1] reserved packet type 0 refused on the first byte") {
    const bytes wire = {0x00, 0x00};
    const auto r = reader.feed(wire);
    CHECK(r.state == status::error);
    CHECK(r.error == decode_error::reserved_packet_type);
    CHECK(r.consumed == 1);
  }
  SECTION("[MQTT-2.2.1] reserved packet type 15 refused on the first byte") {
    const bytes wire = {0xF0};
    const auto r = reader.feed(wire);
    CHECK(r.state == status::error);
    CHECK(r.error == decode_error::reserved_packet_type);
  }
  SECTION("[MQTT-2.2.2-2] PINGREQ with a flag bit") {
    const bytes wire = {0xC1, 0x00};
    CHECK(reader.feed(wire).error == decode_error::invalid_fixed_header_flags);
  }
  SECTION("[MQTT-3.6.1-1] PUBREL with flags 0") {
    const bytes wire = {0x60};
    CHECK(reader.feed(wire).error == decode_error::invalid_fixed_header_flags);
  }
  SECTION("[MQTT-3.8.1-1] SUBSCRIBE with flags 0") {
    const bytes wire = {0x80};
    CHECK(reader.feed(wire).error == decode_error::invalid_fixed_header_flags);
  }
  SECTION("[MQTT-3.10.1-1] UNSUBSCRIBE with flags 0b0011") {
    const bytes wire = {0xA3};
    CHECK(reader.feed(wire).error == decode_error::invalid_fixed_header_flags);
  }
  SECTION("[MQTT-3.3.1-4] PUBLISH with QoS 3") {
    const bytes wire = {0x36};
    CHECK(reader.feed(wire).error == decode_error::invalid_qos);
  }
  SECTION("[MQTT-3.3.1-2] PUBLISH QoS 0 with DUP") {
    const bytes wire = {0x38};
    CHECK(reader.feed(wire).error == decode_error::invalid_fixed_header_flags);
  }
}

TEST_CASE("frame_reader: packet size limit decided from the fixed header") {
  SECTION("oversized: feeding only the fixed header already fails") {
    frame_reader reader(max_packet);
    // RL 24574 = 0xFE 0xBF 0x01: total 1 + 3 + 24574 = 24578 > 24576.
    const bytes header = {0x30, 0xFE, 0xBF, 0x01};
    const auto r = reader.feed(header);
    CHECK(r.state == status::error);
    CHECK(r.error == decode_error::packet_too_large);
    CHECK(r.consumed == 4);
  }
  SECTION("oversized claim of 256 MiB is refused without allocating") {
    frame_reader reader(max_packet);
    const bytes header = {0x30, 0xFF, 0xFF, 0xFF, 0x7F};
    const auto r = reader.feed(header);
    CHECK(r.error == decode_error::packet_too_large);
  }
  SECTION("exactly max_packet_bytes is accepted") {
    frame_reader reader(max_packet);
    const std::size_t rl = max_packet - 1 - 3;  // 24572 needs 3 length bytes
    bytes wire = {0x30};
    std::uint8_t len[4];
    const auto n = encode_remaining_length(rl, len);
    REQUIRE(n == 3);
    wire.insert(wire.end(), len, len + n);
    wire.insert(wire.end(), {0x00, 0x01, 't'});
    wire.resize(max_packet, 'x');
    const auto r = reader.feed(wire);
    CHECK(r.state == status::complete);
    CHECK(r.consumed == max_packet);
    CHECK(reader.take().wire_size() == max_packet);
  }
  SECTION("one byte over is refused") {
    frame_reader reader(max_packet);
    const std::size_t rl = max_packet - 1 - 3 + 1;
    bytes header = {0x30};
    std::uint8_t len[4];
    header.insert(header.end(), len, len + encode_remaining_length(rl, len));
    CHECK(reader.feed(header).error == decode_error::packet_too_large);
  }
  SECTION("a small limit counts the header bytes") {
    frame_reader reader(10);
    const bytes ok = {0xC0, 0x00};
    CHECK(reader.feed(ok).state == status::complete);
    reader.take();
    const bytes header = {0x30, 0x09};  // 2 + 9 = 11 > 10
    CHECK(reader.feed(header).error == decode_error::packet_too_large);
  }
}

TEST_CASE("frame_reader: take() without a complete frame drops the partial one") {
  frame_reader reader(max_packet);
  const bytes partial = {0x30, 0x05, 0x00};
  REQUIRE(reader.feed(partial).state == status::need_more);
  const auto f = reader.take();
  CHECK(f.header == 0);
  CHECK(f.body.empty());
  CHECK(reader.idle());
}
