// Allocation counting (STYLE §c31-33): reading a frame allocates its body once,
// decoding a PUBLISH allocates nothing (topic and payload are views into the frame),
// and building an outbound PUBLISH header for a subscriber allocates nothing.
//
// This file replaces the global operator new/delete for the whole unit_protocol
// binary. The replacement only counts (an atomic increment) and forwards to
// malloc/free, so every other test behaves exactly as before.

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdlib>
#include <new>

#include "portcullis/protocol/codec.hpp"
#include "test_util.hpp"

namespace {

std::atomic<long> allocations{0};

/// Allocations made while `fn` runs.
template <typename Fn>
long count_allocations(Fn&& fn) {
  const long before = allocations.load();
  fn();
  return allocations.load() - before;
}

}  // namespace

// Every non-aligned form is replaced, so each allocation is freed by its matching
// form (ASan checks new/delete pairing); the aligned forms stay the library's.
namespace {

void* counted_malloc(std::size_t size) noexcept {
  allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(size == 0 ? 1 : size);
}

}  // namespace

void* operator new(std::size_t size) {
  if (void* p = counted_malloc(size)) {
    return p;
  }
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  if (void* p = counted_malloc(size)) {
    return p;
  }
  throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return counted_malloc(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return counted_malloc(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

using namespace portcullis::protocol;
using namespace portcullis::protocol::test;

TEST_CASE("allocations: PUBLISH decode does not copy") {
  bytes wire = {
      0x32,                    // PUBLISH, QoS 1
      0x87, 0x08,              // remaining length 1031 = 7 + 8 * 128
      0x00, 0x03, 'a', '/', 'b',  // topic "a/b"
      0x00, 0x2A,              // packet id 42
  };
  wire.resize(wire.size() + 1024, 0xAB);  // payload

  frame_reader reader(max_packet);
  frame f;
  frame_reader::result r;
  const long read_allocs = count_allocations([&] {
    r = reader.feed(wire);
    f = reader.take();
  });
  REQUIRE(r.state == frame_reader::status::complete);
  // One body buffer: its bytes plus the shared_ptr control block, independent of size.
  CHECK(read_allocs >= 1);
  CHECK(read_allocs <= 2);
  REQUIRE(f.body.size() == 1031);

  decode_result result;
  const long decode_allocs = count_allocations([&] { result = decode(f); });
  CHECK(decode_allocs == 0);

  const auto& p = std::get<publish>(std::get<packet>(result));
  const auto* body = reinterpret_cast<const char*>(f.body.data());
  CHECK(p.payload.size() == 1024);
  CHECK(p.payload.data() == body + 7);
  CHECK(p.topic.data() == body + 2);
  CHECK(f.body.use_count() == 2);

  SECTION("fan-out to many subscribers shares the payload") {
    std::vector<publish> queued;
    queued.reserve(100);
    const long fanout_allocs = count_allocations([&] {
      for (int i = 0; i < 100; ++i) {
        queued.push_back(p);  // what a subscriber queue holds: views + shared owner
      }
    });
    CHECK(fanout_allocs == 0);
    CHECK(f.body.use_count() == 102);
  }
  SECTION("an outbound fixed header needs no allocation") {
    std::uint8_t header[5];
    std::size_t n = 0;
    const long header_allocs = count_allocations([&] {
      const std::size_t rl = 2 + p.topic.size() + 2 + p.payload.size();
      n = encode_publish_fixed_header(false, 1, false, rl, header);
    });
    CHECK(header_allocs == 0);
    CHECK(n == 3);
  }
}

TEST_CASE("allocations: zero-length frames and an idle reader hold nothing") {
  frame_reader reader(max_packet);
  const bytes wire = {0xC0, 0x00, 0xE0, 0x00};  // PINGREQ, DISCONNECT
  int decoded = 0;
  const long allocs = count_allocations([&] {
    std::span<const std::uint8_t> in(wire);
    while (!in.empty()) {
      const auto r = reader.feed(in);
      if (r.state != frame_reader::status::complete) {
        break;
      }
      in = in.subspan(r.consumed);
      decoded += std::holds_alternative<packet>(decode(reader.take())) ? 1 : 0;
    }
  });
  CHECK(allocs == 0);
  CHECK(decoded == 2);
  CHECK(reader.idle());
}

TEST_CASE("allocations: an oversized frame is refused before allocating") {
  frame_reader reader(max_packet);
  const bytes header = {0x30, 0xFF, 0xFF, 0xFF, 0x7F};  // claims 256 MiB
  frame_reader::result r;
  const long allocs = count_allocations([&] { r = reader.feed(header); });
  CHECK(allocs == 0);
  CHECK(r.error == decode_error::packet_too_large);
}
