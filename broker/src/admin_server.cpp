// The admin listener (SPEC §5): binds the `protocol: "http"` listener on the
// control context, accepts while under admin_max_connections, and hands each
// socket to an HTTP session (admin_http.cpp). stop() closes the acceptor and
// every open admin connection.
#include "admin_server.hpp"

#include <chrono>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "admin_http.hpp"
#include "admin_state.hpp"
#include "listen_endpoint.hpp"
#include "portcullis/broker/logging.hpp"

namespace portcullis::broker {

namespace asio = boost::asio;
using asio::ip::tcp;

struct admin_server::impl {
  explicit impl(admin_context& c)
      : state(std::make_shared<admin_state>(c)), acceptor(c.control), backoff(c.control) {}

  void do_accept();
  void on_accept(const boost::system::error_code& ec, tcp::socket socket);
  /// Closes the open connection that has waited longest for a request; false if none waits.
  bool evict_longest_waiting();

  std::shared_ptr<admin_state> state;
  tcp::acceptor acceptor;
  boost::asio::steady_timer backoff;  // after an accept error (EMFILE): do not spin
  std::string name;
};

admin_server::admin_server(admin_context& ctx) : impl_(std::make_unique<impl>(ctx)) {}

admin_server::~admin_server() {
  // Sessions still suspended on the control context hold the shared state; make
  // sure they never reach back into a destroyed server.
  impl_->state->stopping = true;
}

std::uint16_t admin_server::listen(const listener_config& l, std::size_t index) {
  std::string key = "listeners[" + std::to_string(index) + "].bind";
  boost::system::error_code ec;
  tcp::endpoint ep = listen_endpoint(l, index, impl_->state->ctx.control);
  auto& a = impl_->acceptor;
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw config_error(key, "cannot listen on " + l.bind + ": " + ec.message());
  impl_->name = l.name;
  auto port = a.local_endpoint().port();
  auto host = ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string();
  logger("admin")->info("listening name={} protocol=http address={}:{}", l.name, host, port);
  return port;
}

void admin_server::start() {
  if (impl_->acceptor.is_open()) impl_->do_accept();
}

void admin_server::stop() {
  auto& st = *impl_->state;
  st.stopping = true;
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
  impl_->backoff.cancel();
  // Closing the sockets completes each session's pending operation with
  // operation_aborted; the session then leaves the registry itself.
  for (auto& [id, slot] : st.sessions) {
    if (slot.stream != nullptr) slot.stream->close();
  }
}

bool admin_server::impl::evict_longest_waiting() {
  admin_connection_slot* oldest = nullptr;
  for (auto& [id, slot] : state->sessions) {
    if (slot.waiting && slot.stream != nullptr && (oldest == nullptr || slot.since < oldest->since)) oldest = &slot;
  }
  if (oldest == nullptr) return false;  // every connection is busy with a request
  // Its read completes with operation_aborted and the session leaves the registry.
  oldest->stream->close();
  oldest->stream = nullptr;  // closed once, even if it is still registered at the next accept
  state->connections_evicted++;
  return true;
}

void admin_server::impl::do_accept() {
  acceptor.async_accept(state->ctx.control, [this](const boost::system::error_code& ec, tcp::socket socket) {
    on_accept(ec, std::move(socket));
  });
}

void admin_server::impl::on_accept(const boost::system::error_code& ec, tcp::socket socket) {
  if (ec == asio::error::operation_aborted || state->stopping) return;  // stop()
  if (ec) {
    // EMFILE and friends: log, wait a little, keep accepting; the admin API must not die of it.
    logger("admin")->warn("admin accept failed: {}", ec.message());
    backoff.expires_after(std::chrono::milliseconds(100));
    backoff.async_wait([this](const boost::system::error_code& wec) {
      if (!wec && !state->stopping) do_accept();
    });
    return;
  }
  if (state->sessions.size() >= admin_max_connections && !evict_longest_waiting()) {
    state->connections_refused++;
    boost::system::error_code cec;
    socket.close(cec);
  } else {
    state->connections_total++;
    start_admin_session(state, std::move(socket));
  }
  do_accept();
}

}  // namespace portcullis::broker
