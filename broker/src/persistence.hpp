#pragma once
// Durable sessions (SPEC §6): every change to a persistent (CleanSession=0)
// session — its existence, subscriptions, and each QoS 1 message queued for it —
// is written to SQLite through the store thread, with group commit: operations
// from all workers accumulate in one list; the store thread takes the whole list
// and applies it in ONE transaction, while newer operations accumulate behind it.
// So the commit rate adapts to load: one fsync-equivalent per batch, not per
// message. A commit takes the operations that have been pending for at least
// `linger` (all of them when the list reaches `max_batch_ops` or the store is
// stopping); younger ones wait for the next commit. That gives online
// subscribers' PUBACKs time to come back and cancel their entries (below),
// and is short against the commit itself, so it adds little to a PUBACK's wait.
//
// A publisher's PUBACK waits for the commit that made its message durable in
// every persistent subscriber queue it entered (the on_durable callback);
// online subscribers get the message immediately from memory meanwhile.
//
// Message ids are assigned here (not by SQLite) so that an op referring to a
// message (a subscriber's PUBACK removing its queue entry) can be queued before
// the message's own insert has committed; the single ordered list keeps them in
// order.
//
// Cancellation: an online subscriber usually acknowledges a message before the
// commit that stores it has even started. Its remove_entry_op then meets the
// message's enqueue_op in the same pending list, and the two cancel out: the
// subscriber is taken off the enqueue (and an enqueue left with no subscriber
// writes nothing). SQLite then only sees what is still undelivered when the
// batch is written — at saturation most rows never exist — and the publisher's
// PUBACK still waits for the commit of its batch, so the rule "acknowledged
// means delivered or durable in every persistent queue it entered" holds.
//
// Thread safety: all members are safe to call from any thread.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "portcullis/store/sessions.hpp"

namespace portcullis::store { class database; }

namespace portcullis::broker {

class store_gateway;
struct metrics;

class persistence {
 public:
  using durable_callback = std::function<void(bool ok)>;

  /// Time a batch waits for acknowledgements before it is committed.
  static constexpr std::chrono::microseconds linger{5000};
  /// A batch this large is committed without waiting.
  static constexpr std::size_t max_batch_ops = 8192;

  persistence(store_gateway& store, metrics& m) : store_(store), metrics_(m) {}

  /// Continue message ids above what the store holds (start-up).
  void start_ids_after(std::int64_t max_id) { next_id_.store(max_id + 1); }
  std::int64_t next_message_id() { return next_id_.fetch_add(1, std::memory_order_relaxed); }

  /// Queues `op` for the next commit.
  void submit(store::session_op op);
  /// Queues `op`; `done(ok)` runs on the store thread once it has committed.
  void submit(store::session_op op, durable_callback done);

  /// Number of commits so far (metrics, tests).
  std::uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }
  /// Queue entries that never reached SQLite: acknowledged (or dropped) while
  /// their enqueue was still pending (metrics, tests).
  std::uint64_t cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  void push_locked(store::session_op op);
  bool cancel_locked(const store::remove_entry_op& op);
  void schedule_locked();
  void commit(store::database& db);

  store_gateway& store_;
  metrics& metrics_;
  std::atomic<std::int64_t> next_id_{1};
  std::mutex mutex_;
  using time_point = std::chrono::steady_clock::time_point;
  struct pending_callback {
    std::uint64_t op_seq;  // the op it waits for
    durable_callback done;
  };
  // Pending ops in submission order; ops_[i] has sequence number first_seq_ + i
  // and was submitted at times_[i] (non-decreasing: taken under the mutex).
  std::vector<store::session_op> ops_;
  std::vector<time_point> times_;
  std::uint64_t first_seq_ = 0;
  std::vector<pending_callback> callbacks_;  // in op order
  std::unordered_map<std::int64_t, std::uint64_t> pending_enqueues_;  // message id -> op sequence number
  bool scheduled_ = false;  // a commit job is queued (timed or immediate)
  bool flushing_ = false;   // an immediate one is (the batch hit max_batch_ops)
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> cancelled_{0};
};

}  // namespace portcullis::broker
