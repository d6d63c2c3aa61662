#pragma once
// The data plane: one io_context per core, each run by one thread (Asio's
// io_context_pool, async_mqtt's `iocs`). A connection is assigned round-robin and
// spends its whole life on one worker, so connection code needs no locks.

#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

namespace portcullis::broker {

class connection;

class worker_pool {
 public:
  explicit worker_pool(std::size_t n);
  ~worker_pool();

  void start();
  /// Lets the workers finish their queued work and joins them.
  void stop_and_join();

  boost::asio::io_context& next();

  /// Tracks a live connection (for shutdown and admin actions). Thread-safe.
  void track(const std::shared_ptr<connection>& c);
  /// Live connections (expired entries pruned). Thread-safe.
  std::vector<std::shared_ptr<connection>> connections();

  std::size_t size() const { return contexts_.size(); }

 private:
  struct worker {
    boost::asio::io_context ioc{1};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard{ioc.get_executor()};
    std::thread thread;
  };
  std::vector<std::unique_ptr<worker>> contexts_;
  std::atomic<std::size_t> next_{0};
  std::mutex mutex_;
  std::vector<std::weak_ptr<connection>> tracked_;
  std::size_t prune_at_ = 1024;
};

}  // namespace portcullis::broker
