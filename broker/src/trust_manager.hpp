#pragma once
// In-memory indexes that a CONNECT needs on its hot path, kept in step with the
// store (STYLE §c25, SPEC §4): the trust snapshot of registered tenant CAs (an
// immutable auth::trust_store swapped on change, STYLE §c30), the validated-chain
// cache, and the client-id bindings in both directions (a reconnecting device's
// binding is checked here without touching SQLite).
//
// Thread safety: all members are safe to call from any thread.

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "portcullis/auth/chain_cache.hpp"
#include "portcullis/auth/trust_store.hpp"

namespace portcullis::store {
struct ca_record;
struct binding_record;
}  // namespace portcullis::store

namespace portcullis::broker {

class trust_manager {
 public:
  trust_manager();

  std::shared_ptr<const auth::trust_store> snapshot() const;
  /// Replaces the snapshot with these CAs (from the store). Returns how many parsed.
  std::size_t replace_cas(const std::vector<store::ca_record>& cas);
  auth::chain_cache& cache() noexcept { return cache_; }

  enum class binding_state { unbound, same, conflict };
  /// Whether (tenant, client_id, subject) matches the known bindings.
  binding_state check(const std::string& tenant, const std::string& client_id, const std::string& subject) const;
  void load_bindings(const std::vector<store::binding_record>& bindings);
  void add_binding(const std::string& tenant, const std::string& client_id, const std::string& subject);
  void remove_binding(const std::string& tenant, const std::string& client_id);

 private:
  static std::string key(const std::string& tenant, const std::string& value);

  mutable std::mutex snapshot_mutex_;
  std::shared_ptr<const auth::trust_store> snapshot_;
  auth::chain_cache cache_;
  mutable std::shared_mutex bindings_mutex_;
  std::unordered_map<std::string, std::string> subject_by_client_;  // client (global) -> tenant\0subject
  std::unordered_map<std::string, std::string> client_by_subject_;  // tenant\0subject -> client
};

}  // namespace portcullis::broker
