// Tenant CAs (SPEC §4.4, §5): upload with proof of possession, list, delete.
//   POST   /api/v1/tenants/{t}/cas {"certificate", "verificationCertificate"} → 201 CA
//   GET    /api/v1/tenants/{t}/cas                                          → {"cas": [...]}
//   GET    /api/v1/tenants/{t}/cas/{id}                                     → CA
//   DELETE /api/v1/tenants/{t}/cas/{id}                                     → 204
// Upload: auth::inspect_ca_upload checks the bytes (CA:TRUE, validity, the
// verification certificate signed by the CA); the store then consumes the
// registration code named by the verification CN and adds the CA in one
// transaction; finally the trust snapshot is reloaded before answering, so a
// device can connect as soon as the client sees 201. Delete reloads the
// snapshot first (no new connect validates against the CA), then disconnects
// every live connection that authenticated through it.
#include <spdlog/spdlog.h>

#include "admin_async.hpp"
#include "admin_routes.hpp"
#include "portcullis/auth/ca_onboarding.hpp"
#include "portcullis/broker/logging.hpp"
#include "portcullis/store/error.hpp"

namespace portcullis::broker {

namespace {

using boost::asio::awaitable;

void write_ca(json_writer& w, const store::ca_record& ca) {
  w.begin_object()
      .field("id", ca.id)
      .field("subject", ca.subject)
      .field("sha256", ca.sha256)
      .field("notBefore", ca.not_before)
      .field("notAfter", ca.not_after)
      .field("createdAt", ca.created_at)
      .end_object();
}

/// The store's verdict on the registration code / fingerprint as an API error.
http_response add_ca_error(const boost::system::error_code& ec) {
  using store::errc;
  if (ec == errc::not_found) {
    return error_response(http::status::bad_request, "registration_code.unknown",
                          "the verification certificate's CN is not a registration code of this tenant");
  }
  if (ec == errc::expired) {
    return error_response(http::status::bad_request, "registration_code.expired", "the registration code has expired");
  }
  if (ec == errc::already_used) {
    return error_response(http::status::bad_request, "registration_code.used",
                          "the registration code was already used");
  }
  if (ec == errc::conflict) {
    return error_response(http::status::conflict, "ca.duplicate",
                          "a CA with this SHA-256 fingerprint is already registered");
  }
  return store_failure("add CA", ec);
}

}  // namespace

awaitable<http_response> upload_ca(admin_call& c, const std::string& tenant) {
  rapidjson::Document doc;
  http_response err;
  if (!parse_json_object(c.req, doc, err)) co_return err;
  const auto* cert = string_member(doc, "certificate");
  if (!cert) co_return invalid_field("certificate", "required, a PEM string");
  const auto* verification = string_member(doc, "verificationCertificate");
  if (!verification) co_return invalid_field("verificationCertificate", "required, a PEM string");

  std::int64_t now = epoch_seconds_now();
  auto info = auth::inspect_ca_upload(std::string_view(cert->GetString(), cert->GetStringLength()),
                                      std::string_view(verification->GetString(), verification->GetStringLength()),
                                      now);
  if (!info) co_return error_response(http::status::bad_request, info.error().code, info.error().message);

  store::ca_record record;
  record.tenant = tenant;
  record.der = std::move(info->der);
  record.sha256 = info->sha256;
  record.subject = info->subject;
  record.not_before = info->not_before;
  record.not_after = info->not_after;
  record.created_at = now;
  std::string code = info->verification_cn;
  auto job = [record, code, now](store::database& db) {
    return db.add_ca_with_code(record, code, now);
  };
  auto added = co_await run_store(c.state.ctx, job);
  if (!added) co_return add_ca_error(added.error());
  co_await reload_trust(c.state.ctx);
  logger("admin")->info("CA added tenant={} ca={} sha256={} subject={}", tenant, added->id, added->sha256,
                        log_quoted(added->subject));
  json_writer w;
  write_ca(w, *added);
  auto res = json_response(http::status::created, w.str());
  res.set(http::field::location, "/api/v1/tenants/" + tenant + "/cas/" + added->id);
  co_return res;
}

awaitable<http_response> list_cas(admin_call& c, const std::string& tenant) {
  auto job = [tenant](store::database& db) { return db.list_cas(tenant); };
  auto r = co_await run_store(c.state.ctx, job);
  if (!r) co_return store_failure("list CAs", r.error());
  json_writer w;
  w.begin_object().begin_array("cas");
  for (const auto& ca : *r) write_ca(w, ca);
  w.end_array().end_object();
  co_return json_response(http::status::ok, w.str());
}

awaitable<http_response> get_ca(admin_call& c, const std::string& tenant, const std::string& id) {
  auto job = [tenant](store::database& db) { return db.list_cas(tenant); };
  auto r = co_await run_store(c.state.ctx, job);
  if (!r) co_return store_failure("get CA", r.error());
  for (const auto& ca : *r) {
    if (ca.id != id) continue;
    json_writer w;
    write_ca(w, ca);
    co_return json_response(http::status::ok, w.str());
  }
  co_return error_response(http::status::not_found, "ca.not_found", "no CA \"" + echo_id(id) + "\" in this tenant");
}

awaitable<http_response> delete_ca(admin_call& c, const std::string& tenant, const std::string& id) {
  auto job = [tenant, id](store::database& db) { return db.delete_ca(tenant, id); };
  auto r = co_await run_store(c.state.ctx, job);
  if (!r) {
    if (r.error() == store::errc::not_found) {
      co_return error_response(http::status::not_found, "ca.not_found", "no CA \"" + echo_id(id) + "\" in this tenant");
    }
    co_return store_failure("delete CA", r.error());
  }
  // New snapshot first, so no connect validates against the CA any more; then
  // revoke the live connections that authenticated through it.
  co_await reload_trust(c.state.ctx);
  c.state.ctx.revoke_ca(id);
  logger("admin")->info("CA deleted, its devices disconnected tenant={} ca={}", tenant, id);
  co_return no_content();
}

}  // namespace portcullis::broker
