#pragma once
// The most recent refused CONNECTs, for GET /api/v1/auth-failures: a bounded
// in-memory ring (oldest dropped). Thread-safe.

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace portcullis::broker {

struct auth_failure_record {
  std::uint64_t id = 0;
  std::int64_t time_ms = 0;  // epoch milliseconds
  std::string listener;
  std::string client_id;
  std::string remote;
  std::string tenant;       // "" when unknown
  std::string reason;       // stable code
  std::string detail;
  std::uint8_t connack_code = 0;
};

class auth_failure_log {
 public:
  explicit auth_failure_log(std::size_t capacity = 1000)
      : capacity_(capacity),
        // Ids go on increasing across restarts (the ring itself is not persisted): they count
        // up from the start time in epoch microseconds, which a run cannot overtake unless it
        // refuses more than a million connects a second.
        next_id_(static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count())) {}

  void add(auth_failure_record r) {
    std::lock_guard lock(mutex_);
    r.id = ++next_id_;
    if (ring_.size() >= capacity_) ring_.pop_front();
    ring_.push_back(std::move(r));
  }

  /// Newest first; `tenant` "" = all.
  std::vector<auth_failure_record> recent(const std::string& tenant, std::size_t limit) const {
    std::lock_guard lock(mutex_);
    std::vector<auth_failure_record> out;
    for (auto it = ring_.rbegin(); it != ring_.rend() && out.size() < limit; ++it) {
      if (tenant.empty() || it->tenant == tenant) out.push_back(*it);
    }
    return out;
  }

 private:
  std::size_t capacity_;
  mutable std::mutex mutex_;
  std::deque<auth_failure_record> ring_;
  std::uint64_t next_id_;
};

}  // namespace portcullis::broker
