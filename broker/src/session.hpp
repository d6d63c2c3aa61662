#pragma once
// Session state of one client (tenant, client id): subscriptions, the queue of
// messages not yet sent, and the QoS 1 in-flight window. It outlives connections
// when CleanSession=0. Everything here is plain data under one small mutex, so
// a publisher on any worker can enqueue while the owning connection sends; the
// mutex is never held across I/O or a post (STYLE §c26). The state is designed to
// be stored (durable sessions): it is values and message pointers only.
//
// Wake-up protocol: deliver() posts owner->wake() only when it flips
// `wake_pending_` from false to true; collect() clears it. So a burst of publishes
// to a busy subscriber costs one wake-up, not one post per message.
//
// Memory: every connected client has a session, so an idle one is kept small
// (bench: idle bytes per connection): the tenant is an interned string shared by
// all sessions of the tenant, the mutex is 4 bytes, queues allocate nothing until
// used, and rarely used state (paused publishers) lives out of line.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "compact_mutex.hpp"
#include "message.hpp"
#include "ring_queue.hpp"
#include "metrics.hpp"

namespace portcullis::broker {

struct session_limits {
  std::uint32_t max_queued = 1000;
  std::uint32_t max_inflight = 20;

  /// Backpressure marks for an online subscriber's queue: publishers pause above
  /// high water, well before max_queued would force a drop, and resume below low.
  std::size_t high_water() const noexcept {
    return std::max<std::size_t>(1, std::min<std::size_t>(max_queued / 2, 64 + std::size_t{max_inflight}));
  }
  std::size_t low_water() const noexcept { return high_water() / 2; }
  /// QoS 0 pauses publishers only this deep, a quarter short of the drop bound:
  /// a momentary hiccup of a subscriber that keeps up (scheduling, at moderate
  /// load) should not hold publishers back; a sustained overrun reaches it.
  std::size_t qos0_high_water() const noexcept {
    return std::max<std::size_t>(high_water(), max_queued - max_queued / 4);
  }
};

/// A message ready to be written to the subscriber.
struct outgoing {
  message_ptr msg;
  std::uint16_t packet_id = 0;  // 0 for QoS 0
  std::uint8_t qos = 0;
  bool dup = false;
};

/// The connection currently attached to a session. Both calls come from any thread
/// and must only post to the connection's own executor.
class session_owner {
 public:
  virtual ~session_owner() = default;
  virtual void wake() = 0;
  virtual void kick(std::string reason) = 0;
  /// A session this owner published into was congested and has drained.
  virtual void drained() {}
  /// Itself, weakly: what a congested session keeps to call drained() later. Asked for
  /// only on congestion, so publishing costs no reference-count traffic.
  virtual std::weak_ptr<session_owner> weak_owner() { return {}; }
};

/// What deliver() did, for the publisher.
struct delivery {
  message_ptr dropped;     // the oldest message dropped to make room, if any
  bool congested = false;  // an online subscriber's queue is above its high-water mark (see deliver)
};

/// The one shared copy of a tenant id: sessions (and through them connections)
/// hold a reference instead of a string each. Entries are never removed (tenants
/// are few and long-lived), so the reference stays valid. Any thread.
const std::string& intern_tenant(std::string_view tenant);

/// A subscriber woken for new messages this long ago that has not collected them
/// yet counts as stalled: its QoS 0 congestion drops (oldest) instead of pausing
/// publishers. One that keeps collecting — however far behind — pauses them.
inline constexpr std::chrono::milliseconds qos0_progress_window{20};
/// A QoS 1 subscriber whose in-flight window has been full this long without a PUBACK is not
/// slow but stuck (a device that never acknowledges, a socket nobody reads): it stops pacing
/// publishers and its queue falls back to the drop-oldest bound, so one such client cannot
/// hold every publisher of its topics to a message per backpressure limit.
inline constexpr std::chrono::milliseconds qos1_ack_window{2000};

class session {
 public:
  session(std::string_view tenant, std::string client_id, bool persistent, metrics& m);
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  const std::string& tenant() const noexcept { return tenant_; }
  const std::string& client_id() const noexcept { return client_id_; }
  bool persistent() const noexcept { return persistent_; }

  /// Enqueues `m` at min(qos, m->qos). Any thread. Reports the message dropped
  /// to make room (queue at max_queued), so a persistent copy can go too, and
  /// whether the queue is congested: then `publisher` (if given) is registered to
  /// be told drained() once the queue is back under its low-water mark.
  delivery deliver(const message_ptr& m, std::uint8_t qos, const session_limits& limits,
                   session_owner* publisher = nullptr);
  /// Rebuilds the queue of a restored persistent session (start-up, offline). `dup`: the
  /// message was sent before the restart, or may have been (the store's flag after a clean
  /// shutdown; always after a crash): it goes with DUP.
  void restore_message(const message_ptr& m, bool dup);
  /// Store ids of this session's stored messages that were sent at least once, or may have
  /// been (in flight, or restored with DUP): what a clean shutdown marks dup in the store.
  void sent_store_ids(std::vector<std::int64_t>& out) const;

  /// Attaches a connection; unacknowledged in-flight messages will be resent with DUP.
  void attach(const std::shared_ptr<session_owner>& owner);
  /// Detaches `owner` if it is still the attached one; returns whether it was. `now_ms`:
  /// epoch milliseconds, the start of the session's expiry.
  bool detach(const session_owner* owner, std::int64_t now_ms);
  std::shared_ptr<session_owner> owner() const;
  bool connected() const;
  std::int64_t disconnected_at_ms() const;

  /// Moves up to `max` sendable messages into `out` (in-flight resends first, then
  /// the queue while the window has room). Expired messages are dropped and counted.
  void collect(std::vector<outgoing>& out, std::size_t max, const session_limits& limits, std::int64_t now_ms);
  /// PUBACK from the client: frees the window slot and returns the message
  /// (null when the id is unknown).
  message_ptr acknowledge(std::uint16_t packet_id);
  void set_disconnected_at_ms(std::int64_t t);

  /// Subscriptions (filter → granted QoS), kept for persistence and cleanup.
  void set_subscription(const std::string& filter, std::uint8_t qos);
  bool remove_subscription(const std::string& filter);
  std::map<std::string, std::uint8_t> subscriptions() const;

  std::size_t queued() const;
  std::size_t inflight() const;
  /// Drops queued messages older than their expiry; returns how many.
  std::size_t expire_messages(std::int64_t now_ms);

 private:
  struct inflight_entry {
    std::uint16_t packet_id;
    message_ptr msg;
    bool sent;
  };
  struct queued_entry {
    message_ptr msg;
    std::uint8_t qos;
    bool dup;
  };
  using waiter_list = std::vector<std::weak_ptr<session_owner>>;
  /// A free packet id for a new in-flight message. For a message of a persistent session the
  /// id follows from its store id, so that after a restart it is redelivered with the id it
  /// had before (MQTT-4.4.0-1) without writing ids to the store.
  std::uint16_t allocate_packet_id(std::int64_t store_id);
  void notify_waiters_locked();
  /// Woken for new messages qos0_progress_window ago and not collected since:
  /// the connection cannot write (its socket is full), it is not keeping up.
  bool stalled_locked() const noexcept {
    return wake_pending_ && steady_ms() - woken_at_ms_ >= static_cast<std::uint32_t>(qos0_progress_window.count());
  }
  /// The in-flight window has been full for qos1_ack_window: no PUBACK in that time.
  bool ack_stalled_locked(const session_limits& limits) const noexcept {
    return inflight_.size() >= limits.max_inflight &&
           steady_ms() - window_full_at_ms_ >= static_cast<std::uint32_t>(qos1_ack_window.count());
  }
  static std::uint32_t steady_ms() noexcept {
    return static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
  }

  const std::string& tenant_;  // interned (intern_tenant)
  const std::string client_id_;
  metrics& metrics_;

  mutable compact_mutex mutex_;
  const bool persistent_;
  bool wake_pending_ = false;
  std::uint16_t next_packet_id_ = 1;
  std::weak_ptr<session_owner> owner_;
  // Written under mutex_; connected() reads it without the lock (a routing hint per
  // persistent target of every QoS 1 message, right before deliver() takes the lock anyway).
  std::atomic<const session_owner*> owner_raw_{nullptr};
  std::int64_t disconnected_at_ms_ = 0;  // epoch ms: sessions expire to the millisecond
  ring_queue<queued_entry> queue_;
  ring_queue<inflight_entry> inflight_;
  // Filter -> granted QoS, sorted by filter. A client has few subscriptions, so a
  // vector beats std::map (48 bytes empty, a node per entry) in size and speed.
  std::vector<std::pair<std::string, std::uint8_t>> subscriptions_;
  std::unique_ptr<waiter_list> waiters_;  // publishers paused on this queue (rare)
  // When wake_pending_ was last set, steady-clock milliseconds truncated to 32 bits
  // (compared by wrapping difference: 4 bytes instead of 8).
  std::uint32_t woken_at_ms_ = 0;
  // When the in-flight window last became full (same clock and width).
  std::uint32_t window_full_at_ms_ = 0;
};

}  // namespace portcullis::broker
