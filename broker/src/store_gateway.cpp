// The store thread: drains the job queue in order (timed jobs join it when due),
// timing each job for the store latency histogram of /metrics. A job that throws is logged and the
// thread carries on (the store API itself reports failures as values).

#include "store_gateway.hpp"

#include <pthread.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "portcullis/broker/logging.hpp"
#include "portcullis/store/database.hpp"

namespace portcullis::broker {

store_gateway::store_gateway(std::string path, metrics& m) : path_(std::move(path)), metrics_(m) {}

store_gateway::~store_gateway() { stop(); }

void store_gateway::open() {
  std::string detail;
  auto r = store::database::open(path_, {}, &detail);
  if (!r) throw std::runtime_error("cannot open store " + path_ + ": " + r.error().message() + " " + detail);
  db_ = std::move(*r);
}

store::database& store_gateway::db() { return *db_; }

void store_gateway::start() {
  std::lock_guard lock(mutex_);
  if (started_) return;
  started_ = true;
  thread_ = std::thread([this] {
    pthread_setname_np(pthread_self(), "pc-store");
    run();
  });
}

void store_gateway::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void store_gateway::post(job j) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    jobs_.push_back(std::move(j));
  }
  cv_.notify_one();
}

void store_gateway::post_at(std::chrono::steady_clock::time_point due, job j) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    timed_.emplace_back(due, std::move(j));
  }
  cv_.notify_one();
}

bool store_gateway::stopping() const {
  std::lock_guard lock(mutex_);
  return stopping_;
}

std::size_t store_gateway::backlog() const {
  std::lock_guard lock(mutex_);
  return jobs_.size();
}

void store_gateway::run() {
  std::deque<job> batch;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      for (;;) {
        // Timed jobs that are due (all of them when stopping) join the queue in due order.
        const auto now = std::chrono::steady_clock::now();
        std::sort(timed_.begin(), timed_.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
        std::size_t due = 0;
        while (due < timed_.size() && (stopping_ || timed_[due].first <= now)) {
          jobs_.push_back(std::move(timed_[due].second));
          ++due;
        }
        timed_.erase(timed_.begin(), timed_.begin() + static_cast<std::ptrdiff_t>(due));
        if (!jobs_.empty() || stopping_) break;
        if (timed_.empty()) {
          cv_.wait(lock);
        } else {
          // A copy: wait_until reads its deadline again after waking, and a post_at() while we
          // wait may reallocate timed_ (found by the integration suite under ASan).
          const auto deadline = timed_.front().first;
          cv_.wait_until(lock, deadline);
        }
      }
      if (jobs_.empty() && stopping_) return;
      batch.swap(jobs_);
    }
    for (auto& j : batch) {
      auto t0 = std::chrono::steady_clock::now();
      try {
        j(*db_);
      } catch (const std::exception& e) {
        logger("store")->error("store job failed: {}", e.what());
      }
      metrics_.observe_store_latency(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    }
    batch.clear();
  }
}

}  // namespace portcullis::broker
