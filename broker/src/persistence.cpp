// Group commit of persistent-session operations on the store thread, with
// in-memory cancellation of entries acknowledged before their commit.

#include "persistence.hpp"

#include <algorithm>
#include <variant>

#include <spdlog/spdlog.h>

#include "metrics.hpp"
#include "portcullis/broker/logging.hpp"
#include "portcullis/store/database.hpp"
#include "store_gateway.hpp"

namespace portcullis::broker {

void persistence::submit(store::session_op op) {
  std::lock_guard lock(mutex_);
  if (const auto* remove = std::get_if<store::remove_entry_op>(&op); remove && cancel_locked(*remove)) return;
  push_locked({std::move(op), std::chrono::steady_clock::now(), nullptr, false});
  schedule_locked();
}

void persistence::submit(store::enqueue_op op, durable_callback done, bool urgent) {
  std::lock_guard lock(mutex_);
  push_locked({std::move(op), std::chrono::steady_clock::now(), std::move(done), urgent});
  schedule_locked();
}

void persistence::barrier(durable_callback done) {
  std::lock_guard lock(mutex_);
  pending_op p{store::session_op{}, std::chrono::steady_clock::now(), std::move(done), true};
  p.barrier = true;
  push_locked(std::move(p));
  schedule_locked();
}

void persistence::push_locked(pending_op p) {
  if (const auto* enqueue = std::get_if<store::enqueue_op>(&p.op); enqueue && enqueue->id > 0) {
    pending_enqueues_.emplace(enqueue->id, first_seq_ + ops_.size());
  }
  if (p.urgent) ++urgent_pending_;
  ops_.push_back(std::move(p));
}

bool persistence::cancel_locked(const store::remove_entry_op& op) {
  auto it = pending_enqueues_.find(op.message_id);
  if (it == pending_enqueues_.end()) return false;  // already committed (or being): delete the row
  pending_op& pending = ops_[it->second - first_seq_];
  auto& enqueue = std::get<store::enqueue_op>(pending.op);
  if (enqueue.tenant != op.tenant) return false;
  auto& ids = enqueue.client_ids;
  auto target = std::find(ids.begin(), ids.end(), op.client_id);
  if (target == ids.end()) return false;
  // Order among targets does not matter: each gets its own queue row.
  *target = std::move(ids.back());
  ids.pop_back();
  cancelled_.fetch_add(1, std::memory_order_relaxed);
  metrics_.session_entries_cancelled.fetch_add(1, std::memory_order_relaxed);
  if (ids.empty()) pending_enqueues_.erase(it);  // nothing left in it to cancel
  if (ids.empty() && pending.done) {
    // Delivered and acknowledged everywhere: nothing left to make durable. The
    // callback only posts to the publisher's executor, so running it under our
    // mutex cannot re-enter us.
    auto done = std::move(pending.done);
    pending.done = nullptr;
    done(true);
  }
  return true;
}

void persistence::schedule_locked() {
  if (ops_.empty()) return;
  // A stale job (its ops already taken by an earlier one) finds nothing and returns.
  if ((ops_.size() >= max_batch_ops || urgent_pending_ > 0) && !immediate_) {
    immediate_ = true;
    store_.post([this](store::database& db) { commit(db); });
    return;
  }
  if (scheduled_ || immediate_) return;
  scheduled_ = true;
  store_.post_at(ops_.front().at + linger_, [this](store::database& db) { commit(db); });
}

void persistence::commit(store::database& db) {
  std::vector<pending_op> batch;
  {
    std::lock_guard lock(mutex_);
    // Take what has waited the linger; everything when full, urgent, or at shutdown.
    std::size_t n = ops_.size();
    if (ops_.size() < max_batch_ops && urgent_pending_ == 0 && !store_.stopping()) {
      const auto cutoff = std::chrono::steady_clock::now() - linger_;
      n = 0;
      while (n < ops_.size() && ops_[n].at <= cutoff) ++n;
    }
    scheduled_ = false;
    immediate_ = false;
    batch.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      batch.push_back(std::move(ops_.front()));
      ops_.pop_front();
    }
    first_seq_ += n;
    // Entries taken now can no longer be cancelled: their acks must delete the rows.
    for (const auto& p : batch) {
      if (p.urgent) --urgent_pending_;
      // (An enqueue every target acknowledged left the index then.)
      if (const auto* enqueue = std::get_if<store::enqueue_op>(&p.op);
          enqueue && enqueue->id > 0 && !enqueue->client_ids.empty()) {
        pending_enqueues_.erase(enqueue->id);
      }
    }
    schedule_locked();  // for the younger ops left behind
  }
  // Enqueues whose every target acknowledged while pending: nothing to store.
  std::vector<store::session_op> ops;
  ops.reserve(batch.size());
  for (auto& p : batch) {
    if (p.barrier) continue;
    const auto* enqueue = std::get_if<store::enqueue_op>(&p.op);
    if (!enqueue || !enqueue->client_ids.empty()) ops.push_back(std::move(p.op));
  }
  // A barrier's operations may have been taken by the commit before this one (it ran while
  // the barrier was submitted): its callback answers for that commit too.
  const bool previous_ok = last_commit_ok_;
  bool ok = true;
  if (!ops.empty()) {
    auto r = db.apply(ops);
    ok = static_cast<bool>(r);
    commits_.fetch_add(1, std::memory_order_relaxed);
    metrics_.session_commits.fetch_add(1, std::memory_order_relaxed);
    if (r) {
      metrics_.session_ops_committed.fetch_add(ops.size(), std::memory_order_relaxed);
    } else {
      // The batch is lost for durability: publishers waiting on it are told, and
      // close their connection so that the client resends (nothing is acked).
      logger("store")->error("persistent session commit of {} operation(s) failed: {} {}", ops.size(),
                             r.error().message(), db.last_error());
    }
  }
  if (!ops.empty()) last_commit_ok_ = ok;
  for (auto& p : batch) {
    if (p.done) p.done(p.barrier ? ok && previous_ok : ok);
  }
}

}  // namespace portcullis::broker
