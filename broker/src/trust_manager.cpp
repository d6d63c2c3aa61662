// Trust snapshot and binding index.

#include "trust_manager.hpp"

#include <spdlog/spdlog.h>

#include "portcullis/broker/logging.hpp"
#include "portcullis/store/records.hpp"

namespace portcullis::broker {

trust_manager::trust_manager() : snapshot_(auth::trust_store::empty()) {}

std::string trust_manager::key(const std::string& tenant, const std::string& value) {
  std::string k;
  k.reserve(tenant.size() + 1 + value.size());
  k.append(tenant).push_back('\0');
  k.append(value);
  return k;
}

std::shared_ptr<const auth::trust_store> trust_manager::snapshot() const {
  std::lock_guard lock(snapshot_mutex_);
  return snapshot_;
}

std::size_t trust_manager::replace_cas(const std::vector<store::ca_record>& cas) {
  std::vector<auth::trust_anchor> anchors;
  anchors.reserve(cas.size());
  for (const auto& c : cas) anchors.push_back({c.id, c.tenant, c.der});
  std::vector<std::string> rejected;
  auto fresh = auth::trust_store::create(std::move(anchors), &rejected);
  for (const auto& r : rejected) logger("auth")->error("tenant CA not usable: {}", r);
  std::size_t n = fresh->size();
  std::lock_guard lock(snapshot_mutex_);
  snapshot_ = std::move(fresh);
  return n;
}

trust_manager::binding_state trust_manager::check(const std::string& tenant, const std::string& client_id,
                                                  const std::string& subject) const {
  std::shared_lock lock(bindings_mutex_);
  // Client ids are reserved system-wide: bound in another tenant is a conflict.
  auto it = subject_by_client_.find(client_id);
  if (it != subject_by_client_.end()) {
    return it->second == key(tenant, subject) ? binding_state::same : binding_state::conflict;
  }
  auto jt = client_by_subject_.find(key(tenant, subject));
  if (jt != client_by_subject_.end()) return binding_state::conflict;  // subject bound to another id
  return binding_state::unbound;
}

void trust_manager::load_bindings(const std::vector<store::binding_record>& bindings) {
  std::unique_lock lock(bindings_mutex_);
  subject_by_client_.clear();
  client_by_subject_.clear();
  for (const auto& b : bindings) {
    subject_by_client_[b.client_id] = key(b.tenant, b.subject_dn);
    client_by_subject_[key(b.tenant, b.subject_dn)] = b.client_id;
  }
}

void trust_manager::add_binding(const std::string& tenant, const std::string& client_id, const std::string& subject) {
  std::unique_lock lock(bindings_mutex_);
  subject_by_client_[client_id] = key(tenant, subject);
  client_by_subject_[key(tenant, subject)] = client_id;
}

void trust_manager::remove_binding(const std::string& tenant, const std::string& client_id) {
  std::unique_lock lock(bindings_mutex_);
  auto it = subject_by_client_.find(client_id);
  if (it == subject_by_client_.end() || it->second.compare(0, tenant.size() + 1, key(tenant, "")) != 0) return;
  client_by_subject_.erase(it->second);
  subject_by_client_.erase(it);
}

}  // namespace portcullis::broker
