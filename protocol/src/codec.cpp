// decode() and encode() entry points, plus the packets with a fixed-size body:
// CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK (2 bytes) and PINGREQ,
// PINGRESP, DISCONNECT (empty). The variable-size packets live in connect.cpp,
// publish.cpp and subscribe.cpp.
//
// Rules enforced: the fixed-header flags again (a frame may be built by hand, not
// only by frame_reader) [MQTT-2.2.2-1, -2]; the body length is exactly what the
// packet type defines (`length_mismatch`); packet identifiers are non-zero
// [MQTT-2.3.1-1] (an acknowledgement repeats a non-zero id, so 0 is never valid);
// CONNACK acknowledge flags have only bit 0 (§3.2.2.1) and the return code is 0..5.

#include "portcullis/protocol/codec.hpp"

#include <type_traits>

#include "wire.hpp"

namespace portcullis::protocol {

namespace {

constexpr std::uint8_t header_of(packet_type t, std::uint8_t flags = 0) noexcept {
  return static_cast<std::uint8_t>((static_cast<unsigned>(t) << 4) | flags);
}

decode_result decode_connack(std::span<const std::uint8_t> body) {
  if (body.size() != 2) {
    return decode_error::length_mismatch;
  }
  if ((body[0] & 0xFE) != 0) {
    return decode_error::invalid_connack_flags;  // bits 7-1 reserved (§3.2.2.1)
  }
  if (body[1] > static_cast<std::uint8_t>(connack_code::not_authorized)) {
    return decode_error::invalid_return_code;
  }
  return connack{(body[0] & 0x01) != 0, static_cast<connack_code>(body[1])};
}

/// PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK: a 2-byte non-zero packet identifier.
template <typename Ack>
decode_result decode_ack(std::span<const std::uint8_t> body) {
  if (body.size() != 2) {
    return decode_error::length_mismatch;
  }
  detail::cursor in(body);
  Ack ack;
  if (auto e = in.read_packet_id(ack.packet_id); e != decode_error::none) {
    return e;
  }
  return ack;
}

template <typename Empty>
decode_result decode_empty(std::span<const std::uint8_t> body) {
  if (!body.empty()) {
    return decode_error::length_mismatch;  // [MQTT-3.12], [MQTT-3.13], [MQTT-3.14]: no body
  }
  return Empty{};
}

void encode_id_only(std::uint8_t header, std::uint16_t packet_id, std::vector<std::uint8_t>& out) {
  detail::put_fixed_header(out, header, 2);
  detail::put_u16(out, packet_id);
}

}  // namespace

decode_result decode(const frame& f) {
  if (auto e = detail::check_fixed_header(f.header); e != decode_error::none) {
    return e;
  }
  const auto body = f.body.bytes();
  switch (static_cast<packet_type>(f.type())) {
    case packet_type::connect: return detail::decode_connect(body);
    case packet_type::connack: return decode_connack(body);
    case packet_type::publish: return detail::decode_publish(f.flags(), f.body);
    case packet_type::puback: return decode_ack<puback>(body);
    case packet_type::pubrec: return decode_ack<pubrec>(body);
    case packet_type::pubrel: return decode_ack<pubrel>(body);
    case packet_type::pubcomp: return decode_ack<pubcomp>(body);
    case packet_type::subscribe: return detail::decode_subscribe(body);
    case packet_type::suback: return detail::decode_suback(body);
    case packet_type::unsubscribe: return detail::decode_unsubscribe(body);
    case packet_type::unsuback: return decode_ack<unsuback>(body);
    case packet_type::pingreq: return decode_empty<pingreq>(body);
    case packet_type::pingresp: return decode_empty<pingresp>(body);
    case packet_type::disconnect: return decode_empty<disconnect>(body);
  }
  return decode_error::reserved_packet_type;  // unreachable: check_fixed_header refused 0 and 15
}

void encode(const packet& p, std::vector<std::uint8_t>& out) {
  std::visit(
      [&out](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, connect>) {
          detail::encode_connect(v, out);
        } else if constexpr (std::is_same_v<T, connack>) {
          detail::put_fixed_header(out, header_of(packet_type::connack), 2);
          detail::put_u8(out, v.session_present ? 0x01 : 0x00);
          detail::put_u8(out, static_cast<std::uint8_t>(v.return_code));
        } else if constexpr (std::is_same_v<T, publish>) {
          detail::encode_publish(v, out);
        } else if constexpr (std::is_same_v<T, puback>) {
          encode_id_only(header_of(packet_type::puback), v.packet_id, out);
        } else if constexpr (std::is_same_v<T, pubrec>) {
          encode_id_only(header_of(packet_type::pubrec), v.packet_id, out);
        } else if constexpr (std::is_same_v<T, pubrel>) {
          encode_id_only(header_of(packet_type::pubrel, 0x02), v.packet_id, out);  // [MQTT-3.6.1-1]
        } else if constexpr (std::is_same_v<T, pubcomp>) {
          encode_id_only(header_of(packet_type::pubcomp), v.packet_id, out);
        } else if constexpr (std::is_same_v<T, subscribe>) {
          detail::encode_subscribe(v, out);
        } else if constexpr (std::is_same_v<T, suback>) {
          detail::encode_suback(v, out);
        } else if constexpr (std::is_same_v<T, unsubscribe>) {
          detail::encode_unsubscribe(v, out);
        } else if constexpr (std::is_same_v<T, unsuback>) {
          encode_id_only(header_of(packet_type::unsuback), v.packet_id, out);
        } else if constexpr (std::is_same_v<T, pingreq>) {
          detail::put_fixed_header(out, header_of(packet_type::pingreq), 0);
        } else if constexpr (std::is_same_v<T, pingresp>) {
          detail::put_fixed_header(out, header_of(packet_type::pingresp), 0);
        } else {
          static_assert(std::is_same_v<T, disconnect>);
          detail::put_fixed_header(out, header_of(packet_type::disconnect), 0);
        }
      },
      p);
}

}  // namespace portcullis::protocol
