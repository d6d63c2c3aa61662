// Incremental MQTT frame reader (MQTT 3.1.1 §2.2): turns a byte stream into frames.
//
// Rules enforced, each as early as the bytes allow:
// - the first byte: reserved types 0/15 and wrong fixed-header flags are refused at
//   once (check_fixed_header), before any Remaining Length byte is read;
// - the Remaining Length has at most 4 bytes [MQTT-2.2.3]: a 4th byte with the
//   continuation bit set is `remaining_length_overflow` without waiting for a 5th;
// - DEVIATION(SPEC §6): when the Remaining Length is complete and
//   1 + length-bytes + length > max_packet_bytes the frame is refused as
//   `packet_too_large` before a single body byte is buffered or allocated;
// - the body is ONE shared_buffer of exactly Remaining Length bytes (none for 0).
//
// Non-minimal Remaining Length encodings (e.g. 0x80 0x00 for 0) are ACCEPTED: MQTT
// 3.1.1 §2.2.3 describes the scheme but has no normative statement requiring the
// minimum number of bytes (that rule, [MQTT-1.5.5-1], arrived with MQTT 5.0), and
// such a frame is still bounded by the 4-byte limit and max_packet_bytes. So
// `remaining_length_noncanonical` is never produced here.

#include "portcullis/protocol/frame_reader.hpp"

#include <algorithm>
#include <cstring>

#include "wire.hpp"

namespace portcullis::protocol {

namespace {

constexpr std::uint8_t max_header_bytes = 5;  // type byte + 4 Remaining Length bytes

}  // namespace

frame_reader::result frame_reader::feed(std::span<const std::uint8_t> input) {
  if (failed_) {
    return {status::error, 0, error_};
  }
  if (complete_) {
    return {status::complete, 0, decode_error::none};  // precondition: take() first
  }
  std::size_t used = 0;
  const auto fail = [this, &used](decode_error e) {
    failed_ = true;
    error_ = e;
    body_ = shared_buffer();  // nothing is kept for a connection that must close
    return result{status::error, used, e};
  };

  while (!have_length_) {
    if (used == input.size()) {
      return {status::need_more, used, decode_error::none};
    }
    const std::uint8_t byte = input[used++];
    if (header_bytes_ == 0) {
      header_ = byte;
      header_bytes_ = 1;
      if (auto e = detail::check_fixed_header(byte); e != decode_error::none) {
        return fail(e);
      }
      continue;
    }
    remaining_ += static_cast<std::uint32_t>(byte & 0x7F) * multiplier_;
    multiplier_ *= 128;
    ++header_bytes_;
    if ((byte & 0x80) != 0) {
      if (header_bytes_ == max_header_bytes) {
        return fail(decode_error::remaining_length_overflow);  // a 5th length byte would follow
      }
      continue;
    }
    have_length_ = true;
    // header_bytes_ <= 5 and remaining_ < 2^28, so the sum cannot overflow.
    if (static_cast<std::size_t>(header_bytes_) + remaining_ > max_packet_bytes_) {
      return fail(decode_error::packet_too_large);  // DEVIATION(SPEC §6): decided from the header
    }
    if (remaining_ == 0) {
      complete_ = true;
      return {status::complete, used, decode_error::none};
    }
    body_ = shared_buffer::allocate(remaining_);
  }

  const std::size_t wanted = remaining_ - filled_;
  const std::size_t n = std::min(wanted, input.size() - used);
  if (n > 0) {
    std::memcpy(body_.mutable_data() + filled_, input.data() + used, n);
    filled_ += n;
    used += n;
  }
  if (filled_ == remaining_) {
    complete_ = true;
    return {status::complete, used, decode_error::none};
  }
  return {status::need_more, used, decode_error::none};
}

frame frame_reader::take() noexcept {
  frame f;
  if (complete_) {
    f.header = header_;
    f.body = std::move(body_);
  }
  body_ = shared_buffer();
  header_ = 0;
  header_bytes_ = 0;
  remaining_ = 0;
  multiplier_ = 1;
  have_length_ = false;
  filled_ = 0;
  complete_ = false;
  return f;
}

bool frame_reader::idle() const noexcept {
  return header_bytes_ == 0 && !complete_ && !failed_;
}

}  // namespace portcullis::protocol
