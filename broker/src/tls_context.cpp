// Per-handshake cost of the server TLS context (tls_context.hpp). A full handshake with an
// RSA-2048 server key is dominated by the one RSA signature (~0.5 ms), which no setting here
// can avoid; these settings remove what the broker did on top of it:
//
//  * No OpenSSL chain verification of the client certificate. The context trusts no CA (the
//    tenant CAs live in the auth trust snapshot), so X509_verify_cert could only fail and the
//    old verify callback overrode every error: a verification context and a chain build per
//    handshake for nothing. The certificate callback now accepts the chain as presented; the
//    mtls auth method validates it (once, then from the chain cache) at CONNECT. Key
//    possession is still proven by the client's CertificateVerify, and `client_certs:
//    required` is still enforced by SSL_VERIFY_FAIL_IF_NO_PEER_CERT.
//  * No session tickets. OpenSSL 3.0 made each stateless ticket by serialising the session,
//    parsing it back (the client certificate with its public key again, ~0.25 ms) and
//    encrypting it, twice per handshake, yet no client could resume: without a session id
//    context OpenSSL answers a resumption attempt on a listener that requests client
//    certificates with a fatal internal-error alert. Stateful tickets would be cheap (the
//    transport now sends close_notify, so OpenSSL would keep the sessions), but every full
//    handshake would pay for a cache entry and a ticket message that clients which do not
//    resume never use. The id context is set so that enabling them is a small change here.
//  * Record buffers only while a record is in transit (SSL_MODE_RELEASE_BUFFERS): an idle
//    connection holds no 17 KiB read or write buffer. read_ahead lets one recv take every
//    record that has arrived; partial writes and a moving write buffer are what the
//    transport's staging needs (tls_transport.cpp).
//  * No renegotiation (TLS 1.2): a client cannot make the broker redo the expensive half of a
//    handshake on an established connection. OpenSSL 3.0 already refuses client-initiated
//    renegotiation by default; the option says so here, independent of that default.
//  * No automatic server chain building: the context has no CA store, so OpenSSL's attempt to
//    complete the server chain on every handshake could find nothing. The server sends the
//    chain file as given, as before.
//
// Key exchange: OpenSSL's default group order already prefers X25519 (cheaper than P-256),
// which is also what Mosquitto negotiates (TLS 1.3, X25519, RSA-PSS, AES-256-GCM).

#include "tls_context.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <portcullis/auth/crypto_context.hpp>
#include "portcullis/broker/logging.hpp"

#include <boost/asio/buffer.hpp>
#include <boost/asio/ssl/context.hpp>

namespace portcullis::broker {
namespace {

using evp_pkey_ptr = std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)>;

// A listener's files, read once per start-up or SIGHUP and shared by every worker's context:
// all of them serve the same certificate and key even if the files change while they load.
struct tls_files {
  std::string cert_chain_pem;
  evp_pkey_ptr key{nullptr, &EVP_PKEY_free};
};

/// A regular file (through symlinks), checked before opening: opening a FIFO would block the
/// thread that reloads (it also accepts connections and serves the admin API), and reading a
/// directory throws from inside the stream library.
void require_regular_file(const std::string& path, const std::string& config_key, const char* what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    throw config_error(config_key, std::string("cannot read ") + what + " " + path + ": " + std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) throw config_error(config_key, std::string(what) + " " + path + " is not a regular file");
}

std::string read_file(const std::string& path, const std::string& config_key, const char* what) {
  require_regular_file(path, config_key, what);
  std::ifstream in(path, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) throw config_error(config_key, std::string("cannot read ") + what + " " + path);
  return text;
}

// The key is decoded in the default library context: the TLS contexts' own cannot read private
// keys or PEM. An encrypted key is refused rather than prompting for a passphrase on a tty.
evp_pkey_ptr load_private_key(const std::string& path, const std::string& config_key) {
  require_regular_file(path, config_key, "private key");
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(path.c_str(), "r"), &BIO_free);
  auto no_passphrase = [](char*, int, int, void*) { return -1; };
  evp_pkey_ptr pkey(bio ? PEM_read_bio_PrivateKey_ex(bio.get(), nullptr, no_passphrase, nullptr, nullptr, nullptr)
                        : nullptr,
                    &EVP_PKEY_free);
  if (pkey) return pkey;
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (ERR_GET_REASON(e) == PEM_R_BAD_PASSWORD_READ) {
    throw config_error(config_key,
                       "private key " + path + " is encrypted; the broker needs it unencrypted (readable only by its user)");
  }
  char buf[256] = "no PEM private key";
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  throw config_error(config_key, "cannot load private key " + path + ": " + buf);
}

std::shared_ptr<boost::asio::ssl::context> make_tls_context(const listener_config& l, std::size_t index,
                                                            std::size_t slot, const tls_files& files) {
  namespace asio = boost::asio;
  const std::string key = "listeners[" + std::to_string(index) + "].tls";
  // In the lean library context: each client certificate's public key is decoded in ~50 us
  // there instead of ~180 us (see auth/crypto_context.hpp).
  SSL_CTX* created = SSL_CTX_new_ex(auth::tls_library_context(slot), nullptr, TLS_server_method());
  if (created == nullptr) {
    ERR_clear_error();
    throw config_error(key, "cannot create a TLS context");
  }
  auto ctx = std::make_shared<asio::ssl::context>(created);  // owns it from here
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  // TLS 1.2: forward-secret (ECDHE) suites only, AEAD first; the CBC ones stay for older
  // device stacks. No static-RSA key exchange: a leaked server key would decrypt recorded
  // sessions. (TLS 1.3 suites are all forward-secret AEAD: OpenSSL's defaults.)
  if (SSL_CTX_set_cipher_list(native, "ECDHE+AESGCM:ECDHE+CHACHA20:ECDHE+AES:!aNULL") != 1) {
    ERR_clear_error();
    throw config_error(key, "cannot set the TLS 1.2 cipher suites");
  }
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::single_dh_use);
  boost::system::error_code ec;
  ctx->use_certificate_chain(asio::buffer(files.cert_chain_pem), ec);
  if (ec) throw config_error(key + ".cert", "cannot load certificate chain " + l.tls->cert + ": " + ec.message());
  if (X509_check_private_key(SSL_CTX_get0_certificate(native), files.key.get()) != 1) {
    ERR_clear_error();
    throw config_error(key + ".key", "private key " + l.tls->key + " does not match the certificate");
  }
  if (SSL_CTX_use_PrivateKey(native, files.key.get()) != 1) {
    char buf[256] = "";
    ERR_error_string_n(ERR_peek_last_error(), buf, sizeof buf);
    ERR_clear_error();
    throw config_error(key + ".key", "cannot use private key " + l.tls->key + ": " + buf);
  }
  if (l.tls->client_certs != client_cert_mode::none) {
    // Request (or require) the client's chain and accept it as presented; the mtls
    // auth method validates it against the tenant CAs, which change at run time.
    int mode = SSL_VERIFY_PEER;
    if (l.tls->client_certs == client_cert_mode::required) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(native, mode, nullptr);
    SSL_CTX_set_cert_verify_callback(native, [](X509_STORE_CTX*, void*) { return 1; }, nullptr);
  }
  // A session may only ever resume on the listener that made it.
  std::string sid_context = "portcullis:" + l.name;
  if (sid_context.size() > SSL_MAX_SID_CTX_LENGTH) sid_context.resize(SSL_MAX_SID_CTX_LENGTH);
  SSL_CTX_set_session_id_context(native, reinterpret_cast<const unsigned char*>(sid_context.data()),
                                 static_cast<unsigned>(sid_context.size()));
  SSL_CTX_set_num_tickets(native, 0);
  SSL_CTX_set_options(native, SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(native, SSL_MODE_NO_AUTO_CHAIN | SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                               SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_read_ahead(native, 1);
  return ctx;
}

}  // namespace

std::vector<std::shared_ptr<boost::asio::ssl::context>> make_tls_contexts(const listener_config& l, std::size_t index,
                                                                          std::size_t workers,
                                                                          std::vector<std::string>* warnings) {
  const std::string key = "listeners[" + std::to_string(index) + "].tls";
  tls_files files;
  files.cert_chain_pem = read_file(l.tls->cert, key + ".cert", "certificate chain");
  files.key = load_private_key(l.tls->key, key + ".key");
  std::vector<std::shared_ptr<boost::asio::ssl::context>> out;
  for (std::size_t slot = 0; slot < std::max<std::size_t>(workers, 1); ++slot) {
    out.push_back(make_tls_context(l, index, slot, files));
  }
  // Loaded all the same (an operator may be replacing it), but every client that checks the
  // server will refuse it: say so at start-up, check-config and SIGHUP.
  if (X509* leaf = SSL_CTX_get0_certificate(out.front()->native_handle()); leaf != nullptr) {
    std::string why = X509_cmp_current_time(X509_get0_notAfter(leaf)) < 0    ? "has expired"
                      : X509_cmp_current_time(X509_get0_notBefore(leaf)) > 0 ? "is not valid yet"
                                                                             : "";
    if (!why.empty()) {
      std::string warning = key + ".cert " + l.tls->cert + ": the server certificate " + why +
                            "; TLS clients will refuse it";
      if (warnings != nullptr) {
        warnings->push_back(std::move(warning));
      } else {
        logger("broker")->warn("{}", warning);
      }
    }
  }
  return out;
}

}  // namespace portcullis::broker
