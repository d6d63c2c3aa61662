#pragma once
// The asynchronous facade over store::database (STYLE §c25): one store thread
// owns the SQLite write connection and runs jobs in submission order, so no
// SQLite call ever happens on an I/O worker or the control thread after start-up.
// Callers pass a job that runs on the store thread; a job that has a result
// hands it back by posting to the caller's executor.
//
// Thread safety: post() is safe from any thread; db() only before start().

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "metrics.hpp"

namespace portcullis::store { class database; }

namespace portcullis::broker {

class store_gateway {
 public:
  using job = std::function<void(store::database&)>;

  store_gateway(std::string path, metrics& m);
  ~store_gateway();

  /// Opens the database (migrations included). Throws std::runtime_error with the
  /// SQLite message on failure (start-up only).
  void open();
  /// The database for synchronous start-up work on the calling thread (before start()).
  store::database& db();

  void start();
  /// Runs every job already posted, then joins the thread.
  void stop();

  /// Queues `j` for the store thread. After stop(), jobs are dropped.
  void post(job j);
  /// Queues `j` to run once `due` has passed (stop() runs it without waiting).
  void post_at(std::chrono::steady_clock::time_point due, job j);

  std::size_t backlog() const;
  /// True once stop() has begun (jobs still run; timed ones without waiting).
  bool stopping() const;

 private:
  void run();

  std::string path_;
  metrics& metrics_;
  std::unique_ptr<store::database> db_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<job> jobs_;
  std::vector<std::pair<std::chrono::steady_clock::time_point, job>> timed_;  // few: a linear scan will do
  bool stopping_ = false;
  bool started_ = false;
  std::thread thread_;
};

}  // namespace portcullis::broker
