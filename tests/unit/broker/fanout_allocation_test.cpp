// Fan-out copies no payload (STYLE §c33): routing one 16 KiB message to 200
// subscribers and collecting it for writing allocates nothing payload-sized, and
// every outgoing item points at the one stored payload.

#include <atomic>
#include <cstdlib>
#include <new>

#include <catch2/catch.hpp>

#include "router.hpp"
#include "session.hpp"

namespace {
std::atomic<std::size_t> large_allocations{0};
std::atomic<bool> counting{false};
constexpr std::size_t payload_size = 16 * 1024;
}  // namespace

void* operator new(std::size_t n) {
  if (counting.load(std::memory_order_relaxed) && n >= payload_size) large_allocations.fetch_add(1);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  if (counting.load(std::memory_order_relaxed) && n >= payload_size) large_allocations.fetch_add(1);
  return std::malloc(n ? n : 1);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }

using namespace portcullis::broker;

TEST_CASE("fan-out to many subscribers copies no payload", "[fanout][alloc]") {
  metrics m;
  router r;
  std::vector<std::unique_ptr<session>> sessions;
  struct owner_t : session_owner {
    void wake() override {}
    void kick(std::string) override {}
  };
  auto owner = std::make_shared<owner_t>();
  for (int i = 0; i < 200; ++i) {
    sessions.push_back(std::make_unique<session>("t", "c" + std::to_string(i), false, m));
    sessions.back()->attach(owner);
    r.subscribe("t", i % 2 ? "plant/+/temp" : "plant/#", sessions.back().get(), 1);
  }
  auto msg = std::make_shared<message>();
  std::string topic = "plant/line1/temp";
  msg->frame = portcullis::protocol::shared_buffer::copy_of(topic + std::string(payload_size, 'x'));
  msg->topic = msg->frame.view().substr(0, topic.size());
  msg->payload = msg->frame.view().substr(topic.size());
  msg->qos = 1;
  msg->expires_at_ms = 1'000'000;
  message_ptr shared = msg;

  std::vector<route_target> scratch;
  scratch.reserve(256);
  std::vector<outgoing> out;
  out.reserve(8);
  counting = true;
  std::size_t n = r.route("t", shared->topic, scratch, [&](session& s, std::uint8_t q) { s.deliver(shared, q, {}); });
  std::size_t same_payload = 0;
  for (auto& s : sessions) {
    out.clear();
    s->collect(out, 8, {}, 0);
    for (auto& o : out) same_payload += o.msg->payload.data() == shared->payload.data();
  }
  counting = false;
  REQUIRE(n == 200);
  REQUIRE(same_payload == 200);
  REQUIRE(large_allocations.load() == 0);
}
