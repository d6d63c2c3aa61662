// `portcullis-tls-bench`: the server side of full TLS handshakes with a client certificate,
// in-process over BIO pairs, in the broker's own TLS context (broker/src/tls_context.cpp, built
// by make_tls_contexts exactly as a listener with client_certs "required" builds it).
//
// Why: the mTLS storm's broker CPU per handshake drifts 10-20 % with the shared machine, more
// than most changes to the handshake path. Here each handshake is followed by one bare RSA
// signature with the server key, and the report gives the server side's cost in those
// signatures; the machine's drift hits both alike and cancels out. Only the server's calls are
// timed (thread CPU time): SSL_new, every SSL_do_handshake, SSL_free. The client runs in the
// same thread in OpenSSL's default context and is not counted.
//
//   portcullis-tls-bench --cert server.crt --key server.key --client-cert dev.crt --client-key dev.key
//                        [-n 300] [--rounds 3]
//
// Prints one JSON line: protocol, cipher, and per round the server µs per handshake, the µs per
// reference signature and their ratio; "signatures" is the median ratio.

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "tls_context.hpp"

namespace {

double thread_cpu_us() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_nsec) / 1e3;
}

std::string openssl_error() {
  char buf[256] = "unknown error";
  if (unsigned long e = ERR_get_error(); e != 0) ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

int fail(const std::string& what) {
  std::fprintf(stderr, "portcullis-tls-bench: %s\n", what.c_str());
  return 1;
}

using ssl_ptr = std::unique_ptr<SSL, decltype(&SSL_free)>;

struct round_result {
  double server_us = 0;  // per handshake
  double sign_us = 0;    // per reference signature
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Server-side CPU of full TLS handshakes with client certificates, in RSA signatures"};
  std::string cert, key, client_cert, client_key;
  unsigned n = 300, rounds = 3;
  app.add_option("--cert", cert, "Server certificate chain (PEM)")->required();
  app.add_option("--key", key, "Server private key (PEM)")->required();
  app.add_option("--client-cert", client_cert, "Client certificate (PEM)")->required();
  app.add_option("--client-key", client_key, "Client private key (PEM)")->required();
  app.add_option("-n", n, "Handshakes per round")->check(CLI::Range(1u, 1000000u));
  app.add_option("--rounds", rounds, "Rounds")->check(CLI::Range(1u, 100u));
  CLI11_PARSE(app, argc, argv);

  portcullis::broker::listener_config l;
  l.name = "bench";
  l.protocol = "mqtt";
  l.auth = {"mtls"};
  l.tls = portcullis::broker::tls_config{cert, key, portcullis::broker::client_cert_mode::required};
  std::shared_ptr<boost::asio::ssl::context> server;
  try {
    server = portcullis::broker::make_tls_contexts(l, 0, 1).front();
  } catch (const std::exception& e) {
    return fail(e.what());
  }

  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> client(SSL_CTX_new(TLS_client_method()), &SSL_CTX_free);
  if (!client || SSL_CTX_use_certificate_file(client.get(), client_cert.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_use_PrivateKey_file(client.get(), client_key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return fail("client certificate or key: " + openssl_error());
  }
  SSL_CTX_set_verify(client.get(), SSL_VERIFY_NONE, nullptr);  // the server is not under test

  // The reference: one RSA signature over a SHA-256 digest with the server's own key.
  std::unique_ptr<FILE, int (*)(FILE*)> kf(std::fopen(key.c_str(), "r"), &std::fclose);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> pkey(
      kf ? PEM_read_PrivateKey(kf.get(), nullptr, nullptr, nullptr) : nullptr, &EVP_PKEY_free);
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> sign_ctx(
      pkey ? EVP_PKEY_CTX_new(pkey.get(), nullptr) : nullptr, &EVP_PKEY_CTX_free);
  if (!sign_ctx || EVP_PKEY_sign_init(sign_ctx.get()) != 1 ||
      EVP_PKEY_CTX_set_signature_md(sign_ctx.get(), EVP_sha256()) != 1) {
    return fail("server key cannot sign: " + openssl_error());
  }
  const unsigned char digest[32] = {1};
  std::vector<unsigned char> signature(static_cast<std::size_t>(EVP_PKEY_get_size(pkey.get())));

  std::string protocol, cipher;
  std::vector<round_result> results;
  for (unsigned r = 0; r < rounds; ++r) {
    double server_us = 0, sign_us = 0;
    for (unsigned i = 0; i < n; ++i) {
      double t0 = thread_cpu_us();
      ssl_ptr s(SSL_new(server->native_handle()), &SSL_free);
      BIO* server_bio = nullptr;
      BIO* client_bio = nullptr;
      if (!s || BIO_new_bio_pair(&server_bio, 0, &client_bio, 0) != 1) return fail("SSL_new: " + openssl_error());
      SSL_set_bio(s.get(), server_bio, server_bio);
      SSL_set_accept_state(s.get());
      server_us += thread_cpu_us() - t0;
      ssl_ptr c(SSL_new(client.get()), &SSL_free);
      if (!c) return fail("SSL_new (client): " + openssl_error());
      SSL_set_bio(c.get(), client_bio, client_bio);
      SSL_set_connect_state(c.get());
      bool server_done = false, client_done = false;
      for (int step = 0; step < 16 && !(server_done && client_done); ++step) {
        if (!client_done) {
          int rc = SSL_do_handshake(c.get());
          if (rc == 1) {
            client_done = true;
          } else if (SSL_get_error(c.get(), rc) != SSL_ERROR_WANT_READ) {
            return fail("client handshake: " + openssl_error());
          }
        }
        if (!server_done) {
          t0 = thread_cpu_us();
          int rc = SSL_do_handshake(s.get());
          server_us += thread_cpu_us() - t0;
          if (rc == 1) {
            server_done = true;
          } else if (SSL_get_error(s.get(), rc) != SSL_ERROR_WANT_READ) {
            return fail("server handshake: " + openssl_error());
          }
        }
      }
      if (!server_done || !client_done) return fail("handshake did not complete");
      if (protocol.empty()) {
        protocol = SSL_get_version(s.get());
        cipher = SSL_get_cipher_name(s.get());
        if (SSL_get0_peer_certificate(s.get()) == nullptr) return fail("the server saw no client certificate");
      }
      c.reset();
      t0 = thread_cpu_us();
      s.reset();
      server_us += thread_cpu_us() - t0;
      t0 = thread_cpu_us();
      std::size_t len = signature.size();
      if (EVP_PKEY_sign(sign_ctx.get(), signature.data(), &len, digest, sizeof digest) != 1) {
        return fail("reference signature: " + openssl_error());
      }
      sign_us += thread_cpu_us() - t0;
    }
    results.push_back({server_us / n, sign_us / n});
  }

  std::vector<double> ratios;
  std::string rounds_json;
  for (const auto& r : results) {
    ratios.push_back(r.server_us / r.sign_us);
    char buf[160];
    std::snprintf(buf, sizeof buf, "%s{\"server_us\": %.1f, \"sign_us\": %.1f, \"signatures\": %.3f}",
                  rounds_json.empty() ? "" : ", ", r.server_us, r.sign_us, r.server_us / r.sign_us);
    rounds_json += buf;
  }
  std::sort(ratios.begin(), ratios.end());
  std::printf(
      "{\"mode\": \"tls-handshake\", \"protocol\": \"%s\", \"cipher\": \"%s\", \"handshakes_per_round\": %u, "
      "\"rounds\": [%s], \"signatures\": %.3f}\n",
      protocol.c_str(), cipher.c_str(), n, rounds_json.c_str(), ratios[ratios.size() / 2]);
  return 0;
}
