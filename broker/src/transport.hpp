#pragma once
// Plain TCP and TLS transports for `connection`, and the TLS context factory.

#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "connection.hpp"
#include "worker_pool.hpp"

namespace portcullis::broker {

/// A TCP socket bound to a worker's io_context executor (not the type-erased
/// any_io_executor: smaller, and no indirection on every operation).
using worker_socket =
    boost::asio::ip::tcp::socket::rebind_executor<boost::asio::io_context::executor_type>::other;

/// Creates a connection over a plain TCP socket: `fd`, accepted non-blocking, owned from here
/// (closed by the connection, also when it fails to start). The worker's own epoll set
/// watches it (worker::watch), which is what keeps an idle connection small.
std::shared_ptr<connection> make_tcp_connection(broker_context& ctx, const listener_config& l, worker& w, int fd,
                                                bool v6, std::string remote);

/// Creates a connection over TLS; the handshake runs in start().
std::shared_ptr<connection> make_tls_connection(broker_context& ctx, const listener_config& l, worker& w,
                                                worker_socket&& socket, std::string remote,
                                                std::shared_ptr<boost::asio::ssl::context> tls);

}  // namespace portcullis::broker
