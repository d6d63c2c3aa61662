#pragma once
// One admin HTTP/1.1 connection (Beast coroutine session, STYLE §c24): a new
// parser per request with body and header limits, a read/write deadline,
// keep-alive, and one close path.

#include <memory>

#include <boost/asio/ip/tcp.hpp>

#include "admin_state.hpp"

namespace portcullis::broker {

/// Spawns the session on the control context; it registers itself in
/// `state->sessions` while open. Control thread only.
void start_admin_session(const std::shared_ptr<admin_state>& state, boost::asio::ip::tcp::socket socket);

}  // namespace portcullis::broker
