// Auto-provisioned agents (SPEC §4.3, §5).
//   GET    /api/v1/tenants/{t}/agents        → {"agents": [...]}
//   GET    /api/v1/tenants/{t}/agents/{id}   → agent
//   DELETE /api/v1/tenants/{t}/agents/{id}   → 204: the store deletes agent, asset,
//          binding and persistent session; then the broker forgets the binding and
//          session in memory and disconnects the client, so the client id is free.
// "connected" is true while a live connection is attached to the session of
// (tenant, clientId).
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "admin_async.hpp"
#include "admin_routes.hpp"
#include "portcullis/broker/logging.hpp"
#include "portcullis/store/error.hpp"
#include "session.hpp"

namespace portcullis::broker {

namespace {

using boost::asio::awaitable;

/// Client ids of `tenant` with a live connection attached.
std::unordered_set<std::string> connected_clients(admin_state& state, const std::string& tenant) {
  std::unordered_set<std::string> out;
  state.ctx.broker.sessions.for_each(tenant, [&out](const std::shared_ptr<session>& s) {
    if (s->owner()) out.insert(s->client_id());
  });
  return out;
}

void write_agent(json_writer& w, const store::agent_record& a, bool connected) {
  w.begin_object()
      .field("id", a.id)
      .field("name", a.name)
      .field("clientId", a.client_id)
      .field("tenant", a.tenant)
      .field("securityProfile", a.security_profile)
      .field("onboardingStatus", a.onboarding_status)
      .field("subjectDn", a.subject_dn);
  if (!a.cert_sha256.empty()) w.field("certSha256", a.cert_sha256);
  w.field("createdAt", a.created_at).field("lastSeenAt", a.last_seen_at).field("connected", connected);
  w.begin_object("asset")
      .field("id", a.asset.id)
      .field("name", a.asset.name)
      .field("assetType", a.asset.asset_type)
      .field("description", a.asset.description)
      .end_object();
  w.end_object();
}

http_response agent_not_found(const std::string& id) {
  return error_response(http::status::not_found, "agent.not_found", "no agent \"" + id + "\" in this tenant");
}

}  // namespace

awaitable<http_response> list_agents(admin_call& c, const std::string& tenant) {
  auto job = [tenant](store::database& db) { return db.list_agents(tenant); };
  auto r = co_await run_store(c.state.ctx, job);
  if (!r) co_return store_failure("list agents", r.error());
  auto online = connected_clients(c.state, tenant);
  json_writer w;
  w.begin_object().begin_array("agents");
  for (const auto& a : *r) write_agent(w, a, online.contains(a.client_id));
  w.end_array().end_object();
  co_return json_response(http::status::ok, w.str());
}

awaitable<http_response> get_agent(admin_call& c, const std::string& tenant, const std::string& id) {
  auto job = [tenant, id](store::database& db) { return db.get_agent(tenant, id); };
  auto r = co_await run_store(c.state.ctx, job);
  if (!r) {
    if (r.error() == store::errc::not_found) co_return agent_not_found(id);
    co_return store_failure("get agent", r.error());
  }
  auto online = connected_clients(c.state, tenant);
  json_writer w;
  write_agent(w, *r, online.contains(r->client_id));
  co_return json_response(http::status::ok, w.str());
}

awaitable<http_response> delete_agent(admin_call& c, const std::string& tenant, const std::string& id) {
  auto job = [tenant, id](store::database& db) { return db.delete_agent(tenant, id); };
  auto r = co_await run_store(c.state.ctx, job);
  if (!r) {
    if (r.error() == store::errc::not_found) co_return agent_not_found(id);
    co_return store_failure("delete agent", r.error());
  }
  c.state.ctx.forget_client(tenant, *r);
  logger("admin")->info("agent deleted, client id freed tenant={} agent={} client_id={}", tenant, id, log_value(*r));
  co_return no_content();
}

}  // namespace portcullis::broker
