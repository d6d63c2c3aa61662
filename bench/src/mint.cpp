// `portcullis-bench mint`: N device certificates (distinct subjects CN=<prefix><nnnnnn>, all
// issued by the given tenant CA) and, optionally, one x5c JWT per device, generated in-process.
// RSA key generation dominates `portcullis pki device` (~100 ms per key), so all devices share
// ONE key pair: each still has its own certificate and subject, which is what binding and
// provisioning look at. That is acceptable for a benchmark and nowhere else.
//
// Outputs: --tokens-out FILE ("clientid token" per line, the chain in x5c is [device, CA]) and/or
// --cert-dir DIR (<cn>.crt and <cn>.key per device, for the mTLS storm).

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>
#include <vector>

#include "modes.hpp"
#include "portcullis/auth/pki.hpp"
#include "portcullis/auth/token.hpp"
#include "stats.hpp"

namespace portcullis::bench {

namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool write_file(const std::filesystem::path& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  return static_cast<bool>(out);
}

std::string device_name(const std::string& prefix, unsigned i) {
  char digits[16];
  std::snprintf(digits, sizeof digits, "%06u", i);
  return prefix + digits;
}

}  // namespace

int run_mint(const mint_options& o) {
  const auth::pki::issued ca{read_file(o.ca_cert), read_file(o.ca_key)};
  if (ca.cert_pem.empty() || ca.key_pem.empty()) {
    std::fprintf(stderr, "mint: cannot read --ca-cert/--ca-key\n");
    return 2;
  }
  const std::uint64_t t0 = now_ns();
  auto key = auth::pki::generate_rsa_key(2048);
  if (!key) {
    std::fprintf(stderr, "mint: key generation failed: %s\n", key.error().c_str());
    return 1;
  }
  if (!o.cert_dir.empty()) std::filesystem::create_directories(o.cert_dir);
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch()).count();
  std::vector<std::string> lines(o.count);
  std::atomic<unsigned> next{0};
  std::atomic<bool> failed{false};
  std::mutex err_mutex;
  std::string first_error;
  auto fail = [&](const std::string& what) {
    std::lock_guard lock(err_mutex);
    if (!failed.exchange(true)) first_error = what;
  };
  auto work = [&] {
    for (unsigned i = next++; i < o.count && !failed.load(); i = next++) {
      const std::string cn = device_name(o.prefix, i);
      auth::pki::device_options dopt;
      dopt.valid = auth::pki::days_from(now, 2);
      dopt.key_pem = *key;
      dopt.client_auth_eku = o.client_auth;
      auto dev = auth::pki::make_device_cert(cn, ca, dopt);
      if (!dev) return fail(cn + ": " + dev.error());
      if (!o.cert_dir.empty()) {
        const std::filesystem::path dir(o.cert_dir);
        if (!write_file(dir / (cn + ".crt"), dev->cert_pem) || !write_file(dir / (cn + ".key"), dev->key_pem)) {
          return fail("cannot write into " + o.cert_dir);
        }
      }
      if (!o.tokens_out.empty()) {
        auth::mint_request req;
        req.cert_pem = dev->cert_pem;
        req.key_pem = dev->key_pem;
        req.chain_pems = {ca.cert_pem};
        req.client_id = cn;
        req.lifetime_seconds = o.lifetime_s;
        req.tenant = o.tenant;
        req.now = now;
        auto token = auth::mint_x5c_jwt(req);
        if (!token) return fail(cn + ": " + token.error());
        lines[i] = cn + " " + *token + "\n";
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 1; t < std::max(1u, o.threads); ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  if (failed.load()) {
    std::fprintf(stderr, "mint: %s\n", first_error.c_str());
    return 1;
  }
  if (!o.tokens_out.empty()) {
    std::ofstream out(o.tokens_out, std::ios::trunc);
    for (const auto& l : lines) out << l;
    if (!out) {
      std::fprintf(stderr, "mint: cannot write %s\n", o.tokens_out.c_str());
      return 1;
    }
  }
  json_line j;
  j.add("mode", "mint").add("count", o.count).add("elapsed_s", static_cast<double>(now_ns() - t0) / 1e9);
  std::printf("%s\n", j.str().c_str());
  return 0;
}

}  // namespace portcullis::bench
