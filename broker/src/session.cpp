// Session queue and QoS 1 window. Ordering: messages leave in the order they were
// queued; resends after a reconnect go first and keep their packet ids [MQTT-4.4.0-1].

#include "session.hpp"

#include <algorithm>
#include <unordered_set>

namespace portcullis::broker {

const std::string& intern_tenant(std::string_view tenant) {
  struct table {
    std::mutex mutex;
    std::unordered_set<std::string> names;  // node-based: references stay valid
  };
  // Never destroyed: sessions may outlive static destruction order guarantees.
  static table* t = new table;
  std::lock_guard lock(t->mutex);
  return *t->names.emplace(tenant).first;
}

session::session(std::string_view tenant, std::string client_id, bool persistent, metrics& m)
    : tenant_(intern_tenant(tenant)), client_id_(std::move(client_id)), metrics_(m), persistent_(persistent) {}

delivery session::deliver(const message_ptr& m, std::uint8_t qos, const session_limits& limits,
                          session_owner* publisher) {
  std::uint8_t effective = std::min(qos, m->qos);
  std::shared_ptr<session_owner> to_wake;
  delivery result;
  {
    std::lock_guard lock(mutex_);
    if (!owner_raw_) {
      // QoS 0 is not queued for an offline client (as Mosquitto by default).
      if (effective == 0 || !persistent_) {
        metrics_.drop(drop_reason::offline_qos0);
        return result;
      }
    }
    if (queue_.size() >= limits.max_queued) {
      // The bound of SPEC §6: the oldest message goes, counted.
      result.dropped = std::move(queue_.front().msg);
      queue_.pop_front();
      metrics_.drop(drop_reason::queue_full);
    }
    queue_.push_back({m, effective, false});
    if (owner_raw_ && publisher && queue_.size() >= (effective == 1 ? limits.high_water() : limits.qos0_high_water()) &&
        (effective == 1 ? !ack_stalled_locked(limits) : !stalled_locked())) {
      // An online subscriber is behind. QoS 1: the publisher waits for it instead
      // of the queue overflowing (an acknowledged message is not dropped), unless it has
      // acknowledged nothing for qos1_ack_window with its window full: stuck, not slow. QoS 0:
      // the same while the subscriber is taking messages, so a fast reader paces
      // publishers instead of losing most of a burst; a stalled one (woken but not
      // collecting for a while: its socket is full) falls back to the drop-oldest
      // bound, so it never holds anyone up for long.
      result.congested = true;
      if (!waiters_) waiters_ = std::make_unique<waiter_list>();
      std::weak_ptr<session_owner> waiter = publisher->weak_owner();
      bool known = false;
      for (const auto& w : *waiters_) known = known || (!w.owner_before(waiter) && !waiter.owner_before(w));
      if (!known) waiters_->push_back(std::move(waiter));
    }
    if (owner_raw_ && !wake_pending_) {
      wake_pending_ = true;
      woken_at_ms_ = steady_ms();
      to_wake = owner_.lock();
    }
  }
  if (to_wake) to_wake->wake();
  return result;
}

void session::restore_message(const message_ptr& m, bool dup) {
  std::lock_guard lock(mutex_);
  queue_.push_back({m, 1, dup});
}

void session::sent_store_ids(std::vector<std::int64_t>& out) const {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < inflight_.size(); ++i) {
    if (inflight_[i].msg->store_id) out.push_back(inflight_[i].msg->store_id);
  }
  for (std::size_t i = 0; i < queue_.size(); ++i) {
    if (queue_[i].dup && queue_[i].msg->store_id) out.push_back(queue_[i].msg->store_id);
  }
}

void session::set_disconnected_at_ms(std::int64_t t) {
  std::lock_guard lock(mutex_);
  disconnected_at_ms_ = t;
}

void session::attach(const std::shared_ptr<session_owner>& owner) {
  std::lock_guard lock(mutex_);
  owner_ = owner;
  owner_raw_.store(owner.get(), std::memory_order_release);
  wake_pending_ = false;
  disconnected_at_ms_ = 0;
  window_full_at_ms_ = steady_ms();  // a new connection gets the whole window to acknowledge a full one
  for (std::size_t i = 0; i < inflight_.size(); ++i) inflight_[i].sent = false;  // resend with DUP [MQTT-4.4.0-1]
}

bool session::detach(const session_owner* owner, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  if (owner_raw_ != owner) return false;
  owner_.reset();
  owner_raw_.store(nullptr, std::memory_order_release);
  wake_pending_ = false;
  disconnected_at_ms_ = now_ms;
  // QoS 0 messages still queued are not kept for an offline client.
  queue_.erase_if([](const queued_entry& e) { return e.qos == 0; });
  notify_waiters_locked();
  return true;
}

void session::notify_waiters_locked() {
  if (!waiters_) return;
  // drained() only posts, so calling it under our mutex cannot re-enter us.
  for (auto& w : *waiters_) {
    if (auto p = w.lock()) p->drained();
  }
  waiters_.reset();
}

std::shared_ptr<session_owner> session::owner() const {
  std::lock_guard lock(mutex_);
  return owner_.lock();
}

bool session::connected() const {
  return owner_raw_.load(std::memory_order_acquire) != nullptr;
}

std::int64_t session::disconnected_at_ms() const {
  std::lock_guard lock(mutex_);
  return disconnected_at_ms_;
}

std::uint16_t session::allocate_packet_id(std::int64_t store_id) {
  // In-flight ids are unique; the window is small, so a linear check is cheapest.
  auto in_use = [this](std::uint16_t id) {
    for (std::size_t i = 0; i < inflight_.size(); ++i) {
      if (inflight_[i].packet_id == id) return true;
    }
    return false;
  };
  if (persistent_ && store_id > 0) {
    // Every QoS 1 message for a persistent subscriber has a store id (assigned at publish,
    // kept across restarts). Only if another in-flight message holds that id (their store
    // ids 65535 apart) does the counter below choose.
    auto derived = static_cast<std::uint16_t>(store_id % 65535 + 1);
    if (!in_use(derived)) return derived;
  }
  while (true) {
    std::uint16_t id = next_packet_id_++;
    if (next_packet_id_ == 0) next_packet_id_ = 1;
    if (id == 0) continue;
    if (!in_use(id)) return id;
  }
}

void session::collect(std::vector<outgoing>& out, std::size_t max, const session_limits& limits, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  wake_pending_ = false;
  for (std::size_t i = 0; i < inflight_.size(); ++i) {
    auto& e = inflight_[i];
    if (out.size() >= max) return;
    if (!e.sent) {
      e.sent = true;
      out.push_back({e.msg, e.packet_id, 1, true});
    }
  }
  while (!queue_.empty() && out.size() < max) {
    queued_entry& q = queue_.front();
    if (q.msg->expires_at_ms <= now_ms) {
      metrics_.drop(drop_reason::expired);
      queue_.pop_front();
      continue;
    }
    if (q.qos == 0) {
      out.push_back({std::move(q.msg), 0, 0, false});
    } else {
      if (inflight_.size() >= limits.max_inflight) break;
      std::uint16_t id = allocate_packet_id(q.msg->store_id);
      inflight_.push_back({id, q.msg, true});
      if (inflight_.size() >= limits.max_inflight) window_full_at_ms_ = steady_ms();
      out.push_back({std::move(q.msg), id, 1, q.dup});
    }
    queue_.pop_front();
  }
  if (waiters_ && queue_.size() <= limits.low_water()) notify_waiters_locked();
}

message_ptr session::acknowledge(std::uint16_t packet_id) {
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < inflight_.size(); ++i) {
    if (inflight_[i].packet_id == packet_id) {
      message_ptr m = std::move(inflight_[i].msg);
      inflight_.erase(i);
      return m;
    }
  }
  return nullptr;
}

namespace {

template <class Vector>
auto find_filter(Vector& subs, const std::string& filter) {
  return std::lower_bound(subs.begin(), subs.end(), filter,
                          [](const auto& entry, const std::string& f) { return entry.first < f; });
}

}  // namespace

void session::set_subscription(const std::string& filter, std::uint8_t qos) {
  std::lock_guard lock(mutex_);
  auto it = find_filter(subscriptions_, filter);
  if (it != subscriptions_.end() && it->first == filter) {
    it->second = qos;
  } else {
    subscriptions_.emplace(it, filter, qos);
  }
}

bool session::remove_subscription(const std::string& filter) {
  std::lock_guard lock(mutex_);
  auto it = find_filter(subscriptions_, filter);
  if (it == subscriptions_.end() || it->first != filter) return false;
  subscriptions_.erase(it);
  if (subscriptions_.empty()) subscriptions_.shrink_to_fit();
  return true;
}

std::map<std::string, std::uint8_t> session::subscriptions() const {
  std::lock_guard lock(mutex_);
  return {subscriptions_.begin(), subscriptions_.end()};
}

std::size_t session::queued() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

std::size_t session::inflight() const {
  std::lock_guard lock(mutex_);
  return inflight_.size();
}

std::size_t session::expire_messages(std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  std::size_t n = queue_.erase_if([now_ms](const queued_entry& e) { return e.msg->expires_at_ms <= now_ms; });
  if (n) metrics_.drop(drop_reason::expired, n);
  return n;
}

}  // namespace portcullis::broker
