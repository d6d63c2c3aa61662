// Strict base64 / base64url codecs (see base64.hpp for the rules).

#include "base64.hpp"

#include <array>

namespace portcullis::auth::detail {
namespace {

constexpr std::string_view std_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr std::string_view url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<std::int8_t, 256> make_table(std::string_view alphabet) {
  std::array<std::int8_t, 256> t{};
  for (auto& v : t) {
    v = -1;
  }
  for (std::size_t i = 0; i < alphabet.size(); ++i) {
    t[static_cast<unsigned char>(alphabet[i])] = static_cast<std::int8_t>(i);
  }
  return t;
}

constexpr auto std_table = make_table(std_alphabet);
constexpr auto url_table = make_table(url_alphabet);

// Decodes unpadded text (length % 4 != 1) with the given table: whole quanta four characters
// at a time into a buffer sized up front (x5c chains and JWS headers are kilobytes).
std::optional<std::vector<std::uint8_t>> decode_unpadded(std::string_view text,
                                                         const std::array<std::int8_t, 256>& table) {
  const std::size_t tail = text.size() % 4;
  if (tail == 1) {
    return std::nullopt;
  }
  const std::size_t whole = text.size() - tail;
  std::vector<std::uint8_t> out(whole / 4 * 3 + (tail == 0 ? 0 : tail - 1));
  auto at = [&](std::size_t i) { return table[static_cast<unsigned char>(text[i])]; };
  std::uint8_t* o = out.data();
  for (std::size_t i = 0; i < whole; i += 4) {
    const int a = at(i), b = at(i + 1), c = at(i + 2), d = at(i + 3);
    if ((a | b | c | d) < 0) {
      return std::nullopt;
    }
    const auto n = (static_cast<std::uint32_t>(a) << 18) | (static_cast<std::uint32_t>(b) << 12) |
                   (static_cast<std::uint32_t>(c) << 6) | static_cast<std::uint32_t>(d);
    *o++ = static_cast<std::uint8_t>(n >> 16);
    *o++ = static_cast<std::uint8_t>(n >> 8);
    *o++ = static_cast<std::uint8_t>(n);
  }
  if (tail != 0) {
    const int a = at(whole), b = at(whole + 1), c = tail == 3 ? at(whole + 2) : 0;
    if ((a | b | c) < 0) {
      return std::nullopt;
    }
    const auto n = (static_cast<std::uint32_t>(a) << 18) | (static_cast<std::uint32_t>(b) << 12) |
                   (static_cast<std::uint32_t>(c) << 6);
    // Leftover bits (4 after two characters, 2 after three) must be zero, else a second
    // encoding of the same bytes exists.
    if ((tail == 2 && (n & 0xFFFFu) != 0) || (tail == 3 && (n & 0xFFu) != 0)) {
      return std::nullopt;
    }
    *o++ = static_cast<std::uint8_t>(n >> 16);
    if (tail == 3) {
      *o++ = static_cast<std::uint8_t>(n >> 8);
    }
  }
  return out;
}

std::string encode(std::string_view bytes, std::string_view alphabet, bool pad) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    std::uint32_t n = (static_cast<std::uint8_t>(bytes[i]) << 16) |
                      (static_cast<std::uint8_t>(bytes[i + 1]) << 8) | static_cast<std::uint8_t>(bytes[i + 2]);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    out += alphabet[n & 63];
  }
  std::size_t rest = bytes.size() - i;
  if (rest == 1) {
    std::uint32_t n = static_cast<std::uint8_t>(bytes[i]) << 16;
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    if (pad) {
      out += "==";
    }
  } else if (rest == 2) {
    std::uint32_t n = (static_cast<std::uint8_t>(bytes[i]) << 16) | (static_cast<std::uint8_t>(bytes[i + 1]) << 8);
    out += alphabet[(n >> 18) & 63];
    out += alphabet[(n >> 12) & 63];
    out += alphabet[(n >> 6) & 63];
    if (pad) {
      out += '=';
    }
  }
  return out;
}

}  // namespace

std::optional<std::vector<std::uint8_t>> decode_base64url(std::string_view text) {
  return decode_unpadded(text, url_table);
}

std::optional<std::vector<std::uint8_t>> decode_base64(std::string_view text) {
  if (text.size() % 4 != 0) {
    return std::nullopt;
  }
  std::size_t padding = 0;
  while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') {
    ++padding;
  }
  return decode_unpadded(text.substr(0, text.size() - padding), std_table);
}

std::string encode_base64url(std::string_view bytes) {
  return encode(bytes, url_alphabet, false);
}

std::string encode_base64(std::string_view bytes) {
  return encode(bytes, std_alphabet, true);
}

}  // namespace portcullis::auth::detail
