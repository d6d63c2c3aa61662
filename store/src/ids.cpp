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

std::string random_hex(std::size_t bytes) {
  static constexpr char digits[] = "0123456789abcdef";
  std::vector<unsigned char> raw(bytes);
  sqlite3_randomness(static_cast<int>(bytes), raw.data());
  std::string out;
  out.reserve(bytes * 2);
  for (unsigned char b : raw) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0x0f]);
  }
  return out;
}

std::string time_ordered_hex_id() {
  static constexpr char digits[] = "0123456789abcdef";
  auto ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  unsigned char raw[16];
  for (int i = 0; i < 6; ++i) {
    raw[i] = static_cast<unsigned char>(ms >> (8 * (5 - i)));
  }
  sqlite3_randomness(10, raw + 6);
  std::string out;
  out.reserve(32);
  for (unsigned char b : raw) {
    out.push_back(digits[b >> 4]);
    out.push_back(digits[b & 0x0f]);
  }
  return out;
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
