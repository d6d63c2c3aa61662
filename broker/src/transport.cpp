// The plain TCP transport (TLS: tls_transport.cpp). It reads into a per-thread
// buffer after waiting for readability with no buffer (no per-connection read
// buffer while idle), and writes the connection's gather list with one sendmsg
// (MSG_NOSIGNAL). A quiet TCP connection is watched by its worker's epoll set rather than Asio's reactor, so it costs
// user space nothing (see worker_pool.hpp); a busy one goes back to Asio, whose
// wake-ups are one system call cheaper.

#include "transport.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include <boost/asio/post.hpp>

#include "portcullis/broker/logging.hpp"

namespace portcullis::broker {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t read_chunk = 64 * 1024;

/// Plain TCP in one of two modes, switched by readiness traffic:
///  * quiet (socket_ empty): the descriptor is in the worker's epoll set and the
///    waits are flags (read_waiting_, write_waiting_) that on_io_ready serves.
///    No Asio registration and no pending operation: an idle connection costs
///    nothing here but the descriptor.
///  * busy (socket_ set): the descriptor is an Asio socket again and waits are
///    async_wait operations, Asio's own path, which wakes a worker with one
///    epoll_wait where the worker's set (nested in Asio's) needs two.
/// Several reads within a tick make a quiet connection busy (activate); two
/// ticks without a read make a busy one quiet (park). The first read of every
/// connection is served quietly, so a client that connects and idles never
/// touches Asio's reactor (whose descriptor states are pooled, never freed).
class tcp_connection final : public connection {
 public:
  tcp_connection(broker_context& ctx, const listener_config& l, worker& w, int fd, bool v6, std::string remote)
      : connection(ctx, l, w, std::move(remote)), fd_(fd), v6_(v6) {}
  ~tcp_connection() override {
    // Never closed (shutdown): a busy socket_ closes the descriptor itself.
    if (fd_ >= 0 && !socket_) ::close(fd_);
  }

 private:
  // Reads within one tick (500 ms) that make a quiet connection busy, and quiet
  // ticks after which a busy one is parked again.
  static constexpr std::uint8_t busy_reads = 4;
  static constexpr std::uint8_t quiet_ticks_to_park = 2;

  std::shared_ptr<tcp_connection> self() { return std::static_pointer_cast<tcp_connection>(shared_from_this()); }

  void transport_start() override {
    if (fd_ < 0) return on_read_error(asio::error::bad_descriptor);
    // Non-blocking since accept4 (SOCK_NONBLOCK), as every read and write below needs.
    int on = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);  // latency: never wait for Nagle
    if (auto ec = worker_.watch(fd_, *this)) return on_read_error(ec);
    on_transport_ready();
  }

  void transport_read() override {
    read_waiting_ = true;
    if (!socket_) return;  // quiet: on_io_ready reads
    socket_->async_wait(worker_socket::wait_read, [self = self()](const boost::system::error_code& ec) {
      // Aborted: parked (the wait moved to the epoll set) or closed.
      if (ec == asio::error::operation_aborted) return;
      self->read_waiting_ = false;
      if (ec) return self->on_read_error(ec);
      self->count_read();
      self->on_readable();
    });
  }

  void transport_resume() override {
    // Bytes that arrived while reading was paused raised no readiness we waited
    // for, and edge-triggered readiness will not repeat: read speculatively.
    asio::post(executor(), [self = self()] { self->on_readable(); });
  }

  /// Quiet mode: readiness from the worker's epoll set.
  void on_io_ready(std::uint32_t events) override {
    if (fd_ < 0 || socket_) return;  // closed or made busy while the batch was gathered
    const bool failed = (events & (EPOLLERR | EPOLLHUP)) != 0;
    // Writes first, as Asio's reactor orders them.
    if (((events & EPOLLOUT) || failed) && write_waiting_) {
      write_waiting_ = false;
      if (transport_write(writes())) finish_write({});
      if (fd_ < 0) return;
    }
    if (((events & EPOLLIN) || failed) && read_waiting_) {
      read_waiting_ = false;
      count_read();
      if (recent_reads_ >= busy_reads && !write_waiting_) activate();
      on_readable();
    }
  }

  void count_read() {
    if (recent_reads_ < 255) ++recent_reads_;
  }

  /// Quiet -> busy: the descriptor leaves the worker's set for Asio's reactor.
  /// Called when readable, and reads right after, so that no edge is lost.
  void activate() {
    worker_.unwatch(fd_);
    auto s = std::make_unique<worker_socket>(executor());
    boost::system::error_code ec;
    s->assign(v6_ ? tcp::v6() : tcp::v4(), fd_, ec);
    if (ec) {
      if (auto wec = worker_.watch(fd_, *this)) on_read_error(wec);  // stay quiet, or give up
      return;
    }
    socket_ = std::move(s);
    quiet_ticks_ = 0;
  }

  /// Busy -> quiet after quiet ticks. A pending read wait moves to the epoll set
  /// (its Asio operation is aborted); registering there reports the current
  /// readiness, so data that came meanwhile is not missed. Never while a write
  /// waits for room (that wait is an Asio operation).
  void transport_tick() override {
    const bool quiet = recent_reads_ == 0;
    recent_reads_ = 0;
    if (!socket_ || fd_ < 0) return;
    if (!quiet) {
      quiet_ticks_ = 0;
      return;
    }
    if (++quiet_ticks_ < quiet_ticks_to_park || write_waiting_) return;
    boost::system::error_code ec;
    socket_->release(ec);
    socket_.reset();
    if (ec) return on_read_error(ec);  // cannot happen for an open socket
    if (auto wec = worker_.watch(fd_, *this)) return on_read_error(wec);
  }

  void on_readable() {
    if (fd_ < 0) return;  // a continuation posted before close
    // One buffer per worker thread: only used between the read and on_bytes,
    // which copies what it keeps, so connections on this thread can share it.
    thread_local std::unique_ptr<std::array<std::uint8_t, read_chunk>> buffer =
        std::make_unique<std::array<std::uint8_t, read_chunk>>();
    ssize_t got;
    do {
      got = ::recv(fd_, buffer->data(), buffer->size(), 0);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
      int err = errno;
      if (err == EAGAIN || err == EWOULDBLOCK) return transport_read();
      return on_read_error({err, boost::system::system_category()});
    }
    if (got == 0) return on_read_error(asio::error::eof);
    auto n = static_cast<std::size_t>(got);
    if (!on_bytes({buffer->data(), n})) return;  // paused or closed
    if (n == buffer->size()) {
      // Maybe more is waiting. Readiness is edge-triggered (in both modes), so
      // waiting for it now could wait forever (no new edge while the client is
      // blocked on our full receive buffer). Read again, but after the other
      // handlers queued on this worker: one chunk per turn is fair to
      // subscribers' writes and other publishers.
      asio::post(executor(), [self = self()] { self->on_readable(); });
      return;
    }
    // A short read drained the socket: the next byte to arrive is a new edge.
    transport_read();
  }

  /// Writes the gather list with sendmsg(2), up to IOV_MAX elements per call,
  /// until done (true) or the socket is full (false: waits for writability and
  /// completes through on_written). Asio's composed async_write would send 64
  /// elements per event-loop turn, which lets a publisher on the same worker
  /// outrun a subscriber by an order of magnitude.
  bool transport_write(write_state& w) override {
    const auto& bufs = w.buffers;
    std::array<iovec, 1024> iov;
    while (w.sent_index < bufs.size()) {
      std::size_t count = 0;
      for (std::size_t i = w.sent_index; i < bufs.size() && count < iov.size(); ++i, ++count) {
        std::size_t skip = i == w.sent_index ? w.sent_offset : 0;
        iov[count].iov_base = const_cast<char*>(static_cast<const char*>(bufs[i].data()) + skip);
        iov[count].iov_len = bufs[i].size() - skip;
      }
      // sendmsg rather than writev: MSG_NOSIGNAL turns a write to a peer that has reset
      // the connection into EPIPE instead of a process-killing SIGPIPE.
      msghdr msg{};
      msg.msg_iov = iov.data();
      msg.msg_iovlen = count;
      ssize_t n = ::sendmsg(fd_, &msg, MSG_NOSIGNAL);
      if (n < 0) {
        int err = errno;
        if (err == EINTR) continue;
        if (err == EAGAIN || err == EWOULDBLOCK) {
          write_waiting_ = true;
          if (socket_) {
            socket_->async_wait(worker_socket::wait_write, [self = self()](const boost::system::error_code& ec) {
              self->write_waiting_ = false;
              if (ec) return self->finish_write(ec);
              if (self->transport_write(self->writes())) self->finish_write({});
            });
          }
          return false;  // quiet: on_io_ready continues when there is room
        }
        // Report errors from a fresh handler, never from inside the caller's
        // packet handling (the connection closes in on_written).
        boost::system::error_code ec(err, boost::system::system_category());
        asio::post(executor(), [self = self(), ec] { self->finish_write(ec); });
        return false;
      }
      std::size_t left = static_cast<std::size_t>(n);
      w.sent_total += left;
      while (left > 0 && w.sent_index < bufs.size()) {
        std::size_t avail = bufs[w.sent_index].size() - w.sent_offset;
        if (left >= avail) {
          left -= avail;
          ++w.sent_index;
          w.sent_offset = 0;
        } else {
          w.sent_offset += left;
          left = 0;
        }
      }
      while (w.sent_index < bufs.size() && bufs[w.sent_index].size() == 0) ++w.sent_index;
    }
    return true;
  }

  void finish_write(const boost::system::error_code& ec) { on_written(ec, writes().sent_total); }

  void transport_close() override {
    if (fd_ < 0) return;
    read_waiting_ = false;
    if (socket_) {
      // Closing aborts the socket's waits; a pending write completes through
      // finish_write(operation_aborted) as before.
      boost::system::error_code ec;
      socket_->shutdown(worker_socket::shutdown_both, ec);
      socket_->close(ec);
    } else {
      worker_.unwatch(fd_);
      ::shutdown(fd_, SHUT_RDWR);
      ::close(fd_);
      if (write_waiting_) {
        // As a closed Asio socket cancels its wait: the write completes, aborted.
        write_waiting_ = false;
        asio::post(executor(), [self = self()] { self->finish_write(asio::error::operation_aborted); });
      }
    }
    fd_ = -1;
  }

  int fd_;                            // owned by socket_ while busy
  bool v6_ : 1;                       // address family, to hand the descriptor to Asio
  bool read_waiting_ : 1 = false;     // transport_read() was called, no read since
  bool write_waiting_ : 1 = false;    // a write waits for room
  std::uint8_t recent_reads_ = 0;     // reads woken by readiness since the last tick
  std::uint8_t quiet_ticks_ = 0;      // busy: ticks in a row without such a read
  std::unique_ptr<worker_socket> socket_;  // busy: the descriptor registered with Asio
};

}  // namespace

std::shared_ptr<connection> make_tcp_connection(broker_context& ctx, const listener_config& l, worker& w, int fd,
                                                bool v6, std::string remote) {
  return std::make_shared<tcp_connection>(ctx, l, w, fd, v6, std::move(remote));
}

}  // namespace portcullis::broker
