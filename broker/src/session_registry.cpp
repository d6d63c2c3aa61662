// Session lookup, takeover and expiry, and the durable record of persistent
// sessions (their existence, subscriptions and disconnect time) in the store.

#include "session_registry.hpp"
#include "wall_clock.hpp"

#include <chrono>

namespace portcullis::broker {
namespace {


store::upsert_session_op session_row(const session& s, std::optional<std::int64_t> disconnected_at,
                                     std::optional<std::int64_t> expires_at) {
  store::session_record r;
  r.tenant = s.tenant();
  r.client_id = s.client_id();
  r.created_at = epoch_seconds();
  r.disconnected_at = disconnected_at;
  r.expires_at = expires_at;
  return {std::move(r)};
}

// An offline persistent session `expiry_seconds` after its disconnect, counted in milliseconds:
// in whole (truncated) seconds a disconnect at x.9 s expired up to a second early.
bool has_expired(const session& s, std::int64_t now_ms, std::int64_t expiry_seconds) {
  return s.persistent() && !s.connected() && s.disconnected_at_ms() + expiry_seconds * 1000 <= now_ms;
}

}  // namespace

std::size_t session_registry::key_hash::operator()(const key& k) const noexcept {
  std::size_t h = std::hash<std::string_view>{}(k.client_id);
  return h ^ (std::hash<std::string_view>{}(k.tenant) + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2));
}

std::size_t session_registry::key_hash::operator()(const std::shared_ptr<session>& s) const noexcept {
  return (*this)(key{s->tenant(), s->client_id()});
}

void session_registry::unsubscribe_all(const std::shared_ptr<session>& s) {
  for (const auto& [filter, qos] : s->subscriptions()) router_.unsubscribe(s->tenant(), filter, s.get());
}

session_registry::attach_result session_registry::attach(std::string_view tenant, std::string&& client_id,
                                                         bool clean_session,
                                                         const std::shared_ptr<session_owner>& owner,
                                                         std::int64_t now_ms) {
  attach_result r;
  std::shared_ptr<session> discarded;
  bool expired = false;
  {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(key{tenant, client_id});
    if (it != sessions_.end()) {
      r.previous = (*it)->owner();
      // Expired to the millisecond, whether or not the 1 s sweep has come by yet.
      expired = has_expired(**it, now_ms, session_expiry_seconds_);
      if (clean_session || !(*it)->persistent() || expired) {
        discarded = *it;
        sessions_.erase(it);
      } else {
        r.s = *it;
        r.session_present = true;  // persistent session resumed [MQTT-3.2.2-2]
      }
    }
    if (discarded) {
      // Detach first so the old connection's later release() is a no-op for it.
      discarded->detach(r.previous.get(), 0);
      unsubscribe_all(discarded);
      if (discarded->persistent()) {
        metrics_.sessions_persistent.fetch_sub(1, std::memory_order_relaxed);
        if (persist_) persist_->submit(store::delete_session_op{std::string(tenant), client_id});
      }
    }
    if (!r.s) {
      client_id.shrink_to_fit();  // kept as long as the session: no slack (ids arrive by copy-assignment)
      r.s = std::make_shared<session>(tenant, std::move(client_id), !clean_session, metrics_);
      sessions_.insert(r.s);
      if (!clean_session) metrics_.sessions_persistent.fetch_add(1, std::memory_order_relaxed);
    }
    r.s->attach(owner);
    if (persist_ && r.s->persistent()) persist_->submit(session_row(*r.s, std::nullopt, std::nullopt));
  }
  if (r.previous) metrics_.takeovers.fetch_add(1, std::memory_order_relaxed);
  if (expired) {
    if (std::size_t q = discarded->queued()) metrics_.drop(drop_reason::session_expired, q);
  }
  return r;
}

void session_registry::release(const std::shared_ptr<session>& s, const session_owner* owner, std::int64_t now_ms) {
  if (!s->detach(owner, now_ms)) return;  // taken over meanwhile: the new owner keeps it
  if (s->persistent()) {
    // The store keeps whole seconds (and deletes a row only once its expiry second has passed).
    const std::int64_t now = now_ms / 1000;
    if (persist_) persist_->submit(session_row(*s, now, now + session_expiry_seconds_));
    return;
  }
  std::lock_guard lock(mutex_);
  auto it = sessions_.find(s);
  if (it == sessions_.end() || *it != s) return;
  if (s->connected()) return;  // re-attached between detach and here
  sessions_.erase(it);
  unsubscribe_all(s);
}

std::size_t session_registry::sweep(std::int64_t now_ms, std::int64_t expiry_seconds) {
  std::vector<std::shared_ptr<session>> expired;
  {
    std::lock_guard lock(mutex_);
    for (auto it = sessions_.begin(); it != sessions_.end();) {
      const auto& s = *it;
      if (has_expired(*s, now_ms, expiry_seconds)) {
        unsubscribe_all(s);
        if (persist_) persist_->submit(store::delete_session_op{s->tenant(), s->client_id()});
        expired.push_back(s);
        it = sessions_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& s : expired) {
    std::size_t q = s->queued();
    if (q) metrics_.drop(drop_reason::session_expired, q);
    metrics_.sessions_persistent.fetch_sub(1, std::memory_order_relaxed);
  }
  std::vector<std::shared_ptr<session>> all;
  {
    std::lock_guard lock(mutex_);
    all.reserve(sessions_.size());
    for (const auto& s : sessions_) all.push_back(s);
  }
  for (auto& s : all) s->expire_messages(now_ms);
  return expired.size();
}

std::vector<store::queue_entry_ref> session_registry::sent_entries() const {
  std::vector<store::queue_entry_ref> out;
  std::vector<std::int64_t> ids;
  std::lock_guard lock(mutex_);
  for (const auto& s : sessions_) {
    if (!s->persistent()) continue;
    ids.clear();
    s->sent_store_ids(ids);
    for (auto id : ids) out.push_back({s->tenant(), s->client_id(), id});
  }
  return out;
}

void session_registry::for_each(const std::string& tenant,
                                const std::function<void(const std::shared_ptr<session>&)>& f) const {
  std::lock_guard lock(mutex_);
  for (const auto& s : sessions_) {
    if (tenant.empty() || s->tenant() == tenant) f(s);
  }
}

bool session_registry::remove(const std::string& tenant, const std::string& client_id, const std::string& reason) {
  std::shared_ptr<session> s;
  std::shared_ptr<session_owner> owner;
  {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(key{tenant, client_id});
    if (it == sessions_.end()) return false;
    s = *it;
    sessions_.erase(it);
    owner = s->owner();
    s->detach(owner.get(), 0);
    unsubscribe_all(s);
  }
  if (s->persistent()) metrics_.sessions_persistent.fetch_sub(1, std::memory_order_relaxed);
  if (owner) owner->kick(reason);
  return true;
}

bool session_registry::is_live_locked(const std::shared_ptr<session>& s) const {
  auto it = sessions_.find(s);
  return it != sessions_.end() && *it == s;
}

bool session_registry::subscribe(const std::shared_ptr<session>& s, const std::string& filter, std::uint8_t qos) {
  std::lock_guard lock(mutex_);
  if (!is_live_locked(s)) return false;
  s->set_subscription(filter, qos);
  if (persist_ && s->persistent()) {
    persist_->submit(store::add_subscription_op{s->tenant(), s->client_id(), {filter, qos}});
  }
  router_.subscribe(s->tenant(), filter, s.get(), qos);
  return true;
}

bool session_registry::unsubscribe(const std::shared_ptr<session>& s, const std::string& filter) {
  std::lock_guard lock(mutex_);
  if (!is_live_locked(s)) return false;
  if (s->remove_subscription(filter) && persist_ && s->persistent()) {
    persist_->submit(store::remove_subscription_op{s->tenant(), s->client_id(), filter});
  }
  return router_.unsubscribe(s->tenant(), filter, s.get());
}

void session_registry::restore(const std::string& tenant, const std::string& client_id, std::int64_t disconnected_at_s,
                               const std::vector<std::pair<std::string, std::uint8_t>>& subscriptions,
                               const std::vector<std::pair<message_ptr, bool>>& queue) {
  auto s = std::make_shared<session>(tenant, client_id, true, metrics_);
  s->set_disconnected_at_ms(disconnected_at_s * 1000);
  for (const auto& [m, dup] : queue) s->restore_message(m, dup);
  std::lock_guard lock(mutex_);
  for (const auto& [filter, qos] : subscriptions) {
    s->set_subscription(filter, qos);
    router_.subscribe(tenant, filter, s.get(), qos);
  }
  sessions_.erase(s);  // replaces a session of the same key, as restoring twice would
  sessions_.insert(std::move(s));
  metrics_.sessions_persistent.fetch_add(1, std::memory_order_relaxed);
}

std::size_t session_registry::size() const {
  std::lock_guard lock(mutex_);
  return sessions_.size();
}

}  // namespace portcullis::broker
