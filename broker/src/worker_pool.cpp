// Worker threads, their connection lists and the per-worker tick.

#include "worker_pool.hpp"

#include <pthread.h>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "connection.hpp"
#include "portcullis/broker/logging.hpp"

namespace portcullis::broker {
namespace asio = boost::asio;

worker::worker() = default;

void worker::add(std::shared_ptr<connection> c) {
  c->worker_slot_ = static_cast<std::uint32_t>(connections_.size());
  connections_.push_back(std::move(c));
}

void worker::remove(connection& c) {
  std::uint32_t slot = c.worker_slot_;
  if (slot >= connections_.size() || connections_[slot].get() != &c) return;
  c.worker_slot_ = connection::no_slot;
  if (slot + 1 != connections_.size()) {
    connections_[slot] = std::move(connections_.back());
    connections_[slot]->worker_slot_ = slot;
  }
  connections_.pop_back();  // may destroy `c`: callers hold their own reference
}

void worker::tick() {
  if (stopping_) return;
  auto now = connection::clock::now();
  // Backwards, so that a connection removing itself (swap with the last, which
  // was already visited) does not make us skip one.
  for (std::size_t i = connections_.size(); i-- > 0;) {
    if (i >= connections_.size()) continue;
    std::shared_ptr<connection> c = connections_[i];
    c->on_tick(now);
  }
  timer_.expires_after(std::chrono::milliseconds(500));
  timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) tick();
  });
}

worker_pool::worker_pool(std::size_t n) {
  for (std::size_t i = 0; i < std::max<std::size_t>(n, 1); ++i) workers_.push_back(std::make_unique<worker>());
}

worker_pool::~worker_pool() { stop_and_join(); }

void worker_pool::start() {
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    worker* w = workers_[i].get();
    asio::post(w->ioc_, [w] { w->tick(); });
    w->thread_ = std::thread([w, i] {
      std::string name = "pc-worker-" + std::to_string(i);
      pthread_setname_np(pthread_self(), name.c_str());
      while (true) {
        try {
          w->ioc_.run();
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
  // Stop ticking, let queued work (closing connections, final writes) drain for
  // at most 5 s, then stop.
  for (auto& w : workers_) {
    asio::post(w->ioc_, [p = w.get()] {
      p->stopping_ = true;
      p->timer_.cancel();
    });
    w->guard_.reset();
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  for (auto& w : workers_) {
    while (w->thread_.joinable() && !w->ioc_.stopped() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  for (auto& w : workers_) {
    w->ioc_.stop();
    if (w->thread_.joinable()) w->thread_.join();
  }
}

worker& worker_pool::next() { return *workers_[next_.fetch_add(1, std::memory_order_relaxed) % workers_.size()]; }

void worker_pool::for_each_connection(std::function<void(connection&)> f) {
  auto shared = std::make_shared<std::function<void(connection&)>>(std::move(f));
  for (auto& w : workers_) {
    asio::post(w->ioc_, [p = w.get(), shared] {
      // Copy first: `f` may close connections, which edits the list.
      auto list = p->connections_;
      for (auto& c : list) (*shared)(*c);
    });
  }
}

}  // namespace portcullis::broker
