#pragma once
// The data plane: one io_context per core, each run by one thread (Asio's
// io_context_pool, async_mqtt's `iocs`). A connection is assigned round-robin and
// spends its whole life on one worker, so connection code needs no locks.
//
// Each worker keeps its live connections in a vector (touched only on its own
// thread) and ticks them twice a second for the coarse deadlines (CONNECT timeout,
// keep-alive, token expiry). One timer per worker instead of one per connection
// keeps an idle connection small (bench: idle bytes per connection).
//
// For the same reason each worker watches its quiet plain TCP sockets with an
// epoll set of its own (edge-triggered, in and out, registered once per socket),
// which Asio sees as one descriptor. An Asio socket costs every connection a
// reactor registration (~170 bytes, pooled by Asio and never freed) and, while
// idle, a pending wait operation (~100 bytes or more); in our set an idle
// connection costs user space nothing (the kernel keeps the epoll entry), as
// with Mosquitto's own epoll loop. A wake-up through the nested set costs one
// more epoll_wait than Asio's own, so busy connections go back to Asio
// (tcp_connection in transport.cpp switches).

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

namespace portcullis::broker {

class connection;

class worker {
 public:
  explicit worker(std::size_t index);
  /// 0 .. pool size - 1: picks per-worker resources (the listener's TLS context).
  std::size_t index() const noexcept { return index_; }
  boost::asio::io_context& context() noexcept { return ioc_; }
  boost::asio::io_context::executor_type executor() noexcept { return ioc_.get_executor(); }

  /// Worker thread only: start/stop ticking `c`; the list holds it alive until removed.
  void add(std::shared_ptr<connection> c);
  void remove(connection& c);
  std::size_t size() const noexcept { return connections_.size(); }
  /// Live connections, readable from any thread (a relaxed copy of size()).
  std::uint32_t load() const noexcept { return load_.load(std::memory_order_relaxed); }

  /// Worker thread only: reports readiness of socket `fd` to c.on_io_ready(events)
  /// until unwatch(fd). Edge-triggered: an event means new data or new room since
  /// the last one, so the caller reads or writes until EAGAIN before it waits.
  /// `c` must be in this worker's list (add) while watched.
  boost::system::error_code watch(int fd, connection& c);
  void unwatch(int fd) noexcept;

 private:
  friend class worker_pool;
  void tick();
  void poll();
  void on_poll();

  boost::asio::io_context ioc_{1};
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_{ioc_.get_executor()};
  boost::asio::steady_timer timer_{ioc_};
  boost::asio::posix::stream_descriptor poller_;      // our epoll set, one descriptor to Asio
  std::vector<std::shared_ptr<connection>> ready_;   // one batch of ready connections (scratch)
  std::vector<std::shared_ptr<connection>> connections_;
  std::atomic<std::uint32_t> load_{0};
  std::thread thread_;
  bool stopping_ = false;
  std::size_t index_ = 0;
};

class worker_pool {
 public:
  explicit worker_pool(std::size_t n);
  ~worker_pool();

  void start();
  /// Lets the workers finish their queued work (≤ 5 s) and joins them.
  void stop_and_join();

  worker& next();
  /// Where a connection accepted on `local` (by its own acceptor) should live: `local`, unless
  /// it already holds clearly more connections than the least loaded worker (then that one).
  /// Keeps accepting local (no hand-off, no wake-up of another thread) while the workers stay
  /// within a few connections of each other, which is what a storm of short connects needs,
  /// and long-lived connections balanced whichever worker happened to accept them.
  worker& pick(worker& local);
  std::size_t size() const { return workers_.size(); }
  worker& at(std::size_t i) { return *workers_[i]; }

  /// Runs `f` for every live connection, each on its own worker thread. Any thread.
  void for_each_connection(std::function<void(connection&)> f);

 private:
  std::vector<std::unique_ptr<worker>> workers_;
  std::atomic<std::size_t> next_{0};
};

}  // namespace portcullis::broker
