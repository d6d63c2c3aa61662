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
//    certificates with a fatal internal-error alert. Stateful tickets would be cheap, but a
//    connection closes without close_notify (transport.cpp), and OpenSSL drops such a
//    session from its cache at once. So tickets are off until the transport shuts TLS down
//    cleanly; the id context is set so that enabling them is a one-line change here.
//  * No automatic server chain building: the context has no CA store, so OpenSSL's attempt to
//    complete the server chain on every handshake could find nothing. The server sends the
//    chain file as given, as before.
//
// Key exchange: OpenSSL's default group order already prefers X25519 (cheaper than P-256),
// which is also what Mosquitto negotiates (TLS 1.3, X25519, RSA-PSS, AES-256-GCM).

#include "tls_context.hpp"

#include <string>

#include <openssl/ssl.h>

#include <boost/asio/ssl/context.hpp>

namespace portcullis::broker {

std::shared_ptr<boost::asio::ssl::context> make_tls_context(const listener_config& l, std::size_t index) {
  namespace asio = boost::asio;
  const std::string key = "listeners[" + std::to_string(index) + "].tls";
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::single_dh_use);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(l.tls->cert, ec);
  if (ec) throw config_error(key + ".cert", "cannot load certificate chain " + l.tls->cert + ": " + ec.message());
  ctx->use_private_key_file(l.tls->key, asio::ssl::context::pem, ec);
  if (ec) throw config_error(key + ".key", "cannot load private key " + l.tls->key + ": " + ec.message());
  if (SSL_CTX_check_private_key(native) != 1) {
    throw config_error(key + ".key", "private key does not match the certificate");
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
  SSL_CTX_set_mode(native, SSL_MODE_NO_AUTO_CHAIN);
  return ctx;
}

}  // namespace portcullis::broker
