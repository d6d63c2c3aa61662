// compact_mutex: mutual exclusion under contention (the uncontended and the
// sleeping paths both run here).

#include "compact_mutex.hpp"

#include <catch2/catch.hpp>

#include <mutex>
#include <thread>
#include <vector>

using portcullis::broker::compact_mutex;

TEST_CASE("compact_mutex excludes under contention", "[mutex]") {
  compact_mutex mutex;
  std::uint64_t counter = 0;  // guarded by mutex; a lost update shows a broken lock
  constexpr int threads = 4, rounds = 100000;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&] {
      for (int i = 0; i < rounds; ++i) {
        std::lock_guard lock(mutex);
        ++counter;
        if (i % 1000 == 0) std::this_thread::yield();  // hold it a while: waiters sleep
      }
    });
  }
  for (auto& t : pool) t.join();
  REQUIRE(counter == std::uint64_t{threads} * rounds);
}
