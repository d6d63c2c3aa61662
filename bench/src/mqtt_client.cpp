#include "mqtt_client.hpp"

#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <variant>

namespace portcullis::bench {

namespace {

constexpr std::size_t max_frame_bytes = 1 << 20;

void append_u16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v & 0xFF));
}

}  // namespace

void append_publish(std::vector<std::uint8_t>& out, std::string_view topic, std::uint8_t qos,
                    std::uint16_t packet_id, std::span<const std::uint8_t> payload) {
  const std::size_t remaining = 2 + topic.size() + (qos > 0 ? 2 : 0) + payload.size();
  std::uint8_t header[5];
  const std::size_t h = protocol::encode_publish_fixed_header(false, qos, false, remaining, header);
  const std::size_t start = out.size();
  out.resize(start + h + remaining);
  std::uint8_t* p = out.data() + start;
  std::memcpy(p, header, h);
  p += h;
  *p++ = static_cast<std::uint8_t>(topic.size() >> 8);
  *p++ = static_cast<std::uint8_t>(topic.size() & 0xFF);
  std::memcpy(p, topic.data(), topic.size());
  p += topic.size();
  if (qos > 0) {
    *p++ = static_cast<std::uint8_t>(packet_id >> 8);
    *p++ = static_cast<std::uint8_t>(packet_id & 0xFF);
  }
  if (!payload.empty()) std::memcpy(p, payload.data(), payload.size());
}

void append_puback(std::vector<std::uint8_t>& out, std::uint16_t packet_id) {
  out.push_back(0x40);
  out.push_back(0x02);
  append_u16(out, packet_id);
}

void append_disconnect(std::vector<std::uint8_t>& out) {
  out.push_back(0xE0);
  out.push_back(0x00);
}

mqtt_connection::mqtt_connection(asio::any_io_executor executor, asio::ssl::context* tls,
                                 std::size_t read_buffer_bytes)
    : plain_(executor), reader_(max_frame_bytes), rbuf_size_(read_buffer_bytes) {
  if (tls != nullptr) tls_.emplace(executor, *tls);
}

awaitable<error_code> mqtt_connection::open(const tcp::endpoint& endpoint) {
  auto [ec] = co_await lowest().async_connect(endpoint, use_nothrow);
  if (ec) co_return ec;
  error_code ignored;
  lowest().set_option(tcp::no_delay(true), ignored);
  if (tls_) {
    auto [hec] = co_await tls_->async_handshake(asio::ssl::stream_base::client, use_nothrow);
    if (hec) co_return hec;
  }
  co_return error_code{};
}

std::vector<std::uint8_t> encode_connect(const connect_params& params) {
  protocol::connect c;
  c.protocol_name = "MQTT";
  c.protocol_level = 4;
  c.clean_session = params.clean_session;
  c.keep_alive = params.keep_alive;
  c.client_id = params.client_id;
  c.username = params.username;
  c.password = params.password;
  std::vector<std::uint8_t> out;
  protocol::encode(protocol::packet{std::move(c)}, out);
  return out;
}

awaitable<connect_outcome> mqtt_connection::handshake(const connect_params& params) {
  const auto out = encode_connect(params);
  const auto wec = co_await write_all(out);
  if (wec) co_return connect_outcome{-1, "write: " + wec.message()};
  auto [ec, f] = co_await read_frame();
  if (ec) co_return connect_outcome{-1, "read: " + ec.message()};
  auto decoded = protocol::decode(f);
  const auto* pkt = std::get_if<protocol::packet>(&decoded);
  const auto* ack = pkt ? std::get_if<protocol::connack>(pkt) : nullptr;
  if (ack == nullptr) co_return connect_outcome{-1, "expected CONNACK"};
  co_return connect_outcome{static_cast<int>(ack->return_code), {}};
}

awaitable<connect_outcome> mqtt_connection::connect(const tcp::endpoint& endpoint, const connect_params& params) {
  const auto ec = co_await open(endpoint);
  if (ec) co_return connect_outcome{-1, "connect: " + ec.message()};
  auto outcome = co_await handshake(params);
  co_return outcome;
}

awaitable<bool> mqtt_connection::subscribe(const std::vector<std::string>& filters, std::uint8_t qos) {
  protocol::subscribe s;
  s.packet_id = 1;
  for (const auto& f : filters) s.subscriptions.push_back({f, qos});
  std::vector<std::uint8_t> out;
  protocol::encode(protocol::packet{std::move(s)}, out);
  const auto wec = co_await write_all(out);
  if (wec) co_return false;
  auto [ec, f] = co_await read_frame();
  if (ec) co_return false;
  auto decoded = protocol::decode(f);
  const auto* pkt = std::get_if<protocol::packet>(&decoded);
  const auto* ack = pkt ? std::get_if<protocol::suback>(pkt) : nullptr;
  if (ack == nullptr) co_return false;
  for (auto code : ack->return_codes) {
    if (code == protocol::suback_failure) co_return false;
  }
  co_return true;
}

awaitable<error_code> mqtt_connection::write_all(std::span<const std::uint8_t> bytes) {
  if (tls_) {
    auto [ec, n] = co_await asio::async_write(*tls_, asio::buffer(bytes.data(), bytes.size()), use_nothrow);
    co_return ec;
  }
  auto [ec, n] = co_await asio::async_write(plain_, asio::buffer(bytes.data(), bytes.size()), use_nothrow);
  co_return ec;
}

awaitable<std::tuple<error_code, std::size_t>> mqtt_connection::read_some(asio::mutable_buffer buffer) {
  if (tls_) {
    auto r = co_await tls_->async_read_some(buffer, use_nothrow);
    co_return r;
  }
  auto r = co_await plain_.async_read_some(buffer, use_nothrow);
  co_return r;
}

awaitable<std::pair<error_code, protocol::frame>> mqtt_connection::read_frame() {
  while (pending_frames_.empty()) {
    auto ec = co_await read_frames([this](protocol::frame&& f) { pending_frames_.push_back(std::move(f)); });
    if (ec) co_return std::pair{ec, protocol::frame{}};
  }
  auto f = std::move(pending_frames_.front());
  pending_frames_.pop_front();
  co_return std::pair{error_code{}, std::move(f)};
}

void mqtt_connection::close() noexcept {
  error_code ignored;
  lowest().shutdown(tcp::socket::shutdown_both, ignored);
  lowest().close(ignored);
}

tcp::endpoint make_endpoint(const std::string& host, std::uint16_t port) {
  return tcp::endpoint(asio::ip::make_address(host), port);
}

void report_exception(std::exception_ptr e, const char* what) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    std::fprintf(stderr, "portcullis-bench: %s: %s\n", what, ex.what());
  } catch (...) {
    std::fprintf(stderr, "portcullis-bench: %s: unknown exception\n", what);
  }
}

}  // namespace portcullis::bench
