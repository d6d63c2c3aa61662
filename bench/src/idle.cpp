// `portcullis-bench idle`: opens N MQTT connections (CONNECT, wait for CONNACK) at concurrency
// C, holds them for --hold seconds with keep-alive 0 (or the given keep-alive, which must then
// exceed the hold time: the bench sends no PINGREQ), and reports how many were established and
// how many are still held at the end (a connection counts as dropped when its socket reads EOF
// or an error). With --broker-pid it samples the broker's VmRSS before the first connect and at
// the end of the hold, and reports the resident memory per held connection. With --cert-dir
// each connection is TLS with its own client certificate (client id = the CN), so the same
// figure covers idle mTLS devices.

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <memory>
#include <thread>
#include <vector>

#include "credentials.hpp"
#include "modes.hpp"
#include "mqtt_client.hpp"
#include "stats.hpp"

namespace portcullis::bench {

namespace {

using namespace std::chrono_literals;

struct idle_conn {
  idle_conn(asio::io_context& ioc, asio::ssl::context* tls) : strand(asio::make_strand(ioc)), conn(strand, tls, 256) {}
  asio::strand<asio::io_context::executor_type> strand;
  mqtt_connection conn;
};

class idle_run {
 public:
  idle_run(const common_options& c, const idle_options& o) : common_(c), opt_(o) {}
  int run();

 private:
  awaitable<void> opener();
  awaitable<void> watch(idle_conn& c);
  awaitable<void> control();

  const common_options& common_;
  const idle_options& opt_;
  asio::io_context ioc_;
  asio::ssl::context tls_{asio::ssl::context::tls_client};
  std::vector<credential> creds_;  // --cert-dir: one per connection
  tcp::endpoint endpoint_;
  std::vector<std::unique_ptr<idle_conn>> conns_;
  std::atomic<std::size_t> next_{0};
  std::atomic<std::size_t> attempted_{0};
  std::atomic<std::size_t> connected_{0};
  std::atomic<std::size_t> dropped_{0};
  std::atomic<bool> finished_{false};
  std::string first_error_;  // written by openers on their own strands; read after run()
  std::atomic<bool> has_error_{false};
  process_sample before_, connected_sample_, after_;
  double connect_secs_ = 0;
};

awaitable<void> idle_run::watch(idle_conn& c) {
  // Any inbound data is unexpected for an idle client; an error means the broker dropped it.
  auto ec = co_await c.conn.read_frames([](protocol::frame&&) {});
  while (!ec) ec = co_await c.conn.read_frames([](protocol::frame&&) {});
  if (!finished_.load()) ++dropped_;
}

awaitable<void> idle_run::opener() {
  for (;;) {
    const std::size_t i = next_++;
    if (i >= conns_.size()) co_return;
    auto& c = *conns_[i];
    connect_params p;
    p.client_id = opt_.client_prefix + std::to_string(::getpid()) + "-" + std::to_string(i);
    if (!creds_.empty()) {
      const auto& cred = creds_[i];
      p.client_id = cred.params.client_id;
      if (SSL_use_certificate(c.conn.native_ssl(), cred.cert.get()) != 1 ||
          SSL_use_PrivateKey(c.conn.native_ssl(), cred.key.get()) != 1) {
        if (!has_error_.exchange(true)) first_error_ = "SSL_use_certificate failed for " + p.client_id;
        ++attempted_;
        continue;
      }
    }
    p.keep_alive = opt_.keep_alive;
    // Opened on the connection's own strand so that its watcher and close() never race.
    auto outcome = co_await asio::co_spawn(c.strand, c.conn.connect(endpoint_, p), asio::use_awaitable);
    if (outcome.connack_code == 0) {
      ++connected_;
      asio::co_spawn(c.strand, watch(c), [](std::exception_ptr e) { report_exception(e, "idle watch"); });
    } else if (!has_error_.exchange(true)) {
      first_error_ = "connack " + std::to_string(outcome.connack_code) + " " + outcome.error;
    }
    ++attempted_;
  }
}

awaitable<void> idle_run::control() {
  asio::steady_timer t(co_await asio::this_coro::executor);
  const std::uint64_t t0 = now_ns();
  while (attempted_.load() < conns_.size()) {
    t.expires_after(10ms);
    co_await t.async_wait(use_nothrow);
  }
  connect_secs_ = static_cast<double>(now_ns() - t0) / 1e9;
  connected_sample_ = sample_process(common_.broker_pid);
  t.expires_after(std::chrono::milliseconds(static_cast<std::int64_t>(opt_.hold_s * 1000)));
  co_await t.async_wait(use_nothrow);
  after_ = sample_process(common_.broker_pid);
  finished_ = true;
  for (auto& c : conns_) {
    asio::post(c->strand, [&conn = c->conn] { conn.close(); });
  }
}

int idle_run::run() {
  endpoint_ = make_endpoint(common_.host, common_.port);
  if (!opt_.cert_dir.empty()) {
    if (!load_cert_dir(opt_.cert_dir, creds_, opt_.count) || creds_.size() < opt_.count) {
      std::fprintf(stderr, "idle: %s does not hold %u readable certificate/key pairs\n", opt_.cert_dir.c_str(),
                   opt_.count);
      return 2;
    }
    tls_.set_verify_mode(asio::ssl::verify_none);  // the bench measures the broker, not server-cert checks
  }
  asio::ssl::context* tls = creds_.empty() ? nullptr : &tls_;
  conns_.reserve(opt_.count);
  for (unsigned i = 0; i < opt_.count; ++i) conns_.push_back(std::make_unique<idle_conn>(ioc_, tls));
  before_ = sample_process(common_.broker_pid);
  const unsigned workers = std::max(1u, std::min(opt_.concurrency, opt_.count));
  for (unsigned w = 0; w < workers; ++w) {
    asio::co_spawn(asio::make_strand(ioc_), opener(), [](std::exception_ptr e) { report_exception(e, "idle opener"); });
  }
  asio::co_spawn(asio::make_strand(ioc_), control(), [](std::exception_ptr e) { report_exception(e, "idle control"); });
  std::vector<std::thread> threads;
  for (unsigned t = 1; t < std::max(1u, common_.threads); ++t) threads.emplace_back([this] { ioc_.run(); });
  ioc_.run();
  for (auto& t : threads) t.join();

  const std::size_t held = connected_.load() - dropped_.load();
  json_line j;
  j.add("mode", "idle").add("scenario", common_.label).add("broker", common_.broker);
  j.add("count", opt_.count).add("concurrency", workers).add("keep_alive", static_cast<unsigned>(opt_.keep_alive));
  j.add("tls", !creds_.empty());
  j.add("hold_s", opt_.hold_s).add("connected", static_cast<std::uint64_t>(connected_.load()));
  j.add("held", static_cast<std::uint64_t>(held)).add("dropped", static_cast<std::uint64_t>(dropped_.load()));
  j.add("connect_elapsed_s", connect_secs_);
  j.add_broker(before_, after_);
  if (before_.ok && after_.ok && held > 0) {
    j.add("broker_rss_connected_kib", static_cast<std::int64_t>(connected_sample_.rss_kib));
    j.add("bytes_per_connection", static_cast<double>(after_.rss_kib - before_.rss_kib) * 1024.0 / static_cast<double>(held));
  }
  if (has_error_.load()) j.add("first_error", first_error_);
  std::printf("%s\n", j.str().c_str());
  std::fflush(stdout);
  return held == opt_.count ? 0 : 1;
}

}  // namespace

unsigned long raise_file_limit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  return static_cast<unsigned long>(lim.rlim_cur);
}

int run_idle(const common_options& common, const idle_options& options) {
  const unsigned long limit = raise_file_limit();
  if (options.count + 64 > limit) {
    std::fprintf(stderr, "idle: %u connections need more than the file limit %lu allows\n", options.count, limit);
  }
  idle_run r(common, options);
  return r.run();
}

}  // namespace portcullis::bench
