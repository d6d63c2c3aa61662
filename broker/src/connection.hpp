#pragma once
// One MQTT client connection. The MQTT logic lives here once; the transport
// (plain TCP or TLS) is a thin subclass that implements four primitives
// (start/read/write/close), as Beast's plain/ssl session split does.
//
// Threading: a connection lives its whole life on one worker io_context, run by
// one thread, so its members need no locks. Other threads reach it only through
// wake()/kick(), which post (STYLE §c23, §c27).
//
// Memory while idle (bench: idle bytes per connection, target <= Mosquitto): a
// quiet TCP connection is watched by its worker's own epoll set, so it has no
// Asio reactor registration and no pending operation (transport.cpp); it reads
// into a per-thread buffer; the frame reader exists only while a packet is
// partially received; publisher state (rate bucket, pause, PUBACK ordering),
// credentials and write buffers are allocated while needed; tenant and client
// id live once, in the session (the tenant string once per tenant).
//
// Lifetime: the worker's connection list owns the connection until close();
// pending asynchronous operations hold shared_ptr<connection> as well.

#include <atomic>
#include <chrono>
#include <cstdint>
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

  /// Buffers of a connection that is writing or has something to write. Pooled
  /// per worker thread (connection.cpp), so an idle connection holds none.
  struct write_state {
    std::vector<std::uint8_t> ctrl_pending;   // control packets not yet handed to the socket
    std::vector<std::uint8_t> ctrl_inflight;  // control packets of the write in flight
    std::vector<outgoing> batch;              // PUBLISHes of the write in flight
    std::vector<std::uint8_t> headers;        // their fixed headers and packet ids
    std::vector<boost::asio::const_buffer> buffers;  // the gather list
    // Progress through the gather list, for the transport: zero for each new
    // batch (prepare_write); sent_total = bytes handed to the socket (or TLS).
    std::size_t sent_index = 0, sent_offset = 0, sent_total = 0;

    bool idle() const noexcept { return ctrl_pending.empty() && ctrl_inflight.empty() && batch.empty(); }
  };

  // session_owner: any thread.
  void wake() override;
  void kick(std::string reason) override;
  void drained() override;
  std::weak_ptr<session_owner> weak_owner() override { return weak_from_this(); }
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
  /// Connection thread only (empty unless the client authenticated through a tenant CA).
  const std::string& ca_id() const noexcept;
  /// Set once by the connection's thread before it attaches to its session, so
  /// readers that found it through the session see it (registry lock).
  const char* method() const noexcept;

 protected:
  // Transport primitives, implemented by tcp/tls subclasses. Each completes by
  // calling the matching on_* below on this connection's executor.
  virtual void transport_start() = 0;                 // -> on_transport_ready / close
  virtual void transport_read() = 0;                  // -> on_bytes / on_read_error
  /// Reads again after a pause (nothing was read meanwhile; bytes may have
  /// arrived without a readiness event). Default: transport_read().
  virtual void transport_resume() { transport_read(); }
  /// The worker's tick, for transport housekeeping. Not called once closed.
  virtual void transport_tick() {}
  /// Writes w.buffers from w's progress on. Returns true when all was written at
  /// once (w.sent_total bytes; on_written is NOT called); otherwise completes
  /// later through on_written. Also how a transport resumes a write that waited.
  virtual bool transport_write(write_state& w) = 0;
  virtual void transport_close() = 0;
  virtual auth::peer_chain transport_peer_chain() { return {}; }
  /// Readiness reported by the worker's epoll set (EPOLLIN/EPOLLOUT/... bits), for
  /// transports that registered their descriptor with worker::watch.
  virtual void on_io_ready(std::uint32_t events) { (void)events; }

  void on_transport_ready();
  /// Returns true when the transport should keep reading.
  bool on_bytes(std::span<const std::uint8_t> data);
  void on_read_error(const boost::system::error_code& ec);
  void on_written(const boost::system::error_code& ec, std::size_t n);
  executor_type executor() const noexcept;
  write_state& writes();

  broker_context& ctx_;
  worker& worker_;

 private:
  enum class state : std::uint8_t { handshake, awaiting_connect, authenticating, connected, closed };
  enum class action : std::uint8_t { proceed, pause, close };
  struct flow_state;
  struct credentials;

  bool consume(std::span<const std::uint8_t> data);
  bool consume_frames(std::span<const std::uint8_t> data);
  /// Runs f() with write requests deferred to its end (one write); nests.
  template <class F>
  auto batching_writes(F&& f);
  action handle_frame(protocol::frame& f);
  action handle_connect(protocol::connect& c);
  action handle_publish(protocol::publish& p, protocol::frame& f);
  action handle_subscribe(const protocol::subscribe& s);
  action handle_unsubscribe(const protocol::unsubscribe& u);
  void on_auth(auth_outcome outcome);
  void on_durable(std::uint64_t seq, bool ok);
  /// Sends `ack` once the session changes before it are durable (persistent sessions), then
  /// reads on. Returns the action for the packet being handled.
  action ack_when_durable(protocol::packet ack);
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
  void release_writes();
  action protocol_error(const char* what);
  flow_state& flow();
  void release_idle_state(clock::time_point now);
  const config& cfg() const noexcept { return *ctx_.cfg; }
  const std::string& tenant() const noexcept;
  const std::string& client_id() const noexcept;

  const listener_config& listener_;
  std::string remote_;
  // From CONNECT until the session takes it (attach): only a refused or
  // authenticating client has one, so it is not kept inline.
  std::unique_ptr<std::string> client_id_;
  std::shared_ptr<session> session_;

  // A packet partially received; between packets (nearly always) there is none.
  std::unique_ptr<protocol::frame_reader> partial_;
  // Publisher and pause state; created on the first PUBLISH or pause, released by
  // the tick once nothing is pending and the rate bucket is full again.
  std::unique_ptr<flow_state> flow_;
  // CA id and token expiry of an x5c/mTLS client; none for anonymous clients.
  std::unique_ptr<credentials> credentials_;

  // One write in flight. Control packets and the current batch live in a
  // write_state borrowed from a per-thread pool while anything is pending or in
  // flight.
  struct write_state_deleter {
    void operator()(write_state* w) const noexcept;
  };
  std::unique_ptr<write_state, write_state_deleter> writes_;

  // Deadlines, checked by the worker's tick: before CONNECT is accepted
  // `last_packet_` is the accept time (CONNECT timeout), then the last packet
  // (keep-alive). A precise timer exists only while the rate limiter throttles.
  clock::time_point last_packet_{};
  std::int64_t connected_since_ = 0;
  counters counters_;

  friend class worker;
  std::uint32_t worker_slot_ = no_slot;
  std::uint16_t keep_alive_ = 0;   // seconds from CONNECT; the limit is 1.5 x this; 0 = off
  state state_ = state::handshake;
  std::uint8_t method_ = 0;        // index into the method names (connection.cpp)
  bool clean_session_ : 1 = true;
  bool paused_ : 1 = false;            // reading stopped (authenticating, throttled, backpressured)
  bool backpressured_ : 1 = false;     // paused until a subscriber queue drains
  bool writing_ : 1 = false;
  bool close_after_write_ : 1 = false;  // a refused CONNECT: close once the CONNACK is out
  // While batching_writes() runs (the packets of one read, the PUBACKs one store
  // commit releases), request_write() only notes that there is something to send;
  // batching_writes() then writes once (a batch of PUBLISHes gets all its PUBACKs,
  // and a batch of PUBACKs all the messages they let through, in one system call
  // instead of one each).
  bool batching_writes_ : 1 = false;
  bool write_deferred_ : 1 = false;
  // A SUBACK/UNSUBACK of a persistent session waits for the store (persistence::barrier);
  // reading stays paused until it is out, so nothing the client sends after it is answered first.
  bool awaiting_store_ : 1 = false;
};

}  // namespace portcullis::broker
