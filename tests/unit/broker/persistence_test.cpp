// Group commit of persistent-session operations (broker/src/persistence) against
// a real SQLite file through the real store thread: what reaches the database,
// when the publisher's durable callback fires, and the cancellation of queue
// entries acknowledged before their commit.

#include "persistence.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <map>
#include <optional>
#include <thread>

#include <catch2/catch.hpp>

#include "metrics.hpp"
#include "portcullis/store/database.hpp"
#include "store_gateway.hpp"

using namespace portcullis::broker;
namespace store = portcullis::store;
using namespace std::chrono_literals;

namespace {

struct temp_db {
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("pc-persistence-" + std::to_string(::getpid()) + "-" + std::to_string(counter()++));
  temp_db() { std::filesystem::create_directories(dir); }
  ~temp_db() { std::filesystem::remove_all(dir); }
  std::string path() const { return (dir / "store.db").string(); }
  static std::atomic<int>& counter() {
    static std::atomic<int> n{0};
    return n;
  }
};

store::upsert_session_op session_op(const std::string& client_id) {
  store::session_record r;
  r.tenant = "t";
  r.client_id = client_id;
  r.created_at = 1000;
  return {r};
}

store::enqueue_op enqueue(std::int64_t id, std::vector<std::string> targets) {
  store::enqueue_op op;
  op.id = id;
  op.tenant = "t";
  op.topic = "a/b";
  op.payload = {1, 2, 3};
  op.created_at = 1000;
  op.expires_at = 1000 + 86400;
  op.client_ids = std::move(targets);
  return op;
}

/// Submits `op` and returns a future for its durable callback.
std::future<bool> submit_waiting(persistence& p, store::enqueue_op op, bool urgent = false) {
  auto done = std::make_shared<std::promise<bool>>();
  auto f = done->get_future();
  p.submit(std::move(op), [done](bool ok) { done->set_value(ok); }, urgent);
  return f;
}

/// client id -> message ids queued for it, read from the file after the store thread stopped.
std::map<std::string, std::vector<std::int64_t>> queued(const std::string& path) {
  auto db = store::database::open(path, {});
  REQUIRE(db.has_value());
  auto snap = (*db)->load_sessions(1000);
  REQUIRE(snap.has_value());
  std::map<std::string, std::vector<std::int64_t>> out;
  for (const auto& s : snap->sessions) {
    auto& ids = out[s.session.client_id];
    for (const auto& e : s.queue) ids.push_back(e.message_id);
  }
  return out;
}

std::size_t stored_messages(const std::string& path) {
  auto db = store::database::open(path, {});
  REQUIRE(db.has_value());
  auto snap = (*db)->load_sessions(1000);
  REQUIRE(snap.has_value());
  return snap->messages.size();
}

/// A store thread on a fresh file with a persistence in front of it; `finish()`
/// stops the thread (committing what is pending) so that the file can be read.
/// The linger is long (10 s), so that nothing is committed by time during a test
/// unless it is urgent, full, or the store stops: the outcomes do not depend on
/// how fast this machine is.
struct running_store {
  temp_db tmp;
  metrics m;
  store_gateway gw{tmp.path(), m};
  std::optional<persistence> p;
  explicit running_store(std::initializer_list<const char*> sessions, std::chrono::milliseconds linger = 10s) {
    gw.open();
    gw.start();
    p.emplace(gw, m, linger);
    for (const char* id : sessions) p->submit(session_op(id));
  }
  ~running_store() { gw.stop(); }  // before `p` goes: queued commit jobs point at it
  running_store(const running_store&) = delete;
  running_store& operator=(const running_store&) = delete;
  void finish() { gw.stop(); }
};

}  // namespace

TEST_CASE("an entry acknowledged before its commit is never written", "[persistence]") {
  running_store st({"c1", "c2"});
  auto& p = *st.p;
  auto durable = submit_waiting(p, enqueue(1, {"c1", "c2"}));
  // c1's PUBACK arrives while the enqueue is still pending: cancelled.
  p.submit(store::remove_entry_op{"t", "c1", 1});
  CHECK(p.cancelled() == 1);
  CHECK(st.m.session_entries_cancelled.load() == 1);
  CHECK(durable.wait_for(0s) == std::future_status::timeout);  // c2 has not acknowledged: wait for the commit
  st.finish();
  REQUIRE(durable.wait_for(0s) == std::future_status::ready);
  CHECK(durable.get());
  auto q = queued(st.tmp.path());
  CHECK(q["c1"].empty());
  CHECK(q["c2"] == std::vector<std::int64_t>{1});
}

TEST_CASE("a message acknowledged by every target is released at once and leaves nothing behind", "[persistence]") {
  running_store st({"c1", "c2"});
  auto& p = *st.p;
  auto durable = submit_waiting(p, enqueue(7, {"c1", "c2"}));
  p.submit(store::remove_entry_op{"t", "c2", 7});
  CHECK(durable.wait_for(0s) == std::future_status::timeout);
  p.submit(store::remove_entry_op{"t", "c1", 7});
  // Delivered everywhere: the publisher's PUBACK need not wait for any commit.
  REQUIRE(durable.wait_for(0s) == std::future_status::ready);
  CHECK(durable.get());
  CHECK(p.cancelled() == 2);
  st.finish();
  CHECK(stored_messages(st.tmp.path()) == 0);
  CHECK(queued(st.tmp.path())["c1"].empty());
}

TEST_CASE("a commit takes only what has lingered; younger entries stay cancellable", "[persistence]") {
  // A 1 s linger, and the second enqueue 0.5 s after the first: the commit of the
  // first (at 1 s) must leave the second pending, still cancellable by its acks.
  running_store st({"c1", "c2"}, 1s);
  auto& p = *st.p;
  auto first = submit_waiting(p, enqueue(1, {"c1", "c2"}));
  std::this_thread::sleep_for(500ms);
  auto second = submit_waiting(p, enqueue(2, {"c1", "c2"}));
  REQUIRE(first.wait_for(5s) == std::future_status::ready);
  CHECK(first.get());
  REQUIRE(second.wait_for(0s) == std::future_status::timeout);
  p.submit(store::remove_entry_op{"t", "c1", 2});
  CHECK(p.cancelled() == 1);
  p.submit(store::remove_entry_op{"t", "c1", 1});  // committed already: deletes the row
  CHECK(p.cancelled() == 1);
  p.submit(store::remove_entry_op{"t", "c2", 2});
  CHECK(p.cancelled() == 2);
  REQUIRE(second.wait_for(0s) == std::future_status::ready);  // acknowledged everywhere
  CHECK(second.get());
  // Both targets of message 2 have acknowledged: a repeated removal finds nothing
  // pending and becomes a (harmless) delete.
  p.submit(store::remove_entry_op{"t", "c2", 2});
  CHECK(p.cancelled() == 2);
  st.finish();
  auto q = queued(st.tmp.path());
  CHECK(q["c1"].empty());
  CHECK(q["c2"] == std::vector<std::int64_t>{1});
}

TEST_CASE("an enqueue for an offline target is committed without lingering", "[persistence]") {
  running_store st({"c1"});
  auto durable = submit_waiting(*st.p, enqueue(9, {"c1"}), /*urgent=*/true);
  REQUIRE(durable.wait_for(5s) == std::future_status::ready);  // the linger is 10 s
  CHECK(durable.get());
  st.finish();
  CHECK(queued(st.tmp.path())["c1"] == std::vector<std::int64_t>{9});
}

TEST_CASE("a barrier completes, without lingering, once everything before it is committed", "[persistence]") {
  running_store st({"c1"});  // the session row is pending, lingering (10 s)
  auto& p = *st.p;
  p.submit(store::add_subscription_op{"t", "c1", {"a/#", 1}});
  auto done = std::make_shared<std::promise<bool>>();
  auto f = done->get_future();
  p.barrier([done](bool ok) { done->set_value(ok); });
  REQUIRE(f.wait_for(5s) == std::future_status::ready);
  CHECK(f.get());
  // Read while the store thread still runs: the barrier's promise is that it is stored now.
  auto db = store::database::open(st.tmp.path(), {});
  REQUIRE(db.has_value());
  auto snap = (*db)->load_sessions(1000);
  REQUIRE(snap.has_value());
  REQUIRE(snap->sessions.size() == 1);
  REQUIRE(snap->sessions[0].subscriptions.size() == 1);
  CHECK(snap->sessions[0].subscriptions[0].filter == "a/#");
}

TEST_CASE("an acknowledgement after the commit deletes the stored entry", "[persistence]") {
  running_store st({"c1", "c2"});
  auto& p = *st.p;
  auto durable = submit_waiting(p, enqueue(3, {"c1", "c2"}), /*urgent=*/true);
  REQUIRE(durable.wait_for(5s) == std::future_status::ready);
  // Committed: the rows exist now, an ack cannot cancel any more.
  p.submit(store::remove_entry_op{"t", "c2", 3});
  CHECK(p.cancelled() == 0);
  st.finish();
  auto q = queued(st.tmp.path());
  CHECK(q["c1"] == std::vector<std::int64_t>{3});
  CHECK(q["c2"].empty());
}

TEST_CASE("cancellation matches tenant, client and message exactly", "[persistence]") {
  running_store st({"c1"});
  auto& p = *st.p;
  auto durable = submit_waiting(p, enqueue(5, {"c1"}));
  p.submit(store::remove_entry_op{"other-tenant", "c1", 5});
  p.submit(store::remove_entry_op{"t", "c9", 5});
  p.submit(store::remove_entry_op{"t", "c1", 6});
  CHECK(p.cancelled() == 0);
  st.finish();
  REQUIRE(durable.wait_for(0s) == std::future_status::ready);
  CHECK(queued(st.tmp.path())["c1"] == std::vector<std::int64_t>{5});
}

TEST_CASE("stopping the store commits what is pending without waiting for the linger", "[persistence]") {
  running_store st({"c1"});
  std::atomic<int> fired{0};
  for (std::int64_t id = 1; id <= 100; ++id) {
    st.p->submit(
        enqueue(id, {"c1"}),
        [&fired](bool ok) {
          if (ok) ++fired;
        },
        false);
  }
  st.finish();
  CHECK(fired.load() == 100);
  CHECK(queued(st.tmp.path())["c1"].size() == 100);
}

TEST_CASE("a batch that reaches the size cap is committed at once", "[persistence]") {
  running_store st({"c1"});
  std::vector<std::future<bool>> waits;
  for (std::size_t i = 1; i < persistence::max_batch_ops; ++i) {  // + the session op: exactly the cap
    waits.push_back(submit_waiting(*st.p, enqueue(static_cast<std::int64_t>(i), {"c1"})));
  }
  // Every callback fires long before the 10 s linger, in few commits.
  for (auto& w : waits) REQUIRE(w.wait_for(5s) == std::future_status::ready);
  CHECK(st.p->commits() >= 1);
  CHECK(st.p->commits() < 100);
  st.finish();
}
