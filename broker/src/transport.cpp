// The two transports. TCP waits for readability with no buffer and then reads
// into a per-thread buffer (no per-connection read buffer while idle), and writes
// the connection's gather list in one call. TLS reads into a per-connection buffer
// (OpenSSL may hold decrypted bytes, so readiness of the socket is not enough) and
// linearises each batch into one buffer so that it becomes few TLS records instead
// of one record per gather element.

#include "transport.hpp"

#include <sys/uio.h>

#include <array>
#include <cerrno>

#include <boost/asio/read.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "portcullis/broker/logging.hpp"

namespace portcullis::broker {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t read_chunk = 64 * 1024;

class tcp_connection final : public connection {
 public:
  tcp_connection(broker_context& ctx, const listener_config& l, worker& w, worker_socket&& s, std::string remote)
      : connection(ctx, l, w, std::move(remote)), socket_(std::move(s)) {}

 private:
  std::shared_ptr<tcp_connection> self() { return std::static_pointer_cast<tcp_connection>(shared_from_this()); }

  void transport_start() override {
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    socket_.set_option(tcp::no_delay(true), ec);  // latency: never wait for Nagle
    on_transport_ready();
  }

  void transport_read() override {
    socket_.async_wait(worker_socket::wait_read, [self = self()](const boost::system::error_code& ec) {
      self->on_readable(ec);
    });
  }

  void on_readable(const boost::system::error_code& wait_ec) {
    if (wait_ec) return on_read_error(wait_ec);
    // One buffer per worker thread: only used between the read and on_bytes,
    // which copies what it keeps, so connections on this thread can share it.
    thread_local std::unique_ptr<std::array<std::uint8_t, read_chunk>> buffer =
        std::make_unique<std::array<std::uint8_t, read_chunk>>();
    boost::system::error_code ec;
    std::size_t n = socket_.read_some(asio::buffer(*buffer), ec);
    if (ec == asio::error::would_block || ec == asio::error::try_again) return transport_read();
    if (ec) return on_read_error(ec);
    if (!on_bytes({buffer->data(), n})) return;  // paused or closed
    if (n == buffer->size()) {
      // Maybe more is waiting. Asio's epoll registration is edge-triggered, so
      // waiting for readiness now could wait forever (no new edge while the
      // client is blocked on our full receive buffer). Read again, but after the
      // other handlers queued on this worker: one chunk per turn is fair to
      // subscribers' writes and other publishers.
      asio::post(socket_.get_executor(), [self = self()] { self->on_readable({}); });
      return;
    }
    // A short read drained the socket: the next byte to arrive is a new edge.
    transport_read();
  }

  bool transport_write(const std::vector<asio::const_buffer>& buffers, std::size_t& written) override {
    write_buffers_ = &buffers;
    write_index_ = 0;
    write_offset_ = 0;
    write_total_ = 0;
    if (!write_some()) return false;
    written = write_total_;
    write_buffers_ = nullptr;
    return true;
  }

  /// Writes the gather list with writev(2), up to IOV_MAX elements per call,
  /// until done (true) or the socket is full (false: waits for writability and
  /// completes through on_written). Asio's composed async_write would send 64
  /// elements per event-loop turn, which lets a publisher on the same worker
  /// outrun a subscriber by an order of magnitude.
  bool write_some() {
    const auto& bufs = *write_buffers_;
    std::array<iovec, 1024> iov;
    while (write_index_ < bufs.size()) {
      std::size_t count = 0;
      for (std::size_t i = write_index_; i < bufs.size() && count < iov.size(); ++i, ++count) {
        std::size_t skip = i == write_index_ ? write_offset_ : 0;
        iov[count].iov_base = const_cast<char*>(static_cast<const char*>(bufs[i].data()) + skip);
        iov[count].iov_len = bufs[i].size() - skip;
      }
      ssize_t n = ::writev(socket_.native_handle(), iov.data(), static_cast<int>(count));
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          socket_.async_wait(worker_socket::wait_write, [self = self()](const boost::system::error_code& ec) {
            if (ec) return self->finish_write(ec);
            if (self->write_some()) self->finish_write({});
          });
          return false;
        }
        // Report errors from a fresh handler, never from inside the caller's
        // packet handling (the connection closes in on_written).
        boost::system::error_code ec(errno, boost::system::system_category());
        asio::post(socket_.get_executor(), [self = self(), ec] { self->finish_write(ec); });
        return false;
      }
      std::size_t left = static_cast<std::size_t>(n);
      write_total_ += left;
      while (left > 0 && write_index_ < bufs.size()) {
        std::size_t avail = bufs[write_index_].size() - write_offset_;
        if (left >= avail) {
          left -= avail;
          ++write_index_;
          write_offset_ = 0;
        } else {
          write_offset_ += left;
          left = 0;
        }
      }
      while (write_index_ < bufs.size() && bufs[write_index_].size() == 0) ++write_index_;
    }
    return true;
  }

  void finish_write(const boost::system::error_code& ec) {
    write_buffers_ = nullptr;
    on_written(ec, write_total_);
  }

  void transport_close() override {
    boost::system::error_code ec;
    socket_.shutdown(worker_socket::shutdown_both, ec);
    socket_.close(ec);
  }

  worker_socket socket_;
  const std::vector<asio::const_buffer>* write_buffers_ = nullptr;  // owned by the connection's write state
  std::size_t write_index_ = 0;
  std::size_t write_offset_ = 0;
  std::size_t write_total_ = 0;
};

class tls_connection final : public connection {
 public:
  tls_connection(broker_context& ctx, const listener_config& l, worker& w, worker_socket&& s, std::string remote,
                 std::shared_ptr<asio::ssl::context> tls)
      : connection(ctx, l, w, std::move(remote)), tls_(std::move(tls)), stream_(std::move(s), *tls_) {}

 private:
  std::shared_ptr<tls_connection> self() { return std::static_pointer_cast<tls_connection>(shared_from_this()); }

  void transport_start() override {
    boost::system::error_code ec;
    stream_.lowest_layer().set_option(tcp::no_delay(true), ec);
    stream_.async_handshake(asio::ssl::stream_base::server, [self = self()](const boost::system::error_code& hec) {
      if (hec) {
        logger("broker")->debug("TLS handshake failed remote={}: {}", self->remote(), hec.message());
        self->on_read_error(hec);
        return;
      }
      self->read_buffer_ = std::make_unique<std::uint8_t[]>(tls_read_chunk);
      self->on_transport_ready();
    });
  }

  void transport_read() override {
    stream_.async_read_some(asio::buffer(read_buffer_.get(), tls_read_chunk),
                            [self = self()](const boost::system::error_code& ec, std::size_t n) {
                              if (ec) return self->on_read_error(ec);
                              if (self->on_bytes({self->read_buffer_.get(), n})) self->transport_read();
                            });
  }

  bool transport_write(const std::vector<asio::const_buffer>& buffers, std::size_t&) override {
    write_buffer_.clear();
    for (const auto& b : buffers) {
      const auto* p = static_cast<const std::uint8_t*>(b.data());
      write_buffer_.insert(write_buffer_.end(), p, p + b.size());
    }
    asio::async_write(stream_, asio::buffer(write_buffer_),
                      [self = self()](const boost::system::error_code& ec, std::size_t n) {
                        self->write_buffer_.clear();
                        self->on_written(ec, n);
                      });
    return false;
  }

  void transport_close() override {
    boost::system::error_code ec;
    stream_.lowest_layer().shutdown(worker_socket::shutdown_both, ec);
    stream_.lowest_layer().close(ec);
  }

  std::vector<std::vector<std::uint8_t>> transport_peer_chain() override {
    std::vector<std::vector<std::uint8_t>> chain;
    SSL* ssl = stream_.native_handle();
    auto append = [&](X509* cert) {
      int len = i2d_X509(cert, nullptr);
      if (len <= 0) return;
      std::vector<std::uint8_t> der(static_cast<std::size_t>(len));
      unsigned char* p = der.data();
      i2d_X509(cert, &p);
      chain.push_back(std::move(der));
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

  static constexpr std::size_t tls_read_chunk = 16 * 1024;
  std::shared_ptr<asio::ssl::context> tls_;
  asio::ssl::stream<worker_socket> stream_;
  std::unique_ptr<std::uint8_t[]> read_buffer_;
  std::vector<std::uint8_t> write_buffer_;
};

}  // namespace

std::shared_ptr<connection> make_tcp_connection(broker_context& ctx, const listener_config& l, worker& w,
                                                worker_socket&& socket, std::string remote) {
  return std::make_shared<tcp_connection>(ctx, l, w, std::move(socket), std::move(remote));
}

std::shared_ptr<connection> make_tls_connection(broker_context& ctx, const listener_config& l, worker& w,
                                                worker_socket&& socket, std::string remote,
                                                std::shared_ptr<asio::ssl::context> tls) {
  return std::make_shared<tls_connection>(ctx, l, w, std::move(socket), std::move(remote), std::move(tls));
}

std::shared_ptr<asio::ssl::context> make_tls_context(const listener_config& l, std::size_t index) {
  std::string key = "listeners[" + std::to_string(index) + "].tls";
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::single_dh_use);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(l.tls->cert, ec);
  if (ec) throw config_error(key + ".cert", "cannot load certificate chain " + l.tls->cert + ": " + ec.message());
  ctx->use_private_key_file(l.tls->key, asio::ssl::context::pem, ec);
  if (ec) throw config_error(key + ".key", "cannot load private key " + l.tls->key + ": " + ec.message());
  if (SSL_CTX_check_private_key(native) != 1) {
    throw config_error(key + ".key", "private key does not match the certificate");
  }
  if (l.tls->client_certs != client_cert_mode::none) {
    // The TLS layer only collects the client's chain; the mtls auth method
    // validates it against the tenant CAs (which change at run time).
    int mode = SSL_VERIFY_PEER;
    if (l.tls->client_certs == client_cert_mode::required) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(native, mode, [](int, X509_STORE_CTX*) { return 1; });
  }
  return ctx;
}

}  // namespace portcullis::broker
