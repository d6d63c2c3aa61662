#pragma once
// MQTT 3.1.1 control packets as plain structs (one per packet type), held in a
// std::variant. String fields of the rarely-sent packets are owned std::strings;
// PUBLISH refers into the received frame (a shared_buffer) so its payload is never
// copied on the way to subscribers.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "portcullis/protocol/shared_buffer.hpp"

namespace portcullis::protocol {

enum class packet_type : std::uint8_t {
  connect = 1, connack = 2, publish = 3, puback = 4, pubrec = 5, pubrel = 6, pubcomp = 7,
  subscribe = 8, suback = 9, unsubscribe = 10, unsuback = 11, pingreq = 12, pingresp = 13,
  disconnect = 14,
};

/// CONNACK return codes (MQTT 3.1.1 §3.2.2.3); the wire value is the enum value.
enum class connack_code : std::uint8_t {
  accepted = 0x00,
  unacceptable_protocol_version = 0x01,
  identifier_rejected = 0x02,
  server_unavailable = 0x03,
  bad_username_or_password = 0x04,
  not_authorized = 0x05,
};

struct will_message {
  std::string topic;
  std::string payload;  // binary
  std::uint8_t qos = 0;
  bool retain = false;

  bool operator==(const will_message&) const = default;
};

struct connect {
  std::string protocol_name;        // "MQTT" (or "MQIsdp" from 3.1 clients; the broker answers 0x01)
  std::uint8_t protocol_level = 4;  // decode() sets only the two fields above for a level other than 4
  bool clean_session = true;
  std::uint16_t keep_alive = 0;     // seconds; 0 = off
  std::string client_id;            // may be empty
  std::optional<will_message> will;
  std::optional<std::string> username;
  std::optional<std::string> password;  // binary data

  bool operator==(const connect&) const = default;
};

struct connack {
  bool session_present = false;
  connack_code return_code = connack_code::accepted;

  bool operator==(const connack&) const = default;
};

struct publish {
  bool dup = false;
  std::uint8_t qos = 0;
  bool retain = false;
  std::uint16_t packet_id = 0;  // 0 when qos == 0
  std::string_view topic;       // view into `frame`
  std::string_view payload;     // view into `frame`
  shared_buffer frame;          // owns topic and payload (the variable header + payload bytes)

  /// Compares the fields and the topic/payload contents; `frame` (the owner) is ignored.
  bool operator==(const publish& other) const noexcept {
    return dup == other.dup && qos == other.qos && retain == other.retain &&
           packet_id == other.packet_id && topic == other.topic && payload == other.payload;
  }
};

struct puback {
  std::uint16_t packet_id = 0;
  bool operator==(const puback&) const = default;
};
struct pubrec {
  std::uint16_t packet_id = 0;
  bool operator==(const pubrec&) const = default;
};
struct pubrel {
  std::uint16_t packet_id = 0;
  bool operator==(const pubrel&) const = default;
};
struct pubcomp {
  std::uint16_t packet_id = 0;
  bool operator==(const pubcomp&) const = default;
};

struct subscription {
  std::string filter;
  std::uint8_t qos = 0;  // requested QoS, 0..2

  bool operator==(const subscription&) const = default;
};

struct subscribe {
  std::uint16_t packet_id = 0;
  std::vector<subscription> subscriptions;  // at least one

  bool operator==(const subscribe&) const = default;
};

/// SUBACK return codes: 0x00, 0x01, 0x02 granted QoS; 0x80 failure.
inline constexpr std::uint8_t suback_failure = 0x80;

struct suback {
  std::uint16_t packet_id = 0;
  std::vector<std::uint8_t> return_codes;

  bool operator==(const suback&) const = default;
};

struct unsubscribe {
  std::uint16_t packet_id = 0;
  std::vector<std::string> filters;  // at least one

  bool operator==(const unsubscribe&) const = default;
};

struct unsuback {
  std::uint16_t packet_id = 0;
  bool operator==(const unsuback&) const = default;
};
struct pingreq {
  bool operator==(const pingreq&) const = default;
};
struct pingresp {
  bool operator==(const pingresp&) const = default;
};
struct disconnect {
  bool operator==(const disconnect&) const = default;
};

using packet = std::variant<connect, connack, publish, puback, pubrec, pubrel, pubcomp, subscribe,
                            suback, unsubscribe, unsuback, pingreq, pingresp, disconnect>;

packet_type type_of(const packet& p) noexcept;
std::string_view name_of(packet_type t) noexcept;  // "CONNECT", "PUBLISH", ...

}  // namespace portcullis::protocol
