// The admin HTTP session: read a request with a fresh parser (1 MiB body limit
// → 413, 8 KiB header limit → 431), route it, write the response, repeat while
// keep-alive. Every read and write has a 30 s deadline (tcp_stream::expires_after),
// so a stalled peer cannot hold one of the bounded admin connections forever.
#include "admin_http.hpp"

#include <array>
#include <chrono>
#include <exception>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include "admin_routes.hpp"
#include "portcullis/broker/logging.hpp"

namespace portcullis::broker {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;

constexpr auto io_timeout = std::chrono::seconds(30);
// A whole request (head and body, or the wait for the next one on a kept-alive connection)
// must arrive within this: a client trickling bytes holds one of the admin_max_connections
// slots for at most this long.
constexpr auto request_timeout = std::chrono::seconds(10);
constexpr std::uint64_t body_limit = 1024 * 1024;
constexpr std::uint32_t header_limit = 8 * 1024;
// After refusing an oversized body we read and discard up to this much before
// closing, so the client sees the 413 instead of a reset.
constexpr std::size_t drain_limit = 4 * 1024 * 1024;
constexpr auto drain_timeout = std::chrono::seconds(5);
constexpr auto tok = asio::as_tuple(asio::use_awaitable);

/// Registers the stream in state.sessions for its lifetime.
struct session_registration {
  std::shared_ptr<admin_state> state;
  std::uint64_t id;
  admin_connection_slot* slot;  // node-based map: stable while registered
  session_registration(std::shared_ptr<admin_state> s, beast::tcp_stream* stream)
      : state(std::move(s)), id(state->next_session_id++) {
    slot = &state->sessions.emplace(id, admin_connection_slot{stream}).first->second;
  }
  ~session_registration() { state->sessions.erase(id); }
  void waiting(bool on) {
    slot->waiting = on;
    if (on) slot->since = std::chrono::steady_clock::now();
  }
  session_registration(const session_registration&) = delete;
  session_registration& operator=(const session_registration&) = delete;
};

bool is_normal_close(const beast::error_code& ec) {
  // The peer went away or we closed the socket (stop(), deadline): not worth a warning.
  return ec == beast::http::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::operation_aborted ||
         ec == beast::error::timeout || ec == asio::error::broken_pipe ||
         ec == asio::error::bad_descriptor;
}

asio::awaitable<bool> write_response(admin_state& state, beast::tcp_stream& stream, http_response res,
                                     bool head = false) {
  res.set(http::field::server, "portcullis");
  res.prepare_payload();
  if (head) res.body().clear();  // Content-Length stays that of the GET answer (RFC 9110 §9.3.2)
  state.responses_by_status[static_cast<unsigned>(res.result_int())]++;
  stream.expires_after(io_timeout);
  auto [ec, n] = co_await http::async_write(stream, res, tok);
  (void)n;
  if (ec && !is_normal_close(ec)) logger("admin")->warn("admin write failed: {}", ec.message());
  co_return !ec;
}

/// Sends `res` with Connection: close, then discards what the client still sends.
asio::awaitable<void> refuse_and_close(admin_state& state, beast::tcp_stream& stream, http_response res) {
  res.keep_alive(false);
  if (!co_await write_response(state, stream, std::move(res))) co_return;
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  std::array<char, 16384> sink{};
  std::size_t drained = 0;
  stream.expires_after(drain_timeout);
  while (drained < drain_limit) {
    auto [rec, n] = co_await stream.async_read_some(asio::buffer(sink), tok);
    if (rec) break;
    drained += n;
  }
}

asio::awaitable<void> run_session(std::shared_ptr<admin_state> state, beast::tcp_stream stream) {
  session_registration reg(state, &stream);
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(body_limit);
    parser.header_limit(header_limit);
    stream.expires_after(request_timeout);
    reg.waiting(true);
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, tok);
    if (!ec && !parser.is_done()) {
      // A client that asks first (curl does for larger bodies) is told to send the body,
      // rather than waiting for its own timeout (RFC 9110 §10.1.1). A body over the limit
      // was already refused from its Content-Length, before this point.
      if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
        http::response<http::empty_body> go{http::status::continue_, parser.get().version()};
        stream.expires_after(io_timeout);
        auto [wec, wn] = co_await http::async_write(stream, go, tok);
        (void)wn;
        ec = wec;
        stream.expires_after(request_timeout);  // the body's own deadline, from now
      }
      if (!ec) {
        auto [bec, bn] = co_await http::async_read(stream, buffer, parser, tok);
        (void)bn;
        ec = bec;
      }
    }
    reg.waiting(false);
    (void)n;
    if (ec == http::error::body_limit) {
      co_await refuse_and_close(*state, stream,
                                error_response(http::status::payload_too_large, "request.too_large",
                                               "request bodies are limited to 1 MiB"));
      break;
    }
    if (ec == http::error::header_limit) {
      co_await refuse_and_close(*state, stream,
                                error_response(http::status::request_header_fields_too_large,
                                               "request.headers_too_large", "request headers are limited to 8 KiB"));
      break;
    }
    if (ec) {
      bool malformed = ec.category() == http::make_error_code(http::error::bad_method).category() &&
                       ec != http::error::end_of_stream && ec != http::error::partial_message;
      if (malformed) {
        // Not HTTP we understand: answer 400 once, then close.
        co_await refuse_and_close(*state, stream,
                                  error_response(http::status::bad_request, "request.malformed", ec.message()));
      } else if (!is_normal_close(ec)) {
        logger("admin")->debug("admin read failed: {}", ec.message());
      }
      break;
    }
    const http_request& req = parser.get();
    http_response res = co_await handle_admin_request(*state, req);
    // Method, path and status only: never headers (the token) or bodies. A refused token is
    // worth an operator's attention (someone guessing, or a script with a revoked token): it
    // is logged at info with the peer's address.
    const unsigned status = res.result_int();
    // At most 256 bytes of it: a path is the client's to make as long as the 8 KiB header limit.
    const auto path = echo_id(req.target().substr(0, req.target().find('?')), 256);
    if (status == 401 || status == 403) {
      beast::error_code rec;
      auto peer = stream.socket().remote_endpoint(rec);
      logger("admin")->info("admin request refused method={} path={} status={} remote={}",
                            log_value(std::string(req.method_string())), log_value(path), status,
                            rec ? std::string("?") : peer.address().to_string() + ":" + std::to_string(peer.port()));
    } else {
      logger("admin")->debug("{} {} -> {}", std::string(req.method_string()), path, status);
    }
    res.version(req.version());
    res.keep_alive(req.keep_alive() && !state->stopping);
    bool keep = res.keep_alive();
    if (!co_await write_response(*state, stream, std::move(res), req.method() == http::verb::head)) break;
    if (!keep) {
      beast::error_code sec;
      stream.socket().shutdown(tcp::socket::shutdown_send, sec);
      break;
    }
  }
}

}  // namespace

void start_admin_session(const std::shared_ptr<admin_state>& state, tcp::socket socket) {
  auto& control = state->ctx.control;
  asio::co_spawn(control, run_session(state, beast::tcp_stream(std::move(socket))), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      logger("admin")->error("admin session failed: {}", ex.what());
    } catch (...) {
      logger("admin")->error("admin session failed with an unknown exception");
    }
  });
}

}  // namespace portcullis::broker
