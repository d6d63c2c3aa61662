#pragma once
// Decoding a frame into a packet (strict MQTT 3.1.1 validation, STYLE §c16) and
// encoding packets to bytes.
//
// Server-side rules enforced by decode(): reserved flag bits, lengths matching the
// Remaining Length exactly, well-formed UTF-8 without U+0000 or surrogates, CONNECT
// protocol name and flag combinations, non-zero packet identifiers where required,
// at least one filter in SUBSCRIBE/UNSUBSCRIBE, QoS values, PUBLISH topic names
// without wildcards. What is *policy* rather than wire validity (protocol level 4
// only, the SPEC §6 topic character set, client-id length) is left to the broker,
// which has a specific answer for each (CONNACK 0x01, SUBACK 0x80, ...).
//
// Thread safety: all functions are pure (no shared state); distinct objects: safe.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "portcullis/protocol/error.hpp"
#include "portcullis/protocol/frame_reader.hpp"
#include "portcullis/protocol/packet.hpp"

namespace portcullis::protocol {

/// Either a packet or the reason the frame is malformed.
using decode_result = std::variant<packet, decode_error>;

/// Decodes one frame. A PUBLISH refers into `f.body` (no copy): its topic and
/// payload are views into the body and `publish.frame` shares the allocation.
/// The fixed-header flags are checked again, so hand-built frames are safe too.
/// Never throws for malformed input (only std::bad_alloc for owned strings).
decode_result decode(const frame& f);

/// Appends the wire form of `p` (fixed header included) to `out`, with the
/// canonical fixed-header flags (0b0010 for PUBREL/SUBSCRIBE/UNSUBSCRIBE) and the
/// CONNECT flags computed from the optional fields. Preconditions (the caller
/// built the packet, so they are asserted, not reported): every string fits a
/// 2-byte length (<= 65535 bytes), QoS values <= 2, the whole Remaining Length
/// < 268,435,456. encode does not validate: e.g. a zero packet id is written as is.
void encode(const packet& p, std::vector<std::uint8_t>& out);

/// Writes the Remaining Length encoding of `length` (< 268,435,456) into `out`
/// (at least 4 bytes); returns the number of bytes written (1..4).
std::size_t encode_remaining_length(std::size_t length, std::uint8_t* out) noexcept;

/// Size of the Remaining Length field for `length`.
std::size_t remaining_length_size(std::size_t length) noexcept;

/// The fixed header of an outbound PUBLISH: writes header byte + Remaining Length
/// into `out` (at least 5 bytes) and returns how many bytes were written.
/// `remaining_length` = 2 + topic size + (qos > 0 ? 2 : 0) + payload size.
std::size_t encode_publish_fixed_header(bool dup, std::uint8_t qos, bool retain,
                                        std::size_t remaining_length, std::uint8_t* out) noexcept;

/// Checks a UTF-8 string as MQTT requires [MQTT-1.5.3-1, -2]; returns none when fine.
decode_error validate_utf8(std::string_view s) noexcept;

}  // namespace portcullis::protocol
