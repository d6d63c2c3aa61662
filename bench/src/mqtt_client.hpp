#pragma once
// A minimal MQTT 3.1.1 client connection for the load generator: TCP (optionally TLS), the
// protocol library's frame_reader for input and hand-rolled encoders for the few packets a
// benchmark sends on its hot path (PUBLISH, PUBACK). No client library: the bench must measure
// the broker, not a third-party client, and it speaks the same codec the broker uses.
//
// I/O is written with as_tuple(use_awaitable): every operation returns an error_code and never
// throws (STYLE §c20). A connection is used from one strand at a time (the caller spawns its
// coroutines on a strand when the io_context runs on several threads).
//
// g++ 12 caveat, for every coroutine in bench/: keep `co_await` out of `if`/`||` conditions and
// pass named locals rather than temporaries to an awaited call. Both patterns crashed here
// (double free / SIGILL at -O3; GCC bugs around temporaries in co_await full-expressions).
//
// Thread safety: distinct objects: safe; shared objects: unsafe.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>

#include "portcullis/protocol/codec.hpp"
#include "portcullis/protocol/frame_reader.hpp"

namespace portcullis::bench {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
template <class T>
using awaitable = asio::awaitable<T>;
inline constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

/// CONNECT parameters the benchmark varies.
struct connect_params {
  std::string client_id;
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::uint16_t keep_alive = 0;
  bool clean_session = true;
};

/// Appends a PUBLISH frame (header, topic, packet id when qos > 0, payload) to `out`.
void append_publish(std::vector<std::uint8_t>& out, std::string_view topic, std::uint8_t qos,
                    std::uint16_t packet_id, std::span<const std::uint8_t> payload);
/// Appends a PUBACK frame.
void append_puback(std::vector<std::uint8_t>& out, std::uint16_t packet_id);
/// Appends a DISCONNECT frame.
void append_disconnect(std::vector<std::uint8_t>& out);
/// A CONNECT frame (MQTT 3.1.1) with `params`.
std::vector<std::uint8_t> encode_connect(const connect_params& params);

/// Result of open + CONNECT: connack_code >= 0 is the CONNACK return code; -1 means a
/// transport or protocol failure (see `error`).
struct connect_outcome {
  int connack_code = -1;
  std::string error;
};

class mqtt_connection {
 public:
  /// `tls` null: plain TCP. `read_buffer_bytes`: size of the receive buffer (allocated on first read).
  mqtt_connection(asio::any_io_executor executor, asio::ssl::context* tls, std::size_t read_buffer_bytes);

  /// TCP connect (TCP_NODELAY) and, with TLS, the handshake.
  awaitable<error_code> open(const tcp::endpoint& endpoint);
  /// Sends CONNECT and waits for CONNACK (frames before it are a protocol error).
  awaitable<connect_outcome> handshake(const connect_params& params);
  /// open + handshake.
  awaitable<connect_outcome> connect(const tcp::endpoint& endpoint, const connect_params& params);
  /// SUBSCRIBE to `filters` with `qos`; waits for SUBACK; false when refused or on error.
  awaitable<bool> subscribe(const std::vector<std::string>& filters, std::uint8_t qos);

  awaitable<error_code> write_all(std::span<const std::uint8_t> bytes);

  /// Reads once from the socket and calls `on_frame(protocol::frame&&)` for every frame
  /// completed by those bytes. Returns the read error, or a protocol error for a malformed frame.
  template <class OnFrame>
  awaitable<error_code> read_frames(OnFrame&& on_frame) {
    if (rbuf_.empty()) rbuf_.resize(rbuf_size_);
    auto [ec, n] = co_await read_some(asio::buffer(rbuf_));
    if (ec) co_return ec;
    std::size_t pos = 0;
    while (pos < n) {
      auto r = reader_.feed(std::span<const std::uint8_t>(rbuf_.data() + pos, n - pos));
      pos += r.consumed;
      if (r.state == protocol::frame_reader::status::error) {
        co_return asio::error::make_error_code(asio::error::invalid_argument);
      }
      if (r.state == protocol::frame_reader::status::complete) on_frame(reader_.take());
    }
    co_return error_code{};
  }

  /// Reads until one whole frame is available and returns it.
  awaitable<std::pair<error_code, protocol::frame>> read_frame();

  void close() noexcept;
  bool is_tls() const noexcept { return tls_.has_value(); }
  /// The OpenSSL handle (TLS only), to set a per-client certificate before open().
  SSL* native_ssl() noexcept { return tls_ ? tls_->native_handle() : nullptr; }

 private:
  awaitable<std::tuple<error_code, std::size_t>> read_some(asio::mutable_buffer buffer);
  tcp::socket& lowest() noexcept { return tls_ ? tls_->next_layer() : plain_; }

  tcp::socket plain_;
  std::optional<asio::ssl::stream<tcp::socket>> tls_;
  protocol::frame_reader reader_;
  std::vector<std::uint8_t> rbuf_;
  std::size_t rbuf_size_;
  std::deque<protocol::frame> pending_frames_;  // read by read_frame() beyond the first
};

/// Resolves "host" + port to one endpoint (numeric addresses only, no DNS on the hot path).
tcp::endpoint make_endpoint(const std::string& host, std::uint16_t port);

/// Logs a non-null exception from a spawned coroutine (STYLE §c19: no silent deaths).
void report_exception(std::exception_ptr e, const char* what);

}  // namespace portcullis::bench
