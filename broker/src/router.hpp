#pragma once
// The subscription index: one topic trie per tenant (tenant isolation is
// structural: a publish only ever walks its own tenant's trie). Each trie has its
// own shared_mutex: publishes take it shared, (un)subscribes exclusive.
//
// Subscribers are raw session pointers. This is safe because a session is removed
// from the trie (exclusive lock) before it is destroyed, and delivery happens while
// the shared lock is held; delivery itself only takes the session's small mutex and
// may post a wake-up, it never does I/O (STYLE §c26).
//
// Overlapping subscriptions of one session are delivered once, at the highest
// granted QoS [MQTT-3.3.5-1 allows either; we choose "once"].

#include <cstdint>
#include "function_ref.hpp"
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace portcullis::broker {

class session;

struct route_target {
  session* target;
  std::uint8_t qos;
};

class router {
 public:
  router();
  ~router();
  router(const router&) = delete;
  router& operator=(const router&) = delete;

  /// Adds or replaces (same filter) a subscription. Thread-safe.
  void subscribe(const std::string& tenant, std::string_view filter, session* s, std::uint8_t qos);
  /// Removes one subscription; returns whether it existed. Thread-safe.
  bool unsubscribe(const std::string& tenant, std::string_view filter, session* s);

  /// Calls `deliver` once per subscribed session (highest QoS among its matching
  /// filters) while holding the tenant's shared lock; returns the number of targets.
  /// `scratch` is reused between calls to avoid allocation.
  /// `before(targets)` runs first, under the same lock, with the deduplicated
  /// targets (durable sessions persist the message there, before any delivery).
  std::size_t route(const std::string& tenant, std::string_view topic, std::vector<route_target>& scratch,
                    function_ref<void(session&, std::uint8_t)> deliver,
                    function_ref<void(const std::vector<route_target>&)> before = {}) const;

  std::size_t subscription_count() const;

 private:
  struct node;
  struct tenant_trie;
  tenant_trie* find(const std::string& tenant) const;
  tenant_trie& get_or_create(const std::string& tenant);

  mutable std::shared_mutex tenants_mutex_;
  std::unordered_map<std::string, std::unique_ptr<tenant_trie>> tenants_;
};

}  // namespace portcullis::broker
