#pragma once
// Incremental frame reader: feed bytes as they arrive from the socket, get whole
// frames (fixed header byte + body) or a precise error. The packet-size limit is
// decided from the fixed header alone, before any body byte is buffered
// (DEVIATION(SPEC §6): 24 KiB packets). While no frame is partially received the
// reader holds no heap memory, so an idle connection costs nothing here.
//
// Thread safety: distinct objects: safe; shared objects: unsafe.

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>

#include "portcullis/protocol/error.hpp"
#include "portcullis/protocol/shared_buffer.hpp"

namespace portcullis::protocol {

/// One complete MQTT control packet as received: the first header byte and the
/// body (everything after the Remaining Length), exactly `remaining length` bytes.
struct frame {
  std::uint8_t header = 0;  // packet type << 4 | flags
  shared_buffer body;

  std::uint8_t type() const noexcept { return static_cast<std::uint8_t>(header >> 4); }
  std::uint8_t flags() const noexcept { return static_cast<std::uint8_t>(header & 0x0F); }
  /// Total size on the wire: header byte + Remaining Length bytes + body.
  std::size_t wire_size() const noexcept;
};

class frame_reader {
 public:
  enum class status : std::uint8_t { need_more, complete, error };

  struct result {
    status state = status::need_more;
    std::size_t consumed = 0;              // bytes of the input used by this call
    decode_error error = decode_error::none;
  };

  /// `max_packet_bytes` is the limit on a whole packet (fixed header + body).
  explicit frame_reader(std::size_t max_packet_bytes) noexcept : max_packet_bytes_(max_packet_bytes) {}

  /// Consumes bytes from `input` until one frame is complete, more input is
  /// needed (all of `input` consumed), or an error is found. After `complete`,
  /// call take() before feeding again. After `error` the reader is unusable
  /// (the connection must close).
  result feed(std::span<const std::uint8_t> input);

  /// Moves out the completed frame and resets for the next one. Without a
  /// complete frame it returns an empty frame (header 0) and drops any partial one.
  frame take() noexcept;

  /// True when no partial frame is buffered (nothing held between packets);
  /// false while a frame is partial or complete-but-not-taken, and after an error.
  bool idle() const noexcept;

  std::size_t max_packet_bytes() const noexcept { return max_packet_bytes_; }

 private:
  std::size_t max_packet_bytes_;
  std::uint8_t header_ = 0;
  std::uint8_t header_bytes_ = 0;        // bytes of the fixed header seen so far (0..5)
  std::uint32_t remaining_ = 0;          // decoded remaining length
  std::uint32_t multiplier_ = 1;
  bool have_length_ = false;
  std::size_t filled_ = 0;               // body bytes received
  shared_buffer body_;
  bool complete_ = false;
  bool failed_ = false;
  decode_error error_ = decode_error::none;  // repeated by feed() once failed_
};

}  // namespace portcullis::protocol
