// Group commit of persistent-session operations on the store thread.

#include "persistence.hpp"

#include <algorithm>
#include <iterator>
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
  push_locked(std::move(op));
  schedule_locked();
}

void persistence::submit(store::session_op op, durable_callback done) {
  std::lock_guard lock(mutex_);
  push_locked(std::move(op));
  callbacks_.push_back({first_seq_ + ops_.size() - 1, std::move(done)});
  schedule_locked();
}

void persistence::push_locked(store::session_op op) {
  if (const auto* enqueue = std::get_if<store::enqueue_op>(&op); enqueue && enqueue->id > 0) {
    pending_enqueues_.emplace(enqueue->id, first_seq_ + ops_.size());
  }
  ops_.push_back(std::move(op));
  times_.push_back(std::chrono::steady_clock::now());
}

bool persistence::cancel_locked(const store::remove_entry_op& op) {
  auto it = pending_enqueues_.find(op.message_id);
  if (it == pending_enqueues_.end()) return false;  // already committed (or being): delete the row
  auto& enqueue = std::get<store::enqueue_op>(ops_[it->second - first_seq_]);
  if (enqueue.tenant != op.tenant) return false;
  auto& ids = enqueue.client_ids;
  auto target = std::find(ids.begin(), ids.end(), op.client_id);
  if (target == ids.end()) return false;
  // Order among targets does not matter: each gets its own queue row.
  *target = std::move(ids.back());
  ids.pop_back();
  cancelled_.fetch_add(1, std::memory_order_relaxed);
  metrics_.session_entries_cancelled.fetch_add(1, std::memory_order_relaxed);
  return true;
}

void persistence::schedule_locked() {
  // A stale job (its batch already taken by an earlier one) finds nothing and returns.
  if (ops_.size() >= max_batch_ops && !flushing_) {
    flushing_ = true;
    scheduled_ = true;
    store_.post([this](store::database& db) { commit(db); });
    return;
  }
  if (scheduled_ || ops_.empty()) return;
  scheduled_ = true;
  store_.post_at(times_.front() + linger, [this](store::database& db) { commit(db); });
}

void persistence::commit(store::database& db) {
  std::vector<store::session_op> ops;
  std::vector<pending_callback> callbacks;
  {
    std::lock_guard lock(mutex_);
    scheduled_ = false;
    // Take what has waited `linger`; everything on a flush or at shutdown.
    std::size_t n = ops_.size();
    if (!flushing_ && !store_.stopping()) {
      const auto cutoff = std::chrono::steady_clock::now() - linger;
      n = static_cast<std::size_t>(std::upper_bound(times_.begin(), times_.end(), cutoff) - times_.begin());
    }
    flushing_ = false;
    const std::uint64_t end_seq = first_seq_ + n;
    if (n == ops_.size()) {
      ops.swap(ops_);
      times_.clear();
    } else {
      ops.assign(std::make_move_iterator(ops_.begin()), std::make_move_iterator(ops_.begin() + static_cast<std::ptrdiff_t>(n)));
      ops_.erase(ops_.begin(), ops_.begin() + static_cast<std::ptrdiff_t>(n));
      times_.erase(times_.begin(), times_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    first_seq_ = end_seq;
    auto split = std::find_if(callbacks_.begin(), callbacks_.end(), [&](const auto& c) { return c.op_seq >= end_seq; });
    callbacks.assign(std::make_move_iterator(callbacks_.begin()), std::make_move_iterator(split));
    callbacks_.erase(callbacks_.begin(), split);
    // Entries taken now can no longer be cancelled: their acks must delete the rows.
    for (const auto& op : ops) {
      if (const auto* enqueue = std::get_if<store::enqueue_op>(&op); enqueue && enqueue->id > 0) {
        pending_enqueues_.erase(enqueue->id);
      }
    }
    schedule_locked();  // for the younger ops left behind
  }
  // Enqueues whose every target acknowledged while pending: nothing to store.
  std::erase_if(ops, [](const store::session_op& op) {
    const auto* enqueue = std::get_if<store::enqueue_op>(&op);
    return enqueue && enqueue->client_ids.empty();
  });
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
  for (auto& cb : callbacks) cb.done(ok);
}

}  // namespace portcullis::broker
