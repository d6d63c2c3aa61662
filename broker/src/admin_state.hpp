#pragma once
// Internal state of the admin HTTP API (SPEC §5) shared by the listener, the
// HTTP sessions and the route handlers. Everything here is touched on the
// control io_context only (single thread), so nothing is locked.
//
// Lifetime: HTTP session coroutines hold a shared_ptr<admin_state>; when the
// control context is destroyed with sessions still suspended, their frames are
// destroyed after the admin_server is gone, so session destructors touch only
// this object, never admin_context.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>

#include <boost/beast/core/tcp_stream.hpp>

#include "admin_context.hpp"

namespace portcullis::broker {

/// One open admin connection. `waiting` while it waits for (the rest of) a request, since
/// `since`: such a connection is what the connection bound closes first (below).
struct admin_connection_slot {
  boost::beast::tcp_stream* stream = nullptr;
  bool waiting = false;
  std::chrono::steady_clock::time_point since{};
};

struct admin_state {
  explicit admin_state(admin_context& c) : ctx(c) {}

  admin_context& ctx;
  bool stopping = false;
  std::uint64_t next_session_id = 1;
  /// Open admin connections (for stop() and the connection bound).
  std::unordered_map<std::uint64_t, admin_connection_slot> sessions;
  std::uint64_t connections_total = 0;
  std::uint64_t connections_refused = 0;
  std::uint64_t connections_evicted = 0;
  /// Responses sent, by HTTP status code (for /metrics).
  std::map<unsigned, std::uint64_t> responses_by_status;
};

/// At most this many admin connections are open at once. A new one beyond that closes the
/// connection that has waited longest for a request (idle keep-alives, slow or silent
/// clients), so that connections which send nothing cannot lock the API and /healthz out;
/// only when every connection is busy with a request is the new one refused.
inline constexpr std::size_t admin_max_connections = 256;

}  // namespace portcullis::broker
