#pragma once
// All sessions by (tenant, client id). Implements session takeover (a second
// CONNECT with a connected client id closes the first connection), CleanSession
// semantics (clean: a fresh session, discarded at disconnect; persistent: kept
// and expired `session_expiry_seconds` after disconnect) and the router cleanup
// that must happen before a session is destroyed.
//
// Thread safety: all members are safe to call from any thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "metrics.hpp"
#include "persistence.hpp"
#include "router.hpp"
#include "session.hpp"

namespace portcullis::broker {

class session_registry {
 public:
  session_registry(router& r, metrics& m) : router_(r), metrics_(m) {}

  /// Makes persistent sessions durable through `p` (nullptr: memory only).
  void set_persistence(persistence* p, std::int64_t session_expiry_seconds) {
    persist_ = p;
    session_expiry_seconds_ = session_expiry_seconds;
  }
  persistence* durable() const noexcept { return persist_; }

  /// Re-creates an offline persistent session from the store at start-up.
  void restore(const std::string& tenant, const std::string& client_id, std::int64_t disconnected_at,
               const std::vector<std::pair<std::string, std::uint8_t>>& subscriptions,
               const std::vector<message_ptr>& queue);

  struct attach_result {
    std::shared_ptr<session> s;
    bool session_present = false;
    std::shared_ptr<session_owner> previous;  // connection taken over, to be kicked
  };

  /// Finds or creates the session for a CONNECT that was accepted, and attaches
  /// `owner` to it. CleanSession=1 discards any previous state [MQTT-3.1.2-6].
  attach_result attach(const std::string& tenant, const std::string& client_id, bool clean_session,
                       const std::shared_ptr<session_owner>& owner);

  /// The connection `owner` closed: a clean session is removed, a persistent one
  /// stays (offline) until it expires.
  void release(const std::shared_ptr<session>& s, const session_owner* owner, std::int64_t now);

  /// Removes persistent sessions offline for longer than `expiry_seconds` and
  /// expired queued messages. Returns the number of sessions removed.
  std::size_t sweep(std::int64_t now, std::int64_t expiry_seconds);

  /// Calls `f` for each session of `tenant` ("" = all tenants) under the lock;
  /// `f` must not call back into the registry.
  void for_each(const std::string& tenant, const std::function<void(const std::shared_ptr<session>&)>& f) const;

  /// Removes a session entirely (agent deleted): its connection, if any, is kicked.
  bool remove(const std::string& tenant, const std::string& client_id, const std::string& reason);

  /// Adds a subscription to a live session and the router; false when the session
  /// was retired meanwhile (taken over with CleanSession=1, expired, removed).
  /// Going through the registry lock is what keeps the router's raw session
  /// pointers valid: retiring a session and unsubscribing it is atomic with this.
  bool subscribe(const std::shared_ptr<session>& s, const std::string& filter, std::uint8_t qos);
  bool unsubscribe(const std::shared_ptr<session>& s, const std::string& filter);

  std::size_t size() const;

 private:
  bool is_live_locked(const std::shared_ptr<session>& s) const;
  static std::string key(const std::string& tenant, const std::string& client_id);
  void unsubscribe_all(const std::shared_ptr<session>& s);

  router& router_;
  metrics& metrics_;
  persistence* persist_ = nullptr;
  std::int64_t session_expiry_seconds_ = 86400;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, std::shared_ptr<session>> sessions_;
};

}  // namespace portcullis::broker
