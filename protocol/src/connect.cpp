// CONNECT (MQTT 3.1.1 §3.1): decoding with wire validation, and encoding with the
// Connect Flags computed from the fields (used by the bench load generator).
//
// Rules enforced by decode:
// - protocol name "MQTT" (3.1.1) or "MQIsdp" (3.1) [MQTT-3.1.2-1]; the level is
//   returned as sent, the broker answers CONNACK 0x01 for levels it refuses;
// - reserved flag bit 0 is zero [MQTT-3.1.2-3];
// - Will flag 0 => Will QoS 0 and Will Retain 0 [MQTT-3.1.2-11, -13, -15];
//   Will QoS 3 is `invalid_qos` [MQTT-3.1.2-14];
// - Password flag 1 => User Name flag 1 [MQTT-3.1.2-22];
// - client id, will topic and user name are UTF-8 strings [MQTT-3.1.3-4, -10, -11];
//   will message and password are binary; no bytes may follow the last field.
// Policy (level 4 only, client-id length/charset, Will unsupported) is the broker's.

#include <cassert>
#include <string_view>

#include "wire.hpp"

namespace portcullis::protocol::detail {

namespace {

constexpr std::uint8_t flag_reserved = 0x01;
constexpr std::uint8_t flag_clean_session = 0x02;
constexpr std::uint8_t flag_will = 0x04;
constexpr std::uint8_t flag_will_qos_shift = 3;
constexpr std::uint8_t flag_will_qos_mask = 0x18;
constexpr std::uint8_t flag_will_retain = 0x20;
constexpr std::uint8_t flag_password = 0x40;
constexpr std::uint8_t flag_username = 0x80;

decode_error check_connect_flags(std::uint8_t flags) noexcept {
  if ((flags & flag_reserved) != 0) {
    return decode_error::invalid_connect_flags;  // [MQTT-3.1.2-3]
  }
  const auto will_qos = static_cast<std::uint8_t>((flags & flag_will_qos_mask) >> flag_will_qos_shift);
  if ((flags & flag_will) == 0) {
    if (will_qos != 0 || (flags & flag_will_retain) != 0) {
      return decode_error::invalid_connect_flags;  // [MQTT-3.1.2-11, -13, -15]
    }
  } else if (will_qos == 3) {
    return decode_error::invalid_qos;  // [MQTT-3.1.2-14]
  }
  if ((flags & flag_password) != 0 && (flags & flag_username) == 0) {
    return decode_error::invalid_connect_flags;  // [MQTT-3.1.2-22]
  }
  return decode_error::none;
}

/// The payload fields after the variable header, in their fixed order [MQTT-3.1.3-1].
decode_error read_connect_payload(cursor& in, std::uint8_t flags, connect& c) {
  std::string_view s;
  if (auto e = in.read_utf8(s); e != decode_error::none) {
    return e;
  }
  c.client_id = s;
  if ((flags & flag_will) != 0) {
    will_message w;
    std::string_view message;
    if (auto e = in.read_utf8(s); e != decode_error::none) {
      return e;
    }
    if (auto e = in.read_binary(message); e != decode_error::none) {
      return e;
    }
    w.topic = s;
    w.payload = message;
    w.qos = static_cast<std::uint8_t>((flags & flag_will_qos_mask) >> flag_will_qos_shift);
    w.retain = (flags & flag_will_retain) != 0;
    c.will = std::move(w);
  }
  if ((flags & flag_username) != 0) {
    if (auto e = in.read_utf8(s); e != decode_error::none) {
      return e;
    }
    c.username = std::string(s);
  }
  if ((flags & flag_password) != 0) {
    if (auto e = in.read_binary(s); e != decode_error::none) {
      return e;
    }
    c.password = std::string(s);
  }
  return decode_error::none;
}

}  // namespace

decode_result decode_connect(std::span<const std::uint8_t> body) {
  cursor in(body);
  std::string_view name;
  if (auto e = in.read_binary(name); e != decode_error::none) {
    return e;
  }
  if (name != "MQTT" && name != "MQIsdp") {
    return decode_error::invalid_protocol_name;  // [MQTT-3.1.2-1]
  }
  connect c;
  c.protocol_name = name;
  std::uint8_t flags = 0;
  if (auto e = in.read_u8(c.protocol_level); e != decode_error::none) {
    return e;
  }
  if (c.protocol_level != 4) {
    // Another level lays the rest out its own way (MQTT 5 adds properties after the keep-alive
    // and in the payload): left unparsed, so that the broker can answer CONNACK 0x01
    // [MQTT-3.1.2-2] instead of closing on a "malformed" CONNECT. Only name and level are set.
    return c;
  }
  if (auto e = in.read_u8(flags); e != decode_error::none) {
    return e;
  }
  if (auto e = check_connect_flags(flags); e != decode_error::none) {
    return e;
  }
  c.clean_session = (flags & flag_clean_session) != 0;
  if (auto e = in.read_u16(c.keep_alive); e != decode_error::none) {
    return e;
  }
  if (auto e = read_connect_payload(in, flags, c); e != decode_error::none) {
    return e;
  }
  if (!in.at_end()) {
    return decode_error::length_mismatch;
  }
  return c;
}

void encode_connect(const connect& p, std::vector<std::uint8_t>& out) {
  std::uint8_t flags = p.clean_session ? flag_clean_session : 0;
  std::size_t length = 2 + p.protocol_name.size() + 1 + 1 + 2 + 2 + p.client_id.size();
  if (p.will) {
    assert(p.will->qos <= 2);
    flags = static_cast<std::uint8_t>(flags | flag_will | ((p.will->qos & 0x03) << flag_will_qos_shift) |
                                      (p.will->retain ? flag_will_retain : 0));
    length += 2 + p.will->topic.size() + 2 + p.will->payload.size();
  }
  if (p.username) {
    flags |= flag_username;
    length += 2 + p.username->size();
  }
  if (p.password) {
    flags |= flag_password;
    length += 2 + p.password->size();
  }
  put_fixed_header(out, static_cast<std::uint8_t>(static_cast<unsigned>(packet_type::connect) << 4), length);
  put_string(out, p.protocol_name);
  put_u8(out, p.protocol_level);
  put_u8(out, flags);
  put_u16(out, p.keep_alive);
  put_string(out, p.client_id);
  if (p.will) {
    put_string(out, p.will->topic);
    put_string(out, p.will->payload);
  }
  if (p.username) {
    put_string(out, *p.username);
  }
  if (p.password) {
    put_string(out, *p.password);
  }
}

}  // namespace portcullis::protocol::detail
