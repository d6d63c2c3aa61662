#pragma once
// All sessions by (tenant, client id). Implements session takeover (a second
// CONNECT with a connected client id closes the first connection), CleanSession
// semantics (clean: a fresh session, discarded at disconnect; persistent: kept
// and expired `session_expiry_seconds` after disconnect) and the router cleanup
// that must happen before a session is destroyed.
//
// Memory: the index is a set of session pointers keyed by the session's own
// tenant and client id (no key string per entry), and the hash is not cached in
// the node, so an entry is one 24-byte node (bench: idle bytes per connection).
//
// Thread safety: all members are safe to call from any thread.

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
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
  /// `queue`: each message with its DUP (session::restore_message).
  void restore(const std::string& tenant, const std::string& client_id, std::int64_t disconnected_at_s,
               const std::vector<std::pair<std::string, std::uint8_t>>& subscriptions,
               const std::vector<std::pair<message_ptr, bool>>& queue);
  /// Every stored queue entry of a persistent session that was sent at least once, or may
  /// have been (session::sent_store_ids): for the store at a clean shutdown.
  std::vector<store::queue_entry_ref> sent_entries() const;

  struct attach_result {
    std::shared_ptr<session> s;
    bool session_present = false;
    std::shared_ptr<session_owner> previous;  // connection taken over, to be kicked
  };

  /// Finds or creates the session for a CONNECT that was accepted, and attaches
  /// `owner` to it. CleanSession=1 discards any previous state [MQTT-3.1.2-6].
  /// `client_id` is a sink: a new session keeps it (no second copy of the id). A persistent
  /// session offline for session_expiry_seconds at `now_ms` (epoch ms) has expired, swept or
  /// not: it is discarded and a new one starts.
  attach_result attach(std::string_view tenant, std::string&& client_id, bool clean_session,
                       const std::shared_ptr<session_owner>& owner, std::int64_t now_ms);

  /// The connection `owner` closed at `now_ms` (epoch ms): a clean session is removed, a
  /// persistent one stays (offline) until it expires.
  void release(const std::shared_ptr<session>& s, const session_owner* owner, std::int64_t now_ms);

  /// Removes persistent sessions offline for `expiry_seconds` or longer at `now_ms` (epoch
  /// ms: never early, and late only by the sweep's period) and expired queued messages (whole
  /// seconds). Returns the number of sessions removed.
  std::size_t sweep(std::int64_t now_ms, std::int64_t expiry_seconds);

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
  /// (tenant, client id): how sessions are looked up.
  struct key {
    std::string_view tenant;
    std::string_view client_id;
  };
  /// Hashes and compares sessions by their key, and keys directly (heterogeneous
  /// lookup, C++20). noexcept and not a std::hash of a string, so libstdc++ does
  /// not cache the hash in each node: lookups rehash, but they are not per message.
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(const key& k) const noexcept;
    std::size_t operator()(const std::shared_ptr<session>& s) const noexcept;
  };
  struct key_equal {
    using is_transparent = void;
    static key key_of(const key& k) noexcept { return k; }
    static key key_of(const std::shared_ptr<session>& s) noexcept { return {s->tenant(), s->client_id()}; }
    template <class A, class B>
    bool operator()(const A& a, const B& b) const noexcept {
      key x = key_of(a), y = key_of(b);
      return x.client_id == y.client_id && x.tenant == y.tenant;
    }
  };
  using session_set = std::unordered_set<std::shared_ptr<session>, key_hash, key_equal>;

  bool is_live_locked(const std::shared_ptr<session>& s) const;
  void unsubscribe_all(const std::shared_ptr<session>& s);

  router& router_;
  metrics& metrics_;
  persistence* persist_ = nullptr;
  std::int64_t session_expiry_seconds_ = 86400;
  mutable std::mutex mutex_;
  session_set sessions_;
};

}  // namespace portcullis::broker
