#include "stats.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace portcullis::bench {

namespace {

// Bucket layout: exponent e = max(0, bit_width(v) - (sub_bits + 1)); index = (e << sub_bits) + (v >> e).
// For e = 0 that is v itself (0..127); each later exponent covers 64 buckets of width 2^e, and the
// ranges of consecutive exponents are contiguous.
std::size_t bucket_of(std::uint64_t v) noexcept {
  const int width = std::bit_width(v);
  const int e = std::max(0, width - static_cast<int>(histogram::sub_bits + 1));
  return (static_cast<std::size_t>(e) << histogram::sub_bits) + static_cast<std::size_t>(v >> e);
}

std::uint64_t upper_edge(std::size_t index) noexcept {
  const std::size_t group = index >> histogram::sub_bits;
  const unsigned e = group == 0 ? 0 : static_cast<unsigned>(group - 1);
  const std::uint64_t mantissa = index - (static_cast<std::size_t>(e) << histogram::sub_bits);
  return ((mantissa + 1) << e) - 1;
}

}  // namespace

void histogram::add(std::uint64_t value) noexcept {
  const std::size_t i = std::min(bucket_of(value), bucket_count - 1);
  ++buckets_[i];
  ++count_;
  max_ = std::max(max_, value);
}

void histogram::merge(const histogram& other) noexcept {
  for (std::size_t i = 0; i < bucket_count; ++i) buckets_[i] += other.buckets_[i];
  count_ += other.count_;
  max_ = std::max(max_, other.max_);
}

std::uint64_t histogram::percentile(double q) const noexcept {
  if (count_ == 0) return 0;
  const auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  const std::uint64_t target = std::max<std::uint64_t>(1, rank);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += buckets_[i];
    if (seen >= target) return std::min(upper_edge(i), max_);
  }
  return max_;
}

process_sample sample_process(int pid) {
  process_sample s;
  if (pid <= 0) return s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return s;
  // The command name (field 2) may contain spaces; fields are counted after the last ')'.
  const auto close = line.rfind(')');
  if (close == std::string::npos) return s;
  std::istringstream in(line.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && in >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  const long ticks = sysconf(_SC_CLK_TCK);
  s.cpu_seconds = static_cast<double>(utime + stime) / static_cast<double>(ticks > 0 ? ticks : 100);
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      s.rss_kib = std::stol(line.substr(6));
      break;
    }
  }
  s.ok = true;
  return s;
}

double self_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto secs = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

std::string json_escape(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  return out;
}

void json_line::key(std::string_view k) {
  if (!body_.empty()) body_ += ", ";
  body_ += '"';
  body_ += json_escape(k);
  body_ += "\": ";
}

json_line& json_line::add(std::string_view k, std::int64_t v) {
  key(k);
  body_ += std::to_string(v);
  return *this;
}

json_line& json_line::add(std::string_view k, std::uint64_t v) {
  key(k);
  body_ += std::to_string(v);
  return *this;
}

json_line& json_line::add(std::string_view k, double v) {
  key(k);
  if (!std::isfinite(v)) {
    body_ += "null";
    return *this;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  body_ += buf;
  return *this;
}

json_line& json_line::add(std::string_view k, bool v) {
  key(k);
  body_ += v ? "true" : "false";
  return *this;
}

json_line& json_line::add(std::string_view k, std::string_view v) {
  key(k);
  body_ += '"';
  body_ += json_escape(v);
  body_ += '"';
  return *this;
}

json_line& json_line::add_raw(std::string_view k, std::string_view raw_json) {
  key(k);
  body_ += raw_json;
  return *this;
}

json_line& json_line::add_latency(std::string_view prefix, const histogram& h) {
  const std::string p(prefix);
  auto us = [](std::uint64_t ns) { return static_cast<double>(ns) / 1000.0; };
  add(p + "_count", h.count());
  add(p + "_p50_us", us(h.percentile(0.50)));
  add(p + "_p90_us", us(h.percentile(0.90)));
  add(p + "_p99_us", us(h.percentile(0.99)));
  add(p + "_p999_us", us(h.percentile(0.999)));
  add(p + "_max_us", us(h.max()));
  return *this;
}

json_line& json_line::add_broker(const process_sample& before, const process_sample& after) {
  if (!before.ok || !after.ok) return *this;
  add("broker_cpu_s", after.cpu_seconds - before.cpu_seconds);
  add("broker_rss_before_kib", static_cast<std::int64_t>(before.rss_kib));
  add("broker_rss_after_kib", static_cast<std::int64_t>(after.rss_kib));
  return *this;
}

json_line& json_line::add_client_cpu(double cpu_at_start) {
  return add("client_cpu_s", self_cpu_seconds() - cpu_at_start);
}

}  // namespace portcullis::bench
