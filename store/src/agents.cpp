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
 * The binding lasts until the agent is deleted; deleting frees the client id
 * and removes the client's persistent session as well, so a device that later
 * takes over the id starts clean.
 */
#include "portcullis/store/database.hpp"

#include "connection.hpp"
#include "ids.hpp"
#include "tenants.hpp"

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

result<agent_record> read_one_agent(detail::connection& conn, detail::statement& st, const std::string& what) {
  auto row = st.step();
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return conn.fail(errc::not_found, "store: no agent " + what);
  }
  return read_agent(st);
}

result<agent_record> agent_by_client_id(detail::connection& conn, const std::string& tenant,
                                        const std::string& client_id) {
  auto st = conn.query(PORTCULLIS_AGENT_SELECT "WHERE a.tenant = ? AND a.client_id = ?", tenant, client_id);
  if (!st) {
    return st.error();
  }
  return read_one_agent(conn, *st, "with client id '" + client_id + "'");
}

/// The existing binding of (tenant, client_id): its subject DN, or nullopt.
result<std::optional<std::string>> bound_subject(detail::connection& conn, const std::string& tenant,
                                                 const std::string& client_id) {
  auto st = conn.query("SELECT subject_dn FROM bindings WHERE tenant = ? AND client_id = ?", tenant, client_id);
  if (!st) {
    return st.error();
  }
  auto row = st->step();
  if (!row) {
    return row.error();
  }
  return *row ? std::optional<std::string>(st->get_text(0)) : std::nullopt;
}

/// Checks the subject is free and a slot is left (inside the transaction).
result<void> check_new_binding(detail::connection& conn, const std::string& tenant, const std::string& client_id,
                               const std::string& subject_dn, std::size_t quota) {
  {
    // A client id is reserved system-wide, not per tenant.
    auto st = conn.query("SELECT tenant FROM bindings WHERE client_id = ? AND tenant <> ?", client_id, tenant);
    if (!st) {
      return st.error();
    }
    auto row = st->step();
    if (!row) {
      return row.error();
    }
    if (*row) {
      return conn.fail(errc::conflict, "store: client id '" + client_id + "' is bound in another tenant");
    }
  }
  {
    auto st = conn.query("SELECT client_id FROM bindings WHERE tenant = ? AND subject_dn = ?", tenant, subject_dn);
    if (!st) {
      return st.error();
    }
    auto row = st->step();
    if (!row) {
      return row.error();
    }
    if (*row) {
      return conn.fail(errc::conflict, "store: subject already bound to client id '" + st->get_text(0) + "'");
    }
  }
  // O(1): tenants.agent_count is kept by triggers (migration 3), not counted.
  auto st = conn.query("SELECT agent_count FROM tenants WHERE id = ?", tenant);
  if (!st) {
    return st.error();
  }
  if (auto row = st->step(); !row) {
    return row.error();
  }
  if (static_cast<std::uint64_t>(st->get_int64(0)) >= quota) {
    return conn.fail(errc::quota_exceeded,
                     "store: tenant '" + tenant + "' has reached its quota of " + std::to_string(quota) + " agents");
  }
  return {};
}

result<void> insert_agent(detail::connection& conn, const std::string& tenant, const std::string& client_id,
                          const std::string& subject_dn, const std::string& cert_sha256, std::int64_t now) {
  const std::string id = detail::random_hex(16);
  if (auto done = conn.exec(
          "INSERT INTO assets (id, tenant, name, asset_type, description, created_at) VALUES (?, ?, ?, ?, ?, ?)", id,
          tenant, client_id, agent_asset_type, agent_asset_description, now);
      !done) {
    return done;
  }
  if (auto done = conn.exec(
          "INSERT INTO agents (id, tenant, name, client_id, security_profile, onboarding_status, created_at,"
          " last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
          id, tenant, client_id, client_id, agent_security_profile, agent_onboarding_status, now, now);
      !done) {
    return done;
  }
  return conn.exec(
      "INSERT INTO bindings (tenant, client_id, subject_dn, cert_sha256, agent_id, created_at)"
      " VALUES (?, ?, ?, ?, ?, ?)",
      tenant, client_id, subject_dn, cert_sha256, id, now);
}

}  // namespace

namespace {

/// One binding/provisioning decision inside an open transaction.
result<provision_outcome> provision_one(detail::connection& conn, const std::string& tenant,
                                        const std::string& client_id, const std::string& subject_dn,
                                        const std::string& cert_sha256, std::size_t quota, std::int64_t now) {
  if (client_id.empty() || subject_dn.empty()) {
    return conn.fail(errc::invalid_argument, "store: empty client id or subject DN");
  }
  if (auto found = detail::require_tenant(conn, tenant); !found) {
    return found.error();
  }
  auto bound = bound_subject(conn, tenant, client_id);
  if (!bound) {
    return bound.error();
  }
  bool created = false;
  if (*bound) {
    if (**bound != subject_dn) {
      return conn.fail(errc::conflict, "store: client id '" + client_id + "' is bound to another subject");
    }
    if (auto done = conn.exec("UPDATE agents SET last_seen_at = ? WHERE tenant = ? AND client_id = ?", now, tenant,
                              client_id);
        !done) {
      return done.error();
    }
  } else {
    if (auto free = check_new_binding(conn, tenant, client_id, subject_dn, quota); !free) {
      return free.error();
    }
    if (auto done = insert_agent(conn, tenant, client_id, subject_dn, cert_sha256, now); !done) {
      return done.error();
    }
    created = true;
  }
  auto agent = agent_by_client_id(conn, tenant, client_id);
  if (!agent) {
    return agent.error();
  }
  return provision_outcome{std::move(*agent), created};
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
  auto out = provision_one(*conn_, tenant, client_id, subject_dn, cert_sha256, agents_per_tenant_quota, now);
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
  std::vector<result<provision_outcome>> out;
  out.reserve(requests.size());
  for (const auto& r : requests) {
    auto one = provision_one(*conn_, r.tenant, r.client_id, r.subject_dn, r.cert_sha256, agents_per_tenant_quota, now);
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
  return conn_->collect<agent_record>([](detail::statement& st) { return read_agent(st); },
                               PORTCULLIS_AGENT_SELECT "WHERE a.tenant = ? ORDER BY a.created_at, a.id", tenant);
}

result<agent_record> database::get_agent(const std::string& tenant, const std::string& id) {
  auto st = conn_->query(PORTCULLIS_AGENT_SELECT "WHERE a.tenant = ? AND a.id = ?", tenant, id);
  if (!st) {
    return st.error();
  }
  return read_one_agent(*conn_, *st, "'" + id + "' in tenant '" + tenant + "'");
}

result<agent_record> database::find_agent_by_client_id(const std::string& tenant, const std::string& client_id) {
  return agent_by_client_id(*conn_, tenant, client_id);
}

result<std::string> database::delete_agent(const std::string& tenant, const std::string& id) {
  auto tx = detail::transaction::begin(*conn_);
  if (!tx) {
    return tx.error();
  }
  std::string client_id;
  {
    auto st = conn_->query("SELECT client_id FROM agents WHERE tenant = ? AND id = ?", tenant, id);
    if (!st) {
      return st.error();
    }
    auto row = st->step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return conn_->fail(errc::not_found, "store: no agent '" + id + "' in tenant '" + tenant + "'");
    }
    client_id = st->get_text(0);
  }
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
  auto st = conn_->query("SELECT count(*) FROM agents WHERE tenant = ?", tenant);
  if (!st) {
    return st.error();
  }
  if (auto row = st->step(); !row) {
    return row.error();
  }
  return st->get_int64(0);
}

result<void> database::touch_agents(const std::vector<std::pair<std::string, std::string>>& clients,
                                    std::int64_t now) {
  auto tx = detail::transaction::begin(*conn_);
  if (!tx) {
    return tx.error();
  }
  for (const auto& [tenant, client_id] : clients) {
    if (auto done = conn_->exec("UPDATE agents SET last_seen_at = ? WHERE tenant = ? AND client_id = ?", now,
                                tenant, client_id);
        !done) {
      return done;
    }
  }
  return tx->commit();
}

}  // namespace portcullis::store

#undef PORTCULLIS_AGENT_SELECT
