#pragma once
// The server TLS context of an mqtt listener: its files, the client-certificate mode, and
// what a handshake costs the broker (settings in tls_context.cpp, each with its reason). Chain validation is NOT done here: the mtls auth
// method validates the client chain against the tenant CAs at CONNECT (they change at run
// time), with the validated-chain cache.

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>

#include "portcullis/broker/config.hpp"

namespace portcullis::broker {

/// Builds the listener's TLS contexts (TLS 1.2 minimum, client certificates requested per
/// `client_certs`), one per I/O worker, each in that worker's OpenSSL library context
/// (auth::tls_library_context): OpenSSL 3.0 takes a library context's locks for every
/// algorithm fetch and certificate parse, which two workers handshaking at once contend on.
/// Throws config_error naming the key. Called at start-up and on SIGHUP. A server certificate
/// outside its validity period is loaded all the same, with a warning: logged, or appended to
/// `warnings` when given (check-config, whose stdout is the effective config).
std::vector<std::shared_ptr<boost::asio::ssl::context>> make_tls_contexts(const listener_config& l, std::size_t index,
                                                                          std::size_t workers,
                                                                          std::vector<std::string>* warnings = nullptr);

}  // namespace portcullis::broker
