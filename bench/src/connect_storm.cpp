// `portcullis-bench connect`: N connects at concurrency C, each a fresh TCP (or TLS) connection
// that sends CONNECT, waits for CONNACK, sends DISCONNECT and closes. Credentials per client:
//   --credentials FILE  "username password" lines (client id = username; Mosquitto password_file)
//   --tokens FILE       "clientid token" lines; username = --jwt-username (x5c JWT devices)
//   --cert-dir DIR      <cn>.crt + <cn>.key per client, TLS with that client certificate, client id = CN
//   none                anonymous, client ids <prefix><i>
// Latency runs from the start of the TCP connect to the CONNACK (TLS handshake included).
// Reports the CONNACK code histogram, accepted connects/s, latency percentiles and, with
// --broker-pid, the broker CPU per accepted connect.

#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <thread>
#include <variant>
#include <vector>

#include <boost/asio/experimental/awaitable_operators.hpp>

#include "modes.hpp"
#include "mqtt_client.hpp"
#include "stats.hpp"

namespace portcullis::bench {

namespace {

using namespace asio::experimental::awaitable_operators;

struct x509_free {
  void operator()(X509* x) const noexcept { X509_free(x); }
};
struct pkey_free {
  void operator()(EVP_PKEY* k) const noexcept { EVP_PKEY_free(k); }
};

struct credential {
  connect_params params;
  std::unique_ptr<X509, x509_free> cert;
  std::unique_ptr<EVP_PKEY, pkey_free> key;
};

struct worker_result {
  histogram latency;  // accepted connects only
  std::map<int, std::uint64_t> codes;  // CONNACK code -> count; -1 = transport/protocol failure
  std::uint64_t timeouts = 0;
  std::string first_error;
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

bool load_cert_dir(const std::string& dir, std::vector<credential>& out, unsigned limit) {
  std::vector<std::filesystem::path> certs;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.path().extension() == ".crt") certs.push_back(e.path());
  }
  std::sort(certs.begin(), certs.end());
  if (certs.size() > limit) certs.resize(limit);
  for (const auto& p : certs) {
    auto key_path = p;
    key_path.replace_extension(".key");
    std::unique_ptr<FILE, int (*)(FILE*)> cf(std::fopen(p.c_str(), "r"), &std::fclose);
    std::unique_ptr<FILE, int (*)(FILE*)> kf(std::fopen(key_path.c_str(), "r"), &std::fclose);
    if (!cf || !kf) return false;
    credential c;
    c.cert.reset(PEM_read_X509(cf.get(), nullptr, nullptr, nullptr));
    c.key.reset(PEM_read_PrivateKey(kf.get(), nullptr, nullptr, nullptr));
    if (!c.cert || !c.key) return false;
    c.params.client_id = p.stem().string();
    out.push_back(std::move(c));
  }
  return true;
}

class connect_run {
 public:
  connect_run(const common_options& c, const connect_options& o) : common_(c), opt_(o) {}
  int run();

 private:
  awaitable<void> worker(worker_result& r);
  awaitable<void> connect_one(std::size_t i, worker_result& r);

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

awaitable<void> connect_run::connect_one(std::size_t i, worker_result& r) {
  auto ex = co_await asio::this_coro::executor;
  mqtt_connection conn(ex, use_tls_ ? &tls_ : nullptr, 512);
  connect_params params;
  if (creds_.empty()) {
    params.client_id = opt_.client_prefix + std::to_string(i);
  } else {
    const auto& c = creds_[i];
    params = c.params;
    if (c.cert && (SSL_use_certificate(conn.native_ssl(), c.cert.get()) != 1 ||
                   SSL_use_PrivateKey(conn.native_ssl(), c.key.get()) != 1)) {
      ++r.codes[-1];
      if (r.first_error.empty()) r.first_error = "SSL_use_certificate failed for " + params.client_id;
      co_return;
    }
  }
  asio::steady_timer timer(ex);
  timer.expires_after(std::chrono::milliseconds(static_cast<std::int64_t>(opt_.timeout_s * 1000)));
  const std::uint64_t t0 = now_ns();
  auto outcome = co_await (conn.connect(endpoint_, params) || timer.async_wait(use_nothrow));
  const std::uint64_t t1 = now_ns();
  if (outcome.index() == 1) {
    ++r.timeouts;
    ++r.codes[-1];
    if (r.first_error.empty()) r.first_error = "timeout";
    conn.close();
    co_return;
  }
  const auto& o = std::get<0>(outcome);
  ++r.codes[o.connack_code];
  if (o.connack_code < 0 && r.first_error.empty()) r.first_error = o.error;
  if (o.connack_code == 0) {
    r.latency.add(t1 - t0);
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
  const auto before = sample_process(common_.broker_pid);
  const double client_cpu = self_cpu_seconds();
  const std::uint64_t t0 = now_ns();
  for (auto& r : results) {
    asio::co_spawn(asio::make_strand(ioc_), worker(r), [](std::exception_ptr e) { report_exception(e, "connect worker"); });
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
