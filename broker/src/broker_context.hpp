#pragma once
// What every connection shares: the config snapshot, the router, the session
// registry, metrics, the auth gateway and the refusal log. Owned by the server;
// connections hold a reference (the server outlives them: it joins the workers
// before it is destroyed).

#include <atomic>
#include <memory>

#include "auth_failures.hpp"
#include "auth_gateway.hpp"
#include "metrics.hpp"
#include "portcullis/broker/config.hpp"
#include "rate_limiter.hpp"
#include "router.hpp"
#include "session_registry.hpp"

namespace portcullis::broker {

struct broker_context {
  explicit broker_context(std::shared_ptr<const config> c)
      : cfg(std::move(c)), sessions(routes, stats) {}

  std::shared_ptr<const config> cfg;
  router routes;
  metrics stats;
  session_registry sessions;
  auth_failure_log failures;
  rate_memory rates;  // buckets of clients that disconnected short of a full one
  auth_gateway* auth = nullptr;
  std::atomic<bool> stopping{false};

  session_limits limits() const {
    return {cfg->limits.max_queued_messages, cfg->limits.max_inflight};
  }
};

}  // namespace portcullis::broker
