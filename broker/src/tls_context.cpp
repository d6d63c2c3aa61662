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

#include "transport.hpp"

namespace portcullis::broker {

std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const listener_config& l, std::size_t index) {
  auto ctx = make_tls_context(l, index);
  SSL_CTX* native = ctx->native_handle();
  if (l.tls->client_certs != client_cert_mode::none) {
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
