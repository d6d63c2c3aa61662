// Read-only views of the live broker (SPEC §5): health, Prometheus metrics,
// connected clients of a tenant, and the recent authentication refusals. These
// read in-memory state only (no store job), so they answer even when the store
// thread is busy.
//   GET /healthz                          → {"status": "ok"}            (no token)
//   GET /metrics                          → Prometheus text 0.0.4       (no token)
//   GET /api/v1/tenants/{t}/clients       → {"clients": [...]}
//   GET /api/v1/auth-failures[?tenant=t][&limit=n] → {"failures": [...]} newest first
#include <charconv>
#include <string>

#include "admin_routes.hpp"
#include "connection.hpp"
#include "session.hpp"

namespace portcullis::broker {

namespace {

constexpr std::size_t default_failure_limit = 100;
constexpr std::size_t max_failure_limit = 1000;

}  // namespace

http_response health() {
  return json_response(http::status::ok, R"({"status":"ok"})");
}

http_response render_metrics(admin_state& state) {
  auto& b = state.ctx.broker;
  std::string text = b.stats.render(b.sessions.size(), b.routes.subscription_count());
  text += "# HELP portcullis_worker_connections Open MQTT connections per I/O worker thread.\n"
          "# TYPE portcullis_worker_connections gauge\n";
  for (std::size_t i = 0; i < state.ctx.workers.size(); ++i) {
    text += "portcullis_worker_connections{worker=\"" + std::to_string(i) + "\"} " +
            std::to_string(state.ctx.workers.at(i).load()) + "\n";
  }
  // One family with one sample, as metrics::render writes them.
  auto family = [&text](const char* name, const char* type, const char* help, auto value) {
    text += std::string("# HELP ") + name + ' ' + help + "\n# TYPE " + name + ' ' + type + '\n' + name + ' ' +
            std::to_string(value) + '\n';
  };
  family("portcullis_store_backlog", "gauge", "Store jobs queued for the store thread.", state.ctx.store.backlog());
  // The validated-chain cache: a reconnecting device answered from it costs no chain
  // validation (and, x5c with its previous token, no RSA operation either).
  const auto cache = state.ctx.trust.cache().stats();
  family("portcullis_auth_cache_entries", "gauge", "Validated certificate chains cached (x5c and mTLS).",
         state.ctx.trust.cache().size());
  family("portcullis_auth_cache_hits_total", "counter", "Credential checks answered from the chain cache.",
         cache.hits);
  family("portcullis_auth_cache_misses_total", "counter", "Credential checks that validated a chain.", cache.misses);
  family("portcullis_auth_repeated_tokens_total", "counter",
         "x5c cache hits with the token that verified last (no RSA operation).", cache.repeated_tokens);
  family("portcullis_admin_connections", "gauge", "Open admin HTTP connections.", state.sessions.size());
  family("portcullis_admin_connections_refused_total", "counter",
         "Admin connections closed at the connection bound.", state.connections_refused);
  family("portcullis_admin_connections_evicted_total", "counter",
         "Admin connections closed at the connection bound because they had waited longest for a request.",
         state.connections_evicted);
  text += "# HELP portcullis_admin_responses_total Admin HTTP responses by status code.\n"
          "# TYPE portcullis_admin_responses_total counter\n";
  for (const auto& [status, n] : state.responses_by_status) {
    text += "portcullis_admin_responses_total{code=\"" + std::to_string(status) + "\"} " + std::to_string(n) + "\n";
  }
  http_response res{http::status::ok, 11};
  res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(text);
  return res;
}

http_response list_clients(admin_call& c, const std::string& tenant) {
  json_writer w;
  w.begin_object().begin_array("clients");
  c.state.ctx.broker.sessions.for_each(tenant, [&w](const std::shared_ptr<session>& s) {
    auto conn = std::dynamic_pointer_cast<connection>(s->owner());
    if (!conn) return;  // offline persistent session
    const auto& st = conn->stats();
    w.begin_object()
        .field("id", s->client_id())
        .field("clientId", s->client_id())
        .field("remoteAddress", conn->remote())
        .field("connectedSince", conn->connected_since())
        .field("method", conn->method())
        .field("persistentSession", s->persistent())
        .field("messagesIn", static_cast<std::uint64_t>(st.messages_in.load(std::memory_order_relaxed)))
        .field("messagesOut", static_cast<std::uint64_t>(st.messages_out.load(std::memory_order_relaxed)))
        .field("bytesIn", static_cast<std::uint64_t>(st.bytes_in.load(std::memory_order_relaxed)))
        .field("bytesOut", static_cast<std::uint64_t>(st.bytes_out.load(std::memory_order_relaxed)))
        .end_object();
  });
  w.end_array().end_object();
  return json_response(http::status::ok, w.str());
}

http_response list_auth_failures(admin_call& c) {
  std::string tenant;
  if (auto it = c.query.find("tenant"); it != c.query.end()) tenant = it->second;
  std::size_t limit = default_failure_limit;
  if (auto it = c.query.find("limit"); it != c.query.end()) {
    const std::string& v = it->second;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), limit);
    if (ec != std::errc{} || ptr != v.data() + v.size() || limit == 0 || limit > max_failure_limit) {
      return invalid_field("limit", "an integer from 1 to 1000");
    }
  }
  json_writer w;
  w.begin_object().begin_array("failures");
  for (const auto& f : c.state.ctx.broker.failures.recent(tenant, limit)) {
    w.begin_object()
        .field("id", std::to_string(f.id))
        .field("time", f.time_ms / 1000)  // epoch seconds, as every time in the API
        .field("timeMs", f.time_ms)
        .field("timeIso", iso8601_ms(f.time_ms))
        .field("clientId", f.client_id)
        .field("remoteAddress", f.remote)
        .field("tenant", f.tenant)
        .field("reason", f.reason)
        .field("detail", f.detail)
        .field("listener", f.listener)
        .field("connackCode", static_cast<std::int64_t>(f.connack_code))
        .end_object();
  }
  w.end_array().end_object();
  return json_response(http::status::ok, w.str());
}

}  // namespace portcullis::broker
