// The store thread: drains the job queue in order, timing each job for the
// store latency histogram of /metrics. A job that throws is logged and the
// thread carries on (the store API itself reports failures as values).

#include "store_gateway.hpp"

#include <pthread.h>

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

std::size_t store_gateway::backlog() const {
  std::lock_guard lock(mutex_);
  return jobs_.size();
}

void store_gateway::run() {
  std::deque<job> batch;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
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
