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

#include <boost/asio/buffer.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "broker_context.hpp"
#include "portcullis/protocol/codec.hpp"
#include "portcullis/protocol/frame_reader.hpp"
#include "rate_limiter.hpp"
#include "ring_queue.hpp"
#include "session.hpp"

namespace portcullis::broker {

class worker;

class connection : public session_owner, public std::enable_shared_from_this<connection> {
 public:
  using clock = std::chrono::steady_clock;
  using executor_type = boost::asio::io_context::executor_type;
  static constexpr std::uint32_t no_slot = 0xFFFFFFFF;

  connection(broker_context& ctx, const listener_config& listener, worker& w, std::string remote);
  ~connection() override;

  /// Starts the transport (TLS handshake) and the CONNECT timeout. On its worker.
  void start();
  /// The worker's periodic tick (CONNECT timeout, keep-alive, token expiry).
  void on_tick(clock::time_point now);

  struct write_state;  // pooled write buffers (connection.cpp)

  // session_owner: any thread.
  void wake() override;
  void kick(std::string reason) override;
  void drained() override;
  /// Closes the connection if it authenticated through tenant CA `ca_id` (CA
  /// deleted: its devices are revoked). Any thread.
  void kick_if_ca(std::string ca_id, std::string reason);

  /// Statistics for the admin API: written by the connection's thread only
  /// (bump), read from other threads, hence atomics.
  struct counters {
    std::atomic<std::uint64_t> messages_in{0}, messages_out{0}, bytes_in{0}, bytes_out{0};
  };
  const counters& stats() const noexcept { return counters_; }
  const std::string& remote() const noexcept { return remote_; }
  std::int64_t connected_since() const noexcept { return connected_since_; }
  const std::string& ca_id() const noexcept { return ca_id_; }
  const char* method() const noexcept { return method_; }

 protected:
  // Transport primitives, implemented by tcp/tls subclasses. Each completes by
  // calling the matching on_* below on this connection's executor.
  virtual void transport_start() = 0;                 // -> on_transport_ready / close
  virtual void transport_read() = 0;                  // -> on_bytes / on_read_error
  /// Writes `buffers`. Returns true when all was written at once (`written` set,
  /// on_written is NOT called); otherwise completes later through on_written.
  virtual bool transport_write(const std::vector<boost::asio::const_buffer>& buffers, std::size_t& written) = 0;
  virtual void transport_close() = 0;
  virtual std::vector<std::vector<std::uint8_t>> transport_peer_chain() { return {}; }

  void on_transport_ready();
  /// Returns true when the transport should keep reading.
  bool on_bytes(std::span<const std::uint8_t> data);
  bool consume(std::span<const std::uint8_t> data);
  void on_read_error(const boost::system::error_code& ec);
  void on_written(const boost::system::error_code& ec, std::size_t n);

  executor_type executor_;
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
  void resume_from_backpressure();
  void refuse(std::uint8_t code, std::string reason, std::string detail, const std::string& tenant);

  void process_pending();
  void send(const protocol::packet& p);
  void request_write();
  void start_write();
  bool prepare_write();
  void finish_batch(std::size_t n);
  void close(const char* reason);
  void arm_throttle_timer();
  write_state& writes();
  void release_writes();
  action protocol_error(const char* what);

  const listener_config& listener_;
  std::shared_ptr<const config> cfg_;
  std::string remote_;
  state state_ = state::handshake;
  protocol::frame_reader reader_;
  std::vector<std::uint8_t> pending_in_;          // bytes received while paused
  std::optional<protocol::frame> paused_frame_;   // a PUBLISH waiting for a rate token
  bool paused_ = false;

  friend class worker;
  worker& worker_;
  std::uint32_t worker_slot_ = no_slot;

  // Session and identity (set when CONNECT is accepted).
  std::shared_ptr<session> session_;
  std::string tenant_;
  std::string client_id_;
  const char* method_ = "";
  std::string ca_id_;
  bool clean_session_ = true;
  std::int64_t connected_since_ = 0;
  std::optional<std::int64_t> token_expires_at_;

  // Deadlines, checked by the worker's tick; a precise timer exists only while
  // the rate limiter throttles this client.
  clock::time_point connect_deadline_{};
  clock::time_point last_packet_{};
  clock::duration keep_alive_limit_{};            // 1.5 x keep-alive; zero = off
  clock::time_point throttle_until_ = clock::time_point::min();
  std::unique_ptr<boost::asio::steady_timer> throttle_timer_;
  token_bucket bucket_;
  bool backpressured_ = false;                    // paused until a subscriber queue drains
  clock::time_point backpressure_since_{};

  // Writing: one write in flight. Control packets and the current batch live in
  // a write_state borrowed from a per-thread pool while anything is pending or
  // in flight, so an idle connection holds no write buffers.
  struct write_state_deleter {
    void operator()(write_state* w) const noexcept;
  };
  std::unique_ptr<write_state, write_state_deleter> writes_;
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
};

}  // namespace portcullis::broker
