// Tenants, tenant admin tokens and registration codes (SPEC §5, §4.4).
//   POST /api/v1/tenants {"id"}                     → 201 {"id", "createdAt"}   (global token)
//   GET  /api/v1/tenants                            → {"tenants": [...]}        (global token)
//   POST /api/v1/tenants/{t}/tokens                 → 201 {"token", "tenant"}   (global or t's token)
//   POST /api/v1/tenants/{t}/registration-codes     → 201 {"registrationCode", "expiresAt"}
// Minted tokens are returned once and stored only as their SHA-256.
#include <spdlog/spdlog.h>

#include "admin_async.hpp"
#include "admin_routes.hpp"
#include "portcullis/auth/secrets.hpp"
#include "portcullis/broker/logging.hpp"
#include "portcullis/store/error.hpp"

namespace portcullis::broker {

namespace {

using boost::asio::awaitable;

/// Registration codes are single use and expire after one hour (SPEC §4.4).
constexpr std::int64_t registration_code_lifetime_seconds = 3600;

void write_tenant(json_writer& w, const store::tenant_record& t) {
  w.begin_object().field("id", t.id).field("createdAt", t.created_at).end_object();
}

}  // namespace

awaitable<http_response> create_tenant(admin_call& c) {
  rapidjson::Document doc;
  http_response err;
  if (!parse_json_object(c.req, doc, err)) co_return err;
  const auto* id = string_member(doc, "id");
  if (!id) co_return invalid_field("id", "required, a string");
  std::string tenant(id->GetString(), id->GetStringLength());
  if (!is_valid_tenant_id(tenant)) {
    co_return error_response(http::status::bad_request, "tenant.invalid_id",
                             "tenant id must be 1-36 characters of [A-Za-z0-9_-]");
  }
  std::int64_t now = epoch_seconds_now();
  auto job = [tenant, now](store::database& db) { return db.create_tenant(tenant, now); };
  auto r = co_await run_store(c.state.ctx, job);
  if (!r) {
    if (r.error() == store::errc::conflict) {
      co_return error_response(http::status::conflict, "tenant.exists", "tenant \"" + tenant + "\" already exists");
    }
    co_return store_failure("create tenant", r.error());
  }
  logger("admin")->info("tenant created tenant={}", tenant);
  json_writer w;
  write_tenant(w, store::tenant_record{tenant, now});
  auto res = json_response(http::status::created, w.str());
  res.set(http::field::location, "/api/v1/tenants/" + tenant);
  co_return res;
}

awaitable<http_response> list_tenants(admin_call& c) {
  auto job = [](store::database& db) { return db.list_tenants(); };
  auto r = co_await run_store(c.state.ctx, job);
  if (!r) co_return store_failure("list tenants", r.error());
  json_writer w;
  w.begin_object().begin_array("tenants");
  for (const auto& t : *r) write_tenant(w, t);
  w.end_array().end_object();
  co_return json_response(http::status::ok, w.str());
}

awaitable<http_response> mint_tenant_token(admin_call& c, const std::string& tenant) {
  http_response err;
  if (!accept_empty_or_json_object(c.req, err)) co_return err;
  std::string token = auth::random_token();
  std::string hash = auth::sha256_hex(token);
  std::int64_t now = epoch_seconds_now();
  auto job = [hash, tenant, now](store::database& db) {
    return db.add_admin_token(hash, std::optional<std::string>(tenant), now);
  };
  auto r = co_await run_store(c.state.ctx, job);
  if (!r) {
    if (r.error() == store::errc::not_found) {
      co_return error_response(http::status::not_found, "tenant.not_found", "no tenant \"" + echo_id(tenant) + "\"");
    }
    co_return store_failure("mint token", r.error());
  }
  // The hash prefix identifies the token in logs without revealing it.
  logger("admin")->info("admin token minted tenant={} token_sha256_prefix={}", tenant, hash.substr(0, 8));
  json_writer w;
  w.begin_object().field("token", token).field("tenant", tenant).end_object();
  co_return json_response(http::status::created, w.str());
}

awaitable<http_response> create_registration_code(admin_call& c, const std::string& tenant) {
  http_response err;
  if (!accept_empty_or_json_object(c.req, err)) co_return err;
  std::string code = auth::random_code();
  std::int64_t expires_at = epoch_seconds_now() + registration_code_lifetime_seconds;
  auto job = [tenant, code, expires_at](store::database& db) {
    return db.create_registration_code(tenant, code, expires_at);
  };
  auto r = co_await run_store(c.state.ctx, job);
  if (!r) {
    if (r.error() == store::errc::not_found) {
      co_return error_response(http::status::not_found, "tenant.not_found", "no tenant \"" + echo_id(tenant) + "\"");
    }
    co_return store_failure("create registration code", r.error());
  }
  json_writer w;
  w.begin_object().field("registrationCode", code).field("expiresAt", expires_at).end_object();
  co_return json_response(http::status::created, w.str());
}

}  // namespace portcullis::broker
