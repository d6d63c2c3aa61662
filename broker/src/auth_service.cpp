// Method dispatch, verification off the I/O threads (save a cached chain's), binding and provisioning.

#include "auth_service.hpp"
#include "wall_clock.hpp"

#include <chrono>
#include <functional>
#include <mutex>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <spdlog/spdlog.h>

#include "portcullis/auth/mtls_verifier.hpp"
#include "portcullis/auth/x5c_jwt_verifier.hpp"
#include "portcullis/broker/logging.hpp"
#include "portcullis/store/database.hpp"
#include "store_gateway.hpp"
#include "trust_manager.hpp"

namespace portcullis::broker {
namespace asio = boost::asio;

namespace {


auth_outcome refusal(auth::reason r, std::string detail, std::string tenant = {}) {
  auth_outcome o;
  o.accepted = false;
  o.connack_code = auth::connack_of(r);
  o.reason = std::string(auth::code_of(r));
  o.detail = std::move(detail);
  o.tenant = std::move(tenant);
  return o;
}

auth_outcome accepted(const auth::identity& id) {
  auth_outcome o;
  o.accepted = true;
  o.connack_code = 0;
  o.tenant = id.tenant;
  o.client_id = id.client_id;
  o.subject = id.subject_dn;
  o.method = id.method;
  o.ca_id = id.ca_id;
  o.jti = id.jti;
  o.expires_at = id.expires_at;
  return o;
}

}  // namespace

struct auth_service::impl {
  impl(const config& c, store_gateway& s, trust_manager& t)
      : cfg(c), store(s), trust(t), pool(std::max(1u, std::thread::hardware_concurrency())) {
    x5c.username = cfg.auth.x5c_jwt.username;
    x5c.audience = cfg.auth.x5c_jwt.audience;
    x5c.schemas = cfg.auth.x5c_jwt.schemas;
    x5c.max_lifetime_seconds = cfg.auth.x5c_jwt.max_lifetime_seconds;
    x5c.clock_skew_seconds = cfg.auth.x5c_jwt.clock_skew_seconds;
    x5c.client_id_min = cfg.auth.client_id_min_length;
    x5c.client_id_max = cfg.auth.client_id_max_length;
    mtls.client_id_min = cfg.auth.client_id_min_length;
    mtls.client_id_max = cfg.auth.client_id_max_length;
    certificate_gate = mtls;
    certificate_gate.client_id_is_cn = false;
  }

  using next_step = std::function<void(auth_request, auth_callback)>;
  void check_certificate(auth_request req, auth_callback done, next_step next);

  template <class Then>
  void verify_then(bool is_mtls, const auth::mtls_options& mtls_opts, auth_request req, auth_callback done, Then then);
  void verify(const std::string& method, auth_request req, auth_callback done);
  void finish(boost::system::result<auth::identity, auth::auth_failure> r, auth_callback done);
  void bind(const auth::identity& id, auth_callback done);
  void provision_batch(store::database& db);

  struct pending_provision {
    auth::identity id;
    auth_callback done;
  };
  void schedule_provision_batch();

  // Group commit of first connects (see bind). A commit costs about as much as provisioning
  // a few devices (it writes every page the batch touched), and without a wait a storm's
  // requests reach the idle store thread one at a time. So while first connects come in
  // bursts (the previous batch was scheduled less than provision_burst_gap ago) a batch waits
  // provision_window for more before it is posted; an isolated first connect never waits.
  static constexpr auto provision_window = std::chrono::milliseconds(2);
  static constexpr auto provision_burst_gap = std::chrono::milliseconds(50);
  std::mutex provision_mutex;
  std::vector<pending_provision> provisions;
  bool provision_scheduled = false;
  std::chrono::steady_clock::time_point last_provision_batch{};

  const config& cfg;
  store_gateway& store;
  trust_manager& trust;
  asio::thread_pool pool;
  asio::steady_timer provision_timer{pool};  // guarded by provision_mutex
  auth::x5c_options x5c;
  auth::mtls_options mtls;
  auth::mtls_options certificate_gate;  // mtls chain rules without "client id = CN"
  std::mutex seen_mutex;
  std::vector<store::agent_seen> seen;
};

// A device whose chain was validated before is answered here, on the I/O thread: for mTLS a
// hash of its chain and a cache lookup; for x5c the same plus the token's claims and its RS256
// signature (one RSA public operation, ~20 us). So a known device reconnecting does not queue
// behind a storm of first connects' chain validations, and costs no thread hand-off (two
// wake-ups) either way. A chain not in the cache is validated on the pool. Either way the
// result goes to `then(result, req, done)`. `mtls_opts`: the mtls rules to apply (method "mtls").
template <class Then>
void auth_service::impl::verify_then(bool is_mtls, const auth::mtls_options& mtls_opts, auth_request req,
                                     auth_callback done, Then then) {
  {
    auto snapshot = trust.snapshot();
    auto cached = is_mtls ? auth::verify_mtls_cached(req.peer_chain, req.client_id, *snapshot, epoch_seconds(),
                                                     mtls_opts, trust.cache())
                          : auth::verify_x5c_jwt_cached(req.username.value_or(""), req.password.value_or(""),
                                                        req.client_id, *snapshot, x5c, epoch_seconds(), trust.cache());
    if (cached) {
      then(std::move(*cached), std::move(req), std::move(done));
      return;
    }
  }
  asio::post(pool, [this, is_mtls, &mtls_opts, req = std::move(req), done = std::move(done),
                    then = std::move(then)]() mutable {
    auto snapshot = trust.snapshot();
    std::int64_t now = epoch_seconds();
    auto r = is_mtls ? auth::verify_mtls(req.peer_chain, req.client_id, *snapshot, now, mtls_opts, &trust.cache())
                     : auth::verify_x5c_jwt(req.username.value_or(""), req.password.value_or(""), req.client_id,
                                            *snapshot, x5c, now, &trust.cache());
    then(std::move(r), std::move(req), std::move(done));
  });
}

void auth_service::impl::verify(const std::string& method, auth_request req, auth_callback done) {
  verify_then(method == "mtls", mtls, std::move(req), std::move(done),
              [this](boost::system::result<auth::identity, auth::auth_failure> r, auth_request, auth_callback reply) {
                finish(std::move(r), std::move(reply));
              });
}

// A `client_certs: "required"` listener admits only devices whose TLS client certificate chains
// to a registered tenant CA (the mtls chain rules; the CN need not be the client id), whichever
// method then authenticates them: the certificate is checked first, as the handshake of a
// broker that trusts the CAs itself would.
void auth_service::impl::check_certificate(auth_request req, auth_callback done, next_step next) {
  verify_then(true, certificate_gate, std::move(req), std::move(done),
              [next = std::move(next)](boost::system::result<auth::identity, auth::auth_failure> r,
                                       auth_request checked, auth_callback reply) {
                if (!r) {
                  auth::auth_failure f = std::move(r).error();
                  auto code = f.code == auth::reason::client_id_length ? f.code : auth::reason::mtls_chain;
                  std::string detail = code == f.code ? std::move(f.detail)
                                                      : "client_certs \"required\": " +
                                                            std::string(auth::code_of(f.code)) + ": " + f.detail;
                  reply(refusal(code, std::move(detail), std::move(f.tenant)));
                  return;
                }
                next(std::move(checked), std::move(reply));
              });
}

void auth_service::impl::finish(boost::system::result<auth::identity, auth::auth_failure> r, auth_callback done) {
  if (!r) {
    done(refusal(r.error().code, std::move(r.error().detail), std::move(r.error().tenant)));
    return;
  }
  bind(*r, std::move(done));
}

void auth_service::impl::bind(const auth::identity& id, auth_callback done) {
  switch (trust.check(id.tenant, id.client_id, id.subject_dn)) {
    case trust_manager::binding_state::same: {
      std::lock_guard lock(seen_mutex);
      seen.push_back({id.tenant, id.client_id, epoch_seconds()});
      done(accepted(id));
      return;
    }
    case trust_manager::binding_state::conflict:
      done(refusal(auth::reason::binding_conflict,
                   "client id \"" + id.client_id + "\" or subject \"" + id.subject_dn +
                       "\" is already bound to another device",
                   id.tenant));
      return;
    case trust_manager::binding_state::unbound:
      break;
  }
  // A new client id: bind and provision on the store thread. Requests that
  // arrive while a batch waits or is being committed form the next batch (group
  // commit of a connect storm); each still gets its own decision, in arrival
  // order, so of two devices racing for one new client id exactly one wins.
  std::lock_guard lock(provision_mutex);
  provisions.push_back({id, std::move(done)});
  if (provision_scheduled) return;
  provision_scheduled = true;
  schedule_provision_batch();
}

void auth_service::impl::schedule_provision_batch() {
  auto now = std::chrono::steady_clock::now();
  bool burst = now - last_provision_batch < provision_burst_gap;
  last_provision_batch = now;
  if (!burst) {
    store.post([this](store::database& db) { provision_batch(db); });
    return;
  }
  provision_timer.expires_after(provision_window);
  // Posted whatever the wait's outcome: the queued devices must get an answer.
  provision_timer.async_wait([this](const boost::system::error_code&) {
    store.post([this](store::database& db) { provision_batch(db); });
  });
}

void auth_service::impl::provision_batch(store::database& db) {
  std::vector<pending_provision> batch;
  {
    std::lock_guard lock(provision_mutex);
    batch.swap(provisions);
    provision_scheduled = false;
  }
  if (batch.empty()) return;
  std::vector<store::provision_request> requests;
  requests.reserve(batch.size());
  for (const auto& p : batch) {
    requests.push_back({p.id.tenant, p.id.client_id, p.id.subject_dn, p.id.cert_sha256});
  }
  auto results = db.bind_or_provision_batch(requests, cfg.auth.agents_per_tenant, epoch_seconds());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auth::identity& id = batch[i].id;
    if (!results) {
      logger("store")->error("provisioning batch of {} failed: {} {}", batch.size(), results.error().message(),
                             db.last_error());
      batch[i].done(refusal(auth::reason::internal, "store error: " + results.error().message(), id.tenant));
      continue;
    }
    auto& r = (*results)[i];
    if (!r) {
      auto ec = r.error();
      if (ec == store::errc::conflict) {
        batch[i].done(refusal(auth::reason::binding_conflict,
                              "client id \"" + id.client_id + "\" or subject \"" + id.subject_dn + "\" is already bound",
                              id.tenant));
      } else if (ec == store::errc::quota_exceeded) {
        batch[i].done(refusal(auth::reason::quota_agents,
                              "tenant already has " + std::to_string(cfg.auth.agents_per_tenant) + " agents", id.tenant));
      } else {
        batch[i].done(refusal(auth::reason::internal, "store: " + ec.message(), id.tenant));
      }
      continue;
    }
    trust.add_binding(id.tenant, id.client_id, id.subject_dn);
    if (r->created) {
      logger("auth")->info("provisioned agent agent={} tenant={} client_id={} subject={} method={}", r->agent.id,
                           id.tenant, log_value(id.client_id), log_quoted(id.subject_dn), id.method);
    }
    batch[i].done(accepted(id));
  }
}

auth_service::auth_service(const config& cfg, store_gateway& store, trust_manager& trust)
    : impl_(std::make_unique<impl>(cfg, store, trust)) {}

auth_service::~auth_service() { stop(); }

void auth_service::authenticate(auth_request req, auth_callback done) {
  if (req.client_cert_required && applicable_method(req) != "mtls") {
    // mtls checks the certificate itself; any other method is gated on it.
    if (req.peer_chain.der.empty()) {  // the handshake refuses this already
      done(refusal(auth::reason::mtls_no_certificate, "client_certs \"required\": no TLS client certificate"));
      return;
    }
    impl_->check_certificate(std::move(req), std::move(done),
                             [this](auth_request r, auth_callback d) { choose_method(std::move(r), std::move(d)); });
    return;
  }
  choose_method(std::move(req), std::move(done));
}

std::string_view auth_service::applicable_method(const auth_request& req) const {
  const auto& bearer = impl_->cfg.auth.x5c_jwt.username;
  for (const auto& method : req.methods) {
    if (method == "x5c-jwt" && req.username && *req.username == bearer) return method;
    if (method == "mtls" && !req.peer_chain.der.empty()) return method;
    if (method == "anonymous") return method;
  }
  return {};
}

void auth_service::choose_method(auth_request req, auth_callback done) {
  const std::string method(applicable_method(req));  // a copy: `req` moves on below
  if (method == "x5c-jwt" || method == "mtls") {
    impl_->verify(method, std::move(req), std::move(done));
    return;
  }
  if (method == "anonymous") {
    auth_outcome o;
    o.accepted = true;
    o.connack_code = 0;
    o.tenant = impl_->cfg.auth.anonymous_tenant;
    o.client_id = req.client_id;
    o.method = "anonymous";
    done(std::move(o));
    return;
  }
  // No method applies: report why the first one did not.
  const auto& bearer = impl_->cfg.auth.x5c_jwt.username;
  const std::string& first = req.methods.empty() ? std::string() : req.methods.front();
  if (first == "mtls") {
    done(refusal(auth::reason::mtls_no_certificate, "no TLS client certificate was presented"));
  } else {
    done(refusal(auth::reason::auth_username, req.username ? "username is not \"" + bearer + "\""
                                                           : "no username (expected \"" + bearer + "\")"));
  }
}

void auth_service::seen(const std::string& tenant, const std::string& client_id, std::int64_t at) {
  std::lock_guard lock(impl_->seen_mutex);
  impl_->seen.push_back({tenant, client_id, at});
}

void auth_service::flush_last_seen() {
  std::vector<store::agent_seen> batch;
  {
    std::lock_guard lock(impl_->seen_mutex);
    batch.swap(impl_->seen);
  }
  if (batch.empty()) return;
  impl_->store.post([batch = std::move(batch)](store::database& db) {
    if (!db.touch_agents(batch)) logger("store")->warn("touch_agents failed: {}", db.last_error());
  });
}

void auth_service::stop() { impl_->pool.join(); }

}  // namespace portcullis::broker
