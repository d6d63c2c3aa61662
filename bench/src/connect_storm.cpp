// `portcullis-bench connect`: N connects at concurrency C, each a fresh TCP (or TLS) connection
// that sends CONNECT, waits for CONNACK, sends DISCONNECT and closes. Credentials per client:
//   --credentials FILE  "username password" lines (client id = username; Mosquitto password_file)
//   --tokens FILE       "clientid token" lines; username = --jwt-username (x5c JWT devices)
//   --cert-dir DIR      <cn>.crt + <cn>.key per client, TLS with that client certificate, client id = CN
//   none                anonymous, client ids <prefix><i>
// Latency runs from the start of the TCP connect to the CONNACK (TLS handshake included).
// Plain TCP storms run on a callback state machine per slot with the CONNECT frames encoded
// before the clock starts (plain_storm below); TLS storms run on the coroutine client.
// Reports the CONNACK code histogram, accepted connects/s, latency percentiles and, with
// --broker-pid, the broker CPU per accepted connect.

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <variant>
#include <vector>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "credentials.hpp"
#include "modes.hpp"
#include "mqtt_client.hpp"
#include "stats.hpp"

namespace portcullis::bench {

namespace {

using namespace asio::experimental::awaitable_operators;

// What one worker (plain slot or coroutine) saw; both storms record through these two calls.
struct worker_result {
  histogram latency;  // accepted connects only
  std::map<int, std::uint64_t> codes;  // CONNACK code -> count; -1 = transport/protocol failure
  std::uint64_t timeouts = 0;
  std::string first_error;

  /// A CONNACK arrived with `code`; an accepted connect (0) also records its latency.
  void connack(int code, std::uint64_t latency_ns) {
    ++codes[code];
    if (code == 0) latency.add(latency_ns);
  }
  /// The connect got no CONNACK: a transport or protocol failure, or the --timeout.
  void failed(std::string what, bool timed_out) {
    ++codes[-1];
    if (timed_out) ++timeouts;
    if (first_error.empty()) first_error = timed_out ? "timeout" : std::move(what);
  }
};

bool load_pairs(const std::string& path, std::vector<credential>& out, bool tokens, const connect_options& o) {
  std::ifstream in(path);
  if (!in) return false;
  std::string a, b;
  while (in >> a >> b) {
    credential c;
    c.params.client_id = a;
    c.params.username = tokens ? o.jwt_username : a;
    c.params.password = b;
    out.push_back(std::move(c));
  }
  return true;
}

// CONNACK: type 2, remaining length 2, acknowledge flags, return code.
constexpr std::size_t connack_bytes = 4;
constexpr std::array<std::uint8_t, 2> disconnect_frame{0xE0, 0x00};

// The plain-TCP storm. The coroutine client costs this process ~40 us of user CPU per connect
// (a strand, two coroutine frames, a timer and an encoded copy of the credentials each time);
// on a 2-core machine that is taken from the broker under test, so the storm that measures
// connects/s keeps the client to the system calls a device makes: socket, connect, write
// CONNECT, read CONNACK, write DISCONNECT, close. Those are made directly, with Asio only for
// the readiness waits: its async_connect adds a poll, a getsockopt and an ioctl per connect,
// and a shutdown before the close would add one more. The CONNECT is written as soon as the
// socket takes it (on loopback the handshake is done when connect returns), so a connect costs
// one wait, for the CONNACK. One watchdog timer enforces --timeout for all slots.
class plain_storm {
 public:
  plain_storm(asio::io_context& ioc, const tcp::endpoint& endpoint, std::vector<std::vector<std::uint8_t>> frames,
              std::size_t count, double timeout_s, std::vector<worker_result>& results, bool strands)
      : endpoint_(endpoint), frames_(std::move(frames)), count_(count),
        timeout_ns_(static_cast<std::uint64_t>(timeout_s * 1e9)),
        watchdog_(strands ? asio::any_io_executor(asio::make_strand(ioc)) : asio::any_io_executor(ioc.get_executor())) {
    slots_.reserve(results.size());
    for (auto& r : results) {
      auto ex = strands ? asio::any_io_executor(asio::make_strand(ioc)) : asio::any_io_executor(ioc.get_executor());
      slots_.push_back(std::make_unique<slot>(ex, r));
    }
  }

  void start() {
    for (auto& s : slots_) asio::post(s->sock.get_executor(), [this, s = s.get()] { next(*s); });
    arm_watchdog();
  }

 private:
  struct slot {
    slot(asio::any_io_executor ex, worker_result& r) : sock(ex), result(r) {}
    tcp::socket sock;
    worker_result& result;
    std::size_t index = 0;
    std::atomic<std::uint64_t> started_ns{0};  // 0: idle; read by the watchdog
    bool timed_out = false;
    std::size_t got = 0;  // CONNACK bytes read so far
    std::array<std::uint8_t, connack_bytes> in{};
  };

  static std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

  void next(slot& s) {
    const std::size_t i = next_++;
    if (i >= count_) {
      // The last slot to finish stops the watchdog, on the watchdog's own strand.
      if (++finished_ == slots_.size()) asio::post(watchdog_.get_executor(), [this] { watchdog_.cancel(); });
      return;
    }
    s.index = i;
    s.timed_out = false;
    s.got = 0;
    s.started_ns.store(now_ns(), std::memory_order_relaxed);
    // Opened by Asio (an assigned descriptor might be a dup, so Asio would deregister it with
    // one more epoll_ctl at close), made non-blocking before the connect.
    error_code ec;
    s.sock.open(endpoint_.protocol(), ec);
    if (!ec) s.sock.non_blocking(true, ec);
    if (ec) {
      s.sock.close(ec);
      return fail_later(s, "socket: " + ec.message());
    }
    int fd = s.sock.native_handle();
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd, endpoint_.data(), static_cast<socklen_t>(endpoint_.size())) != 0 && errno != EINPROGRESS) {
      return fail_later(s, errno_text("connect"));
    }
    send_connect(s);
  }

  void send_connect(slot& s) {
    const auto& frame = frames_[s.index % frames_.size()];
    ssize_t n = ::send(s.sock.native_handle(), frame.data(), frame.size(), MSG_NOSIGNAL);
    if (n == static_cast<ssize_t>(frame.size())) return await_connack(s);
    if (n < 0 && errno == EAGAIN) {  // still connecting
      s.sock.async_wait(tcp::socket::wait_write, [this, &s](error_code ec) {
        if (ec) return fail(s, "connect: " + ec.message());
        send_connect(s);
      });
      return;
    }
    if (n < 0) return fail_later(s, errno_text("connect/write"));
    // A partial write (a token larger than the fresh socket's send buffer): the rest the usual way.
    asio::async_write(s.sock, asio::buffer(frame.data() + n, frame.size() - static_cast<std::size_t>(n)),
                      [this, &s](error_code wec, std::size_t) {
                        if (wec) return fail(s, "write: " + wec.message());
                        await_connack(s);
                      });
  }

  void await_connack(slot& s) {
    s.sock.async_wait(tcp::socket::wait_read, [this, &s](error_code ec) {
      if (ec) return fail(s, "read: " + ec.message());
      ssize_t n = ::recv(s.sock.native_handle(), s.in.data() + s.got, s.in.size() - s.got, 0);
      if (n == 0) return fail(s, "read: connection closed by the broker");
      if (n < 0) {
        if (errno == EAGAIN) return await_connack(s);
        return fail(s, errno_text("read"));
      }
      s.got += static_cast<std::size_t>(n);
      if (s.got < s.in.size()) return await_connack(s);
      on_connack(s);
    });
  }

  void on_connack(slot& s) {
    const std::uint64_t t1 = now_ns();
    if (s.in[0] != 0x20 || s.in[1] != 0x02) return fail(s, "expected CONNACK");
    const int code = s.in[3];
    s.result.connack(code, t1 - s.started_ns.load(std::memory_order_relaxed));
    if (code == 0) {
      // 2 bytes into an empty send buffer; the close right after sends the FIN.
      (void)::send(s.sock.native_handle(), disconnect_frame.data(), disconnect_frame.size(), MSG_NOSIGNAL);
    }
    finish(s);
  }

  void fail(slot& s, std::string what) {
    s.result.failed(std::move(what), s.timed_out);
    finish(s);
  }

  // A failure found before anything was waited for: reported from a handler, so that a run of
  // them (out of descriptors, broker gone) does not recurse through next() once per connect.
  void fail_later(slot& s, std::string what) {
    asio::post(s.sock.get_executor(), [this, &s, what = std::move(what)]() mutable { fail(s, std::move(what)); });
  }

  void finish(slot& s) {
    s.started_ns.store(0, std::memory_order_relaxed);
    error_code ignored;
    s.sock.close(ignored);
    next(s);
  }

  void arm_watchdog() {
    watchdog_.expires_after(std::chrono::milliseconds(100));
    watchdog_.async_wait([this](error_code ec) {
      if (ec || finished_ == slots_.size()) return;
      const std::uint64_t now = now_ns();
      for (auto& s : slots_) {
        const std::uint64_t started = s->started_ns.load(std::memory_order_relaxed);
        if (started == 0 || now - started < timeout_ns_) continue;
        asio::post(s->sock.get_executor(), [s = s.get(), started] {
          if (s->started_ns.load(std::memory_order_relaxed) != started) return;  // finished meanwhile
          s->timed_out = true;
          error_code ignored;
          s->sock.close(ignored);  // the pending operation completes with operation_aborted
        });
      }
      arm_watchdog();
    });
  }

  tcp::endpoint endpoint_;
  std::vector<std::vector<std::uint8_t>> frames_;
  std::size_t count_;
  std::uint64_t timeout_ns_;
  asio::steady_timer watchdog_;
  std::vector<std::unique_ptr<slot>> slots_;
  std::atomic<std::size_t> next_{0};
  std::atomic<std::size_t> finished_{0};
};

class connect_run {
 public:
  connect_run(const common_options& c, const connect_options& o) : common_(c), opt_(o) {}
  int run();

 private:
  awaitable<void> worker(worker_result& r);
  awaitable<void> connect_one(std::size_t i, worker_result& r);
  /// Client i's CONNECT parameters: its credentials, or an anonymous client id.
  connect_params params_for(std::size_t i) const;

  const common_options& common_;
  const connect_options& opt_;
  asio::io_context ioc_;
  asio::ssl::context tls_{asio::ssl::context::tls_client};
  bool use_tls_ = false;
  tcp::endpoint endpoint_;
  std::vector<credential> creds_;
  std::size_t count_ = 0;
  std::atomic<std::size_t> next_{0};
};

connect_params connect_run::params_for(std::size_t i) const {
  if (!creds_.empty()) return creds_[i].params;
  connect_params params;
  params.client_id = opt_.client_prefix + std::to_string(i);
  return params;
}

awaitable<void> connect_run::connect_one(std::size_t i, worker_result& r) {
  auto ex = co_await asio::this_coro::executor;
  mqtt_connection conn(ex, use_tls_ ? &tls_ : nullptr, 512);
  const connect_params params = params_for(i);
  if (!creds_.empty()) {
    const auto& c = creds_[i];
    if (c.cert && (SSL_use_certificate(conn.native_ssl(), c.cert.get()) != 1 ||
                   SSL_use_PrivateKey(conn.native_ssl(), c.key.get()) != 1)) {
      r.failed("SSL_use_certificate failed for " + params.client_id, false);
      co_return;
    }
  }
  asio::steady_timer timer(ex);
  timer.expires_after(std::chrono::milliseconds(static_cast<std::int64_t>(opt_.timeout_s * 1000)));
  const std::uint64_t t0 = now_ns();
  auto outcome = co_await (conn.connect(endpoint_, params) || timer.async_wait(use_nothrow));
  const std::uint64_t t1 = now_ns();
  if (outcome.index() == 1) {
    r.failed({}, true);
    conn.close();
    co_return;
  }
  const auto& o = std::get<0>(outcome);
  if (o.connack_code < 0) {
    r.failed(o.error, false);
  } else {
    r.connack(o.connack_code, t1 - t0);
  }
  if (o.connack_code == 0) {
    std::vector<std::uint8_t> bye;
    append_disconnect(bye);
    co_await conn.write_all(bye);
  }
  conn.close();
}

awaitable<void> connect_run::worker(worker_result& r) {
  for (;;) {
    const std::size_t i = next_++;
    if (i >= count_) co_return;
    co_await connect_one(i, r);
  }
}

int connect_run::run() {
  endpoint_ = make_endpoint(common_.host, common_.port);
  std::string kind = "anonymous";
  if (!opt_.credentials_file.empty()) {
    kind = "password";
    if (!load_pairs(opt_.credentials_file, creds_, false, opt_)) {
      std::fprintf(stderr, "connect: cannot read %s\n", opt_.credentials_file.c_str());
      return 2;
    }
  } else if (!opt_.tokens_file.empty()) {
    kind = "x5c-jwt";
    if (!load_pairs(opt_.tokens_file, creds_, true, opt_)) {
      std::fprintf(stderr, "connect: cannot read %s\n", opt_.tokens_file.c_str());
      return 2;
    }
  } else if (!opt_.cert_dir.empty()) {
    kind = "mtls";
    if (!load_cert_dir(opt_.cert_dir, creds_, opt_.count)) {
      std::fprintf(stderr, "connect: cannot load certificates from %s\n", opt_.cert_dir.c_str());
      return 2;
    }
  }
  use_tls_ = opt_.tls || !opt_.cert_dir.empty();
  tls_.set_verify_mode(asio::ssl::verify_none);  // the bench measures the broker, not server-cert checks
  count_ = creds_.empty() ? opt_.count : std::min<std::size_t>(opt_.count, creds_.size());
  const unsigned workers = std::max(1u, std::min<unsigned>(opt_.concurrency, static_cast<unsigned>(count_)));
  std::vector<worker_result> results(workers);
  const bool strands = common_.threads > 1;
  std::optional<plain_storm> plain;
  if (!use_tls_) {
    // Every CONNECT encoded before the clock starts (the devices' credentials are fixed).
    std::vector<std::vector<std::uint8_t>> frames;
    frames.reserve(count_);
    for (std::size_t i = 0; i < count_; ++i) frames.push_back(encode_connect(params_for(i)));
    plain.emplace(ioc_, endpoint_, std::move(frames), count_, opt_.timeout_s, results, strands);
  }
  const auto before = sample_process(common_.broker_pid);
  const double client_cpu = self_cpu_seconds();
  const std::uint64_t t0 = now_ns();
  if (plain) {
    plain->start();
  } else {
    for (auto& r : results) {
      auto ex = strands ? asio::any_io_executor(asio::make_strand(ioc_)) : asio::any_io_executor(ioc_.get_executor());
      asio::co_spawn(ex, worker(r), [](std::exception_ptr e) { report_exception(e, "connect worker"); });
    }
  }
  std::vector<std::thread> threads;
  for (unsigned t = 1; t < std::max(1u, common_.threads); ++t) threads.emplace_back([this] { ioc_.run(); });
  ioc_.run();
  for (auto& t : threads) t.join();
  const std::uint64_t t1 = now_ns();
  const auto after = sample_process(common_.broker_pid);

  worker_result all;
  for (auto& r : results) {
    all.latency.merge(r.latency);
    for (auto [code, n] : r.codes) all.codes[code] += n;
    all.timeouts += r.timeouts;
    if (all.first_error.empty()) all.first_error = r.first_error;
  }
  const std::uint64_t accepted = all.codes.count(0) ? all.codes[0] : 0;
  std::string codes = "{";
  for (auto [code, n] : all.codes) {
    if (codes.size() > 1) codes += ", ";
    codes += "\"" + (code < 0 ? std::string("error") : std::to_string(code)) + "\": " + std::to_string(n);
  }
  codes += "}";
  const double secs = static_cast<double>(t1 - t0) / 1e9;
  json_line j;
  j.add("mode", "connect").add("scenario", common_.label).add("broker", common_.broker).add("kind", kind);
  j.add("tls", use_tls_).add("count", static_cast<std::uint64_t>(count_)).add("concurrency", workers);
  j.add("accepted", accepted).add_raw("connack_codes", codes).add("timeouts", all.timeouts);
  j.add("elapsed_s", secs).add("connects_per_s", secs > 0 ? static_cast<double>(accepted) / secs : 0.0);
  j.add_latency("lat", all.latency);
  j.add_broker(before, after);
  j.add_client_cpu(client_cpu);
  if (before.ok && after.ok && accepted > 0) {
    j.add("broker_cpu_ms_per_connect", (after.cpu_seconds - before.cpu_seconds) * 1e3 / static_cast<double>(accepted));
  }
  if (!all.first_error.empty()) j.add("first_error", all.first_error);
  std::printf("%s\n", j.str().c_str());
  std::fflush(stdout);
  return accepted == count_ ? 0 : 1;
}

}  // namespace

int run_connect(const common_options& common, const connect_options& options) {
  raise_file_limit();
  connect_run r(common, options);
  return r.run();
}

}  // namespace portcullis::bench
