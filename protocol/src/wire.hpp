#pragma once
// Private helpers shared by the per-packet decoders and encoders: a bounds-checked
// read cursor over a frame body, append helpers for the encoder, the fixed-header
// flag rules, and the per-packet entry points that codec.cpp dispatches to.
//
// Rules enforced here: every read is bounds-checked against the Remaining Length
// (an overrun is `length_mismatch`, never UB); strings are 2-byte length prefixed
// [MQTT-1.5.3]; UTF-8 fields go through validate_utf8() [MQTT-1.5.3-1, -2].

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "portcullis/protocol/codec.hpp"
#include "portcullis/protocol/error.hpp"
#include "portcullis/protocol/packet.hpp"

namespace portcullis::protocol::detail {

/// Largest value a 2-byte length prefix can carry.
inline constexpr std::size_t max_string_size = 0xFFFF;

/// Largest Remaining Length (four 7-bit digits) [MQTT-2.2.3].
inline constexpr std::size_t max_remaining_length = 268'435'455;

/// Checks the flag nibble of a fixed-header byte for its packet type
/// [MQTT-2.2.2-1, -2], [MQTT-3.3.1-4]. Types 0 and 15 are reserved.
decode_error check_fixed_header(std::uint8_t header) noexcept;

/// Bounds-checked reader over one frame body. Every method returns
/// decode_error::none on success and leaves the output untouched on failure.
class cursor {
 public:
  explicit cursor(std::span<const std::uint8_t> bytes) noexcept : bytes_(bytes) {}

  std::size_t offset() const noexcept { return offset_; }
  std::size_t remaining() const noexcept { return bytes_.size() - offset_; }
  bool at_end() const noexcept { return offset_ == bytes_.size(); }

  decode_error read_u8(std::uint8_t& out) noexcept {
    if (remaining() < 1) {
      return decode_error::length_mismatch;
    }
    out = bytes_[offset_++];
    return decode_error::none;
  }

  decode_error read_u16(std::uint16_t& out) noexcept {
    if (remaining() < 2) {
      return decode_error::length_mismatch;
    }
    out = static_cast<std::uint16_t>((bytes_[offset_] << 8) | bytes_[offset_ + 1]);
    offset_ += 2;
    return decode_error::none;
  }

  /// A non-zero packet identifier [MQTT-2.3.1-1].
  decode_error read_packet_id(std::uint16_t& out) noexcept {
    std::uint16_t id = 0;
    if (auto e = read_u16(id); e != decode_error::none) {
      return e;
    }
    if (id == 0) {
      return decode_error::zero_packet_id;
    }
    out = id;
    return decode_error::none;
  }

  /// Two-byte length followed by that many bytes (binary data, no UTF-8 check).
  decode_error read_binary(std::string_view& out) noexcept {
    std::uint16_t length = 0;
    if (auto e = read_u16(length); e != decode_error::none) {
      return e;
    }
    if (remaining() < length) {
      return decode_error::length_mismatch;
    }
    out = std::string_view(reinterpret_cast<const char*>(bytes_.data() + offset_), length);
    offset_ += length;
    return decode_error::none;
  }

  /// A UTF-8 encoded string [MQTT-1.5.3].
  decode_error read_utf8(std::string_view& out) noexcept {
    std::string_view s;
    if (auto e = read_binary(s); e != decode_error::none) {
      return e;
    }
    if (auto e = validate_utf8(s); e != decode_error::none) {
      return e;
    }
    out = s;
    return decode_error::none;
  }

  /// Everything not read yet; moves to the end.
  std::string_view read_rest() noexcept {
    auto s = std::string_view(reinterpret_cast<const char*>(bytes_.data() + offset_), remaining());
    offset_ = bytes_.size();
    return s;
  }

 private:
  std::span<const std::uint8_t> bytes_;
  std::size_t offset_ = 0;
};

inline void put_u8(std::vector<std::uint8_t>& out, std::uint8_t v) { out.push_back(v); }

inline void put_u16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v & 0xFF));
}

/// Precondition: s.size() <= 65535 (the caller built the packet; not peer input).
inline void put_string(std::vector<std::uint8_t>& out, std::string_view s) {
  assert(s.size() <= max_string_size);
  put_u16(out, static_cast<std::uint16_t>(s.size()));
  out.insert(out.end(), s.begin(), s.end());
}

inline void put_bytes(std::vector<std::uint8_t>& out, std::string_view s) {
  out.insert(out.end(), s.begin(), s.end());
}

/// Appends the fixed header (type/flags byte and Remaining Length).
void put_fixed_header(std::vector<std::uint8_t>& out, std::uint8_t header, std::size_t remaining_length);

// Per-packet decoders: `body` is the frame body, flags were already checked.
decode_result decode_connect(std::span<const std::uint8_t> body);
decode_result decode_publish(std::uint8_t flags, const shared_buffer& body);
decode_result decode_subscribe(std::span<const std::uint8_t> body);
decode_result decode_suback(std::span<const std::uint8_t> body);
decode_result decode_unsubscribe(std::span<const std::uint8_t> body);

// Per-packet encoders: append the whole packet, fixed header included.
void encode_connect(const connect& p, std::vector<std::uint8_t>& out);
void encode_publish(const publish& p, std::vector<std::uint8_t>& out);
void encode_subscribe(const subscribe& p, std::vector<std::uint8_t>& out);
void encode_suback(const suback& p, std::vector<std::uint8_t>& out);
void encode_unsubscribe(const unsubscribe& p, std::vector<std::uint8_t>& out);

}  // namespace portcullis::protocol::detail
