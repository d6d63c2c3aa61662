#pragma once
// Helpers shared by the protocol unit tests: byte vectors, reading one frame,
// decoding wire bytes, and the encode -> frame_reader -> decode round trip.

#include <catch2/catch.hpp>

#include <cstdint>
#include <initializer_list>
#include <string_view>
#include <variant>
#include <vector>

#include "portcullis/protocol/codec.hpp"
#include "portcullis/protocol/frame_reader.hpp"
#include "portcullis/protocol/packet.hpp"

namespace portcullis::protocol::test {

using bytes = std::vector<std::uint8_t>;

inline constexpr std::size_t max_packet = 24576;  // SPEC §6 default

/// Concatenates byte lists and strings: cat({0x10, 0x02}, "MQTT").
inline void append(bytes& out, std::initializer_list<int> b) {
  for (const int v : b) {
    out.push_back(static_cast<std::uint8_t>(v));
  }
}
inline void append(bytes& out, std::string_view s) { out.insert(out.end(), s.begin(), s.end()); }
inline void append(bytes& out, const bytes& b) { out.insert(out.end(), b.begin(), b.end()); }

template <typename... Parts>
bytes cat(const Parts&... parts) {
  bytes out;
  (append(out, parts), ...);
  return out;
}
inline bytes cat(std::initializer_list<int> b) {
  bytes out;
  append(out, b);
  return out;
}

/// A frame from whole wire bytes (REQUIREs exactly one complete frame).
inline frame read_frame(const bytes& wire) {
  frame_reader reader(max_packet);
  const auto r = reader.feed(wire);
  REQUIRE(r.state == frame_reader::status::complete);
  REQUIRE(r.consumed == wire.size());
  return reader.take();
}

/// The first error reading or decoding `wire`, or none when it decodes.
inline decode_error error_of(const bytes& wire) {
  frame_reader reader(max_packet);
  const auto r = reader.feed(wire);
  if (r.state == frame_reader::status::error) {
    return r.error;
  }
  REQUIRE(r.state == frame_reader::status::complete);
  REQUIRE(r.consumed == wire.size());
  const auto result = decode(reader.take());
  if (const auto* e = std::get_if<decode_error>(&result)) {
    return *e;
  }
  return decode_error::none;
}

/// Decodes whole wire bytes into a packet of type T (REQUIREs success).
template <typename T>
T decode_as(const bytes& wire) {
  const auto result = decode(read_frame(wire));
  if (const auto* e = std::get_if<decode_error>(&result)) {
    FAIL("decode failed: " << name_of(*e));
  }
  const auto& p = std::get<packet>(result);
  REQUIRE(std::holds_alternative<T>(p));
  return std::get<T>(p);
}

inline bytes encode_bytes(const packet& p) {
  bytes out;
  encode(p, out);
  return out;
}

/// encode -> frame_reader -> decode gives back an equal packet.
inline void require_round_trip(const packet& p) {
  const auto wire = encode_bytes(p);
  const auto result = decode(read_frame(wire));
  REQUIRE(std::holds_alternative<packet>(result));
  REQUIRE(std::get<packet>(result) == p);
}

}  // namespace portcullis::protocol::test

// Catch2 prints decode_error by name.
namespace Catch {
template <>
struct StringMaker<portcullis::protocol::decode_error> {
  static std::string convert(portcullis::protocol::decode_error e) {
    return std::string(portcullis::protocol::name_of(e));
  }
};
}  // namespace Catch
