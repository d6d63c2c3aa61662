/*
 * Maintenance: expiry cleanup, WAL checkpoints and table statistics.
 *
 * Rules enforced here: cleanup runs in one transaction and deletes, in this
 * order, sessions whose expires_at < now (their subscriptions and queue go
 * by cascade, their messages by the release trigger), messages whose
 * expires_at < now (their queue entries by cascade), registration codes whose
 * expires_at <= now (used or not), and messages no queue entry references.
 * Connected sessions (expires_at NULL) and messages without expiry stay.
 */
#include "portcullis/store/database.hpp"

#include <array>

#include "connection.hpp"

namespace portcullis::store {
namespace {

result<std::uint64_t> delete_rows(detail::connection& conn, std::string_view sql, std::int64_t now) {
  if (auto done = conn.exec(sql, now); !done) {
    return done.error();
  }
  return static_cast<std::uint64_t>(conn.changes());
}

}  // namespace

result<cleanup_result> database::cleanup(std::int64_t now) {
  auto tx = detail::transaction::begin(*conn_);
  if (!tx) {
    return tx.error();
  }
  cleanup_result out;
  auto sessions =
      delete_rows(*conn_, "DELETE FROM sessions WHERE expires_at IS NOT NULL AND expires_at < ?", now);
  if (!sessions) {
    return sessions.error();
  }
  out.sessions = *sessions;
  auto messages =
      delete_rows(*conn_, "DELETE FROM messages WHERE expires_at IS NOT NULL AND expires_at < ?", now);
  if (!messages) {
    return messages.error();
  }
  out.messages = *messages;
  auto codes = delete_rows(*conn_, "DELETE FROM registration_codes WHERE expires_at <= ?", now);
  if (!codes) {
    return codes.error();
  }
  out.registration_codes = *codes;
  if (auto done = conn_->exec(
          "DELETE FROM messages WHERE NOT EXISTS (SELECT 1 FROM queue WHERE queue.message_id = messages.id)");
      !done) {
    return done.error();
  }
  out.orphan_messages = static_cast<std::uint64_t>(conn_->changes());
  if (auto done = tx->commit(); !done) {
    return done.error();
  }
  return out;
}

result<void> database::checkpoint(checkpoint_mode mode) {
  const int sqlite_mode = mode == checkpoint_mode::truncate ? SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE;
  int log_frames = 0;
  int checkpointed = 0;
  const int rc = sqlite3_wal_checkpoint_v2(conn_->handle(), nullptr, sqlite_mode, &log_frames, &checkpointed);
  if (rc != SQLITE_OK) {
    return conn_->fail_sqlite(rc, "wal_checkpoint");
  }
  return {};
}

result<store_stats> database::stats() {
  auto counts = conn_->first<std::array<std::int64_t, 11>>(
      [](detail::statement& st) {
        std::array<std::int64_t, 11> n{};
        for (int i = 0; i < static_cast<int>(n.size()); ++i) {
          n[static_cast<std::size_t>(i)] = st.get_int64(i);
        }
        return n;
      },
      "SELECT (SELECT count(*) FROM tenants), (SELECT count(*) FROM registration_codes),"
      " (SELECT count(*) FROM cas), (SELECT count(*) FROM assets), (SELECT count(*) FROM agents),"
      " (SELECT count(*) FROM bindings), (SELECT count(*) FROM admin_tokens), (SELECT count(*) FROM sessions),"
      " (SELECT count(*) FROM subscriptions), (SELECT count(*) FROM messages), (SELECT count(*) FROM queue)");
  if (!counts) {
    return counts.error();
  }
  const auto n = counts->value_or(std::array<std::int64_t, 11>{});  // an aggregate always has its row
  store_stats out;
  out.path = conn_->path();
  out.tenants = n[0];
  out.registration_codes = n[1];
  out.cas = n[2];
  out.assets = n[3];
  out.agents = n[4];
  out.bindings = n[5];
  out.admin_tokens = n[6];
  out.sessions = n[7];
  out.subscriptions = n[8];
  out.messages = n[9];
  out.queue_entries = n[10];
  return out;
}

}  // namespace portcullis::store
