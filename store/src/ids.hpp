#pragma once
/*
 * Small helpers for identifiers: random (or time-ordered) lowercase-hex ids
 * from SQLite's CSPRNG (sqlite3_randomness) and the lowercase-hex format
 * check used for fingerprints and token hashes.
 */

#include <cstddef>
#include <string>
#include <string_view>

namespace portcullis::store::detail {

/// `bytes` random bytes as 2*bytes lowercase hex chars.
std::string random_hex(std::size_t bytes);

/// A 32-char lowercase hex id that sorts by creation time, as a UUIDv7 does: 48-bit Unix
/// milliseconds (big-endian), then 80 random bits. Used as a primary key, it makes inserts
/// append at the right edge of each B-tree it keys instead of landing on a random page: a
/// provisioning batch then dirties a few pages per table, not one per device (measured: ~7
/// WAL page writes per new device with random ids).
std::string time_ordered_hex_id();

/// True when `text` is exactly `length` chars of [0-9a-f].
bool is_lower_hex(std::string_view text, std::size_t length) noexcept;

}  // namespace portcullis::store::detail
