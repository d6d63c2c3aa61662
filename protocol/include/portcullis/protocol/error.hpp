#pragma once
// Decode errors. Each has a stable name (e.g. "mqtt.remaining_length") that the
// broker logs and counts; protocol itself never logs (STYLE §c1, §c17).

#include <cstdint>
#include <string_view>

namespace portcullis::protocol {

enum class decode_error : std::uint8_t {
  none = 0,
  remaining_length_overflow,   // more than 4 Remaining Length bytes [MQTT-2.2.3]
  remaining_length_noncanonical,  // a non-minimal encoding (e.g. 0x80 0x00); reserved: MQTT 3.1.1
                                  // does not forbid it, so frame_reader accepts it (see frame_reader.cpp)
  packet_too_large,            // fixed header + remaining length > max_packet_bytes
  reserved_packet_type,        // type 0 or 15
  invalid_fixed_header_flags,  // reserved flag bits wrong [MQTT-2.2.2-1, -2]
  length_mismatch,             // fields overrun or underrun the remaining length
  invalid_utf8,                // ill-formed UTF-8 [MQTT-1.5.3-1]
  utf8_null_character,         // U+0000 in a string [MQTT-1.5.3-2]
  utf8_surrogate,              // U+D800..U+DFFF encoded [MQTT-1.5.3-1]
  invalid_protocol_name,       // not "MQTT" / "MQIsdp" [MQTT-3.1.2-1]
  invalid_connect_flags,       // reserved bit, will/username/password combinations [MQTT-3.1.2-3 ...]
  invalid_qos,                 // QoS 3 in PUBLISH, SUBSCRIBE, or will
  zero_packet_id,              // packet identifier 0 where one is required [MQTT-2.3.1-1]
  empty_subscription_list,     // SUBSCRIBE/UNSUBSCRIBE without filters [MQTT-3.8.3-3, MQTT-3.10.3-2]
  invalid_topic_name,          // empty, or contains wildcards [MQTT-3.3.2-2, MQTT-4.7.3-1]
  invalid_topic_filter,        // empty filter [MQTT-4.7.3-1]
  invalid_subscribe_options,   // reserved bits in the requested-QoS byte [MQTT-3-8.3-4]
  invalid_return_code,         // CONNACK/SUBACK with an undefined code
  invalid_connack_flags,       // CONNACK acknowledge flags other than bit 0 set (§3.2.2.1)
};

/// Stable, loggable name, e.g. "mqtt.packet_too_large" ("mqtt.<enumerator>").
std::string_view name_of(decode_error e) noexcept;

}  // namespace portcullis::protocol
