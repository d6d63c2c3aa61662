#pragma once
// Process-wide counters for /metrics (Prometheus text format). Hot-path counters
// are relaxed atomics; labelled families (drops by reason, auth failures by reason)
// are fixed enumerations or a small mutex-guarded map touched only on refusals.

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace portcullis::broker {

enum class drop_reason : std::uint8_t {
  queue_full,        // session queue at max_queued_messages: oldest dropped
  expired,           // queued longer than message_expiry_seconds
  offline_qos0,      // QoS 0 for a disconnected persistent session (not queued)
  session_expired,   // messages discarded with an expired session
  count_
};

enum class ignored_feature : std::uint8_t { will, retain, count_ };

/// Per-thread traffic counters. Each shard is written by one thread only (plain
/// load+store, no locked instruction, no cache line shared between workers);
/// /metrics sums the shards.
struct traffic_shard {
  std::atomic<std::uint64_t> messages_in{0}, messages_out{0}, bytes_in{0}, bytes_out{0}, packets_in{0},
      packets_out{0}, writes{0};
};

/// Single-writer increment.
inline void bump(std::atomic<std::uint64_t>& a, std::uint64_t n = 1) noexcept {
  a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

class metrics {
 public:
  std::atomic<std::int64_t> connections_current{0};
  std::atomic<std::uint64_t> connections_total{0};
  std::atomic<std::uint64_t> connections_refused_limit{0};
  std::atomic<std::uint64_t> connects_accepted{0};
  std::atomic<std::uint64_t> rate_limit_throttled{0};
  std::atomic<std::uint64_t> backpressure_pauses{0};
  std::atomic<std::uint64_t> backpressure_timeouts{0};
  std::atomic<std::uint64_t> rate_limit_disconnected{0};
  std::atomic<std::uint64_t> protocol_errors{0};
  std::atomic<std::uint64_t> packet_too_large{0};
  std::atomic<std::uint64_t> keepalive_timeouts{0};
  std::atomic<std::uint64_t> connect_timeouts{0};
  std::atomic<std::uint64_t> takeovers{0};
  std::atomic<std::uint64_t> token_expiry_disconnects{0};
  std::atomic<std::int64_t> sessions_persistent{0};
  std::atomic<std::uint64_t> session_commits{0};          // durable-session group commits
  std::atomic<std::uint64_t> session_ops_committed{0};    // operations written in them
  std::atomic<std::uint64_t> session_entries_cancelled{0};  // queue entries acked before their commit
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(drop_reason::count_)> drops{};
  std::array<std::atomic<std::uint64_t>, static_cast<std::size_t>(ignored_feature::count_)> ignored{};

  /// The calling thread's traffic shard (created on first use).
  traffic_shard& traffic();
  /// Sum over all shards.
  struct traffic_totals {
    std::uint64_t messages_in = 0, messages_out = 0, bytes_in = 0, bytes_out = 0, packets_in = 0, packets_out = 0,
                  writes = 0;
  };
  traffic_totals traffic_total() const;

  void drop(drop_reason r, std::uint64_t n = 1) { drops[static_cast<std::size_t>(r)].fetch_add(n, std::memory_order_relaxed); }
  void auth_failure(const std::string& reason);
  void register_auth_reason(const std::string& reason);  // pre-register so the series exists at 0

  /// Store operation latency (seconds) histogram, fed by the store thread.
  void observe_store_latency(double seconds);

  /// Renders everything in Prometheus text exposition format 0.0.4.
  std::string render(std::size_t sessions, std::size_t subscriptions) const;

 private:
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<traffic_shard>> shards_;
  std::map<std::string, std::uint64_t> auth_failures_;
  static constexpr std::array<double, 10> store_buckets_{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0};
  std::array<std::uint64_t, 11> store_counts_{};
  double store_sum_ = 0;
  std::uint64_t store_total_ = 0;
};

std::string_view name_of(drop_reason r) noexcept;

}  // namespace portcullis::broker
