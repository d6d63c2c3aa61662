#pragma once
// Strict base64 codecs. JWS segments are base64url WITHOUT padding (RFC 7515 §2); x5c entries
// are standard base64 WITH padding (RFC 7515 §4.1.6). Both decoders refuse anything a
// canonical encoder would not produce: foreign characters, whitespace, wrong padding, a length
// of 1 mod 4, and non-zero unused bits in the last character, so each byte string has exactly
// one accepted encoding.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portcullis::auth::detail {

std::optional<std::vector<std::uint8_t>> decode_base64url(std::string_view text);
std::optional<std::vector<std::uint8_t>> decode_base64(std::string_view text);

std::string encode_base64url(std::string_view bytes);
std::string encode_base64(std::string_view bytes);

}  // namespace portcullis::auth::detail
