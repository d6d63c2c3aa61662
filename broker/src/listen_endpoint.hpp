// The address a listener binds (its `bind` key, validated by config.cpp): a numeric
// address as it is, a host name looked up now (the first result, as getaddrinfo orders
// them). Shared by the MQTT listeners (server.cpp) and the admin listener.
#pragma once

#include <cstddef>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "portcullis/broker/config.hpp"

namespace portcullis::broker {

/// Throws config_error naming `listeners[index].bind` when the host does not resolve.
boost::asio::ip::tcp::endpoint listen_endpoint(const listener_config& l, std::size_t index,
                                               boost::asio::io_context& io);

}  // namespace portcullis::broker
