// Admin token check (SPEC §2, §5): "Authorization: Bearer <token>". The token is
// hashed at once; the hash is compared in constant time with the bootstrap
// token's hash (global scope), else looked up among the stored tenant tokens on
// the store thread. Tokens are never logged or stored in clear.
#include <string_view>

#include <boost/beast/http/field.hpp>

#include "admin_async.hpp"
#include "admin_routes.hpp"
#include "portcullis/auth/secrets.hpp"
#include "portcullis/store/error.hpp"

namespace portcullis::broker {

namespace {

/// The token of an "Authorization: Bearer <token>" header, or "" when absent/other. Two
/// Authorization headers are ambiguous (RFC 9110 §5.3: not a list field): neither counts.
std::string_view bearer_token(const http_request& req) {
  if (req.count(http::field::authorization) > 1) return {};
  auto it = req.find(http::field::authorization);
  if (it == req.end()) return {};
  std::string_view v = it->value();
  constexpr std::string_view scheme = "bearer ";
  if (v.size() <= scheme.size()) return {};
  for (std::size_t i = 0; i < scheme.size(); ++i) {
    char c = v[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != scheme[i]) return {};
  }
  v.remove_prefix(scheme.size());
  while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

}  // namespace

boost::asio::awaitable<admin_principal> authenticate(admin_state& state, const http_request& req) {
  admin_principal who;
  std::string_view token = bearer_token(req);
  if (token.empty() || token.size() > 512) co_return who;
  std::string hash = auth::sha256_hex(token);
  if (!state.ctx.bootstrap_token_sha256.empty() &&
      auth::constant_time_equal(hash, state.ctx.bootstrap_token_sha256)) {
    who.authenticated = true;
    co_return who;
  }
  auto job = [hash](store::database& db) { return db.find_admin_token(hash); };
  auto scope = co_await run_store(state.ctx, job);
  if (scope) {
    who.authenticated = true;
    who.tenant = std::move(*scope);
  }
  co_return who;
}

}  // namespace portcullis::broker
