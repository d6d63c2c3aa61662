#pragma once
/*
 * Small helpers for identifiers: random lowercase-hex ids from SQLite's
 * CSPRNG (sqlite3_randomness) and the lowercase-hex format check used for
 * fingerprints and token hashes.
 */

#include <cstddef>
#include <string>
#include <string_view>

namespace portcullis::store::detail {

/// `bytes` random bytes as 2*bytes lowercase hex chars.
std::string random_hex(std::size_t bytes);

/// True when `text` is exactly `length` chars of [0-9a-f].
bool is_lower_hex(std::string_view text, std::size_t length) noexcept;

}  // namespace portcullis::store::detail
