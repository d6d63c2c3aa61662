/*
 * Bindings, agents and their assets (SPEC §4.1 binding, §4.3 provisioning).
 *
 * Rules enforced here (all inside ONE BEGIN IMMEDIATE transaction, so two
 * connections racing on the same new client id serialise: the second sees
 * the first's binding):
 *  - (tenant, client_id) is bound to one subject DN; a different subject for
 *    that client id is a conflict.
 *  - a subject DN is bound to one client id per tenant; a second client id
 *    for it is a conflict.
 *  - a new binding needs a free agent slot: >= quota agents → quota_exceeded.
 *  - a new binding creates asset (32 hex id) + agent (id = asset id) + binding.
 * A batch (group commit of a connect storm) decides its requests one by one in
 * order; it reads each tenant's row once and counts the agents it creates, and
 * needs no read-back of an agent it just inserted, so a new device costs one
 * client-id lookup, one subject lookup and the three inserts. A refusal concerns
 * its own request; any SQLite failure rolls the whole batch back.
 * The binding lasts until the agent is deleted; deleting frees the client id
 * and removes the client's persistent session as well, so a device that later
 * takes over the id starts clean.
 */
#include "portcullis/store/database.hpp"

#include <optional>
#include <unordered_map>

#include "connection.hpp"
#include "ids.hpp"

// The agent columns, in the order read_agent expects (a literal, never data).
#define PORTCULLIS_AGENT_SELECT                                                                     \
  "SELECT a.id, a.tenant, a.name, a.client_id, a.security_profile, a.onboarding_status,"            \
  " b.subject_dn, b.cert_sha256, a.created_at, a.last_seen_at, s.id, s.name, s.asset_type,"         \
  " s.description FROM agents a JOIN bindings b ON b.agent_id = a.id JOIN assets s ON s.id = a.id "

namespace portcullis::store {
namespace {

agent_record read_agent(const detail::statement& st) {
  agent_record agent;
  agent.id = st.get_text(0);
  agent.tenant = st.get_text(1);
  agent.name = st.get_text(2);
  agent.client_id = st.get_text(3);
  agent.security_profile = st.get_text(4);
  agent.onboarding_status = st.get_text(5);
  agent.subject_dn = st.get_text(6);
  agent.cert_sha256 = st.get_text(7);
  agent.created_at = st.get_int64(8);
  agent.last_seen_at = st.get_int64(9);
  agent.asset = {st.get_text(10), st.get_text(11), st.get_text(12), st.get_text(13)};
  return agent;
}

result<agent_record> one_agent(detail::connection& conn, result<std::optional<agent_record>> found,
                               const std::string& what) {
  if (!found) {
    return found.error();
  }
  if (!*found) {
    return conn.fail(errc::not_found, "store: no agent " + what);
  }
  return std::move(**found);
}

result<agent_record> agent_by_client_id(detail::connection& conn, const std::string& tenant,
                                        const std::string& client_id) {
  return one_agent(conn,
                   conn.first<agent_record>(read_agent, PORTCULLIS_AGENT_SELECT "WHERE a.tenant = ? AND a.client_id = ?",
                                            tenant, client_id),
                   "with client id '" + client_id + "'");
}

/// The binding of a client id, in any tenant (client ids are unique system-wide).
struct client_binding {
  std::string tenant;
  std::string subject_dn;
};
result<std::optional<client_binding>> binding_of_client(detail::connection& conn, const std::string& client_id) {
  return conn.first<client_binding>(
      [](const detail::statement& st) { return client_binding{st.get_text(0), st.get_text(1)}; },
      "SELECT tenant, subject_dn FROM bindings WHERE client_id = ?", client_id);
}

/// What one transaction reads once per tenant: whether it exists and how many agents it has.
/// The count follows the agents this transaction inserts (as the trigger keeps
/// tenants.agent_count), so every quota decision of a batch sees the agents created before it.
struct tenant_state {
  bool exists = false;
  std::uint64_t agents = 0;
};
using tenant_states = std::unordered_map<std::string, tenant_state>;

result<tenant_state*> state_of(detail::connection& conn, const std::string& tenant, tenant_states& states) {
  if (auto it = states.find(tenant); it != states.end()) {
    return &it->second;
  }
  auto count = conn.first<std::int64_t>([](const detail::statement& st) { return st.get_int64(0); },
                                        "SELECT agent_count FROM tenants WHERE id = ?", tenant);
  if (!count) {
    return count.error();
  }
  tenant_state state;
  if (*count) {
    state.exists = true;
    state.agents = static_cast<std::uint64_t>(**count);
  }
  return &states.emplace(tenant, state).first->second;  // node-based: the pointer stays valid
}

/// The subject is free in the tenant and a slot is left (inside the transaction).
result<void> check_new_binding(detail::connection& conn, const provision_request& r, const tenant_state& tenant,
                               std::size_t quota) {
  auto bound = conn.first<std::string>([](detail::statement& st) { return st.get_text(0); },
                                       "SELECT client_id FROM bindings WHERE tenant = ? AND subject_dn = ?", r.tenant,
                                       r.subject_dn);
  if (!bound) {
    return bound.error();
  }
  if (*bound) {
    return conn.fail(errc::conflict, "store: subject already bound to client id '" + **bound + "'");
  }
  if (tenant.agents >= quota) {
    return conn.fail(errc::quota_exceeded, "store: tenant '" + r.tenant + "' has reached its quota of " +
                                               std::to_string(quota) + " agents");
  }
  return {};
}

/// Inserts asset + agent + binding and returns the agent as stored (no read-back needed:
/// every column is one of these values).
result<agent_record> insert_agent(detail::connection& conn, const provision_request& r, std::int64_t now) {
  agent_record agent;
  agent.id = detail::time_ordered_hex_id();  // appends to every B-tree it keys (ids.hpp)
  if (auto done = conn.exec(
          "INSERT INTO assets (id, tenant, name, asset_type, description, created_at) VALUES (?, ?, ?, ?, ?, ?)",
          agent.id, r.tenant, r.client_id, agent_asset_type, agent_asset_description, now);
      !done) {
    return done.error();
  }
  if (auto done = conn.exec(
          "INSERT INTO agents (id, tenant, name, client_id, security_profile, onboarding_status, created_at,"
          " last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
          agent.id, r.tenant, r.client_id, r.client_id, agent_security_profile, agent_onboarding_status, now, now);
      !done) {
    return done.error();
  }
  if (auto done = conn.exec(
          "INSERT INTO bindings (tenant, client_id, subject_dn, cert_sha256, agent_id, created_at)"
          " VALUES (?, ?, ?, ?, ?, ?)",
          r.tenant, r.client_id, r.subject_dn, r.cert_sha256, agent.id, now);
      !done) {
    return done.error();
  }
  agent.tenant = r.tenant;
  agent.name = r.client_id;
  agent.client_id = r.client_id;
  agent.security_profile = agent_security_profile;
  agent.onboarding_status = agent_onboarding_status;
  agent.subject_dn = r.subject_dn;
  agent.cert_sha256 = r.cert_sha256;
  agent.created_at = now;
  agent.last_seen_at = now;
  agent.asset = {agent.id, r.client_id, std::string(agent_asset_type), std::string(agent_asset_description)};
  return agent;
}

/// One binding/provisioning decision inside an open transaction. Refusals (conflict, quota,
/// unknown tenant, empty input) concern this request only. A failed write is reported as
/// internal, never as a refusal, so a batch rolls back instead of keeping half an agent.
result<provision_outcome> provision_one(detail::connection& conn, const provision_request& r, std::size_t quota,
                                        std::int64_t now, tenant_states& tenants) {
  if (r.client_id.empty() || r.subject_dn.empty()) {
    return conn.fail(errc::invalid_argument, "store: empty client id or subject DN");
  }
  auto tenant = state_of(conn, r.tenant, tenants);
  if (!tenant) {
    return tenant.error();
  }
  if (!(*tenant)->exists) {
    return conn.fail(errc::not_found, "store: no tenant '" + r.tenant + "'");
  }
  // One lookup by the system-wide unique client id answers both "bound here" and "bound in
  // another tenant".
  auto bound = binding_of_client(conn, r.client_id);
  if (!bound) {
    return bound.error();
  }
  if (*bound) {
    if ((*bound)->tenant != r.tenant) {
      return conn.fail(errc::conflict, "store: client id '" + r.client_id + "' is bound in another tenant");
    }
    if ((*bound)->subject_dn != r.subject_dn) {
      return conn.fail(errc::conflict, "store: client id '" + r.client_id + "' is bound to another subject");
    }
    if (auto done = conn.exec("UPDATE agents SET last_seen_at = ? WHERE tenant = ? AND client_id = ?", now, r.tenant,
                              r.client_id);
        !done) {
      return done.error();
    }
    auto agent = agent_by_client_id(conn, r.tenant, r.client_id);
    if (!agent) {
      return agent.error();
    }
    return provision_outcome{std::move(*agent), false};
  }
  if (auto free = check_new_binding(conn, r, **tenant, quota); !free) {
    return free.error();
  }
  auto agent = insert_agent(conn, r, now);
  if (!agent) {
    return conn.fail(errc::internal,
                     "store: provisioning client id '" + r.client_id + "' failed: " + conn.last_error());
  }
  ++(*tenant)->agents;
  return provision_outcome{std::move(*agent), true};
}

/// Refusals that concern one request only; anything else aborts a batch.
bool is_decision(const boost::system::error_code& ec) {
  return ec == errc::conflict || ec == errc::quota_exceeded || ec == errc::not_found || ec == errc::invalid_argument;
}

}  // namespace

result<provision_outcome> database::bind_or_provision(const std::string& tenant, const std::string& client_id,
                                                      const std::string& subject_dn, const std::string& cert_sha256,
                                                      std::size_t agents_per_tenant_quota, std::int64_t now) {
  if (client_id.empty() || subject_dn.empty()) {
    return conn_->fail(errc::invalid_argument, "store: empty client id or subject DN");
  }
  auto tx = detail::transaction::begin(*conn_);
  if (!tx) {
    return tx.error();
  }
  tenant_states tenants;
  auto out = provision_one(*conn_, {tenant, client_id, subject_dn, cert_sha256}, agents_per_tenant_quota, now,
                           tenants);
  if (!out) {
    return out.error();
  }
  if (auto done = tx->commit(); !done) {
    return done.error();
  }
  return out;
}

result<std::vector<result<provision_outcome>>> database::bind_or_provision_batch(
    const std::vector<provision_request>& requests, std::size_t agents_per_tenant_quota, std::int64_t now) {
  auto tx = detail::transaction::begin(*conn_);
  if (!tx) {
    return tx.error();
  }
  tenant_states tenants;
  std::vector<result<provision_outcome>> out;
  out.reserve(requests.size());
  for (const auto& r : requests) {
    auto one = provision_one(*conn_, r, agents_per_tenant_quota, now, tenants);
    if (!one && !is_decision(one.error())) {
      return one.error();  // the transaction rolls back: no request of the batch took effect
    }
    out.push_back(std::move(one));
  }
  if (auto done = tx->commit(); !done) {
    return done.error();
  }
  return out;
}

result<std::vector<binding_record>> database::list_bindings() {
  return conn_->collect<binding_record>([](detail::statement& st) { return binding_record{st.get_text(0), st.get_text(1), st.get_text(2), st.get_text(3)}; },
                               "SELECT tenant, client_id, subject_dn, agent_id FROM bindings ORDER BY tenant, client_id");
}

result<std::vector<agent_record>> database::list_agents(const std::string& tenant) {
  return list_agents(tenant, std::nullopt, 0);
}

result<std::vector<agent_record>> database::list_agents(const std::string& tenant,
                                                       const std::optional<std::string>& after, std::size_t limit) {
  // SQLite binds a LIMIT of -1 as "no limit".
  auto lim = limit == 0 ? std::int64_t{-1} : static_cast<std::int64_t>(limit);
  if (!after) {
    return conn_->collect<agent_record>([](detail::statement& st) { return read_agent(st); },
                                        PORTCULLIS_AGENT_SELECT "WHERE a.tenant = ? ORDER BY a.created_at, a.id LIMIT ?",
                                        tenant, lim);
  }
  auto known = conn_->first<std::int64_t>([](const detail::statement& st) { return st.get_int64(0); },
                                          "SELECT created_at FROM agents WHERE tenant = ? AND id = ?", tenant, *after);
  if (!known) return known.error();
  if (!*known) return conn_->fail(errc::not_found, "store: no agent '" + *after + "' in tenant '" + tenant + "'");
  return conn_->collect<agent_record>(
      [](detail::statement& st) { return read_agent(st); },
      PORTCULLIS_AGENT_SELECT "WHERE a.tenant = ? AND (a.created_at, a.id) > (?, ?) ORDER BY a.created_at, a.id LIMIT ?",
      tenant, **known, *after, lim);
}

result<agent_record> database::get_agent(const std::string& tenant, const std::string& id) {
  return one_agent(*conn_, conn_->first<agent_record>(read_agent, PORTCULLIS_AGENT_SELECT "WHERE a.tenant = ? AND a.id = ?", tenant, id),
                   "'" + id + "' in tenant '" + tenant + "'");
}

result<agent_record> database::find_agent_by_client_id(const std::string& tenant, const std::string& client_id) {
  return agent_by_client_id(*conn_, tenant, client_id);
}

result<std::string> database::delete_agent(const std::string& tenant, const std::string& id) {
  auto tx = detail::transaction::begin(*conn_);
  if (!tx) {
    return tx.error();
  }
  auto found = conn_->first<std::string>([](const detail::statement& st) { return st.get_text(0); },
                                         "SELECT client_id FROM agents WHERE tenant = ? AND id = ?", tenant, id);
  if (!found) {
    return found.error();
  }
  if (!*found) {
    return conn_->fail(errc::not_found, "store: no agent '" + id + "' in tenant '" + tenant + "'");
  }
  std::string client_id = std::move(**found);
  // Deleting the asset cascades to the agent and its binding.
  if (auto done = conn_->exec("DELETE FROM assets WHERE tenant = ? AND id = ?", tenant, id); !done) {
    return done.error();
  }
  if (auto done = conn_->exec("DELETE FROM sessions WHERE tenant = ? AND client_id = ?", tenant, client_id);
      !done) {
    return done.error();
  }
  if (auto done = tx->commit(); !done) {
    return done.error();
  }
  return client_id;
}

result<std::int64_t> database::count_agents(const std::string& tenant) {
  return conn_->int64_of("SELECT count(*) FROM agents WHERE tenant = ?", tenant);
}

result<void> database::touch_agents(const std::vector<agent_seen>& seen) {
  auto tx = detail::transaction::begin(*conn_);
  if (!tx) {
    return tx.error();
  }
  for (const auto& [tenant, client_id, at] : seen) {
    if (auto done = conn_->exec("UPDATE agents SET last_seen_at = MAX(last_seen_at, ?) WHERE tenant = ? AND client_id = ?",
                                at, tenant, client_id);
        !done) {
      return done;
    }
  }
  return tx->commit();
}

}  // namespace portcullis::store

#undef PORTCULLIS_AGENT_SELECT
