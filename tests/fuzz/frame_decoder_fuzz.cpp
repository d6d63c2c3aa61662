// Fuzz target: frame_reader + decode + encode round trip (STYLE §c41).
//
// The input is a byte stream as a peer would send it. It is fed to a frame_reader
// (max 24576 bytes, SPEC §6) three ways: all at once, in chunks of (size % 13) + 1
// bytes, and one byte at a time; the three must yield the same frames and the same
// error. Every complete frame is decoded; every decoded packet is re-encoded, and
// the encoding must be byte-identical to the received frame (with a canonical
// Remaining Length: decode accepts only what has a single canonical form), must be
// read back as one whole frame, and must decode to an equal packet. Any violation
// aborts, which libFuzzer reports as a crash and fuzz_replay as a failure.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>
#include <variant>
#include <vector>

#include "fuzz_registry.hpp"
#include "portcullis/protocol/codec.hpp"
#include "portcullis/protocol/frame_reader.hpp"

namespace {

using namespace portcullis::protocol;

constexpr std::size_t max_packet_bytes = 24576;

#define FUZZ_CHECK(cond)                                                          \
  do {                                                                            \
    if (!(cond)) {                                                                \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                               \
    }                                                                             \
  } while (false)

/// What the reader produced, in order: frames (header + body) then maybe an error.
struct event {
  decode_error error = decode_error::none;
  std::uint8_t header = 0;
  std::vector<std::uint8_t> body;
  bool operator==(const event&) const = default;
};

bool lies_within(std::string_view view, const shared_buffer& buffer) {
  const auto* begin = reinterpret_cast<const char*>(buffer.data());
  return view.empty() || (view.data() >= begin && view.data() + view.size() <= begin + buffer.size());
}

void check_round_trip(const frame& f, const packet& p) {
  FUZZ_CHECK(static_cast<std::uint8_t>(type_of(p)) == f.type());
  if (const auto* pub = std::get_if<publish>(&p)) {
    // Zero copy: the views point into the frame body, which the packet co-owns.
    FUZZ_CHECK(pub->frame.data() == f.body.data());
    FUZZ_CHECK(lies_within(pub->topic, f.body) && lies_within(pub->payload, f.body));
  }
  if (const auto* c = std::get_if<connect>(&p); c != nullptr && c->protocol_level != 4) {
    // Another protocol level is decoded as its name and level only (the broker answers
    // CONNACK 0x01): nothing more to round-trip.
    FUZZ_CHECK(c->client_id.empty() && !c->username && !c->password && !c->will);
    return;
  }
  std::vector<std::uint8_t> wire;
  encode(p, wire);
  FUZZ_CHECK(wire.size() == f.wire_size());
  std::uint8_t length[4];
  const auto n = encode_remaining_length(f.body.size(), length);
  FUZZ_CHECK(wire[0] == f.header);
  FUZZ_CHECK(std::equal(length, length + n, wire.begin() + 1));
  FUZZ_CHECK(std::equal(f.body.bytes().begin(), f.body.bytes().end(), wire.begin() + 1 + static_cast<long>(n)));

  frame_reader again(max_packet_bytes);
  const auto r = again.feed(wire);
  FUZZ_CHECK(r.state == frame_reader::status::complete && r.consumed == wire.size());
  const auto decoded = decode(again.take());
  FUZZ_CHECK(std::holds_alternative<packet>(decoded));
  FUZZ_CHECK(std::get<packet>(decoded) == p);
}

void check_frame(const frame& f) {
  FUZZ_CHECK(f.wire_size() <= max_packet_bytes);
  const auto result = decode(f);
  if (const auto* e = std::get_if<decode_error>(&result)) {
    FUZZ_CHECK(*e != decode_error::none);
    FUZZ_CHECK(name_of(*e).starts_with("mqtt."));
    return;
  }
  check_round_trip(f, std::get<packet>(result));
}

/// Feeds `data` in chunks of `chunk` bytes, checking the reader's contract on the way.
std::vector<event> run_reader(std::span<const std::uint8_t> data, std::size_t chunk) {
  std::vector<event> events;
  frame_reader reader(max_packet_bytes);
  for (std::size_t pos = 0; pos < data.size(); pos += chunk) {
    auto in = data.subspan(pos, std::min(chunk, data.size() - pos));
    while (!in.empty()) {
      const auto r = reader.feed(in);
      FUZZ_CHECK(r.consumed <= in.size());
      in = in.subspan(r.consumed);
      if (r.state == frame_reader::status::error) {
        FUZZ_CHECK(r.error != decode_error::none && !reader.idle());
        events.push_back({r.error, 0, {}});
        return events;
      }
      if (r.state == frame_reader::status::need_more) {
        FUZZ_CHECK(in.empty());
        continue;
      }
      auto f = reader.take();
      FUZZ_CHECK(reader.idle());
      check_frame(f);
      events.push_back({decode_error::none, f.header, {f.body.bytes().begin(), f.body.bytes().end()}});
    }
  }
  return events;
}

}  // namespace

int portcullis_fuzz_frame_decoder(const std::uint8_t* data, std::size_t size);

int portcullis_fuzz_frame_decoder(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  const auto whole = run_reader(input, size == 0 ? 1 : size);
  FUZZ_CHECK(run_reader(input, (size % 13) + 1) == whole);
  FUZZ_CHECK(run_reader(input, 1) == whole);
  return 0;
}

#if defined(PORTCULLIS_FUZZ_TARGET_FRAME_DECODER)
extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return portcullis_fuzz_frame_decoder(data, size);
}
#else
PORTCULLIS_FUZZ_REGISTER(frame_decoder, portcullis_fuzz_frame_decoder)
#endif
