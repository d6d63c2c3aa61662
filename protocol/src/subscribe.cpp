// SUBSCRIBE, SUBACK and UNSUBSCRIBE (MQTT 3.1.1 §3.8-3.10): decoding and encoding.
//
// Rules enforced by decode:
// - a non-zero packet identifier [MQTT-2.3.1-1];
// - at least one topic filter [MQTT-3.8.3-3], [MQTT-3.10.3-2];
// - each filter is a UTF-8 string [MQTT-3.8.3-1], non-empty in UNSUBSCRIBE [MQTT-4.7.3-1];
// - the requested-QoS byte has its upper 6 bits zero [MQTT-3-8.3-4] and QoS <= 2;
// - SUBACK has at least one return code, each 0x00, 0x01, 0x02 or 0x80 [MQTT-3.9.3-2].
// Wildcard placement, the SPEC §6 character set and, in SUBSCRIBE, an empty filter are NOT
// checked here: the broker answers SUBACK 0x80 for such a filter instead of closing the
// connection (SPEC §6: "in SUBSCRIBE that filter gets 0x80").

#include <string_view>

#include "wire.hpp"

namespace portcullis::protocol::detail {

namespace {

decode_error read_filter(cursor& in, std::string& out, bool allow_empty) {
  std::string_view filter;
  if (auto e = in.read_utf8(filter); e != decode_error::none) {
    return e;
  }
  if (filter.empty() && !allow_empty) {
    return decode_error::invalid_topic_filter;  // [MQTT-4.7.3-1]
  }
  out = filter;
  return decode_error::none;
}

decode_error read_subscription(cursor& in, subscription& out) {
  if (auto e = read_filter(in, out.filter, true); e != decode_error::none) {
    return e;
  }
  std::uint8_t options = 0;
  if (auto e = in.read_u8(options); e != decode_error::none) {
    return e;
  }
  if ((options & 0xFC) != 0) {
    return decode_error::invalid_subscribe_options;  // [MQTT-3-8.3-4]
  }
  if (options == 3) {
    return decode_error::invalid_qos;  // [MQTT-3-8.3-4]
  }
  out.qos = options;
  return decode_error::none;
}

bool is_valid_suback_code(std::uint8_t code) noexcept { return code <= 2 || code == suback_failure; }

constexpr std::uint8_t header_with_flags(packet_type t, std::uint8_t flags) noexcept {
  return static_cast<std::uint8_t>((static_cast<unsigned>(t) << 4) | flags);
}

}  // namespace

decode_result decode_subscribe(std::span<const std::uint8_t> body) {
  cursor in(body);
  subscribe s;
  if (auto e = in.read_packet_id(s.packet_id); e != decode_error::none) {
    return e;
  }
  if (in.at_end()) {
    return decode_error::empty_subscription_list;  // [MQTT-3.8.3-3]
  }
  while (!in.at_end()) {
    subscription sub;
    if (auto e = read_subscription(in, sub); e != decode_error::none) {
      return e;
    }
    s.subscriptions.push_back(std::move(sub));
  }
  return s;
}

decode_result decode_suback(std::span<const std::uint8_t> body) {
  cursor in(body);
  suback s;
  if (auto e = in.read_packet_id(s.packet_id); e != decode_error::none) {
    return e;
  }
  if (in.at_end()) {
    return decode_error::empty_subscription_list;  // one code per requested filter, >= 1
  }
  while (!in.at_end()) {
    std::uint8_t code = 0;
    (void)in.read_u8(code);  // cannot fail: not at end
    if (!is_valid_suback_code(code)) {
      return decode_error::invalid_return_code;  // [MQTT-3.9.3-2]
    }
    s.return_codes.push_back(code);
  }
  return s;
}

decode_result decode_unsubscribe(std::span<const std::uint8_t> body) {
  cursor in(body);
  unsubscribe u;
  if (auto e = in.read_packet_id(u.packet_id); e != decode_error::none) {
    return e;
  }
  if (in.at_end()) {
    return decode_error::empty_subscription_list;  // [MQTT-3.10.3-2]
  }
  while (!in.at_end()) {
    std::string filter;
    if (auto e = read_filter(in, filter, false); e != decode_error::none) {
      return e;
    }
    u.filters.push_back(std::move(filter));
  }
  return u;
}

void encode_subscribe(const subscribe& p, std::vector<std::uint8_t>& out) {
  std::size_t length = 2;
  for (const auto& sub : p.subscriptions) {
    length += 2 + sub.filter.size() + 1;
  }
  put_fixed_header(out, header_with_flags(packet_type::subscribe, 0x02), length);  // [MQTT-3.8.1-1]
  put_u16(out, p.packet_id);
  for (const auto& sub : p.subscriptions) {
    put_string(out, sub.filter);
    put_u8(out, sub.qos);
  }
}

void encode_suback(const suback& p, std::vector<std::uint8_t>& out) {
  put_fixed_header(out, header_with_flags(packet_type::suback, 0), 2 + p.return_codes.size());
  put_u16(out, p.packet_id);
  out.insert(out.end(), p.return_codes.begin(), p.return_codes.end());
}

void encode_unsubscribe(const unsubscribe& p, std::vector<std::uint8_t>& out) {
  std::size_t length = 2;
  for (const auto& filter : p.filters) {
    length += 2 + filter.size();
  }
  put_fixed_header(out, header_with_flags(packet_type::unsubscribe, 0x02), length);  // [MQTT-3.10.1-1]
  put_u16(out, p.packet_id);
  for (const auto& filter : p.filters) {
    put_string(out, filter);
  }
}

}  // namespace portcullis::protocol::detail
