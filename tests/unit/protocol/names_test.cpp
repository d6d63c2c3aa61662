// Stable names: decode_error -> "mqtt.<enumerator>" (logged and counted by the
// broker, STYLE §c17), packet_type -> "CONNECT" ..., and type_of(packet).

#include <catch2/catch.hpp>

#include <set>
#include <string>

#include "portcullis/protocol/codec.hpp"
#include "portcullis/protocol/error.hpp"
#include "portcullis/protocol/packet.hpp"

using namespace portcullis::protocol;

TEST_CASE("decode_error names are stable and unique") {
  CHECK(name_of(decode_error::none) == "mqtt.none");
  CHECK(name_of(decode_error::remaining_length_overflow) == "mqtt.remaining_length_overflow");
  CHECK(name_of(decode_error::remaining_length_noncanonical) == "mqtt.remaining_length_noncanonical");
  CHECK(name_of(decode_error::packet_too_large) == "mqtt.packet_too_large");
  CHECK(name_of(decode_error::reserved_packet_type) == "mqtt.reserved_packet_type");
  CHECK(name_of(decode_error::invalid_fixed_header_flags) == "mqtt.invalid_fixed_header_flags");
  CHECK(name_of(decode_error::length_mismatch) == "mqtt.length_mismatch");
  CHECK(name_of(decode_error::invalid_utf8) == "mqtt.invalid_utf8");
  CHECK(name_of(decode_error::utf8_null_character) == "mqtt.utf8_null_character");
  CHECK(name_of(decode_error::utf8_surrogate) == "mqtt.utf8_surrogate");
  CHECK(name_of(decode_error::invalid_protocol_name) == "mqtt.invalid_protocol_name");
  CHECK(name_of(decode_error::invalid_connect_flags) == "mqtt.invalid_connect_flags");
  CHECK(name_of(decode_error::invalid_qos) == "mqtt.invalid_qos");
  CHECK(name_of(decode_error::zero_packet_id) == "mqtt.zero_packet_id");
  CHECK(name_of(decode_error::empty_subscription_list) == "mqtt.empty_subscription_list");
  CHECK(name_of(decode_error::invalid_topic_name) == "mqtt.invalid_topic_name");
  CHECK(name_of(decode_error::invalid_topic_filter) == "mqtt.invalid_topic_filter");
  CHECK(name_of(decode_error::invalid_subscribe_options) == "mqtt.invalid_subscribe_options");
  CHECK(name_of(decode_error::invalid_return_code) == "mqtt.invalid_return_code");
  CHECK(name_of(decode_error::invalid_connack_flags) == "mqtt.invalid_connack_flags");

  std::set<std::string> names;
  const auto last = static_cast<int>(decode_error::invalid_connack_flags);
  for (int i = 0; i <= last; ++i) {
    names.emplace(name_of(static_cast<decode_error>(i)));
  }
  CHECK(names.size() == static_cast<std::size_t>(last + 1));
  CHECK(names.count("mqtt.unknown") == 0);
}

TEST_CASE("packet type names and type_of") {
  CHECK(name_of(packet_type::connect) == "CONNECT");
  CHECK(name_of(packet_type::connack) == "CONNACK");
  CHECK(name_of(packet_type::publish) == "PUBLISH");
  CHECK(name_of(packet_type::puback) == "PUBACK");
  CHECK(name_of(packet_type::pubrec) == "PUBREC");
  CHECK(name_of(packet_type::pubrel) == "PUBREL");
  CHECK(name_of(packet_type::pubcomp) == "PUBCOMP");
  CHECK(name_of(packet_type::subscribe) == "SUBSCRIBE");
  CHECK(name_of(packet_type::suback) == "SUBACK");
  CHECK(name_of(packet_type::unsubscribe) == "UNSUBSCRIBE");
  CHECK(name_of(packet_type::unsuback) == "UNSUBACK");
  CHECK(name_of(packet_type::pingreq) == "PINGREQ");
  CHECK(name_of(packet_type::pingresp) == "PINGRESP");
  CHECK(name_of(packet_type::disconnect) == "DISCONNECT");

  CHECK(type_of(connect{}) == packet_type::connect);
  CHECK(type_of(connack{}) == packet_type::connack);
  CHECK(type_of(publish{}) == packet_type::publish);
  CHECK(type_of(puback{}) == packet_type::puback);
  CHECK(type_of(pubrec{}) == packet_type::pubrec);
  CHECK(type_of(pubrel{}) == packet_type::pubrel);
  CHECK(type_of(pubcomp{}) == packet_type::pubcomp);
  CHECK(type_of(subscribe{}) == packet_type::subscribe);
  CHECK(type_of(suback{}) == packet_type::suback);
  CHECK(type_of(unsubscribe{}) == packet_type::unsubscribe);
  CHECK(type_of(unsuback{}) == packet_type::unsuback);
  CHECK(type_of(pingreq{}) == packet_type::pingreq);
  CHECK(type_of(pingresp{}) == packet_type::pingresp);
  CHECK(type_of(disconnect{}) == packet_type::disconnect);
}

TEST_CASE("every packet type's encoding starts with its type") {
  const packet all[] = {connect{}, connack{}, publish{}, puback{1}, pubrec{1}, pubrel{1}, pubcomp{1},
                        subscribe{1, {{"a", 0}}}, suback{1, {0}}, unsubscribe{1, {"a"}}, unsuback{1},
                        pingreq{}, pingresp{}, disconnect{}};
  for (const auto& p : all) {
    std::vector<std::uint8_t> out;
    encode(p, out);
    REQUIRE_FALSE(out.empty());
    CHECK((out[0] >> 4) == static_cast<int>(type_of(p)));
  }
}
