// The daemon's wiring: control context (signals, accept, admin, timers) on the
// main thread, worker io_contexts for connections, start-up and graceful stop.

#include "portcullis/broker/server.hpp"

#include <sys/stat.h>
#include <systemd/sd-daemon.h>

#include <filesystem>
#include <fstream>
#include <map>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "auth_service.hpp"
#include "broker_context.hpp"
#include "portcullis/broker/logging.hpp"
#include "transport.hpp"
#include "worker_pool.hpp"

namespace portcullis::broker {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {

std::int64_t epoch_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string endpoint_string(const tcp::endpoint& ep) {
  auto a = ep.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

/// Writes `text` to `path` atomically (temp file + rename) with `mode`.
void write_file_atomic(const std::filesystem::path& path, const std::string& text, mode_t mode) {
  auto tmp = path;
  tmp += ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error("cannot write " + tmp.string());
  }
  ::chmod(tmp.c_str(), mode);
  std::filesystem::rename(tmp, path);
}

}  // namespace

struct server::impl {
  struct mqtt_listener {
    const listener_config* cfg;
    std::size_t index;
    tcp::acceptor acceptor;
    std::shared_ptr<asio::ssl::context> tls;
  };

  explicit impl(config c)
      : cfg(std::make_shared<const config>(std::move(c))),
        ctx(cfg),
        workers(cfg->workers ? cfg->workers : std::max(1u, std::thread::hardware_concurrency())) {}

  std::shared_ptr<const config> cfg;
  asio::io_context control{1};
  broker_context ctx;
  worker_pool workers;
  std::unique_ptr<auth_service> auth;
  std::vector<std::unique_ptr<mqtt_listener>> listeners;
  asio::signal_set signals{control, SIGINT, SIGTERM, SIGHUP};
  asio::steady_timer housekeeping{control};
  asio::steady_timer accept_backoff{control};
  std::map<std::string, std::uint16_t> ports;
  bool stopping = false;

  int run();
  void bind_listeners();
  void write_ports();
  void do_accept(mqtt_listener& l);
  void on_accept(mqtt_listener& l, asio::io_context& ioc, tcp::socket s);
  void wait_signal();
  void reload();
  void schedule_housekeeping();
  void stop();
};

void server::impl::bind_listeners() {
  for (std::size_t i = 0; i < cfg->listeners.size(); ++i) {
    const auto& lc = cfg->listeners[i];
    std::string key = "listeners[" + std::to_string(i) + "].bind";
    if (lc.protocol != "mqtt") continue;  // the admin listener is bound by the admin API
    boost::system::error_code ec;
    auto addr = asio::ip::make_address(lc.host, ec);
    tcp::endpoint ep;
    if (ec) {
      tcp::resolver resolver(control);
      auto results = resolver.resolve(lc.host, std::to_string(lc.port), ec);
      if (ec || results.empty()) throw config_error(key, "cannot resolve host \"" + lc.host + "\"");
      ep = results.begin()->endpoint();
    } else {
      ep = tcp::endpoint(addr, lc.port);
    }
    auto l = std::make_unique<mqtt_listener>(mqtt_listener{&lc, i, tcp::acceptor(control), nullptr});
    if (lc.tls) l->tls = make_tls_context(lc, i);
    l->acceptor.open(ep.protocol(), ec);
    if (!ec) l->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) l->acceptor.bind(ep, ec);
    // A large backlog: a connect storm must queue in the kernel, not be dropped
    // and retried a second later (Mosquitto's 100 does exactly that).
    if (!ec) l->acceptor.listen(65535, ec);
    if (ec) throw config_error(key, "cannot listen on " + lc.bind + ": " + ec.message());
    std::uint16_t port = l->acceptor.local_endpoint().port();
    ports[lc.name] = port;
    if (std::find(lc.auth.begin(), lc.auth.end(), "anonymous") != lc.auth.end()) {
      if (!ep.address().is_loopback()) {
        logger("broker")->warn("listener {} accepts anonymous clients on non-loopback address {}", lc.name,
                               endpoint_string(l->acceptor.local_endpoint()));
      }
    }
    logger("broker")->info("listening name={} protocol=mqtt{} address={} auth={}", lc.name, lc.tls ? "+tls" : "",
                           endpoint_string(l->acceptor.local_endpoint()), fmt::join(lc.auth, ","));
    listeners.push_back(std::move(l));
  }
}

void server::impl::write_ports() {
  std::string text = "{";
  bool first = true;
  for (const auto& [name, port] : ports) {
    text += (first ? "" : ", ") + std::string("\"") + name + "\": " + std::to_string(port);
    first = false;
  }
  text += "}\n";
  write_file_atomic(std::filesystem::path(cfg->data_dir) / "ports.json", text, 0644);
}

void server::impl::do_accept(mqtt_listener& l) {
  auto& ioc = workers.next();
  l.acceptor.async_accept(ioc, [this, &l, &ioc](const boost::system::error_code& ec, tcp::socket s) {
    if (ec == asio::error::operation_aborted || stopping) return;
    if (ec) {
      // Out of file descriptors or similar: log, wait a little, carry on
      // (Asio's throttling_proxy): never stop accepting for good.
      logger("broker")->warn("accept on {} failed: {}", l.cfg->name, ec.message());
      accept_backoff.expires_after(100ms);
      accept_backoff.async_wait([this, &l](const boost::system::error_code& wec) {
        if (!wec && !stopping) do_accept(l);
      });
      return;
    }
    on_accept(l, ioc, std::move(s));
    do_accept(l);
  });
}

void server::impl::on_accept(mqtt_listener& l, asio::io_context& ioc, tcp::socket s) {
  if (ctx.stats.connections_current.load(std::memory_order_relaxed) >=
      static_cast<std::int64_t>(cfg->limits.max_connections)) {
    ctx.stats.connections_refused_limit.fetch_add(1, std::memory_order_relaxed);
    boost::system::error_code ec;
    s.close(ec);
    return;
  }
  boost::system::error_code ec;
  auto ep = s.remote_endpoint(ec);
  std::string remote = ec ? "unknown" : endpoint_string(ep);
  asio::post(ioc, [this, &l, s = std::move(s), remote = std::move(remote)]() mutable {
    std::shared_ptr<connection> c = l.tls ? make_tls_connection(ctx, *l.cfg, std::move(s), std::move(remote), l.tls)
                                          : make_tcp_connection(ctx, *l.cfg, std::move(s), std::move(remote));
    workers.track(c);
    c->start();
  });
}

void server::impl::wait_signal() {
  signals.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      reload();
      wait_signal();
      return;
    }
    logger("broker")->info("received {}, stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    stop();
  });
}

void server::impl::reload() {
  sd_notify(0, "RELOADING=1");
  std::size_t reloaded = 0;
  for (auto& l : listeners) {
    if (!l->cfg->tls) continue;
    try {
      auto fresh = make_tls_context(*l->cfg, l->index);
      l->tls = std::move(fresh);  // new connections use it; live ones keep theirs
      ++reloaded;
    } catch (const config_error& e) {
      logger("broker")->error("SIGHUP: keeping the previous TLS files of listener {}: {}", l->cfg->name, e.what());
    }
  }
  if (auth) auth->reload();
  logger("broker")->info("SIGHUP: reloaded TLS files of {} listener(s)", reloaded);
  sd_notify(0, "READY=1");
}

void server::impl::schedule_housekeeping() {
  housekeeping.expires_after(1s);
  housekeeping.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping) return;
    std::size_t n = ctx.sessions.sweep(epoch_seconds(), cfg->limits.session_expiry_seconds);
    if (n) logger("broker")->info("expired {} persistent session(s)", n);
    schedule_housekeeping();
  });
}

void server::impl::stop() {
  if (stopping) return;
  stopping = true;
  ctx.stopping = true;
  sd_notify(0, "STOPPING=1");
  boost::system::error_code ec;
  for (auto& l : listeners) l->acceptor.close(ec);
  signals.cancel(ec);
  housekeeping.cancel();
  accept_backoff.cancel();
  for (auto& c : workers.connections()) c->kick("broker stopping");
  if (auth) auth->stop();
  control.stop();
}

int server::impl::run() {
  std::error_code fec;
  std::filesystem::create_directories(cfg->data_dir, fec);
  if (fec) throw config_error("data_dir", "cannot create " + cfg->data_dir + ": " + fec.message());
  auth = std::make_unique<auth_service>(*cfg);
  ctx.auth = auth.get();
  bind_listeners();
  write_ports();
  workers.start();
  for (auto& l : listeners) do_accept(*l);
  wait_signal();
  schedule_housekeeping();
  logger("broker")->info("ready: {} worker thread(s), data_dir={}", workers.size(), cfg->data_dir);
  sd_notify(0, "READY=1");
  control.run();
  workers.stop_and_join();
  logger("broker")->info("stopped");
  return 0;
}

server::server(config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}
server::~server() = default;
int server::run() { return impl_->run(); }

}  // namespace portcullis::broker
