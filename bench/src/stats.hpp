#pragma once
// Measurement helpers: a log-linear latency histogram (HdrHistogram-like, ~1.6 % relative
// precision, fixed memory, mergeable), broker process sampling from /proc (CPU time and
// VmRSS), and the one-line JSON report every mode prints on stdout.
//
// Thread safety: distinct objects: safe; shared objects: unsafe (merge after the run).

#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace portcullis::bench {

/// Monotonic nanoseconds (std::chrono::steady_clock), the timestamp carried in payloads.
inline std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

class histogram {
 public:
  static constexpr unsigned sub_bits = 6;                 // 64 sub-buckets per power of two
  static constexpr std::size_t bucket_count = (58 + 1) << sub_bits;

  void add(std::uint64_t value) noexcept;
  void merge(const histogram& other) noexcept;
  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t max() const noexcept { return max_; }
  /// The value at quantile q in [0, 1] (upper edge of its bucket, capped at max()); 0 when empty.
  std::uint64_t percentile(double q) const noexcept;

 private:
  std::array<std::uint64_t, bucket_count> buckets_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
};

/// CPU time (user + system, all threads) and resident set of a process, from /proc.
struct process_sample {
  bool ok = false;
  double cpu_seconds = 0;
  long rss_kib = 0;
};
process_sample sample_process(int pid);
/// CPU seconds (user + system) used by this process so far (getrusage).
double self_cpu_seconds();

/// Builds `{"k": v, ...}` in insertion order.
class json_line {
 public:
  json_line& add(std::string_view key, std::int64_t v);
  json_line& add(std::string_view key, std::uint64_t v);
  json_line& add(std::string_view key, int v) { return add(key, static_cast<std::int64_t>(v)); }
  json_line& add(std::string_view key, unsigned v) { return add(key, static_cast<std::uint64_t>(v)); }
  json_line& add(std::string_view key, double v);
  json_line& add(std::string_view key, bool v);
  json_line& add(std::string_view key, std::string_view v);
  json_line& add(std::string_view key, const char* v) { return add(key, std::string_view(v)); }
  json_line& add_raw(std::string_view key, std::string_view raw_json);
  /// lat_p50_us, lat_p90_us, lat_p99_us, lat_p999_us, lat_max_us, lat_count (prefix "lat").
  json_line& add_latency(std::string_view prefix, const histogram& h);
  /// broker_cpu_s, broker_rss_before_kib, broker_rss_after_kib (when both samples are ok).
  json_line& add_broker(const process_sample& before, const process_sample& after);
  /// client_cpu_s: this process's CPU since `cpu_at_start` (is the load generator the bottleneck?).
  json_line& add_client_cpu(double cpu_at_start);
  std::string str() const { return "{" + body_ + "}"; }

 private:
  void key(std::string_view k);
  std::string body_;
};

std::string json_escape(std::string_view s);

}  // namespace portcullis::bench
