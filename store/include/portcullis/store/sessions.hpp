#pragma once
// Persistent MQTT session records (SPEC §6 "Sessions") and the batch
// operations the broker's store thread group-commits with `database::apply`.
//
// Model: a message is stored ONCE (`stored_message`) and referenced from the
// queue of every session it was delivered to (`queue_entry`). When the last
// reference goes, the message row goes too. Queue order is `seq` (ascending).
// An entry with a packet id is in flight (sent, waiting for PUBACK).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace portcullis::store {

/// A CleanSession=0 session. `disconnected_at` is empty while connected;
/// `expires_at` is empty while connected (no expiry) and set at disconnect.
struct session_record {
  std::string tenant;
  std::string client_id;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> disconnected_at;
  std::optional<std::int64_t> expires_at;
  std::uint16_t next_packet_id = 1;
};

struct subscription {
  std::string filter;
  std::uint8_t qos = 0;  ///< granted QoS, 0..2
};

struct stored_message {
  std::int64_t id = 0;
  std::string tenant;
  std::string topic;
  std::vector<std::uint8_t> payload;
  std::uint8_t qos = 0;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> expires_at;
};

struct queue_entry {
  std::int64_t seq = 0;  ///< delivery order within the session (ascending)
  std::int64_t message_id = 0;
  std::optional<std::uint16_t> packet_id;  ///< set while in flight
  bool dup = false;
};

struct persistent_session {
  session_record session;
  std::vector<subscription> subscriptions;  ///< ordered by filter
  std::vector<queue_entry> queue;           ///< ordered by seq
};

/// Everything needed to rebuild the broker's session state at start.
/// `messages` holds each referenced message once, ordered by id.
struct session_snapshot {
  std::vector<stored_message> messages;
  std::vector<persistent_session> sessions;  ///< ordered by (tenant, client_id)
};

// ---- batch operations (database::apply) --------------------------------------
// Operations aimed at a session that does not exist are skipped (counted in
// apply_result::skipped), never an error: the broker's view may race cleanup.

/// Insert or update a session; an update keeps created_at.
struct upsert_session_op {
  session_record session;
};

/// Delete a session with its subscriptions and queue.
struct delete_session_op {
  std::string tenant;
  std::string client_id;
};

/// Add a subscription or change its QoS.
struct add_subscription_op {
  std::string tenant;
  std::string client_id;
  subscription sub;
};

struct remove_subscription_op {
  std::string tenant;
  std::string client_id;
  std::string filter;
};

/// Store one message and append it to the queue of every listed session.
/// With `max_queued` > 0, each target queue is then trimmed to that many
/// entries by dropping its oldest entries that are not in flight.
struct enqueue_op {
  std::string tenant;
  std::string topic;
  std::vector<std::uint8_t> payload;
  std::uint8_t qos = 1;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> expires_at;
  std::vector<std::string> client_ids;
  std::size_t max_queued = 0;
  /// Message id chosen by the caller (> 0), or 0 to let SQLite assign one. A
  /// caller-chosen id lets later ops (remove_entry_op) be queued before commit.
  std::int64_t id = 0;
};

/// Mark the oldest not-in-flight entry of `message_id` in the session as
/// in flight with `packet_id` (and the DUP flag to use on redelivery).
struct mark_inflight_op {
  std::string tenant;
  std::string client_id;
  std::int64_t message_id = 0;
  std::uint16_t packet_id = 0;
  bool dup = false;
};

/// A queue entry: the message `message_id` queued for the session (tenant, client_id).
struct queue_entry_ref {
  std::string tenant;
  std::string client_id;
  std::int64_t message_id = 0;
};

/// PUBACK received: remove the in-flight entry with that packet id.
struct ack_op {
  std::string tenant;
  std::string client_id;
  std::uint16_t packet_id = 0;
};

/// Remove the oldest entry of `message_id` from the session queue (QoS 0
/// delivered, or dropped by the broker).
struct remove_entry_op {
  std::string tenant;
  std::string client_id;
  std::int64_t message_id = 0;
};

/// Drop the oldest not-in-flight entries beyond `max_queued`.
struct trim_queue_op {
  std::string tenant;
  std::string client_id;
  std::size_t max_queued = 0;
};

using session_op =
    std::variant<upsert_session_op, delete_session_op, add_subscription_op, remove_subscription_op,
                 enqueue_op, mark_inflight_op, ack_op, remove_entry_op, trim_queue_op>;

struct apply_result {
  std::vector<std::int64_t> message_ids;  ///< one per enqueue_op, in op order (0 if no target existed)
  std::uint64_t dropped = 0;              ///< queue entries dropped by caps (max_queued)
  std::uint64_t skipped = 0;              ///< ops or targets skipped because the session did not exist
};

struct cleanup_result {
  std::uint64_t sessions = 0;            ///< expired sessions deleted
  std::uint64_t messages = 0;            ///< expired messages deleted
  std::uint64_t orphan_messages = 0;     ///< messages no queue referenced
  std::uint64_t registration_codes = 0;  ///< expired codes deleted
};

}  // namespace portcullis::store
