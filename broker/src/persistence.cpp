// Group commit of persistent-session operations on the store thread.

#include "persistence.hpp"

#include <spdlog/spdlog.h>

#include "metrics.hpp"
#include "portcullis/broker/logging.hpp"
#include "portcullis/store/database.hpp"
#include "store_gateway.hpp"

namespace portcullis::broker {

void persistence::submit(store::session_op op) {
  std::lock_guard lock(mutex_);
  ops_.push_back(std::move(op));
  schedule_locked();
}

void persistence::submit(store::session_op op, durable_callback done) {
  std::lock_guard lock(mutex_);
  ops_.push_back(std::move(op));
  callbacks_.push_back(std::move(done));
  schedule_locked();
}

void persistence::schedule_locked() {
  if (scheduled_) return;
  scheduled_ = true;
  store_.post([this](store::database& db) { commit(db); });
}

void persistence::commit(store::database& db) {
  std::vector<store::session_op> ops;
  std::vector<durable_callback> callbacks;
  {
    std::lock_guard lock(mutex_);
    ops.swap(ops_);
    callbacks.swap(callbacks_);
    scheduled_ = false;
  }
  if (ops.empty()) return;
  auto r = db.apply(ops);
  commits_.fetch_add(1, std::memory_order_relaxed);
  if (!r) {
    // The batch is lost for durability: publishers waiting on it are told, and
    // close their connection so that the client resends (nothing is acked).
    logger("store")->error("persistent session commit of {} operation(s) failed: {} {}", ops.size(),
                           r.error().message(), db.last_error());
  }
  for (auto& cb : callbacks) cb(static_cast<bool>(r));
}

}  // namespace portcullis::broker
