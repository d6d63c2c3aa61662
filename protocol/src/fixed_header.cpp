// The MQTT fixed header: packet type and flag nibble, and the Remaining Length
// variable-length integer (MQTT 3.1.1 §2.2).
//
// Rules enforced: types 0 and 15 are reserved; PUBREL, SUBSCRIBE and UNSUBSCRIBE
// carry flags 0b0010, every other non-PUBLISH type 0b0000 [MQTT-2.2.2-1, -2];
// PUBLISH QoS 3 is malformed [MQTT-3.3.1-4]; a QoS 0 PUBLISH must not have DUP set
// [MQTT-3.3.1-2]. The encoder always writes the canonical (minimal) Remaining Length.

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "portcullis/protocol/codec.hpp"
#include "portcullis/protocol/frame_reader.hpp"
#include "wire.hpp"

namespace portcullis::protocol {

namespace detail {

decode_error check_fixed_header(std::uint8_t header) noexcept {
  const auto type = static_cast<std::uint8_t>(header >> 4);
  const auto flags = static_cast<std::uint8_t>(header & 0x0F);
  switch (type) {
    case 0:
    case 15:
      return decode_error::reserved_packet_type;
    case static_cast<std::uint8_t>(packet_type::publish): {
      const auto qos = static_cast<std::uint8_t>((flags >> 1) & 0x03);
      if (qos == 3) {
        return decode_error::invalid_qos;  // [MQTT-3.3.1-4]
      }
      if (qos == 0 && (flags & 0x08) != 0) {
        return decode_error::invalid_fixed_header_flags;  // [MQTT-3.3.1-2]
      }
      return decode_error::none;
    }
    case static_cast<std::uint8_t>(packet_type::pubrel):
    case static_cast<std::uint8_t>(packet_type::subscribe):
    case static_cast<std::uint8_t>(packet_type::unsubscribe):
      // [MQTT-3.6.1-1], [MQTT-3.8.1-1], [MQTT-3.10.1-1]
      return flags == 0x02 ? decode_error::none : decode_error::invalid_fixed_header_flags;
    default:
      return flags == 0 ? decode_error::none : decode_error::invalid_fixed_header_flags;
  }
}

void put_fixed_header(std::vector<std::uint8_t>& out, std::uint8_t header, std::size_t remaining_length) {
  std::uint8_t buf[5];
  buf[0] = header;
  const auto n = encode_remaining_length(remaining_length, buf + 1);
  out.insert(out.end(), buf, buf + 1 + n);
}

}  // namespace detail

std::size_t encode_remaining_length(std::size_t length, std::uint8_t* out) noexcept {
  assert(length <= detail::max_remaining_length);
  std::size_t n = 0;
  do {
    auto digit = static_cast<std::uint8_t>(length % 128);
    length /= 128;
    if (length > 0) {
      digit = static_cast<std::uint8_t>(digit | 0x80);
    }
    out[n++] = digit;
  } while (length > 0 && n < 4);
  return n;
}

std::size_t remaining_length_size(std::size_t length) noexcept {
  if (length < 128) {
    return 1;
  }
  if (length < 16'384) {
    return 2;
  }
  if (length < 2'097'152) {
    return 3;
  }
  return 4;
}

std::size_t encode_publish_fixed_header(bool dup, std::uint8_t qos, bool retain,
                                        std::size_t remaining_length, std::uint8_t* out) noexcept {
  assert(qos <= 2);
  out[0] = static_cast<std::uint8_t>((static_cast<unsigned>(packet_type::publish) << 4) |
                                     (dup ? 0x08U : 0U) | ((qos & 0x03U) << 1) | (retain ? 0x01U : 0U));
  return 1 + encode_remaining_length(remaining_length, out + 1);
}

std::size_t frame::wire_size() const noexcept {
  // Counts the canonical Remaining Length size; a peer that sent a padded
  // (non-minimal) encoding used up to 3 bytes more (see frame_reader.cpp).
  return 1 + remaining_length_size(body.size()) + body.size();
}

}  // namespace portcullis::protocol
