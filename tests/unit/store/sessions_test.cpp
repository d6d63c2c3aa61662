// Persistent sessions: direct API, load at start, batch apply (group commit),
// queue caps, in-flight marking, acks, reference-counted messages, cleanup.
#include "store_test_support.hpp"

using namespace portcullis::store;
using portcullis::store::test::open_db;
using portcullis::store::test::t0;
using portcullis::store::test::temp_dir;

namespace {

const std::string tenant = "acme";

session_record make_session(const std::string& client_id, std::optional<std::int64_t> expires_at = {}) {
  session_record s;
  s.tenant = tenant;
  s.client_id = client_id;
  s.created_at = t0;
  s.expires_at = expires_at;
  if (expires_at) {
    s.disconnected_at = t0 + 1;
  }
  return s;
}

enqueue_op make_message(const std::string& topic, std::vector<std::string> targets, std::size_t cap = 0,
                        std::optional<std::int64_t> expires_at = {}) {
  enqueue_op op;
  op.tenant = tenant;
  op.topic = topic;
  op.payload = std::vector<std::uint8_t>(topic.begin(), topic.end());
  op.qos = 1;
  op.created_at = t0;
  op.expires_at = expires_at;
  op.client_ids = std::move(targets);
  op.max_queued = cap;
  return op;
}

const persistent_session& find_session(const session_snapshot& snap, const std::string& client_id) {
  for (const auto& s : snap.sessions) {
    if (s.session.client_id == client_id) {
      return s;
    }
  }
  FAIL("no session " << client_id);
  throw std::logic_error("unreachable");
}

std::vector<std::string> queued_topics(const session_snapshot& snap, const std::string& client_id) {
  std::vector<std::string> out;
  for (const auto& entry : find_session(snap, client_id).queue) {
    for (const auto& m : snap.messages) {
      if (m.id == entry.message_id) {
        out.push_back(m.topic);
      }
    }
  }
  return out;
}

}  // namespace

TEST_CASE("sessions and subscriptions round-trip through a reopen", "[store][sessions]") {
  temp_dir dir;
  {
    auto db = open_db(dir.file());
    auto s = make_session("client-1", t0 + 1000);
    s.next_packet_id = 77;
    REQUIRE(db->upsert_session(s));
    REQUIRE(db->upsert_session(make_session("client-2")));
    REQUIRE(db->set_subscriptions(tenant, "client-1", {{"a/+/c", 1}, {"x/#", 0}}));
    REQUIRE(db->add_subscription(tenant, "client-1", {"b/b", 1}));
    REQUIRE(db->add_subscription(tenant, "client-1", {"x/#", 1}));  // qos change
    REQUIRE(db->remove_subscription(tenant, "client-1", "a/+/c"));
    // An update keeps created_at.
    auto later = s;
    later.created_at = t0 + 999;
    REQUIRE(db->upsert_session(later));
  }
  auto db = open_db(dir.file());
  auto snap = db->load_sessions(t0 + 10);
  REQUIRE(snap);
  REQUIRE(snap->sessions.size() == 2);
  const auto& one = find_session(*snap, "client-1");
  CHECK(one.session.tenant == tenant);
  CHECK(one.session.created_at == t0);
  CHECK(one.session.disconnected_at == t0 + 1);
  CHECK(one.session.expires_at == t0 + 1000);
  CHECK(one.session.next_packet_id == 77);
  REQUIRE(one.subscriptions.size() == 2);
  CHECK(one.subscriptions[0].filter == "b/b");
  CHECK(one.subscriptions[1].filter == "x/#");
  CHECK(one.subscriptions[1].qos == 1);
  const auto& two = find_session(*snap, "client-2");
  CHECK_FALSE(two.session.expires_at.has_value());
  CHECK_FALSE(two.session.disconnected_at.has_value());
  CHECK(two.subscriptions.empty());
}

TEST_CASE("direct session API error codes", "[store][sessions]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  auto missing = db->add_subscription(tenant, "ghost", {"a", 1});
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == errc::not_found);
  auto missing_set = db->set_subscriptions(tenant, "ghost", {{"a", 1}});
  REQUIRE_FALSE(missing_set);
  CHECK(missing_set.error() == errc::not_found);
  auto missing_delete = db->delete_session(tenant, "ghost");
  REQUIRE_FALSE(missing_delete);
  CHECK(missing_delete.error() == errc::not_found);

  REQUIRE(db->upsert_session(make_session("c")));
  auto bad_qos = db->add_subscription(tenant, "c", {"a", 3});
  REQUIRE_FALSE(bad_qos);
  CHECK(bad_qos.error() == errc::invalid_argument);
  auto no_sub = db->remove_subscription(tenant, "c", "nope");
  REQUIRE_FALSE(no_sub);
  CHECK(no_sub.error() == errc::not_found);
  auto empty_id = db->upsert_session(make_session(""));
  REQUIRE_FALSE(empty_id);
  CHECK(empty_id.error() == errc::invalid_argument);
  auto zero_packet = make_session("d");
  zero_packet.next_packet_id = 0;
  auto bad_packet = db->upsert_session(zero_packet);
  REQUIRE_FALSE(bad_packet);
  CHECK(bad_packet.error() == errc::invalid_argument);

  REQUIRE(db->add_subscription(tenant, "c", {"a", 1}));
  REQUIRE(db->delete_session(tenant, "c"));
  CHECK(db->stats()->subscriptions == 0);
}

TEST_CASE("batch apply: messages stored once, queued in order, acked", "[store][sessions][apply]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  auto batch = db->apply({upsert_session_op{make_session("s1")}, upsert_session_op{make_session("s2")},
                          add_subscription_op{tenant, "s1", {"t/#", 1}}, make_message("t/1", {"s1", "s2", "ghost"}),
                          make_message("t/2", {"s1"}), make_message("t/3", {"s1", "s2"}),
                          make_message("t/4", {"ghost"})});
  REQUIRE(batch);
  REQUIRE(batch->message_ids.size() == 4);
  CHECK(batch->message_ids[0] > 0);
  CHECK(batch->message_ids[3] == 0);  // nobody to queue for: not kept
  CHECK(batch->skipped == 2);
  CHECK(batch->dropped == 0);
  auto stats = db->stats();
  CHECK(stats->messages == 3);
  CHECK(stats->queue_entries == 5);

  auto snap = db->load_sessions(t0);
  REQUIRE(snap);
  CHECK(snap->messages.size() == 3);
  CHECK(queued_topics(*snap, "s1") == std::vector<std::string>{"t/1", "t/2", "t/3"});
  CHECK(queued_topics(*snap, "s2") == std::vector<std::string>{"t/1", "t/3"});
  const auto& msg = snap->messages.front();
  CHECK(msg.tenant == tenant);
  CHECK(msg.qos == 1);
  CHECK(msg.payload == std::vector<std::uint8_t>{'t', '/', '1'});
  CHECK(msg.created_at == t0);

  const std::int64_t m1 = batch->message_ids[0];
  const std::int64_t m2 = batch->message_ids[1];
  auto flight = db->apply({mark_inflight_op{tenant, "s1", m1, 10, false}, mark_inflight_op{tenant, "s1", m2, 11, false},
                           mark_inflight_op{tenant, "s2", m1, 10, false}, mark_inflight_op{tenant, "s2", 9999, 12, false}});
  REQUIRE(flight);
  CHECK(flight->skipped == 1);

  snap = db->load_sessions(t0);
  const auto& s1 = find_session(*snap, "s1");
  REQUIRE(s1.queue.size() == 3);
  CHECK(s1.queue[0].packet_id == std::optional<std::uint16_t>(10));
  CHECK(s1.queue[1].packet_id == std::optional<std::uint16_t>(11));
  CHECK_FALSE(s1.queue[2].packet_id.has_value());
  CHECK(s1.queue[0].seq < s1.queue[1].seq);

  SECTION("redelivery re-marks the same entry with DUP") {
    REQUIRE(db->apply({mark_inflight_op{tenant, "s1", m1, 10, true}}));
    snap = db->load_sessions(t0);
    const auto& again = find_session(*snap, "s1");
    CHECK(again.queue[0].dup);
    CHECK(again.queue[0].packet_id == std::optional<std::uint16_t>(10));
    CHECK(again.queue.size() == 3);
  }
  SECTION("acks remove entries; the last reference removes the message") {
    auto acked = db->apply({ack_op{tenant, "s1", 10}, ack_op{tenant, "s1", 10}});
    REQUIRE(acked);
    CHECK(acked->skipped == 1);
    CHECK(db->stats()->messages == 3);  // m1 still queued for s2
    REQUIRE(db->apply({ack_op{tenant, "s2", 10}}));
    CHECK(db->stats()->messages == 2);
    REQUIRE(db->apply({remove_entry_op{tenant, "s1", batch->message_ids[2]}}));
    CHECK(db->stats()->messages == 2);  // m3 still queued for s2
    REQUIRE(db->apply({delete_session_op{tenant, "s2"}}));
    CHECK(db->stats()->messages == 1);  // only m2 (s1, in flight) left
    CHECK(db->stats()->queue_entries == 1);
  }
  SECTION("a packet id is in flight once per session") {
    auto dup_packet = db->apply({mark_inflight_op{tenant, "s1", batch->message_ids[2], 10, false}});
    REQUIRE_FALSE(dup_packet);
    CHECK(dup_packet.error() == errc::conflict);
  }
}

TEST_CASE("batch apply is all or nothing", "[store][sessions][apply]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  REQUIRE(db->upsert_session(make_session("s1")));
  auto bad = make_message("t/bad", {"s1"});
  bad.qos = 5;
  auto r = db->apply({make_message("t/ok", {"s1"}), add_subscription_op{tenant, "s1", {"a", 1}}, bad});
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::invalid_argument);
  CHECK_FALSE(db->last_error().empty());
  auto stats = db->stats();
  CHECK(stats->messages == 0);
  CHECK(stats->queue_entries == 0);
  CHECK(stats->subscriptions == 0);
  // The connection is usable after the rollback.
  CHECK(db->apply({make_message("t/ok", {"s1"})}));
  CHECK(db->stats()->messages == 1);
}

TEST_CASE("queue caps drop the oldest entries that are not in flight", "[store][sessions][apply]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  REQUIRE(db->upsert_session(make_session("s1")));
  auto first = db->apply({make_message("m/1", {"s1"}, 3), make_message("m/2", {"s1"}, 3)});
  REQUIRE(first);
  REQUIRE(db->apply({mark_inflight_op{tenant, "s1", first->message_ids[0], 1, false}}));
  auto more = db->apply({make_message("m/3", {"s1"}, 3), make_message("m/4", {"s1"}, 3),
                         make_message("m/5", {"s1"}, 3)});
  REQUIRE(more);
  CHECK(more->dropped == 2);  // m/2 and m/3; m/1 is in flight
  auto snap = db->load_sessions(t0);
  CHECK(queued_topics(*snap, "s1") == std::vector<std::string>{"m/1", "m/4", "m/5"});
  CHECK(db->stats()->messages == 3);

  auto trimmed = db->apply({trim_queue_op{tenant, "s1", 1}});
  REQUIRE(trimmed);
  CHECK(trimmed->dropped == 2);
  snap = db->load_sessions(t0);
  CHECK(queued_topics(*snap, "s1") == std::vector<std::string>{"m/1"});
}

TEST_CASE("load_sessions skips expired sessions and messages", "[store][sessions]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  REQUIRE(db->apply({upsert_session_op{make_session("live")}, upsert_session_op{make_session("old", t0 + 100)},
                     add_subscription_op{tenant, "old", {"a", 1}}, make_message("keep", {"live", "old"}),
                     make_message("only-old", {"old"}), make_message("stale", {"live"}, 0, t0 + 50)}));
  // Times are whole seconds: in its expiry second a session is still there (never early).
  auto boundary = db->load_sessions(t0 + 100);
  REQUIRE(boundary);
  CHECK(boundary->sessions.size() == 2);
  auto snap = db->load_sessions(t0 + 101);
  REQUIRE(snap);
  REQUIRE(snap->sessions.size() == 1);
  CHECK(snap->sessions[0].session.client_id == "live");
  CHECK(queued_topics(*snap, "live") == std::vector<std::string>{"keep"});
  REQUIRE(snap->messages.size() == 1);
  CHECK(snap->messages[0].topic == "keep");
}

TEST_CASE("cleanup removes expired sessions, expired messages and orphans", "[store][sessions][cleanup]") {
  temp_dir dir;
  {
    // A later migration step leaves an orphan message behind (as a crash or
    // an old bug could); cleanup must sweep it.
    std::vector<migration> steps(builtin_migrations().begin(), builtin_migrations().end());
    steps.push_back({static_cast<int>(steps.size()) + 1, "test: orphan",
                     "INSERT INTO messages (tenant, topic, payload, qos, created_at) VALUES ('acme', 'o', x'00', 1, 0);"});
    options opts;
    opts.migrations = steps;
    auto db = open_db(dir.file(), opts);
    REQUIRE(db->apply({upsert_session_op{make_session("live")}, upsert_session_op{make_session("old", t0 + 100)},
                       add_subscription_op{tenant, "old", {"a", 1}}, make_message("shared", {"live", "old"}),
                       make_message("only-old", {"old"}), make_message("stale", {"live"}, 0, t0 + 50),
                       make_message("fresh", {"live"}, 0, t0 + 5000)}));
    CHECK(db->stats()->messages == 5);

    auto none = db->cleanup(t0);
    REQUIRE(none);
    CHECK(none->sessions == 0);
    CHECK(none->messages == 0);
    CHECK(none->orphan_messages == 1);

    auto boundary = db->cleanup(t0 + 100);  // the expiry second itself: nothing goes early
    REQUIRE(boundary);
    CHECK(boundary->sessions == 0);
    CHECK(boundary->messages == 1);  // stale (expired at t0 + 50)

    auto cleaned = db->cleanup(t0 + 101);
    REQUIRE(cleaned);
    CHECK(cleaned->sessions == 1);
    CHECK(cleaned->messages == 0);
    CHECK(cleaned->orphan_messages == 0);  // the trigger already released only-old
    auto stats = db->stats();
    CHECK(stats->sessions == 1);
    CHECK(stats->subscriptions == 0);
    CHECK(stats->messages == 2);  // shared, fresh
    CHECK(stats->queue_entries == 2);
    REQUIRE(db->checkpoint(checkpoint_mode::truncate));
  }
}

TEST_CASE("a clean shutdown records which queued messages were sent; start-up takes the record",
          "[store][sessions]") {
  temp_dir dir;
  std::int64_t m1 = 0;
  {
    auto db = open_db(dir.file());
    auto batch = db->apply({upsert_session_op{make_session("s1")}, upsert_session_op{make_session("s2")},
                            make_message("t/1", {"s1", "s2"}), make_message("t/2", {"s1"})});
    REQUIRE(batch);
    m1 = batch->message_ids[0];
    // Never shut down cleanly: nothing to take.
    CHECK(*db->take_clean_shutdown() == false);
    // m1 was sent to s1 only (an entry of another session is not touched; a gone one is skipped).
    REQUIRE(db->record_clean_shutdown({{tenant, "s1", m1}, {tenant, "ghost", m1}}));
  }
  auto db = open_db(dir.file());  // reopened: the record outlives the process
  CHECK(*db->take_clean_shutdown() == true);
  CHECK(*db->take_clean_shutdown() == false);  // taken: a crash of this run is not a clean stop
  auto snap = db->load_sessions(t0);
  REQUIRE(snap);
  const auto& s1 = find_session(*snap, "s1");
  REQUIRE(s1.queue.size() == 2);
  CHECK(s1.queue[0].message_id == m1);
  CHECK(s1.queue[0].dup);
  CHECK_FALSE(s1.queue[1].dup);
  const auto& s2 = find_session(*snap, "s2");
  REQUIRE(s2.queue.size() == 1);
  CHECK_FALSE(s2.queue[0].dup);
}
