#pragma once
// Token bucket for the per-client message rate (DEVIATION(SPEC §6): 1 message per
// 5 s by default): `burst` tokens, refilled at `messages / per_seconds` per second.
// Pure: the caller passes `now`, so it is tested without clocks or sockets.

#include <algorithm>
#include <chrono>

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

}  // namespace portcullis::broker
