// Worker threads and connection tracking.

#include "worker_pool.hpp"

#include <pthread.h>

#include <spdlog/spdlog.h>

#include "connection.hpp"
#include "portcullis/broker/logging.hpp"

namespace portcullis::broker {

worker_pool::worker_pool(std::size_t n) {
  for (std::size_t i = 0; i < std::max<std::size_t>(n, 1); ++i) contexts_.push_back(std::make_unique<worker>());
}

worker_pool::~worker_pool() { stop_and_join(); }

void worker_pool::start() {
  for (std::size_t i = 0; i < contexts_.size(); ++i) {
    auto* w = contexts_[i].get();
    w->thread = std::thread([w, i] {
      std::string name = "pc-worker-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      while (true) {
        try {
          w->ioc.run();
          return;
        } catch (const std::exception& e) {
          // A handler threw: log it and keep the worker alive for the other clients.
          logger("broker")->error("worker {}: unexpected exception: {}", i, e.what());
        }
      }
    });
  }
}

void worker_pool::stop_and_join() {
  // Let queued work (closing connections, final writes) drain, for at most 5 s.
  for (auto& w : contexts_) w->guard.reset();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (auto& w : contexts_) {
    while (w->thread.joinable() && !w->ioc.stopped() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  for (auto& w : contexts_) {
    w->ioc.stop();
    if (w->thread.joinable()) w->thread.join();
  }
}

boost::asio::io_context& worker_pool::next() {
  return contexts_[next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size()]->ioc;
}

void worker_pool::track(const std::shared_ptr<connection>& c) {
  std::lock_guard lock(mutex_);
  tracked_.push_back(c);
  if (tracked_.size() >= prune_at_) {
    std::erase_if(tracked_, [](const auto& w) { return w.expired(); });
    prune_at_ = std::max<std::size_t>(1024, tracked_.size() * 2);
  }
}

std::vector<std::shared_ptr<connection>> worker_pool::connections() {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<connection>> out;
  out.reserve(tracked_.size());
  std::erase_if(tracked_, [&](const auto& w) {
    auto c = w.lock();
    if (!c) return true;
    out.push_back(std::move(c));
    return false;
  });
  return out;
}

}  // namespace portcullis::broker
