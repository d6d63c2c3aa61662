#pragma once
// Token bucket for the per-client message rate (DEVIATION(SPEC §6): 1 message per
// 5 s by default): `burst` tokens, refilled at `messages / per_seconds` per second.
// Pure: the caller passes `now`, so it is tested without clocks or sockets.

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <iterator>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace portcullis::broker {

class token_bucket {
 public:
  using clock = std::chrono::steady_clock;

  token_bucket() = default;
  token_bucket(double messages, double per_seconds, double burst, clock::time_point now)
      : rate_(messages / per_seconds), burst_(burst), tokens_(burst), last_(now) {}

  /// Takes one token if available.
  bool try_take(clock::time_point now) {
    refill(now);
    if (tokens_ >= 1.0) {
      tokens_ -= 1.0;
      return true;
    }
    return false;
  }

  /// True when the bucket is full at `now`: it then behaves exactly like a fresh
  /// one, so a caller may drop it and start a new one later (idle memory).
  bool is_full(clock::time_point now) {
    refill(now);
    return tokens_ >= burst_;
  }

  /// Time until one whole token is available (zero when one is).
  clock::duration time_until_token(clock::time_point now) {
    refill(now);
    if (tokens_ >= 1.0) return clock::duration::zero();
    double seconds = (1.0 - tokens_) / rate_;
    return std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds)) +
           std::chrono::milliseconds(1);
  }

 private:
  void refill(clock::time_point now) {
    if (now <= last_) return;
    double elapsed = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
    last_ = now;
  }

  double rate_ = 0.2;
  double burst_ = 5;
  double tokens_ = 5;
  clock::time_point last_{};
};

/// Buckets of clients that went away before theirs refilled: SPEC §6 limits a client, not a
/// connection, so reconnecting must not hand out a fresh burst. An entry is only kept while
/// its bucket is short of full (a full one is what a new connection gets anyway), so the map
/// holds the clients that published near their limit within the last burst/rate seconds; at
/// most `capacity` of them (beyond that, once the full ones are swept, a client is forgotten:
/// the limit errs towards the client, never towards losing memory). Thread-safe.
class rate_memory {
 public:
  using clock = token_bucket::clock;

  explicit rate_memory(std::size_t capacity = 65536) : capacity_(capacity) {}

  /// Keeps `bucket` for (tenant, client id) unless it is full at `now`.
  void remember(std::string_view tenant, std::string_view client_id, token_bucket bucket, clock::time_point now) {
    std::string k = key(tenant, client_id);
    std::lock_guard lock(mutex_);
    if (bucket.is_full(now)) {
      buckets_.erase(k);
      return;
    }
    if (buckets_.size() >= capacity_ && !buckets_.contains(k)) {
      for (auto it = buckets_.begin(); it != buckets_.end();) {
        it = it->second.is_full(now) ? buckets_.erase(it) : std::next(it);
      }
      if (buckets_.size() >= capacity_) return;
    }
    buckets_.insert_or_assign(std::move(k), bucket);
  }

  /// The bucket (tenant, client id) left behind, if it is still short of full; forgets it.
  std::optional<token_bucket> recall(std::string_view tenant, std::string_view client_id, clock::time_point now) {
    std::lock_guard lock(mutex_);
    if (buckets_.empty()) return std::nullopt;
    auto it = buckets_.find(key(tenant, client_id));
    if (it == buckets_.end()) return std::nullopt;
    token_bucket b = it->second;
    buckets_.erase(it);
    if (b.is_full(now)) return std::nullopt;
    return b;
  }

  std::size_t size() {
    std::lock_guard lock(mutex_);
    return buckets_.size();
  }

 private:
  static std::string key(std::string_view tenant, std::string_view client_id) {
    std::string k;
    k.reserve(tenant.size() + 1 + client_id.size());
    k.append(tenant).push_back('\0');  // tenant ids never hold NUL: no two pairs share a key
    k.append(client_id);
    return k;
  }

  std::mutex mutex_;
  std::unordered_map<std::string, token_bucket> buckets_;
  std::size_t capacity_;
};

}  // namespace portcullis::broker
