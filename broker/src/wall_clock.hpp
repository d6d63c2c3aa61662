#pragma once
// Wall-clock time as the broker stores and compares it: epoch seconds (token
// exp, message and session expiry, store records) and epoch milliseconds (logs,
// refusal records). Steady time for deadlines is std::chrono::steady_clock.

#include <chrono>
#include <cstdint>

namespace portcullis::broker {

inline std::int64_t epoch_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

inline std::int64_t epoch_millis() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace portcullis::broker
