// Method dispatch for CONNECT authentication (SPEC §4.2).

#include "auth_service.hpp"

namespace portcullis::broker {

struct auth_service::impl {
  explicit impl(const config& c) : cfg(c) {}
  const config& cfg;
};

auth_service::auth_service(const config& cfg) : impl_(std::make_unique<impl>(cfg)) {}
auth_service::~auth_service() = default;

void auth_service::authenticate(auth_request req, auth_callback done) {
  for (const auto& method : req.methods) {
    if (method == "anonymous") {
      auth_outcome o;
      o.accepted = true;
      o.tenant = impl_->cfg.auth.anonymous_tenant;
      o.client_id = req.client_id;
      o.method = "anonymous";
      done(std::move(o));
      return;
    }
  }
  auth_outcome o;
  o.accepted = false;
  o.connack_code = 0x04;
  o.reason = "auth.no_method";
  o.detail = "no authentication method of this listener accepted the client";
  done(std::move(o));
}

void auth_service::reload() {}
void auth_service::stop() {}

}  // namespace portcullis::broker
