// The daemon's wiring: control context (signals, accept, admin, timers) on the
// main thread, worker io_contexts for connections, start-up and graceful stop.

#include "portcullis/broker/server.hpp"
#include "wall_clock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <csignal>
#include <filesystem>
#include <unordered_map>
#include <fstream>
#include <map>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <spdlog/spdlog.h>

#include "admin_server.hpp"
#include "admin_token.hpp"
#include "listen_endpoint.hpp"
#include "auth_service.hpp"
#include "broker_context.hpp"
#include "portcullis/auth/failure.hpp"
#include "portcullis/store/database.hpp"
#include "persistence.hpp"
#include "store_gateway.hpp"
#include "tls_context.hpp"
#include "trust_manager.hpp"
#include "portcullis/broker/logging.hpp"
#include "transport.hpp"
#include "worker_pool.hpp"

namespace portcullis::broker {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

namespace {


std::string endpoint_string(const tcp::endpoint& ep) {
  auto a = ep.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

std::string remote_string(const sockaddr_storage& peer, socklen_t peer_len) {
  if ((peer.ss_family != AF_INET && peer.ss_family != AF_INET6) || peer_len > sizeof peer) return "unknown";
  tcp::endpoint ep;
  std::memcpy(ep.data(), &peer, peer_len);
  ep.resize(peer_len);
  return endpoint_string(ep);
}

/// An accepted descriptor on its way to a worker: closed if the handler carrying it is
/// destroyed unrun (a worker stopping).
class accepted_fd {
 public:
  explicit accepted_fd(int fd) noexcept : fd_(fd) {}
  accepted_fd(accepted_fd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  accepted_fd& operator=(accepted_fd&&) = delete;
  ~accepted_fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int release() noexcept { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

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

/// Holds `<data_dir>/portcullis.lock` (an exclusive flock, with this process's pid in the file)
/// for the life of `serve`: two brokers on one data dir would write one store, and the second
/// would take over the first's ports.json. The kernel releases the lock when the process ends,
/// however it ends, so a crash leaves nothing to clean up.
class data_dir_lock {
 public:
  explicit data_dir_lock(const std::string& data_dir) {
    auto path = (std::filesystem::path(data_dir) / "portcullis.lock").string();
    fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) throw config_error("data_dir", "cannot open " + path + ": " + std::strerror(errno));
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      int err = errno;
      char buf[32] = {};
      ssize_t n = ::pread(fd_, buf, sizeof buf - 1, 0);
      std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
      while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
      ::close(fd_);
      fd_ = -1;
      if (err == EWOULDBLOCK) {
        throw config_error("data_dir", data_dir + " is in use by another portcullis serve" +
                                           (pid.empty() ? std::string() : " (pid " + pid + ")"));
      }
      throw config_error("data_dir", "cannot lock " + path + ": " + std::strerror(err));
    }
    std::string me = std::to_string(::getpid()) + "\n";
    if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) {
      // The lock is what matters; the pid is only for the message above.
    }
  }
  data_dir_lock(const data_dir_lock&) = delete;
  data_dir_lock& operator=(const data_dir_lock&) = delete;
  ~data_dir_lock() {
    if (fd_ >= 0) ::close(fd_);
  }

 private:
  int fd_ = -1;
};

}  // namespace

struct server::impl {
  /// A plain TCP listener as one worker sees it: the listening socket (the first worker holds
  /// the descriptor bound on the control thread, the others a dup each, each registered with
  /// its worker's own reactor), on which the worker accepts on its own thread. A connection then starts where it was accepted: no
  /// hand-off from the control thread, no wake-up of a second thread per connect (a storm of
  /// short connections is mostly that). Every worker waits on the one socket, so a new
  /// connection wakes all of them, and whichever runs first takes it: a busy worker accepts
  /// less. worker_pool::pick keeps the long-lived connections balanced all the same.
  struct worker_acceptor {
    worker* w;
    tcp::acceptor acceptor;
    asio::steady_timer backoff;  // after EMFILE & co., as the control thread's below
  };

  struct mqtt_listener {
    const listener_config* cfg;
    std::size_t index;
    tcp::acceptor acceptor;  // binds; then accepts (TLS) or hands its descriptor to `local`
    // Out of descriptors: the pause before accepting again. One per listener: a timer shared
    // by two starved listeners would cancel the first one's wait, and it would never resume.
    asio::steady_timer backoff;
    // One TLS context per worker, each in its own OpenSSL library context (tls_context.hpp).
    // Empty for plain TCP. Replaced on SIGHUP; read and written on the control thread only.
    std::vector<std::shared_ptr<asio::ssl::context>> tls;
    // Plain TCP: one per worker, and the control thread does not accept (see worker_acceptor).
    // TLS listeners are accepted on the control thread, where SIGHUP replaces their contexts:
    // their connects cost a handshake, next to which the hand-off is noise.
    std::vector<std::unique_ptr<worker_acceptor>> local;
  };

  enum class accept_turn { drained, more, failed };

  explicit impl(config c)
      : cfg(std::make_shared<const config>(std::move(c))),
        ctx(cfg),
        workers(cfg->workers ? cfg->workers : std::max(1u, std::thread::hardware_concurrency())),
        store((std::filesystem::path(cfg->data_dir) / "portcullis.db").string(), ctx.stats) {}

  std::shared_ptr<const config> cfg;
  asio::io_context control{1};
  broker_context ctx;
  worker_pool workers;
  store_gateway store;
  persistence durable{store, ctx.stats};
  trust_manager trust;
  std::unique_ptr<auth_service> auth;
  std::unique_ptr<admin_context> admin_ctx;
  std::unique_ptr<admin_server> admin;
  int housekeeping_ticks = 0;
  std::vector<std::unique_ptr<mqtt_listener>> listeners;
  asio::signal_set signals{control, SIGINT, SIGTERM, SIGHUP};
  asio::steady_timer housekeeping{control};
  std::map<std::string, std::uint16_t> ports;
  bool stopping = false;

  int run();
  void bind_listeners();
  void write_ports();
  void do_accept(mqtt_listener& l, tcp::acceptor& a, asio::steady_timer& backoff, worker* local);
  accept_turn accept_some(mqtt_listener& l, int listen_fd, worker* local);
  bool over_connection_limit(int fd);
  void on_accept(mqtt_listener& l, int fd, const sockaddr_storage& peer, socklen_t peer_len);
  void on_accept_local(mqtt_listener& l, worker& local, int fd, const sockaddr_storage& peer, socklen_t peer_len);
  void wait_signal();
  void reload();
  void schedule_housekeeping();
  void stop();
  void load_store();
  void restore_sessions();
  void setup_admin();
  void reload_cas(std::function<void()> done);
  void revoke_ca(const std::string& ca_id);
};

void server::impl::bind_listeners() {
  for (std::size_t i = 0; i < cfg->listeners.size(); ++i) {
    const auto& lc = cfg->listeners[i];
    std::string key = "listeners[" + std::to_string(i) + "].bind";
    if (lc.protocol != "mqtt") continue;  // the admin listener is bound by the admin API
    boost::system::error_code ec;
    tcp::endpoint ep = listen_endpoint(lc, i, control);
    auto l = std::make_unique<mqtt_listener>(mqtt_listener{&lc, i, tcp::acceptor(control), asio::steady_timer(control), {}, {}});
    if (lc.tls) l->tls = make_tls_contexts(lc, i, workers.size());
    l->acceptor.open(ep.protocol(), ec);
    if (!ec) l->acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) l->acceptor.bind(ep, ec);
    // A large backlog: a connect storm must queue in the kernel, not be dropped
    // and retried a second later (Mosquitto's 100 does exactly that).
    if (!ec) l->acceptor.listen(65535, ec);
    if (!ec) l->acceptor.non_blocking(true, ec);  // do_accept drains the queue with accept4
    if (ec) throw config_error(key, "cannot listen on " + lc.bind + ": " + ec.message());
    const tcp::endpoint bound = l->acceptor.local_endpoint(ec);
    if (!ec && !lc.tls) {
      // Handed to the workers: the first takes the descriptor itself (released, so that the
      // control thread's reactor no longer watches it), the others a dup each. Asio takes an
      // assigned descriptor for a possible dup and deregisters it before closing it, so one
      // worker closing its copy leaves the others' registrations alone.
      const int fd = l->acceptor.release(ec);
      for (std::size_t w = 0; !ec && w < workers.size(); ++w) {
        auto& wk = workers.at(w);
        auto a = std::make_unique<worker_acceptor>(
            worker_acceptor{&wk, tcp::acceptor(wk.context()), asio::steady_timer(wk.context())});
        const int copy = w == 0 ? fd : ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (copy < 0) {
          ec.assign(errno, boost::system::system_category());
          break;
        }
        a->acceptor.assign(ep.protocol(), copy, ec);
        if (ec) {
          if (copy != fd) ::close(copy);  // not taken by the acceptor (fd: below)
          break;
        }
        l->local.push_back(std::move(a));
      }
      if (ec && l->local.empty() && fd >= 0) ::close(fd);  // no worker took it
    }
    if (ec) throw config_error(key, "cannot listen on " + lc.bind + ": " + ec.message());
    ports[lc.name] = bound.port();
    if (std::find(lc.auth.begin(), lc.auth.end(), "anonymous") != lc.auth.end()) {
      if (!ep.address().is_loopback()) {
        logger("broker")->warn("listener {} accepts anonymous clients on non-loopback address {}", lc.name,
                               endpoint_string(bound));
      }
    }
    logger("broker")->info("listening name={} protocol=mqtt{} address={} auth={}", lc.name, lc.tls ? "+tls" : "",
                           endpoint_string(bound), fmt::join(lc.auth, ","));
    listeners.push_back(std::move(l));
  }
}

void server::impl::write_ports() {
  // Listener names are any JSON string the config holds: written escaped, the file stays JSON.
  rapidjson::StringBuffer buf;
  rapidjson::Writer<rapidjson::StringBuffer> w(buf);
  w.StartObject();
  for (const auto& [name, port] : ports) {
    w.Key(name.data(), static_cast<rapidjson::SizeType>(name.size()));
    w.Uint(port);
  }
  w.EndObject();
  std::string text = std::string(buf.GetString(), buf.GetSize()) + "\n";
  write_file_atomic(std::filesystem::path(cfg->data_dir) / "ports.json", text, 0644);
}

// Accepts with accept4 on readiness rather than Asio's async_accept, which registers each new
// socket with the accepting thread's reactor only for the connection to deregister it, and
// costs a getpeername, a getsockname and an ioctl more: five system calls per connection
// saved. Each wake-up accepts until the queue is empty or after a bound (256 on the control
// thread, 32 on a worker, which also serves its connections), so that a flood cannot keep the
// thread's other work waiting. Each wait re-arms the edge-triggered registration (Asio
// modifies it), which reports a queue that is still not empty at once. `local`: the worker
// whose acceptor this is (plain TCP), or nullptr for the control thread's (TLS).
server::impl::accept_turn server::impl::accept_some(mqtt_listener& l, int listen_fd, worker* local) {
  const int max = local != nullptr ? 32 : 256;
  for (int attempt = 0; attempt < max; ++attempt) {
    sockaddr_storage peer{};
    socklen_t peer_len = sizeof peer;
    int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&peer), &peer_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      if (local != nullptr) {
        on_accept_local(l, *local, fd, peer, peer_len);
      } else {
        on_accept(l, fd, peer, peer_len);
      }
      continue;
    }
    int err = errno;
    if (err == EAGAIN || err == EWOULDBLOCK) return accept_turn::drained;
    // That connection is gone already (reset while queued, or a network error pending on it,
    // which accept(2) reports in its place) or a signal interrupted us: next.
    if (err == EINTR || err == ECONNABORTED || err == EPROTO || err == ENETDOWN || err == ENOPROTOOPT ||
        err == EHOSTDOWN || err == ENONET || err == EHOSTUNREACH || err == EOPNOTSUPP || err == ENETUNREACH) {
      continue;
    }
    // Out of file descriptors or memory: log, wait a little, carry on (Asio's
    // throttling_proxy): never stop accepting for good.
    logger("broker")->warn("accept on {} failed: {}", l.cfg->name, std::strerror(err));
    return accept_turn::failed;
  }
  return accept_turn::more;
}

void server::impl::do_accept(mqtt_listener& l, tcp::acceptor& a, asio::steady_timer& backoff, worker* local) {
  a.async_wait(tcp::acceptor::wait_read, [this, &l, &a, &backoff, local](const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted || ctx.stopping.load(std::memory_order_relaxed)) return;
    if (accept_some(l, a.native_handle(), local) == accept_turn::failed) {
      backoff.expires_after(100ms);
      backoff.async_wait([this, &l, &a, &backoff, local](const boost::system::error_code& wec) {
        if (!wec && !ctx.stopping.load(std::memory_order_relaxed)) do_accept(l, a, backoff, local);
      });
      return;
    }
    do_accept(l, a, backoff, local);
  });
}

/// True (and `fd` closed, counted) when the broker already holds limits.max_connections.
bool server::impl::over_connection_limit(int fd) {
  if (ctx.stats.connections_current.load(std::memory_order_relaxed) <
      static_cast<std::int64_t>(cfg->limits.max_connections)) {
    return false;
  }
  ctx.stats.connections_refused_limit.fetch_add(1, std::memory_order_relaxed);
  ::close(fd);
  return true;
}

void server::impl::on_accept_local(mqtt_listener& l, worker& local, int fd, const sockaddr_storage& peer,
                                   socklen_t peer_len) {
  if (ctx.stopping.load(std::memory_order_relaxed)) {
    ::close(fd);
    return;
  }
  if (over_connection_limit(fd)) return;
  bool v6 = peer.ss_family == AF_INET6;
  worker& w = workers.pick(local);
  if (&w == &local) {
    make_tcp_connection(ctx, *l.cfg, w, fd, v6, remote_string(peer, peer_len))->start();
    return;
  }
  asio::post(w.context(), [this, &l, &w, fd = accepted_fd(fd), v6, remote = remote_string(peer, peer_len)]() mutable {
    make_tcp_connection(ctx, *l.cfg, w, fd.release(), v6, std::move(remote))->start();
  });
}

void server::impl::on_accept(mqtt_listener& l, int fd, const sockaddr_storage& peer, socklen_t peer_len) {
  if (over_connection_limit(fd)) return;
  bool v6 = peer.ss_family == AF_INET6;
  std::string remote = remote_string(peer, peer_len);
  worker& w = workers.next();
  // Taken here, on the control thread, where SIGHUP replaces it.
  std::shared_ptr<asio::ssl::context> tls = l.tls.empty() ? nullptr : l.tls[w.index() % l.tls.size()];
  asio::post(w.context(), [this, &l, &w, tls = std::move(tls), fd = accepted_fd(fd), v6,
                            remote = std::move(remote)]() mutable {
    std::shared_ptr<connection> c;
    if (tls) {
      worker_socket s(w.context());
      boost::system::error_code ec;
      int raw = fd.release();
      s.assign(v6 ? tcp::v6() : tcp::v4(), raw, ec);
      if (ec) {  // not taken by s
        ::close(raw);
        return;
      }
      c = make_tls_connection(ctx, *l.cfg, w, std::move(s), std::move(remote), std::move(tls));
    } else {
      c = make_tcp_connection(ctx, *l.cfg, w, fd.release(), v6, std::move(remote));
    }
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
      auto fresh = make_tls_contexts(*l->cfg, l->index, workers.size());
      l->tls = std::move(fresh);  // new connections use it; live ones keep theirs
      ++reloaded;
    } catch (const std::exception& e) {  // whatever went wrong, the listener keeps serving
      logger("broker")->error("SIGHUP: keeping the previous TLS files of listener {}: {}", l->cfg->name, e.what());
    }
  }
  logger("broker")->info("SIGHUP: reloaded TLS files of {} listener(s)", reloaded);
  reload_cas([] { sd_notify(0, "READY=1"); });
}

void server::impl::schedule_housekeeping() {
  housekeeping.expires_after(1s);
  housekeeping.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopping) return;
    std::size_t n = ctx.sessions.sweep(epoch_millis(), cfg->limits.session_expiry_seconds);
    if (n) logger("broker")->info("expired {} persistent session(s)", n);
    if (++housekeeping_ticks % 5 == 0 && auth) auth->flush_last_seen();
    if (housekeeping_ticks % 60 == 0) {
      // Expired sessions, messages and codes leave the database; the WAL is
      // checkpointed so it does not grow without bound.
      store.post([now = epoch_seconds()](store::database& db) {
        auto r = db.cleanup(now);
        if (!r) {
          logger("store")->warn("cleanup failed: {}", db.last_error());
        } else if (r->sessions || r->messages || r->orphan_messages) {
          logger("store")->info("cleanup: {} session(s), {} message(s), {} orphan(s) removed", r->sessions,
                                r->messages, r->orphan_messages);
        }
        (void)db.checkpoint(store::checkpoint_mode::passive);
      });
    }
    schedule_housekeeping();
  });
}

void server::impl::stop() {
  if (stopping) return;
  stopping = true;
  ctx.stopping = true;
  sd_notify(0, "STOPPING=1");
  boost::system::error_code ec;
  for (auto& l : listeners) {
    l->acceptor.close(ec);
    l->backoff.cancel();
    // The workers' duplicates keep the socket listening: each closes its own, on its thread
    // (queued before the workers are told to stop, so it runs first).
    for (auto& a : l->local) {
      asio::post(a->w->context(), [p = a.get()] {
        boost::system::error_code ignored;
        p->acceptor.close(ignored);
        p->backoff.cancel();
      });
    }
  }
  signals.cancel(ec);
  housekeeping.cancel();
  if (admin) admin->stop();
  workers.for_each_connection([](connection& c) { c.kick("broker stopping"); });
  control.stop();
}

int server::impl::run() {
  // A write to a pipe or socket whose reader is gone (a log pipe, any socket written without
  // MSG_NOSIGNAL) must be an EPIPE error for that one writer, never the end of the daemon.
  ::signal(SIGPIPE, SIG_IGN);
  std::error_code fec;
  std::filesystem::create_directories(cfg->data_dir, fec);
  if (fec) throw config_error("data_dir", "cannot create " + cfg->data_dir + ": " + fec.message());
  data_dir_lock lock(cfg->data_dir);  // before anything in the data dir is read or written
  // A ports.json left by an earlier run (killed, or failed) names ports nobody listens on: a
  // script waiting for the file must wait for this run's.
  const auto ports_file = std::filesystem::path(cfg->data_dir) / "ports.json";
  std::filesystem::remove(ports_file, fec);
  load_store();
  // Every refusal reason is a series from the start, at 0: rate() and alerts need a series
  // before its first refusal.
  for (auth::reason r : auth::all_reasons()) ctx.stats.register_auth_reason(std::string(auth::code_of(r)));
  auth = std::make_unique<auth_service>(*cfg, store, trust);
  ctx.auth = auth.get();
  bind_listeners();
  setup_admin();
  write_ports();
  store.start();
  workers.start();
  for (auto& l : listeners) {
    if (l->local.empty()) {
      do_accept(*l, l->acceptor, l->backoff, nullptr);
      continue;
    }
    for (auto& a : l->local) {
      asio::post(a->w->context(), [this, &l = *l, &a = *a] { do_accept(l, a.acceptor, a.backoff, a.w); });
    }
  }
  if (admin) admin->start();
  wait_signal();
  schedule_housekeeping();
  for (const auto& w : config_warnings(*cfg)) logger("broker")->warn("{}", w);
  logger("broker")->info("ready workers={} data_dir={}", workers.size(), log_value(cfg->data_dir));
  sd_notify(0, "READY=1");
  control.run();
  // Let the aborted operations (accept waits, admin sessions) finish while the workers'
  // io_contexts still exist: an operation holding an object of a worker context and
  // destroyed after that context would be a use-after-free.
  control.restart();
  control.poll();
  workers.stop_and_join();
  if (auth) {
    auth->flush_last_seen();
    auth->stop();
  }
  store.stop();  // runs every queued store job (flush) before returning
  // Every connection is closed and every commit made: which stored messages were ever sent
  // is known now (nothing is written per send), so the next start need not send the others
  // with DUP. The store thread has stopped: the database is this thread's.
  if (auto done = store.db().record_clean_shutdown(ctx.sessions.sent_entries()); !done) {
    logger("store")->warn("cannot record the clean shutdown (the next start sends queued messages with DUP): {}",
                          store.db().last_error());
  }
  std::filesystem::remove(ports_file, fec);  // the ports are closed
  logger("broker")->info("stopped");
  return 0;
}

void server::impl::load_store() {
  store.open();
  auto& db = store.db();
  auto cas = db.list_all_cas();
  if (!cas) throw std::runtime_error("cannot read tenant CAs: " + db.last_error());
  std::size_t n = trust.replace_cas(*cas);
  auto bindings = db.list_bindings();
  if (!bindings) throw std::runtime_error("cannot read bindings: " + db.last_error());
  trust.load_bindings(*bindings);
  logger("store")->info("store {} open: {} tenant CA(s), {} binding(s)", db.path(), n, bindings->size());
  restore_sessions();
}

void server::impl::restore_sessions() {
  // Persistent sessions and their queues come back before any client connects.
  auto& db = store.db();
  std::int64_t now = epoch_seconds();
  auto max_id = db.max_message_id();
  if (!max_id) throw std::runtime_error("cannot read the message sequence: " + db.last_error());
  durable.start_ids_after(*max_id);
  // After a clean shutdown the store's dup flags are exact (a message without one was never
  // sent); after a crash any queued message may have been: all go with DUP.
  auto clean = db.take_clean_shutdown();
  if (!clean) throw std::runtime_error("cannot read the store state: " + db.last_error());
  auto snapshot = db.load_sessions(now);
  if (!snapshot) throw std::runtime_error("cannot load persistent sessions: " + db.last_error());
  std::unordered_map<std::int64_t, message_ptr> messages;
  for (auto& sm : snapshot->messages) {
    // Rebuild the wire layout [topic length][topic][payload] so the writer can
    // send it like a received frame.
    auto m = std::make_shared<message>();
    std::size_t tl = sm.topic.size();
    m->frame = protocol::shared_buffer::allocate(2 + tl + sm.payload.size());
    std::uint8_t* p = m->frame.mutable_data();
    p[0] = static_cast<std::uint8_t>(tl >> 8);
    p[1] = static_cast<std::uint8_t>(tl & 0xFF);
    std::memcpy(p + 2, sm.topic.data(), tl);
    if (!sm.payload.empty()) std::memcpy(p + 2 + tl, sm.payload.data(), sm.payload.size());
    m->topic = m->frame.view().substr(2, tl);
    m->payload = m->frame.view().substr(2 + tl);
    m->framed = true;
    m->qos = 1;
    m->created_at = sm.created_at;
    m->expires_at_ms = sm.expires_at.value_or(sm.created_at + cfg->limits.message_expiry_seconds) * 1000;
    m->store_id = sm.id;
    messages.emplace(sm.id, std::move(m));
  }
  std::size_t queued = 0;
  for (auto& ps : snapshot->sessions) {
    std::vector<std::pair<std::string, std::uint8_t>> subs;
    for (auto& sub : ps.subscriptions) subs.emplace_back(sub.filter, std::min<std::uint8_t>(sub.qos, 1));
    std::vector<std::pair<message_ptr, bool>> queue;
    for (auto& e : ps.queue) {
      auto it = messages.find(e.message_id);
      if (it != messages.end()) queue.emplace_back(it->second, e.dup || !*clean);
    }
    queued += queue.size();
    // A session that was connected when the broker stopped counts as
    // disconnected now: its expiry starts from this start-up.
    std::int64_t disconnected_at = ps.session.disconnected_at.value_or(now);
    ctx.sessions.restore(ps.session.tenant, ps.session.client_id, disconnected_at, subs, queue);
  }
  ctx.sessions.set_persistence(&durable, cfg->limits.session_expiry_seconds);
  logger("store")->info("restored {} persistent session(s) with {} queued message(s){}", snapshot->sessions.size(),
                        queued, *clean || queued == 0 ? "" : " (not after a clean stop: all go with DUP)");
}

void server::impl::setup_admin() {
  for (std::size_t i = 0; i < cfg->listeners.size(); ++i) {
    const auto& lc = cfg->listeners[i];
    if (lc.protocol != "http") continue;
    admin_ctx = std::make_unique<admin_context>(admin_context{
        cfg, control, ctx, store, trust, workers, load_bootstrap_token_hash(*cfg),
        [this](std::function<void()> done) { reload_cas(std::move(done)); },
        [this](const std::string& ca_id) { revoke_ca(ca_id); },
        [this](const std::string& tenant, const std::string& client_id) {
          trust.remove_binding(tenant, client_id);
          ctx.sessions.remove(tenant, client_id, "agent deleted");
        },
        [this] {
          if (auth) auth->flush_last_seen();
        }});
    admin = std::make_unique<admin_server>(*admin_ctx);
    ports[lc.name] = admin->listen(lc, i);
  }
}

void server::impl::reload_cas(std::function<void()> done) {
  store.post([this, done = std::move(done)](store::database& db) mutable {
    auto cas = db.list_all_cas();
    if (!cas) {
      logger("store")->error("cannot reload tenant CAs: {}", db.last_error());
    } else {
      std::size_t n = trust.replace_cas(*cas);
      logger("auth")->info("trust snapshot reloaded: {} tenant CA(s)", n);
    }
    asio::post(control, std::move(done));
  });
}

void server::impl::revoke_ca(const std::string& ca_id) {
  trust.cache().invalidate_ca(ca_id);
  workers.for_each_connection(
      [ca_id](connection& c) { c.kick_if_ca(ca_id, "tenant CA " + ca_id + " was deleted"); });
}

server::server(config cfg) : impl_(std::make_unique<impl>(std::move(cfg))) {}
server::~server() = default;
int server::run() { return impl_->run(); }

}  // namespace portcullis::broker
