// Worker threads, their connection lists, the per-worker tick and the
// per-worker epoll set for plain TCP connections.

#include "worker_pool.hpp"

#include <pthread.h>
#include <sys/epoll.h>

#include <array>
#include <cerrno>
#include <system_error>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "connection.hpp"
#include "portcullis/broker/logging.hpp"

namespace portcullis::broker {
namespace asio = boost::asio;

namespace {

int make_epoll_set() {
  int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::system_category(), "epoll_create1");
  return fd;
}

}  // namespace

worker::worker(std::size_t index) : poller_(ioc_, make_epoll_set()), index_(index) {}

boost::system::error_code worker::watch(int fd, connection& c) {
  epoll_event ev{};
  // Registered once for both directions, as Asio's reactor does: no epoll_ctl per
  // wait. EPOLLERR and EPOLLHUP are always reported.
  ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
  ev.data.ptr = &c;
  if (::epoll_ctl(poller_.native_handle(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return {errno, boost::system::system_category()};
  }
  return {};
}

void worker::unwatch(int fd) noexcept {
  epoll_event ev{};
  ::epoll_ctl(poller_.native_handle(), EPOLL_CTL_DEL, fd, &ev);
}

void worker::poll() {
  poller_.async_wait(boost::asio::posix::stream_descriptor::wait_read, [this](const boost::system::error_code& ec) {
    if (!ec) on_poll();
  });
}

void worker::on_poll() {
  if (stopping_) return;
  constexpr int max_events = 128;  // as Asio's reactor takes per turn
  std::array<epoll_event, max_events> events;
  int got = ::epoll_wait(poller_.native_handle(), events.data(), max_events, 0);
  const std::size_t n = got > 0 ? static_cast<std::size_t>(got) : 0;  // < 0: EINTR, nothing taken
  // Schedule the next round before running handlers, so that one that throws
  // cannot stop readiness for everybody else.
  if (n == events.size()) {
    // More may be ready: take it after the handlers queued meanwhile, without a
    // round through the reactor.
    asio::post(ioc_, [this] { on_poll(); });
  } else {
    // Asio re-arms the descriptor when the wait starts (EPOLL_CTL_MOD), which
    // reports our set at once if something becomes ready from now on.
    poll();
  }
  // Every ready connection is in the list (it unwatches before leaving it), so it
  // is alive now; hold each for the whole batch in case handling one ends another.
  ready_.clear();
  for (std::size_t i = 0; i < n; ++i) {
    ready_.push_back(static_cast<connection*>(events[i].data.ptr)->shared_from_this());
  }
  for (std::size_t i = 0; i < n; ++i) {
    try {
      ready_[i]->on_io_ready(events[i].events);
    } catch (const std::exception& e) {
      // As the worker loop does for any handler: log, keep serving the others
      // (their readiness is edge-triggered and would not be reported again).
      logger("broker")->error("unexpected exception in a connection handler: {}", e.what());
    }
  }
  ready_.clear();
}

void worker::add(std::shared_ptr<connection> c) {
  c->worker_slot_ = static_cast<std::uint32_t>(connections_.size());
  connections_.push_back(std::move(c));
  load_.store(static_cast<std::uint32_t>(connections_.size()), std::memory_order_relaxed);
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
  load_.store(static_cast<std::uint32_t>(connections_.size()), std::memory_order_relaxed);
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
  for (std::size_t i = 0; i < std::max<std::size_t>(n, 1); ++i) workers_.push_back(std::make_unique<worker>(i));
}

worker_pool::~worker_pool() { stop_and_join(); }

void worker_pool::start() {
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    worker* w = workers_[i].get();
    asio::post(w->ioc_, [w] {
      w->tick();
      w->poll();
    });
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
      // The poll wait is always pending: cancel it so the io_context can run out
      // of work and stop once the (kicked) connections are done.
      boost::system::error_code ec;
      p->poller_.cancel(ec);
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

worker& worker_pool::pick(worker& local) {
  const std::uint32_t mine = local.load();
  worker* least = &local;
  std::uint32_t fewest = mine;
  for (auto& w : workers_) {
    if (std::uint32_t n = w->load(); n < fewest) {
      least = w.get();
      fewest = n;
    }
  }
  // A margin that grows with the load (1/16), so that the counts' jitter in a storm of short
  // connections does not send every other connection across.
  return mine > fewest + 1 + fewest / 16 ? *least : local;
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
