#pragma once
// The admin API routes (SPEC §5). admin_router.cpp authenticates, parses the
// path and dispatches to the handlers declared here; each handler file serves
// one resource. Handlers run on the control context as coroutines and reach the
// store only through run_store().

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "admin_json.hpp"
#include "admin_state.hpp"

namespace portcullis::broker {

/// Who is calling: the bootstrap token (global) or a token scoped to one tenant.
struct admin_principal {
  bool authenticated = false;
  std::optional<std::string> tenant;  ///< nullopt = global
  bool is_global() const { return authenticated && !tenant; }
  bool may_access(const std::string& t) const { return authenticated && (!tenant || *tenant == t); }
};

/// One parsed request as the handlers see it.
struct admin_call {
  admin_state& state;
  const http_request& req;
  std::vector<std::string> path;              ///< decoded segments after "/api/v1"
  std::map<std::string, std::string> query;   ///< decoded query parameters
  admin_principal who;
};

/// Dispatches one request (auth, routing, handler) to its response. Never throws
/// for bad input; unexpected exceptions become 500.
boost::asio::awaitable<http_response> handle_admin_request(admin_state& state, const http_request& req);

/// Resolves the bearer token: bootstrap (global), a stored token (tenant scope),
/// or unauthenticated.
boost::asio::awaitable<admin_principal> authenticate(admin_state& state, const http_request& req);

// ---- handlers (path = segments after /api/v1) ---------------------------------
boost::asio::awaitable<http_response> create_tenant(admin_call& c);
boost::asio::awaitable<http_response> list_tenants(admin_call& c);
boost::asio::awaitable<http_response> mint_tenant_token(admin_call& c, const std::string& tenant);
boost::asio::awaitable<http_response> create_registration_code(admin_call& c, const std::string& tenant);
boost::asio::awaitable<http_response> upload_ca(admin_call& c, const std::string& tenant);
boost::asio::awaitable<http_response> list_cas(admin_call& c, const std::string& tenant);
boost::asio::awaitable<http_response> get_ca(admin_call& c, const std::string& tenant, const std::string& id);
boost::asio::awaitable<http_response> delete_ca(admin_call& c, const std::string& tenant, const std::string& id);
boost::asio::awaitable<http_response> list_agents(admin_call& c, const std::string& tenant);
boost::asio::awaitable<http_response> get_agent(admin_call& c, const std::string& tenant, const std::string& id);
boost::asio::awaitable<http_response> delete_agent(admin_call& c, const std::string& tenant, const std::string& id);
http_response list_clients(admin_call& c, const std::string& tenant);
http_response list_auth_failures(admin_call& c);
http_response render_metrics(admin_state& state);
http_response health();

/// True when `id` is a valid tenant id: 1–36 chars of [A-Za-z0-9_-].
bool is_valid_tenant_id(std::string_view id);
/// 500 for a store failure, logged with `what`.
http_response store_failure(std::string_view what, const boost::system::error_code& ec);

}  // namespace portcullis::broker
