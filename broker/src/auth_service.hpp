#pragma once
// The broker's auth_gateway (SPEC §4): tries a listener's methods in order and
// lets the first that applies decide. x5c-jwt applies when the CONNECT username
// is the configured bearer name, mtls when the TLS peer sent a certificate,
// anonymous always. When none applies, the first listed method's refusal is
// reported (e.g. auth.username for an x5c-jwt-only listener).
//
// x5c-jwt and mtls verification (RSA, chain building) runs on a small thread
// pool, never on the I/O workers. After a verifier returns an identity, binding
// and provisioning happen here: the in-memory binding index answers for known
// devices; a new client id goes to the store thread (bind_or_provision in one
// transaction, so of two devices racing for a new client id exactly one wins).

#include <memory>
#include <string_view>

#include "auth_gateway.hpp"
#include "portcullis/broker/config.hpp"

namespace portcullis::broker {

class store_gateway;
class trust_manager;
struct metrics;

class auth_service final : public auth_gateway {
 public:
  auth_service(const config& cfg, store_gateway& store, trust_manager& trust);
  ~auth_service() override;

  void authenticate(auth_request req, auth_callback done) override;
  void seen(const std::string& tenant, const std::string& client_id, std::int64_t at) override;

  /// Queues a store job with the batched last-seen times (connects of known devices,
  /// disconnects). Called every few seconds, before the admin API reads agents, and at stop.
  void flush_last_seen();
  /// Stops the pool after running what is queued.
  void stop();

 private:
  void choose_method(auth_request req, auth_callback done);  // the listener's methods, in order
  /// The first of the listener's methods that applies to `req` ("" when none does).
  std::string_view applicable_method(const auth_request& req) const;
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace portcullis::broker
