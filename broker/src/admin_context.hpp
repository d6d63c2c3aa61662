#pragma once
// What the admin HTTP API (SPEC §5) works with: the broker's shared state, the
// store thread, the trust/binding index, and the actions that reach into live
// connections. All admin code runs on the control io_context; store work goes
// through store_gateway and results come back by posting to `control`.

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "broker_context.hpp"
#include "store_gateway.hpp"
#include "trust_manager.hpp"
#include "worker_pool.hpp"

namespace portcullis::broker {

struct admin_context {
  std::shared_ptr<const config> cfg;
  boost::asio::io_context& control;
  broker_context& broker;       // sessions, routes, stats (metrics), failures (auth-failure ring)
  store_gateway& store;
  trust_manager& trust;
  worker_pool& workers;         // live connections (connection::stats(), remote(), ...)
  std::string bootstrap_token_sha256;  // SHA-256 hex of the bootstrap token (never the token)

  /// Re-reads every CA from the store into a new trust snapshot, then calls
  /// `done` on the control context. Use after an upload or a delete.
  std::function<void(std::function<void()> done)> reload_cas;
  /// Disconnects every live connection that authenticated through `ca_id`, and
  /// drops cached chains validated against it.
  std::function<void(const std::string& ca_id)> revoke_ca;
  /// Removes the client's session and binding from memory and disconnects it
  /// (the agent was deleted from the store).
  std::function<void(const std::string& tenant, const std::string& client_id)> forget_client;
  /// Queues the batched last-seen times for the store: a store job posted after this sees them.
  std::function<void()> flush_last_seen;
};

}  // namespace portcullis::broker
