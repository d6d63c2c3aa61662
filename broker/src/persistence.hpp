#pragma once
// Durable sessions (SPEC §6): every change to a persistent (CleanSession=0)
// session — its existence, subscriptions, and each QoS 1 message queued for it —
// is written to SQLite through the store thread, with group commit: operations
// from all workers accumulate in one list; the store thread takes the whole list
// and applies it in ONE transaction, while newer operations accumulate behind it.
// So the commit rate adapts to load: one fsync-equivalent per batch, not per
// message.
//
// Cancellation: an online subscriber usually acknowledges a message within a
// few milliseconds. Its remove_entry_op then meets the message's enqueue_op
// still pending, and the two cancel out: the subscriber is taken off the
// enqueue. When every target has acknowledged, the message is delivered
// everywhere it had to go: the publisher's PUBACK is released at once and
// nothing is written. Only what is still unacknowledged when the batch is
// written reaches SQLite — at saturation, a small fraction.
//
// So a batch lingers: a commit takes the operations pending for at least the
// linger (20 ms; all of them on reaching `max_batch_ops`, at shutdown, or when
// one is urgent). An enqueue is urgent when a target is offline — no PUBACK will
// cancel it, so waiting would only delay its publisher. Either way the rule
// holds: a publisher is acknowledged only when its message is delivered to, or
// durable in, every persistent queue it entered.
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
#include "adaptive_mutex.hpp"
#include "ring_queue.hpp"

namespace portcullis::store { class database; }

namespace portcullis::broker {

class store_gateway;
struct metrics;

class persistence {
 public:
  using durable_callback = std::function<void(bool ok)>;

  /// How long a batch waits for acknowledgements before it is committed.
  static constexpr std::chrono::milliseconds default_linger{20};
  /// A batch this large is committed without waiting.
  static constexpr std::size_t max_batch_ops = 8192;

  persistence(store_gateway& store, metrics& m, std::chrono::milliseconds linger = default_linger)
      : store_(store), metrics_(m), linger_(linger) {}

  /// Continue message ids above what the store holds (start-up).
  void start_ids_after(std::int64_t max_id) { next_id_.store(max_id + 1); }
  std::int64_t next_message_id() { return next_id_.fetch_add(1, std::memory_order_relaxed); }

  /// Queues `op` for the next commit. A remove_entry_op may instead cancel the
  /// pending entry it removes.
  void submit(store::session_op op);
  /// Queues an enqueue; `done(ok)` runs once the message is durable in every
  /// target queue (on the store thread) or acknowledged by every target (on the
  /// thread of the last acknowledgement). `urgent`: a target is offline, commit
  /// without lingering.
  void submit(store::enqueue_op op, durable_callback done, bool urgent);
  /// `done(ok)` runs on the store thread once every operation submitted before this call is
  /// committed (at once: no linger). A SUBACK or UNSUBACK to a persistent session waits for
  /// it, so that an acknowledged subscription change survives a crash (SPEC §6).
  void barrier(durable_callback done);

  /// Number of commits so far (metrics, tests).
  std::uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }
  /// Queue entries that never reached SQLite: acknowledged (or dropped) while
  /// their enqueue was still pending (metrics, tests).
  std::uint64_t cancelled() const { return cancelled_.load(std::memory_order_relaxed); }

 private:
  using time_point = std::chrono::steady_clock::time_point;
  struct pending_op {
    store::session_op op;
    time_point at;          // submitted (non-decreasing along ops_: taken under the mutex)
    durable_callback done;  // empty when nobody waits (or it already ran)
    bool urgent = false;
    bool barrier = false;   // no operation: only `done`, after the ones before it (barrier())
  };

  void push_locked(pending_op p);
  bool cancel_locked(const store::remove_entry_op& op);
  void schedule_locked();
  void commit(store::database& db);

  store_gateway& store_;
  metrics& metrics_;
  const std::chrono::milliseconds linger_;
  std::atomic<std::int64_t> next_id_{1};
  adaptive_mutex mutex_;
  // Pending ops in submission order; ops_[i] has sequence number first_seq_ + i. A ring, so
  // that a commit taking the oldest ops moves only those: with a vector, each commit shifted
  // every younger op down under the mutex the workers' PUBACKs wait on.
  ring_queue<pending_op> ops_;
  std::uint64_t first_seq_ = 0;
  std::unordered_map<std::int64_t, std::uint64_t> pending_enqueues_;  // message id -> op sequence number
  std::size_t urgent_pending_ = 0;  // urgent ops in ops_
  bool scheduled_ = false;          // a timed commit job is queued
  bool immediate_ = false;          // an immediate one is (batch full, or urgent)
  bool last_commit_ok_ = true;      // store thread only
  std::atomic<std::uint64_t> commits_{0};
  std::atomic<std::uint64_t> cancelled_{0};
};

}  // namespace portcullis::broker
