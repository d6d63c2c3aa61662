// Routing of the admin API (SPEC §5): split and decode the target, authenticate
// (401), check the token's scope (403), check the tenant exists (404), then call
// the handler. Order matters: scope is checked before existence, so a tenant
// token cannot probe which other tenants exist.
#include "admin_routes.hpp"

#include <exception>

#include <boost/beast/http/verb.hpp>
#include <spdlog/spdlog.h>

#include "admin_async.hpp"
#include "portcullis/broker/logging.hpp"

namespace portcullis::broker {

namespace {

using boost::asio::awaitable;
using http::verb;

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Percent-decodes `s` ('+' as space when `form`); nullopt on a bad escape.
std::optional<std::string> url_decode(std::string_view s, bool form) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (form && s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

struct parsed_target {
  std::vector<std::string> segments;  // all segments, decoded
  std::map<std::string, std::string> query;
};

std::optional<parsed_target> parse_target(std::string_view target) {
  parsed_target t;
  auto qpos = target.find('?');
  std::string_view path = target.substr(0, qpos);
  if (path.empty() || path.front() != '/') return std::nullopt;
  std::size_t start = 1;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string_view::npos) end = path.size();
    auto seg = url_decode(path.substr(start, end - start), false);
    if (!seg) return std::nullopt;
    if (!seg->empty() || end < path.size()) t.segments.push_back(std::move(*seg));
    start = end + 1;
  }
  if (qpos != std::string_view::npos) {
    std::string_view q = target.substr(qpos + 1);
    while (!q.empty()) {
      auto amp = q.find('&');
      std::string_view pair = q.substr(0, amp);
      auto eq = pair.find('=');
      auto k = url_decode(pair.substr(0, eq), true);
      auto v = url_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1), true);
      if (!k || !v) return std::nullopt;
      if (!k->empty()) t.query.emplace(std::move(*k), std::move(*v));
      if (amp == std::string_view::npos) break;
      q.remove_prefix(amp + 1);
    }
  }
  return t;
}

http_response method_not_allowed(std::string_view allow) {
  auto res = error_response(http::status::method_not_allowed, "method_not_allowed",
                            "method not allowed here; allowed: " + std::string(allow));
  res.set(http::field::allow, allow);
  return res;
}

http_response not_found() {
  return error_response(http::status::not_found, "not_found", "no such endpoint");
}

http_response forbidden(std::string_view why) {
  return error_response(http::status::forbidden, "forbidden", why);
}

/// /api/v1/tenants/{t}/... once the caller may access t and t exists.
/// HEAD is answered as GET wherever GET is (the session drops the body, RFC 9110 §9.3.2).
verb method_of(const http_request& req) {
  return req.method() == verb::head ? verb::get : req.method();
}

awaitable<http_response> dispatch_tenant(admin_call& c, const std::string& t) {
  const auto& p = c.path;  // tenants, t, resource, [id]
  verb m = method_of(c.req);
  const std::string& res = p[2];
  if (p.size() == 3) {
    if (res == "tokens") {
      if (m == verb::post) co_return co_await mint_tenant_token(c, t);
      co_return method_not_allowed("POST");
    }
    if (res == "registration-codes") {
      if (m == verb::post) co_return co_await create_registration_code(c, t);
      co_return method_not_allowed("POST");
    }
    if (res == "cas") {
      if (m == verb::post) co_return co_await upload_ca(c, t);
      if (m == verb::get) co_return co_await list_cas(c, t);
      co_return method_not_allowed("GET, HEAD, POST");
    }
    if (res == "agents") {
      if (m == verb::get) co_return co_await list_agents(c, t);
      co_return method_not_allowed("GET, HEAD");
    }
    if (res == "clients") {
      if (m == verb::get) co_return list_clients(c, t);
      co_return method_not_allowed("GET, HEAD");
    }
    co_return not_found();
  }
  if (p.size() == 4) {
    if (res == "cas") {
      if (m == verb::get) co_return co_await get_ca(c, t, p[3]);
      if (m == verb::delete_) co_return co_await delete_ca(c, t, p[3]);
      co_return method_not_allowed("GET, HEAD, DELETE");
    }
    if (res == "agents") {
      if (m == verb::get) co_return co_await get_agent(c, t, p[3]);
      if (m == verb::delete_) co_return co_await delete_agent(c, t, p[3]);
      co_return method_not_allowed("GET, HEAD, DELETE");
    }
  }
  co_return not_found();
}

bool is_tenant_resource(const std::vector<std::string>& p) {
  static const char* const known[] = {"tokens", "registration-codes", "cas", "agents", "clients"};
  if (p.size() < 3 || p.size() > 4 || p[0] != "tenants") return false;
  for (const char* k : known)
    if (p[2] == k) return p.size() == 3 || p[2] == "cas" || p[2] == "agents";
  return false;
}

awaitable<http_response> dispatch_api(admin_call& c) {
  const auto& p = c.path;
  verb m = method_of(c.req);
  // Every route below needs a token; an unknown path is 404 only for callers who have one.
  c.who = co_await authenticate(c.state, c.req);
  if (!c.who.authenticated) {
    auto res = error_response(http::status::unauthorized, "unauthorized",
                              "a valid admin token is required (Authorization: Bearer <token>)");
    res.set(http::field::www_authenticate, "Bearer");
    co_return res;
  }
  if (p.size() == 1 && p[0] == "tenants") {
    if (m != verb::get && m != verb::post) co_return method_not_allowed("GET, HEAD, POST");
    if (!c.who.is_global()) co_return forbidden("managing tenants needs the global admin token");
    // Not `cond ? co_await a : co_await b`: GCC 12 evaluates both arms.
    if (m == verb::post) co_return co_await create_tenant(c);
    co_return co_await list_tenants(c);
  }
  if (p.size() == 1 && p[0] == "auth-failures") {
    if (m != verb::get) co_return method_not_allowed("GET, HEAD");
    auto it = c.query.find("tenant");
    if (!c.who.is_global()) {
      // A tenant token sees its own tenant's refusals: without ?tenant= that is what it asks
      // for; naming another tenant is refused.
      if (it == c.query.end()) {
        c.query.emplace("tenant", *c.who.tenant);
      } else if (!c.who.may_access(it->second)) {
        co_return forbidden("a tenant token sees only its own tenant's failures");
      }
    }
    co_return list_auth_failures(c);
  }
  if (!is_tenant_resource(p)) co_return not_found();
  const std::string& t = p[1];
  if (!c.who.may_access(t)) co_return forbidden("this token is scoped to another tenant");
  if (!is_valid_tenant_id(t)) {
    co_return error_response(http::status::not_found, "tenant.not_found", "no tenant \"" + echo_id(t) + "\"");
  }
  // Anonymous clients live in auth.anonymous_tenant whether or not that tenant was created:
  // their list is readable either way (an empty agent list too: anonymous clients get none).
  // Everything that writes (tokens, codes, CAs) needs the tenant created first.
  if (t == c.state.ctx.cfg->auth.anonymous_tenant && m == verb::get && p.size() == 3 &&
      (p[2] == "clients" || p[2] == "agents")) {
    co_return co_await dispatch_tenant(c, t);
  }
  auto job = [t](store::database& db) { return db.tenant_exists(t); };
  auto exists = co_await run_store(c.state.ctx, job);
  if (!exists) co_return store_failure("tenant lookup", exists.error());
  if (!*exists) co_return error_response(http::status::not_found, "tenant.not_found", "no tenant \"" + echo_id(t) + "\"");
  co_return co_await dispatch_tenant(c, t);
}

}  // namespace

bool is_valid_tenant_id(std::string_view id) {
  if (id.empty() || id.size() > 36) return false;
  for (char ch : id) {
    bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '-';
    if (!ok) return false;
  }
  return true;
}

http_response store_failure(std::string_view what, const boost::system::error_code& ec) {
  logger("admin")->error("store failure during {}: {}", what, ec.message());
  return error_response(http::status::internal_server_error, "internal", "storage error");
}

awaitable<http_response> handle_admin_request(admin_state& state, const http_request& req) {
  try {
    auto target = parse_target(req.target());
    if (!target) co_return error_response(http::status::bad_request, "request.target", "malformed request target");
    auto& seg = target->segments;
    verb m = req.method();
    // The two monitoring endpoints also answer HEAD (probes that want the status only); the
    // session sends a HEAD answer without its body.
    if (seg.size() == 1 && seg[0] == "healthz") {
      if (m != verb::get && m != verb::head) co_return method_not_allowed("GET, HEAD");
      co_return health();
    }
    if (seg.size() == 1 && seg[0] == "metrics") {
      if (m != verb::get && m != verb::head) co_return method_not_allowed("GET, HEAD");
      co_return render_metrics(state);
    }
    if (seg.size() < 3 || seg[0] != "api" || seg[1] != "v1") co_return not_found();
    admin_call call{state, req, std::vector<std::string>(seg.begin() + 2, seg.end()), std::move(target->query), {}};
    co_return co_await dispatch_api(call);
  } catch (const std::exception& e) {
    logger("admin")->error("admin request {} {} failed: {}", std::string(req.method_string()),
                           std::string(req.target()), e.what());
  }
  co_return error_response(http::status::internal_server_error, "internal", "internal error");
}

}  // namespace portcullis::broker
