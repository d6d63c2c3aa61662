#pragma once
// One MQTT client connection. The MQTT logic lives here once; the transport
// (plain TCP or TLS) is a thin subclass that implements four primitives
// (start/read/write/close), as Beast's plain/ssl session split does.
//
// Threading: a connection lives its whole life on one worker io_context, run by
// one thread, so its members need no locks. Other threads reach it only through
// wake()/kick(), which post (STYLE §c23, §c27).
//
// Memory while idle: the TCP transport waits for readability with a zero-byte
// wait and reads into a per-thread buffer, so an idle connection holds no read
// buffer; the frame reader holds bytes only for a partially received packet.
//
// Lifetime: pending asynchronous operations hold shared_ptr<connection>; when the
// socket is closed they complete with operation_aborted and the object goes.

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>

#include "broker_context.hpp"
#include "portcullis/protocol/codec.hpp"
#include "portcullis/protocol/frame_reader.hpp"
#include "rate_limiter.hpp"
#include "ring_queue.hpp"
#include "session.hpp"

namespace portcullis::broker {

class connection : public session_owner, public std::enable_shared_from_this<connection> {
 public:
  using clock = std::chrono::steady_clock;

  connection(broker_context& ctx, const listener_config& listener, boost::asio::any_io_executor ex,
             std::string remote);
  ~connection() override;

  /// Starts the transport (TLS handshake) and the CONNECT timeout. On its executor.
  void start();

  // session_owner: any thread.
  void wake() override;
  void kick(std::string reason) override;
  /// Closes the connection if it authenticated through tenant CA `ca_id` (CA
  /// deleted: its devices are revoked). Any thread.
  void kick_if_ca(std::string ca_id, std::string reason);

  /// Statistics for the admin API (read from other threads, hence atomics).
  struct counters {
    std::atomic<std::uint64_t> messages_in{0}, messages_out{0}, bytes_in{0}, bytes_out{0};
  };
  const counters& stats() const noexcept { return counters_; }
  const std::string& remote() const noexcept { return remote_; }
  std::int64_t connected_since() const noexcept { return connected_since_; }
  const std::string& ca_id() const noexcept { return ca_id_; }
  const std::string& method() const noexcept { return method_; }

 protected:
  // Transport primitives, implemented by tcp/tls subclasses. Each completes by
  // calling the matching on_* below on this connection's executor.
  virtual void transport_start() = 0;                 // -> on_transport_ready / close
  virtual void transport_read() = 0;                  // -> on_bytes / on_read_error
  virtual void transport_write(const std::vector<boost::asio::const_buffer>& buffers) = 0;  // -> on_written
  virtual void transport_close() = 0;
  virtual std::vector<std::vector<std::uint8_t>> transport_peer_chain() { return {}; }

  void on_transport_ready();
  /// Returns true when the transport should keep reading.
  bool on_bytes(std::span<const std::uint8_t> data);
  void on_read_error(const boost::system::error_code& ec);
  void on_written(const boost::system::error_code& ec, std::size_t n);

  boost::asio::any_io_executor executor_;
  broker_context& ctx_;

 private:
  enum class state : std::uint8_t { handshake, awaiting_connect, authenticating, connected, closed };
  enum class action : std::uint8_t { proceed, pause, close };

  action handle_frame(protocol::frame& f);
  action handle_connect(protocol::connect& c);
  action handle_publish(protocol::publish& p, protocol::frame& f);
  action handle_subscribe(const protocol::subscribe& s);
  action handle_unsubscribe(const protocol::unsubscribe& u);
  void on_auth(auth_outcome outcome);
  void on_durable(std::uint64_t seq, bool ok);
  void refuse(std::uint8_t code, std::string reason, std::string detail, const std::string& tenant);

  void process_pending();
  void send(const protocol::packet& p);
  void request_write();
  void start_write();
  void close(const char* reason);
  void arm_timer();
  void on_timer();
  action protocol_error(const char* what);

  const listener_config& listener_;
  std::shared_ptr<const config> cfg_;
  std::string remote_;
  state state_ = state::handshake;
  protocol::frame_reader reader_;
  std::vector<std::uint8_t> pending_in_;          // bytes received while paused
  std::optional<protocol::frame> paused_frame_;   // a PUBLISH waiting for a rate token
  bool paused_ = false;

  // Session and identity (set when CONNECT is accepted).
  std::shared_ptr<session> session_;
  std::string tenant_;
  std::string client_id_;
  std::string method_;
  std::string ca_id_;
  bool clean_session_ = true;
  std::int64_t connected_since_ = 0;
  std::optional<std::int64_t> token_expires_at_;

  // Timers: one steady_timer serves CONNECT timeout, keep-alive, throttling and
  // token expiry; it is re-armed only when the earliest deadline moves earlier.
  boost::asio::steady_timer timer_;
  clock::time_point timer_deadline_ = clock::time_point::max();
  clock::time_point connect_deadline_{};
  clock::time_point last_packet_{};
  clock::duration keep_alive_limit_{};            // 1.5 x keep-alive; zero = off
  clock::time_point throttle_until_ = clock::time_point::min();
  token_bucket bucket_;

  // Writing: one write in flight; control packets are encoded into ctrl_out_,
  // PUBLISHes are pulled from the session when the socket is free, so all that is
  // pending goes out in one gather write per turn.
  std::vector<std::uint8_t> ctrl_out_;
  std::vector<std::uint8_t> write_ctrl_;
  std::vector<outgoing> write_batch_;
  std::vector<std::uint8_t> write_headers_;
  std::vector<boost::asio::const_buffer> write_buffers_;
  bool writing_ = false;
  bool close_after_write_ = false;
  const char* close_reason_ = nullptr;

  // PUBACKs to this publisher, in PUBLISH order; some wait for a durable commit.
  struct pending_ack {
    std::uint64_t seq;
    std::uint16_t packet_id;
    bool ready;
  };
  ring_queue<pending_ack> pending_acks_;
  std::uint64_t ack_seq_ = 0;

  counters counters_;
  std::vector<route_target> route_scratch_;
};

}  // namespace portcullis::broker
