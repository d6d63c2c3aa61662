// Session queue and QoS 1 window, without sockets: feed deliveries and acks,
// assert what would be written.

#include "session.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <thread>

using namespace portcullis::broker;
using portcullis::protocol::shared_buffer;

namespace {

message_ptr make_message(const std::string& topic, const std::string& payload, std::uint8_t qos,
                         std::int64_t expires_at = 1'000'000) {
  auto m = std::make_shared<message>();
  m->frame = shared_buffer::copy_of(topic + payload);
  m->topic = m->frame.view().substr(0, topic.size());
  m->payload = m->frame.view().substr(topic.size());
  m->qos = qos;
  m->expires_at_ms = expires_at;
  return m;
}

struct fake_owner : session_owner {
  int wakes = 0;
  std::vector<std::string> kicks;
  void wake() override { ++wakes; }
  void kick(std::string reason) override { kicks.push_back(std::move(reason)); }
};

// A publisher that can be paused: registers through weak_owner() like a connection.
struct fake_publisher : session_owner, std::enable_shared_from_this<fake_publisher> {
  int drains = 0;
  void wake() override {}
  void kick(std::string) override {}
  void drained() override { ++drains; }
  std::weak_ptr<session_owner> weak_owner() override { return weak_from_this(); }
};

}  // namespace

TEST_CASE("QoS is the minimum of publish and subscription", "[session]") {
  metrics m;
  session s("t", "c", false, m);
  auto owner = std::make_shared<fake_owner>();
  s.attach(owner);
  s.deliver(make_message("a", "x", 1), 0, {});
  s.deliver(make_message("a", "y", 0), 1, {});
  std::vector<outgoing> out;
  s.collect(out, 10, {}, 0);
  REQUIRE(out.size() == 2);
  REQUIRE(out[0].qos == 0);
  REQUIRE(out[1].qos == 0);
}

TEST_CASE("one wake-up per burst", "[session]") {
  metrics m;
  session s("t", "c", false, m);
  auto owner = std::make_shared<fake_owner>();
  s.attach(owner);
  for (int i = 0; i < 10; ++i) s.deliver(make_message("a", "x", 0), 0, {});
  REQUIRE(owner->wakes == 1);
  std::vector<outgoing> out;
  s.collect(out, 100, {}, 0);
  REQUIRE(out.size() == 10);
  s.deliver(make_message("a", "x", 0), 0, {});
  REQUIRE(owner->wakes == 2);
}

TEST_CASE("in-flight window and packet ids", "[session][qos1]") {
  metrics m;
  session s("t", "c", true, m);
  auto owner = std::make_shared<fake_owner>();
  s.attach(owner);
  session_limits lim{100, 2};
  for (int i = 0; i < 5; ++i) s.deliver(make_message("a", std::to_string(i), 1), 1, lim);
  std::vector<outgoing> out;
  s.collect(out, 100, lim, 0);
  REQUIRE(out.size() == 2);  // window of 2
  REQUIRE(out[0].packet_id != 0);
  REQUIRE(out[0].packet_id != out[1].packet_id);
  REQUIRE(out[0].msg->payload == "0");
  REQUIRE(out[1].msg->payload == "1");
  out.clear();
  s.collect(out, 100, lim, 0);
  REQUIRE(out.empty());  // window full until PUBACK
  REQUIRE(s.acknowledge(out[0].packet_id));
  REQUIRE(s.inflight() == 1);
  out.clear();
  REQUIRE_FALSE(s.acknowledge(999));
  s.collect(out, 100, lim, 0);
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].msg->payload == "2");  // ordered
}

TEST_CASE("[MQTT-4.4.0-1] unacknowledged messages are resent with DUP after reconnect", "[session][qos1]") {
  metrics m;
  session s("t", "c", true, m);
  auto first = std::make_shared<fake_owner>();
  s.attach(first);
  s.deliver(make_message("a", "p", 1), 1, {});
  std::vector<outgoing> out;
  s.collect(out, 10, {}, 0);
  REQUIRE(out.size() == 1);
  std::uint16_t id = out[0].packet_id;
  REQUIRE_FALSE(out[0].dup);
  REQUIRE(s.detach(first.get(), 100));
  auto second = std::make_shared<fake_owner>();
  s.attach(second);
  out.clear();
  s.collect(out, 10, {}, 0);
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].dup);
  REQUIRE(out[0].packet_id == id);
}

TEST_CASE("offline persistent session queues QoS 1 only, bounded, oldest dropped", "[session]") {
  metrics m;
  session s("t", "c", true, m);
  session_limits lim{3, 20};
  for (int i = 0; i < 5; ++i) s.deliver(make_message("a", std::to_string(i), 1), 1, lim);
  s.deliver(make_message("a", "qos0", 0), 0, lim);
  REQUIRE(s.queued() == 3);
  REQUIRE(m.drops[static_cast<std::size_t>(drop_reason::queue_full)] == 2);
  REQUIRE(m.drops[static_cast<std::size_t>(drop_reason::offline_qos0)] == 1);
  auto owner = std::make_shared<fake_owner>();
  s.attach(owner);
  std::vector<outgoing> out;
  s.collect(out, 10, lim, 0);
  REQUIRE(out.size() == 3);
  REQUIRE(out[0].msg->payload == "2");
  REQUIRE(out[2].msg->payload == "4");
}

TEST_CASE("expired queued messages are dropped and counted", "[session]") {
  metrics m;
  session s("t", "c", true, m);
  s.deliver(make_message("a", "old", 1, 50), 1, {});
  s.deliver(make_message("a", "new", 1, 500), 1, {});
  auto owner = std::make_shared<fake_owner>();
  s.attach(owner);
  std::vector<outgoing> out;
  s.collect(out, 10, {}, 100);
  REQUIRE(out.size() == 1);
  REQUIRE(out[0].msg->payload == "new");
  REQUIRE(m.drops[static_cast<std::size_t>(drop_reason::expired)] == 1);
}

TEST_CASE("detach by a stale owner is ignored (takeover)", "[session]") {
  metrics m;
  session s("t", "c", true, m);
  auto first = std::make_shared<fake_owner>();
  auto second = std::make_shared<fake_owner>();
  s.attach(first);
  s.attach(second);
  REQUIRE_FALSE(s.detach(first.get(), 10));
  REQUIRE(s.connected());
  REQUIRE(s.detach(second.get(), 10));
  REQUIRE_FALSE(s.connected());
}

TEST_CASE("a congested queue pauses its publishers and tells each once when it drains", "[session][backpressure]") {
  metrics m;
  session s("t", "c", false, m);
  auto owner = std::make_shared<fake_owner>();
  s.attach(owner);
  session_limits lim{100, 4};  // high water min(50, 68) = 50, low water 25
  auto a = std::make_shared<fake_publisher>();
  auto b = std::make_shared<fake_publisher>();
  int congested = 0;
  for (int i = 0; i < 60; ++i) {
    congested += s.deliver(make_message("a", std::to_string(i), 1), 1, lim, i % 2 ? a.get() : b.get()).congested;
  }
  CHECK(congested == 11);  // every delivery from the 50th on
  CHECK(s.deliver(make_message("a", "no publisher", 1), 1, lim).congested == false);
  std::vector<outgoing> out;
  s.collect(out, 4, lim, 0);  // the window: still above low water
  CHECK((a->drains == 0 && b->drains == 0));
  while (!out.empty()) {
    for (const auto& o : out) s.acknowledge(o.packet_id);
    out.clear();
    s.collect(out, 4, lim, 0);
  }
  CHECK(a->drains == 1);  // registered many times, told once
  CHECK(b->drains == 1);
}

TEST_CASE("a QoS 1 subscriber that acknowledges nothing stops pacing publishers", "[session][backpressure]") {
  // Its window full and no PUBACK for qos1_ack_window: stuck, not slow. Publishers are no
  // longer paused on its account; its queue keeps the drop-oldest bound. A PUBACK makes it a
  // (slow) subscriber again, which paces them.
  metrics m;
  session s("t", "c", false, m);
  auto owner = std::make_shared<fake_owner>();
  s.attach(owner);
  session_limits lim{20, 2};  // high water min(10, 66) = 10
  auto pub = std::make_shared<fake_publisher>();
  std::vector<outgoing> out;
  for (int i = 0; i < 2; ++i) s.deliver(make_message("a", std::to_string(i), 1), 1, lim, pub.get());
  s.collect(out, 8, lim, 0);
  REQUIRE(out.size() == 2);  // the window is full, nothing acknowledged
  int congested = 0;
  for (int i = 0; i < 12; ++i) congested += s.deliver(make_message("a", "x", 1), 1, lim, pub.get()).congested;
  CHECK(congested > 0);  // slow so far: it paces the publisher
  std::this_thread::sleep_for(qos1_ack_window + std::chrono::milliseconds(50));
  congested = 0;
  for (int i = 0; i < 30; ++i) congested += s.deliver(make_message("a", "y", 1), 1, lim, pub.get()).congested;
  CHECK(congested == 0);      // stuck: no longer
  CHECK(s.queued() == 20);    // bounded, oldest dropped
  s.acknowledge(out[0].packet_id);
  out.clear();
  s.collect(out, 8, lim, 0);  // the freed slot is used: the window is full again, just now
  CHECK(s.deliver(make_message("a", "z", 1), 1, lim, pub.get()).congested);
}

TEST_CASE("a persistent session's packet ids follow the store ids, so a restart keeps them", "[session]") {
  metrics m;
  auto with_id = [](std::int64_t id) -> message_ptr {
    auto msg = std::make_shared<message>(*make_message("a", "x", 1));  // shares the frame
    msg->store_id = id;
    return msg;
  };
  session s("t", "c", true, m);
  auto owner = std::make_shared<fake_owner>();
  s.attach(owner);
  s.deliver(with_id(5), 1, {});
  s.deliver(with_id(70'000), 1, {});
  s.deliver(with_id(5 + 65'535), 1, {});  // would take 6 as well: already in flight
  std::vector<outgoing> out;
  s.collect(out, 10, {}, 0);
  REQUIRE(out.size() == 3);
  CHECK(out[0].packet_id == 6);
  CHECK(out[1].packet_id == 70'000 % 65'535 + 1);
  CHECK(out[2].packet_id != 6);
  CHECK(out[2].packet_id != out[1].packet_id);

  // The same messages restored after a restart (another session object, fresh counters)
  // get the same ids.
  session restored("t", "c", true, m);
  restored.restore_message(with_id(5), true);
  restored.restore_message(with_id(70'000), false);
  std::vector<std::int64_t> sent;
  restored.sent_store_ids(sent);
  CHECK(sent == std::vector<std::int64_t>{5});  // restored with DUP: sent before, or may have been
  restored.attach(owner);
  std::vector<outgoing> again;
  restored.collect(again, 10, {}, 0);
  REQUIRE(again.size() == 2);
  CHECK(again[0].packet_id == 6);
  CHECK(again[1].packet_id == out[1].packet_id);
  CHECK(again[0].dup);
  CHECK_FALSE(again[1].dup);  // never sent before the restart: first delivery
  // Both are in flight now (sent once): a shutdown now marks both.
  sent.clear();
  restored.sent_store_ids(sent);
  std::sort(sent.begin(), sent.end());
  CHECK(sent == std::vector<std::int64_t>{5, 70'000});

  // A clean session counts from 1 whatever the store id.
  session clean("t", "d", false, m);
  clean.attach(owner);
  clean.deliver(with_id(5), 1, {});
  std::vector<outgoing> c;
  clean.collect(c, 10, {}, 0);
  REQUIRE(c.size() == 1);
  CHECK(c[0].packet_id == 1);
}
