// UTF-8 validation for MQTT strings [MQTT-1.5.3-1, -2].
//
// Rules enforced: the bytes are well-formed UTF-8 per RFC 3629 §4 (no overlong
// forms, nothing above U+10FFFF, no stray continuation or truncated sequence);
// UTF-16 surrogates U+D800..U+DFFF are `utf8_surrogate`; U+0000 is
// `utf8_null_character`. Control characters and non-characters are allowed: MQTT
// only says a receiver MAY close for them, and [MQTT-1.5.3-3] forbids stripping a BOM.

#include <cstdint>
#include <string_view>

#include "portcullis/protocol/codec.hpp"

namespace portcullis::protocol {

namespace {

bool is_continuation(std::uint8_t b) noexcept { return (b & 0xC0) == 0x80; }

/// Validates the multi-byte sequence starting at s[i] (s[i] >= 0x80); on success
/// sets `length` to its size.
decode_error check_sequence(std::string_view s, std::size_t i, std::size_t& length) noexcept {
  const auto lead = static_cast<std::uint8_t>(s[i]);
  std::uint8_t lo = 0x80;  // allowed range of the second byte (RFC 3629 §4 table)
  std::uint8_t hi = 0xBF;
  if (lead >= 0xC2 && lead <= 0xDF) {
    length = 2;
  } else if (lead >= 0xE0 && lead <= 0xEF) {
    length = 3;
    if (lead == 0xE0) {
      lo = 0xA0;  // below is overlong
    }
  } else if (lead >= 0xF0 && lead <= 0xF4) {
    length = 4;
    if (lead == 0xF0) {
      lo = 0x90;  // below is overlong
    } else if (lead == 0xF4) {
      hi = 0x8F;  // above is > U+10FFFF
    }
  } else {
    return decode_error::invalid_utf8;  // continuation byte, C0/C1 (overlong) or F5..FF
  }
  if (s.size() - i < length) {
    return decode_error::invalid_utf8;  // truncated
  }
  for (std::size_t k = 1; k < length; ++k) {
    if (!is_continuation(static_cast<std::uint8_t>(s[i + k]))) {
      return decode_error::invalid_utf8;
    }
  }
  const auto second = static_cast<std::uint8_t>(s[i + 1]);
  if (second < lo || second > hi) {
    return decode_error::invalid_utf8;
  }
  if (lead == 0xED && second >= 0xA0) {
    return decode_error::utf8_surrogate;  // U+D800..U+DFFF
  }
  return decode_error::none;
}

}  // namespace

decode_error validate_utf8(std::string_view s) noexcept {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<std::uint8_t>(s[i]);
    if (b < 0x80) {
      if (b == 0) {
        return decode_error::utf8_null_character;  // [MQTT-1.5.3-2]
      }
      ++i;
      continue;
    }
    std::size_t length = 0;
    if (auto e = check_sequence(s, i, length); e != decode_error::none) {
      return e;
    }
    i += length;
  }
  return decode_error::none;
}

}  // namespace portcullis::protocol
