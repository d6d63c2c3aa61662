#pragma once
// Durable sessions (SPEC §6): every change to a persistent (CleanSession=0)
// session — its existence, subscriptions, and each QoS 1 message queued for it —
// is written to SQLite through the store thread, with group commit: operations
// from all workers accumulate in one list; the store thread takes the whole list
// and applies it in ONE transaction, while newer operations accumulate behind it.
// So the commit rate adapts to load: one fsync-equivalent per batch, not per
// message, and no timer adds latency when the broker is idle.
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
// Thread safety: all members are safe to call from any thread.

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <vector>

#include "portcullis/store/sessions.hpp"

namespace portcullis::store { class database; }

namespace portcullis::broker {

class store_gateway;
struct metrics;

class persistence {
 public:
  using durable_callback = std::function<void(bool ok)>;

  persistence(store_gateway& store, metrics& m) : store_(store), metrics_(m) {}

  /// Continue message ids above what the store holds (start-up).
  void start_ids_after(std::int64_t max_id) { next_id_.store(max_id + 1); }
  std::int64_t next_message_id() { return next_id_.fetch_add(1, std::memory_order_relaxed); }

  /// Queues `op` for the next commit.
  void submit(store::session_op op);
  /// Queues `op`; `done(ok)` runs on the store thread once it has committed.
  void submit(store::session_op op, durable_callback done);

  /// Number of commits and operations so far (metrics, tests).
  std::uint64_t commits() const { return commits_.load(std::memory_order_relaxed); }

 private:
  void schedule_locked();
  void commit(store::database& db);

  store_gateway& store_;
  metrics& metrics_;
  std::atomic<std::int64_t> next_id_{1};
  std::mutex mutex_;
  std::vector<store::session_op> ops_;
  std::vector<durable_callback> callbacks_;
  bool scheduled_ = false;
  std::atomic<std::uint64_t> commits_{0};
};

}  // namespace portcullis::broker
