/*
 * Identifier helpers. Ids come from sqlite3_randomness (a ChaCha20 CSPRNG
 * seeded from the OS), which is thread-safe in a thread-safe SQLite build.
 */
#include "ids.hpp"

#include <chrono>
#include <cstdint>
#include <vector>

#include <sqlite3.h>

namespace portcullis::store::detail {

namespace {

std::string to_hex(const unsigned char* raw, std::size_t n) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out.push_back(digits[raw[i] >> 4]);
    out.push_back(digits[raw[i] & 0x0f]);
  }
  return out;
}

}  // namespace

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> raw(bytes);
  sqlite3_randomness(static_cast<int>(bytes), raw.data());
  return to_hex(raw.data(), raw.size());
}

std::string time_ordered_hex_id() {
  auto ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  unsigned char raw[16];
  for (int i = 0; i < 6; ++i) {
    raw[i] = static_cast<unsigned char>(ms >> (8 * (5 - i)));
  }
  sqlite3_randomness(10, raw + 6);
  return to_hex(raw, sizeof raw);
}

bool is_lower_hex(std::string_view text, std::size_t length) noexcept {
  if (text.size() != length) {
    return false;
  }
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

}  // namespace portcullis::store::detail
