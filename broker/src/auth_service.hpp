#pragma once
// The broker's auth_gateway: tries a listener's methods in order. `anonymous`
// accepts anyone into auth.anonymous_tenant. x5c-jwt and mtls run on a small
// thread pool (RSA work never stalls the I/O workers) against the current
// trust snapshot, then bind and provision through the store.

#include <memory>

#include "auth_gateway.hpp"
#include "portcullis/broker/config.hpp"

namespace portcullis::broker {

class auth_service final : public auth_gateway {
 public:
  explicit auth_service(const config& cfg);
  ~auth_service() override;

  void authenticate(auth_request req, auth_callback done) override;

  /// SIGHUP: reload trust anchors from the store.
  void reload();
  /// Stop the pool (pending requests complete with server_unavailable).
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace portcullis::broker
