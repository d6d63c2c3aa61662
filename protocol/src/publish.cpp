// PUBLISH (MQTT 3.1.1 §3.3): zero-copy decoding and encoding.
//
// Decoding never copies: `topic` and `payload` are views into the frame body, and
// `publish.frame` shares that body's allocation (STYLE §c31), so the payload can be
// fanned out to every subscriber by reference (§c32-33).
//
// Rules enforced by decode (the fixed-header flags were checked by the caller:
// QoS 3 [MQTT-3.3.1-4], DUP on QoS 0 [MQTT-3.3.1-2]):
// - the topic name is a UTF-8 string [MQTT-3.3.2-1], non-empty [MQTT-4.7.3-1], and
//   contains no '+' or '#' [MQTT-3.3.2-2];
// - a QoS 1/2 PUBLISH has a non-zero packet identifier [MQTT-2.3.1-1];
// - the payload is everything that follows (it may be empty).
// The SPEC §6 topic character set is policy and is checked by the broker
// (is_valid_topic_name), which closes the connection.

#include <cassert>
#include <string_view>

#include "wire.hpp"

namespace portcullis::protocol::detail {

decode_result decode_publish(std::uint8_t flags, const shared_buffer& body) {
  publish p;
  p.dup = (flags & 0x08) != 0;
  p.qos = static_cast<std::uint8_t>((flags >> 1) & 0x03);
  p.retain = (flags & 0x01) != 0;
  cursor in(body.bytes());
  std::string_view topic;
  if (auto e = in.read_utf8(topic); e != decode_error::none) {
    return e;
  }
  if (topic.empty() || topic.find_first_of("+#") != std::string_view::npos) {
    return decode_error::invalid_topic_name;  // [MQTT-4.7.3-1], [MQTT-3.3.2-2]
  }
  if (p.qos > 0) {
    if (auto e = in.read_packet_id(p.packet_id); e != decode_error::none) {
      return e;  // [MQTT-2.3.1-1]
    }
  }
  p.topic = topic;
  p.payload = in.read_rest();
  p.frame = body;  // shares the allocation; topic and payload stay valid with it
  return p;
}

void encode_publish(const publish& p, std::vector<std::uint8_t>& out) {
  const std::size_t length = 2 + p.topic.size() + (p.qos > 0 ? 2 : 0) + p.payload.size();
  std::uint8_t header[5];
  const auto n = encode_publish_fixed_header(p.dup, p.qos, p.retain, length, header);
  out.reserve(out.size() + n + length);
  out.insert(out.end(), header, header + n);
  put_string(out, p.topic);
  if (p.qos > 0) {
    put_u16(out, p.packet_id);
  }
  put_bytes(out, p.payload);
}

}  // namespace portcullis::protocol::detail
