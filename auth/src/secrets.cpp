// Random tokens, codes and UUIDs from the OpenSSL DRBG; SHA-256; constant-time equality.
// RAND_bytes failing means the process has no usable entropy source: that is not an input
// failure, so it throws std::runtime_error (STYLE §c18 "truly unexpected").

#include "portcullis/auth/secrets.hpp"

#include <stdexcept>
#include <vector>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "base64.hpp"
#include "openssl_util.hpp"

namespace portcullis::auth {
namespace {

std::vector<std::uint8_t> random_bytes(std::size_t n) {
  std::vector<std::uint8_t> out(n);
  if (n > 0 && RAND_bytes(out.data(), static_cast<int>(n)) != 1) {
    throw std::runtime_error(detail::with_errors("RAND_bytes failed"));
  }
  return out;
}

}  // namespace

std::string random_token(std::size_t bytes) {
  auto r = random_bytes(bytes);
  return detail::encode_base64url({reinterpret_cast<const char*>(r.data()), r.size()});
}

std::string random_code() {
  return detail::hex(random_bytes(16));
}

std::string uuid_v4() {
  auto r = random_bytes(16);
  r[6] = static_cast<std::uint8_t>((r[6] & 0x0f) | 0x40);  // version 4
  r[8] = static_cast<std::uint8_t>((r[8] & 0x3f) | 0x80);  // RFC 4122 variant
  std::string h = detail::hex(r);
  return h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" + h.substr(20);
}

std::string sha256_hex(std::string_view data) {
  return detail::sha256_hex_of({reinterpret_cast<const std::uint8_t*>(data.data()), data.size()});
}

bool constant_time_equal(std::string_view a, std::string_view b) noexcept {
  // Lengths are not secret (tokens and codes have fixed lengths); the contents are compared
  // with CRYPTO_memcmp, whose time does not depend on where the first difference is.
  if (a.size() != b.size()) {
    return false;
  }
  return a.empty() || CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace portcullis::auth
