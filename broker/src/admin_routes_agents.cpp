// Auto-provisioned agents (SPEC §4.3, §5).
//   GET    /api/v1/tenants/{t}/agents        → {"agents": [...]}, oldest first; with
//          ?limit=n (1–10000) one page, and "next": the id to pass as ?after= for the next
//          page while more remain (a fleet's list need not be built in one response)
//   GET    /api/v1/tenants/{t}/agents/{id}   → agent
//   DELETE /api/v1/tenants/{t}/agents/{id}   → 204: the store deletes agent, asset,
//          binding and persistent session; then the broker forgets the binding and
//          session in memory and disconnects the client, so the client id is free.
// "connected" is true while a live connection is attached to the session of
// (tenant, clientId).
#include <algorithm>
#include <charconv>
#include <optional>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "admin_async.hpp"
#include "admin_routes.hpp"
#include "portcullis/broker/logging.hpp"
#include "portcullis/store/error.hpp"
#include "session.hpp"
#include "wall_clock.hpp"

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

/// A connected device is being seen now; a disconnected one was last seen at its disconnect
/// (or its last connect, if the broker stopped without seeing it go).
void write_agent(json_writer& w, const store::agent_record& a, bool connected, std::int64_t now) {
  w.begin_object()
      .field("id", a.id)
      .field("name", a.name)
      .field("clientId", a.client_id)
      .field("tenant", a.tenant)
      .field("securityProfile", a.security_profile)
      .field("onboardingStatus", a.onboarding_status)
      .field("subjectDn", a.subject_dn);
  if (!a.cert_sha256.empty()) w.field("certSha256", a.cert_sha256);
  w.field("createdAt", a.created_at)
      .field("lastSeenAt", connected ? std::max(now, a.last_seen_at) : a.last_seen_at)
      .field("connected", connected);
  w.begin_object("asset")
      .field("id", a.asset.id)
      .field("name", a.asset.name)
      .field("assetType", a.asset.asset_type)
      .field("description", a.asset.description)
      .end_object();
  w.end_object();
}

http_response agent_not_found(const std::string& id) {
  return error_response(http::status::not_found, "agent.not_found", "no agent \"" + echo_id(id) + "\" in this tenant");
}

}  // namespace

constexpr std::size_t max_agent_page = 10000;

awaitable<http_response> list_agents(admin_call& c, const std::string& tenant) {
  std::size_t limit = 0;  // all
  if (auto it = c.query.find("limit"); it != c.query.end()) {
    const std::string& v = it->second;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), limit);
    if (ec != std::errc{} || ptr != v.data() + v.size() || limit == 0 || limit > max_agent_page) {
      co_return invalid_field("limit", "an integer from 1 to 10000");
    }
  }
  std::optional<std::string> after;
  if (auto it = c.query.find("after"); it != c.query.end()) after = it->second;
  // One more than the page, to know whether a next page exists.
  std::size_t fetch = limit == 0 ? 0 : limit + 1;
  c.state.ctx.flush_last_seen();  // recent disconnects first: the list job runs after them
  auto job = [tenant, after, fetch](store::database& db) { return db.list_agents(tenant, after, fetch); };
  auto r = co_await run_store(c.state.ctx, job);
  if (!r) {
    if (r.error() == store::errc::not_found) co_return invalid_field("after", "no agent \"" + *after + "\" in this tenant");
    co_return store_failure("list agents", r.error());
  }
  bool more = limit != 0 && r->size() > limit;
  if (more) r->resize(limit);
  auto online = connected_clients(c.state, tenant);
  json_writer w;
  w.begin_object().begin_array("agents");
  const std::int64_t now = epoch_seconds();
  for (const auto& a : *r) write_agent(w, a, online.contains(a.client_id), now);
  w.end_array();
  if (more) w.field("next", r->back().id);
  w.end_object();
  co_return json_response(http::status::ok, w.str());
}

awaitable<http_response> get_agent(admin_call& c, const std::string& tenant, const std::string& id) {
  c.state.ctx.flush_last_seen();
  auto job = [tenant, id](store::database& db) { return db.get_agent(tenant, id); };
  auto r = co_await run_store(c.state.ctx, job);
  if (!r) {
    if (r.error() == store::errc::not_found) co_return agent_not_found(id);
    co_return store_failure("get agent", r.error());
  }
  auto online = connected_clients(c.state, tenant);
  json_writer w;
  write_agent(w, *r, online.contains(r->client_id), epoch_seconds());
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
