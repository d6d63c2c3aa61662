#pragma once
// Random tokens, registration codes, UUIDs, hashing and constant-time comparison for admin
// tokens and registration codes (OpenSSL RAND_bytes / SHA-256 / CRYPTO_memcmp).
// Thread-safety: all functions are reentrant.

#include <cstddef>
#include <string>
#include <string_view>

namespace portcullis::auth {

/// `bytes` random bytes, base64url without padding (32 → 43 chars). Used for admin tokens.
std::string random_token(std::size_t bytes = 32);

/// A registration code: 32 lowercase hex chars (128 bits). Fits in a certificate CN (≤ 64).
std::string random_code();

/// A random RFC 4122 version 4 UUID, lowercase ("xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx").
std::string uuid_v4();

/// SHA-256 of `data`, lowercase hex (store admin tokens hashed).
std::string sha256_hex(std::string_view data);

/// Compares without a data-dependent early exit (length mismatch still costs one compare).
bool constant_time_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace portcullis::auth
