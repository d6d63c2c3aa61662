// The TLS transport. OpenSSL reads and writes the socket itself, through a small BIO over the
// descriptor (socket_link below), and Asio only reports readiness (async_wait).
//
// Why not asio::ssl::stream: it holds four 17 KiB buffers per connection for the
// connection's whole life (two in its BIO pair, two in the stream core, those two zero-filled
// at construction) and copies every byte through the pair. An idle mTLS connection cost
// ~77 KB of RSS that way (Mosquitto's: ~21 KB), and each handshake paid for the buffers.
// Here an idle connection holds the SSL object and its session (OpenSSL's record buffers are
// released between records: SSL_MODE_RELEASE_BUFFERS, tls_context.cpp); reads go through one
// buffer per worker thread and writes through one staging record per thread.
//
// Reading. Asio's reactor reports readiness edge-triggered, and an edge that arrives while no
// wait is queued is lost. So the connection waits for readability only when the socket is
// known to be drained, in the same handler that saw it drained: OpenSSL reported WANT_READ
// (the BIO's recv said EAGAIN), or the BIO's last recv came back shorter than asked and
// OpenSSL holds nothing more. Otherwise it reads again. read_ahead lets one recv take all
// that has arrived (one system call per burst of records, not two per record).
//
// Writing. The gather list is copied into the staging buffer one TLS record's worth (16 KiB)
// at a time and handed to SSL_write, one record and one send each. When the socket is full,
// OpenSSL keeps the encrypted record and the retry must offer the same bytes, so they move
// into a per-connection buffer, which exists only while the write waits.
//
// Closing. A connection that completed its handshake sends close_notify (RFC 8446 §6.1), best
// effort and without waiting for the peer's, then the descriptor closes.

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>

#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "portcullis/broker/logging.hpp"
#include "transport.hpp"

namespace portcullis::broker {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

/// What the BIO knows about its descriptor, kept in the connection: the BIO's data pointer.
struct socket_link {
  int fd = -1;
  int error = 0;         // errno of the last failed recv/send other than EAGAIN
  bool drained = false;  // the last recv returned less than asked (or EAGAIN, or EOF)
  bool eof = false;      // the peer shut its side down
};

int link_read(BIO* b, char* out, std::size_t len, std::size_t* got) {
  auto* link = static_cast<socket_link*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  for (;;) {
    ssize_t n = ::recv(link->fd, out, len, 0);
    if (n > 0) {
      *got = static_cast<std::size_t>(n);
      link->drained = static_cast<std::size_t>(n) < len;
      return 1;
    }
    if (n == 0) {
      link->drained = link->eof = true;
      return 0;
    }
    if (errno == EINTR) continue;
    link->drained = true;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      BIO_set_retry_read(b);
    } else {
      link->error = errno;
    }
    return 0;
  }
}

int link_write(BIO* b, const char* data, std::size_t len, std::size_t* written) {
  auto* link = static_cast<socket_link*>(BIO_get_data(b));
  BIO_clear_retry_flags(b);
  for (;;) {
    // MSG_NOSIGNAL: a peer that has gone makes EPIPE, not a process-killing SIGPIPE.
    ssize_t n = ::send(link->fd, data, len, MSG_NOSIGNAL);
    if (n >= 0) {
      *written = static_cast<std::size_t>(n);
      return 1;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      BIO_set_retry_write(b);
    } else {
      link->error = errno;
    }
    return 0;
  }
}

long link_ctrl(BIO* b, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:  // every write went straight to the socket
      return 1;
    case BIO_CTRL_EOF:  // how libssl tells an unexpected EOF from an error
      return static_cast<socket_link*>(BIO_get_data(b))->eof ? 1 : 0;
    default:
      return 0;
  }
}

const BIO_METHOD* link_method() {
  static const BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "portcullis socket");
    if (m == nullptr || BIO_meth_set_read_ex(m, link_read) != 1 || BIO_meth_set_write_ex(m, link_write) != 1 ||
        BIO_meth_set_ctrl(m, link_ctrl) != 1) {
      BIO_meth_free(m);
      return static_cast<BIO_METHOD*>(nullptr);
    }
    return m;
  }();
  return method;
}

/// The largest plaintext of one TLS record: what one SSL_read returns at most, and what one
/// SSL_write makes into one record.
constexpr std::size_t record_plaintext = 16 * 1024;
/// Bytes a connection reads in one handler before it lets others on its worker run.
constexpr std::size_t read_budget = 64 * 1024;

/// One read buffer and one write staging record per worker thread, never held across a
/// wait. Two, not one: a packet handled from the read buffer may close its connection, and
/// the close writes out what earlier packets answered (connection::close).
std::uint8_t* read_buffer() {
  // Used only between SSL_read and on_bytes, which copies what it keeps.
  thread_local std::unique_ptr<std::array<std::uint8_t, record_plaintext>> buffer =
      std::make_unique<std::array<std::uint8_t, record_plaintext>>();
  return buffer->data();
}
std::uint8_t* staging_buffer() {
  // Used only between gathering a record's bytes and SSL_write.
  thread_local std::unique_ptr<std::array<std::uint8_t, record_plaintext>> buffer =
      std::make_unique<std::array<std::uint8_t, record_plaintext>>();
  return buffer->data();
}

class tls_connection final : public connection {
 public:
  tls_connection(broker_context& ctx, const listener_config& l, worker& w, worker_socket&& s, std::string remote,
                 std::shared_ptr<asio::ssl::context> tls)
      : connection(ctx, l, w, std::move(remote)), tls_(std::move(tls)), socket_(std::move(s)) {
    link_.fd = socket_.native_handle();
  }

 private:
  std::shared_ptr<tls_connection> self() { return std::static_pointer_cast<tls_connection>(shared_from_this()); }

  void transport_start() override {
    boost::system::error_code ec;
    socket_.set_option(tcp::no_delay(true), ec);
    // The SSL object holds the context from here; the listener may swap its contexts (SIGHUP).
    std::shared_ptr<asio::ssl::context> tls = std::move(tls_);
    const BIO_METHOD* method = link_method();
    ssl_.reset(method ? SSL_new(tls->native_handle()) : nullptr);
    BIO* bio = ssl_ ? BIO_new(method) : nullptr;
    if (bio == nullptr) {
      ERR_clear_error();
      return on_read_error(asio::error::no_memory);
    }
    BIO_set_data(bio, &link_);
    BIO_set_init(bio, 1);
    SSL_set_bio(ssl_.get(), bio, bio);  // one reference, owned by the SSL object
    SSL_set_accept_state(ssl_.get());
    handshake();
  }

  void handshake() {
    if (closed_) return;
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_.get());
    if (r == 1) {
      handshake_done_ = true;
      return on_transport_ready();  // -> transport_read(), in this handler
    }
    int e = SSL_get_error(ssl_.get(), r);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
      socket_.async_wait(e == SSL_ERROR_WANT_READ ? worker_socket::wait_read : worker_socket::wait_write,
                         [self = self()](const boost::system::error_code& ec) {
                           if (ec == asio::error::operation_aborted) return;  // closed (timeout, shutdown)
                           if (ec) return self->on_read_error(ec);
                           self->handshake();
                         });
      return;
    }
    auto ec = failure(e);
    logger("broker")->debug("TLS handshake failed remote={}: {}", remote(), ec.message());
    on_read_error(ec);
  }

  void transport_read() override {
    // Called at the end of the handshake, in the handler that finished it.
    if (link_.drained && SSL_has_pending(ssl_.get()) == 0) return wait_readable();
    asio::post(executor(), [self = self()] { self->read_some(); });
  }

  void transport_resume() override {
    // Bytes may have arrived while reading was paused, and their edge is gone: read first.
    asio::post(executor(), [self = self()] { self->read_some(); });
  }

  void wait_readable() {
    socket_.async_wait(worker_socket::wait_read, [self = self()](const boost::system::error_code& ec) {
      if (ec == asio::error::operation_aborted) return;  // closed
      if (ec) return self->on_read_error(ec);
      self->read_some();
    });
  }

  void read_some() {
    if (closed_) return;
    std::uint8_t* buffer = read_buffer();
    std::size_t total = 0;
    int n;
    for (;;) {
      ERR_clear_error();
      n = SSL_read(ssl_.get(), buffer, static_cast<int>(record_plaintext));
      if (n <= 0) break;
      total += static_cast<std::size_t>(n);
      if (!on_bytes({buffer, static_cast<std::size_t>(n)})) return;  // paused or closed
      if (link_.drained && SSL_has_pending(ssl_.get()) == 0) return wait_readable();
      if (total >= read_budget) {
        // More is waiting; read it after the other handlers queued on this worker (a
        // subscriber's write, another publisher): one budget per turn.
        asio::post(executor(), [self = self()] { self->read_some(); });
        return;
      }
    }
    int e = SSL_get_error(ssl_.get(), n);
    if (e == SSL_ERROR_WANT_READ) return wait_readable();
    if (e == SSL_ERROR_WANT_WRITE) {  // OpenSSL must send first (a key update's answer)
      socket_.async_wait(worker_socket::wait_write, [self = self()](const boost::system::error_code& ec) {
        if (ec == asio::error::operation_aborted) return;
        if (ec) return self->on_read_error(ec);
        self->read_some();
      });
      return;
    }
    on_read_error(failure(e));
  }

  /// Moves up to `cap` bytes of the gather list, from where the last call stopped, into `out`.
  static std::size_t gather(write_state& w, std::uint8_t* out, std::size_t cap) {
    std::size_t n = 0;
    while (n < cap && w.sent_index < w.buffers.size()) {
      const auto& b = w.buffers[w.sent_index];
      std::size_t take = std::min(b.size() - w.sent_offset, cap - n);
      std::memcpy(out + n, static_cast<const std::uint8_t*>(b.data()) + w.sent_offset, take);
      n += take;
      w.sent_offset += take;
      if (w.sent_offset == b.size()) {
        ++w.sent_index;
        w.sent_offset = 0;
      }
    }
    return n;
  }

  /// Hands the gather list to OpenSSL until all is written (true) or the socket is full
  /// (false: completes through on_written once there is room).
  bool transport_write(write_state& w) override {
    std::uint8_t* staging = staging_buffer();
    for (;;) {
      const std::uint8_t* data = staging;
      std::size_t len;
      const bool retrying = unsent_.size() > unsent_offset_;
      if (retrying) {
        data = unsent_.data() + unsent_offset_;
        len = unsent_.size() - unsent_offset_;
      } else {
        len = gather(w, staging, record_plaintext);
        if (len == 0) return true;
      }
      ERR_clear_error();
      int n = SSL_write(ssl_.get(), data, static_cast<int>(std::min<std::size_t>(len, INT_MAX)));
      if (n > 0) {
        auto done = static_cast<std::size_t>(n);
        w.sent_total += done;
        if (retrying) {
          unsent_offset_ += done;
          if (unsent_offset_ == unsent_.size()) release_unsent();
        } else if (done < len) {  // a smaller negotiated record size: the rest goes next
          unsent_.assign(staging + done, staging + len);
          unsent_offset_ = 0;
        }
        continue;
      }
      int e = SSL_get_error(ssl_.get(), n);
      if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) {
        // OpenSSL holds the record it made; the retry must offer the same bytes.
        if (!retrying) {
          unsent_.assign(staging, staging + len);
          unsent_offset_ = 0;
        }
        write_waiting_ = true;
        socket_.async_wait(e == SSL_ERROR_WANT_WRITE ? worker_socket::wait_write : worker_socket::wait_read,
                           [self = self()](const boost::system::error_code& ec) {
                             self->write_waiting_ = false;
                             if (ec) return self->finish_write(ec);
                             if (self->closed_) return self->finish_write(asio::error::operation_aborted);
                             if (self->transport_write(self->writes())) self->finish_write({});
                           });
        return false;
      }
      // Report errors from a fresh handler, never from inside the caller's packet handling
      // (the connection closes in on_written).
      auto ec = failure(e);
      asio::post(executor(), [self = self(), ec] { self->finish_write(ec); });
      return false;
    }
  }

  void release_unsent() {
    std::vector<std::uint8_t>().swap(unsent_);  // only a waiting write keeps a buffer
    unsent_offset_ = 0;
  }

  void finish_write(const boost::system::error_code& ec) { on_written(ec, writes().sent_total); }

  /// The error for a failed SSL call (SSL_get_error code `e`), leaving the error queue empty.
  boost::system::error_code failure(int e) {
    unsigned long code = ERR_get_error();
    ERR_clear_error();
    if (e == SSL_ERROR_SSL || e == SSL_ERROR_SYSCALL) failed_ = true;  // no close_notify after this
    if (e == SSL_ERROR_ZERO_RETURN || link_.eof) return asio::error::eof;
    if (link_.error != 0) return {link_.error, boost::system::system_category()};
    if (code != 0) return {static_cast<int>(code), asio::error::get_ssl_category()};
    return asio::error::connection_aborted;
  }

  void transport_close() override {
    if (closed_) return;
    closed_ = true;
    if (handshake_done_ && !failed_ && !write_waiting_) {
      // close_notify, if the socket takes it now; the peer's is not awaited.
      ERR_clear_error();
      SSL_shutdown(ssl_.get());
      ERR_clear_error();
    }
    // Closing aborts the waits; a waiting write completes through finish_write(aborted).
    boost::system::error_code ec;
    socket_.shutdown(worker_socket::shutdown_both, ec);
    socket_.close(ec);
    link_.fd = -1;  // the number may be reused at once: no late call may reach that socket
  }

  auth::peer_chain transport_peer_chain() override {
    auth::peer_chain chain;
    SSL* ssl = ssl_.get();
    if (ssl == nullptr) return chain;
    // The DER for the chain cache and reports, and libssl's parsed certificate (referenced, not
    // copied) so that the mtls verifier need not decode it again.
    auto append = [&](X509* cert) {
      int len = i2d_X509(cert, nullptr);
      if (len <= 0 || X509_up_ref(cert) != 1) {
        ERR_clear_error();
        return;
      }
      chain.parsed.emplace_back(cert, X509_free);
      std::vector<std::uint8_t> der(static_cast<std::size_t>(len));
      unsigned char* p = der.data();
      i2d_X509(cert, &p);
      chain.der.push_back(std::move(der));
    };
    X509* leaf = SSL_get0_peer_certificate(ssl);
    if (!leaf) return chain;
    append(leaf);
    // On the server side the peer chain excludes the leaf; keep the order sent.
    if (STACK_OF(X509)* rest = SSL_get_peer_cert_chain(ssl)) {
      for (int i = 0; i < sk_X509_num(rest); ++i) append(sk_X509_value(rest, i));
    }
    return chain;
  }

  std::shared_ptr<asio::ssl::context> tls_;  // until transport_start makes the SSL object
  worker_socket socket_;
  socket_link link_;  // before ssl_: the BIO points here until SSL_free
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl_{nullptr, &SSL_free};
  std::vector<std::uint8_t> unsent_;  // a record's bytes OpenSSL must be offered again
  std::size_t unsent_offset_ = 0;
  bool handshake_done_ : 1 = false;
  bool failed_ : 1 = false;  // a fatal TLS or socket error: no close_notify
  bool closed_ : 1 = false;
  bool write_waiting_ : 1 = false;
};

}  // namespace

std::shared_ptr<connection> make_tls_connection(broker_context& ctx, const listener_config& l, worker& w,
                                                worker_socket&& socket, std::string remote,
                                                std::shared_ptr<asio::ssl::context> tls) {
  return std::make_shared<tls_connection>(ctx, l, w, std::move(socket), std::move(remote), std::move(tls));
}

}  // namespace portcullis::broker
