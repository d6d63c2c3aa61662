#pragma once
// A 4-byte mutex for per-session state. std::mutex (pthread_mutex_t) is 40 bytes,
// and every session has one, so at tens of thousands of idle connections it is a
// visible part of their memory (bench: idle bytes per connection).
//
// The algorithm is the three-state futex mutex of Drepper's "Futexes Are Tricky"
// (0 free, 1 locked, 2 locked and maybe waited on), with C++20 atomic wait and
// notify, which libstdc++ implements with a futex for 4-byte atomics. The
// uncontended paths are one compare-exchange to lock and one atomic decrement to
// unlock, as with a default pthread mutex; a contended lock sleeps in the kernel
// and unlock wakes one sleeper. Not recursive, no owner checks.
//
// Thread safety: lock()/unlock() from any thread (BasicLockable: works with
// std::lock_guard and std::unique_lock).

#include <atomic>
#include <cstdint>

namespace portcullis::broker {

class compact_mutex {
 public:
  compact_mutex() = default;
  compact_mutex(const compact_mutex&) = delete;
  compact_mutex& operator=(const compact_mutex&) = delete;

  void lock() noexcept {
    std::uint32_t c = 0;
    if (state_.compare_exchange_strong(c, 1, std::memory_order_acquire, std::memory_order_relaxed)) return;
    // Contended: announce a waiter (2) and sleep until the holder hands over.
    if (c != 2) c = state_.exchange(2, std::memory_order_acquire);
    while (c != 0) {
      state_.wait(2, std::memory_order_relaxed);
      c = state_.exchange(2, std::memory_order_acquire);
    }
  }

  void unlock() noexcept {
    // 1 -> 0 needs no wake-up; 2 means someone may sleep on the futex.
    if (state_.fetch_sub(1, std::memory_order_release) != 1) {
      state_.store(0, std::memory_order_release);
      state_.notify_one();
    }
  }

 private:
  std::atomic<std::uint32_t> state_{0};
};

static_assert(sizeof(compact_mutex) == 4);

}  // namespace portcullis::broker
