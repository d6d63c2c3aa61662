#pragma once
// An accepted PUBLISH as the broker routes it: one immutable object per message,
// shared by every subscriber queue that holds it (STYLE §c32, Mosquitto's
// ref-counted msg_store). Topic and payload are views into the received frame,
// which the message keeps alive: no copy from socket to subscriber.

#include <cstdint>
#include <memory>
#include <string_view>

#include "portcullis/protocol/shared_buffer.hpp"

namespace portcullis::broker {

struct message {
  std::string_view topic;
  std::string_view payload;
  protocol::shared_buffer frame;   // owns topic and payload
  std::uint8_t qos = 0;            // QoS it was published with (0 or 1)
  std::int64_t created_at = 0;     // epoch seconds
  std::int64_t expires_at_ms = 0;  // epoch milliseconds (limits.message_expiry_seconds after it came in)
  std::int64_t store_id = 0;       // message id once persisted (durable sessions), else 0
  /// True when `frame` holds the topic's 2-byte length prefix right before
  /// `topic` (as received): the writer then sends [length+topic] straight from
  /// the frame, and for a QoS 0 frame the whole body in one piece.
  bool framed = false;

  /// The topic with its length prefix, as on the wire. Precondition: framed.
  std::string_view wire_topic() const noexcept { return {topic.data() - 2, topic.size() + 2}; }
  /// Topic and payload are adjacent (a QoS 0 frame: no packet id between them).
  bool contiguous() const noexcept { return framed && topic.data() + topic.size() == payload.data(); }
};

using message_ptr = std::shared_ptr<const message>;

}  // namespace portcullis::broker
