/*
 * Persistent MQTT sessions: the direct (one-change) API and the start-up load.
 *
 * Rules enforced here: a session is keyed by (tenant, client_id); updating a
 * session keeps its created_at; subscriptions and queue entries exist only
 * for an existing session (deleting it cascades); load_sessions skips
 * sessions and messages whose expires_at < now and reads everything in one
 * read transaction so the snapshot is consistent while the writer runs.
 */
#include "portcullis/store/database.hpp"

#include "connection.hpp"
#include "session_ops.hpp"

#include <map>
#include <set>
#include <utility>

namespace portcullis::store {

namespace detail {

result<void> check_session_key(connection& conn, const std::string& tenant, const std::string& client_id) {
  if (tenant.empty() || client_id.empty()) {
    return conn.fail(errc::invalid_argument, "store: empty tenant or client id for a session");
  }
  return {};
}

result<void> upsert_session(connection& conn, const session_record& session) {
  if (auto ok = check_session_key(conn, session.tenant, session.client_id); !ok) {
    return ok;
  }
  return conn.exec(
      "INSERT INTO sessions (tenant, client_id, created_at, disconnected_at, expires_at, next_packet_id)"
      " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (tenant, client_id) DO UPDATE SET"
      " disconnected_at = excluded.disconnected_at, expires_at = excluded.expires_at,"
      " next_packet_id = excluded.next_packet_id",
      session.tenant, session.client_id, session.created_at, session.disconnected_at, session.expires_at,
      std::int64_t{session.next_packet_id});
}

result<std::int64_t> delete_session(connection& conn, const std::string& tenant, const std::string& client_id) {
  if (auto done = conn.exec("DELETE FROM sessions WHERE tenant = ? AND client_id = ?", tenant, client_id); !done) {
    return done.error();
  }
  return conn.changes();
}

result<std::int64_t> add_subscription(connection& conn, const std::string& tenant, const std::string& client_id,
                                      const subscription& sub) {
  if (sub.filter.empty() || sub.qos > 2) {
    return conn.fail(errc::invalid_argument, "store: empty filter or qos > 2");
  }
  // INSERT ... SELECT writes nothing when the session does not exist.
  if (auto done = conn.exec(
          "INSERT INTO subscriptions (tenant, client_id, filter, qos)"
          " SELECT tenant, client_id, ?3, ?4 FROM sessions WHERE tenant = ?1 AND client_id = ?2"
          " ON CONFLICT (tenant, client_id, filter) DO UPDATE SET qos = excluded.qos",
          tenant, client_id, sub.filter, std::int64_t{sub.qos});
      !done) {
    return done.error();
  }
  return conn.changes();
}

result<std::int64_t> remove_subscription(connection& conn, const std::string& tenant, const std::string& client_id,
                                         const std::string& filter) {
  if (auto done = conn.exec("DELETE FROM subscriptions WHERE tenant = ? AND client_id = ? AND filter = ?", tenant,
                            client_id, filter);
      !done) {
    return done.error();
  }
  return conn.changes();
}

}  // namespace detail

result<void> database::upsert_session(const session_record& session) {
  return detail::upsert_session(*conn_, session);
}

result<void> database::delete_session(const std::string& tenant, const std::string& client_id) {
  auto deleted = detail::delete_session(*conn_, tenant, client_id);
  if (!deleted) {
    return deleted.error();
  }
  if (*deleted == 0) {
    return conn_->fail(errc::not_found, "store: no session for client id '" + client_id + "'");
  }
  return {};
}

result<void> database::set_subscriptions(const std::string& tenant, const std::string& client_id,
                                         const std::vector<subscription>& subs) {
  auto tx = detail::transaction::begin(*conn_);
  if (!tx) {
    return tx.error();
  }
  auto found = conn_->first<int>([](const detail::statement&) { return 1; },
                                  "SELECT 1 FROM sessions WHERE tenant = ? AND client_id = ?", tenant, client_id);
  if (!found) {
    return found.error();
  }
  if (!*found) {
    return conn_->fail(errc::not_found, "store: no session for client id '" + client_id + "'");
  }
  if (auto done = conn_->exec("DELETE FROM subscriptions WHERE tenant = ? AND client_id = ?", tenant, client_id);
      !done) {
    return done;
  }
  for (const subscription& sub : subs) {
    if (auto added = detail::add_subscription(*conn_, tenant, client_id, sub); !added) {
      return added.error();
    }
  }
  return tx->commit();
}

result<void> database::add_subscription(const std::string& tenant, const std::string& client_id,
                                        const subscription& sub) {
  auto added = detail::add_subscription(*conn_, tenant, client_id, sub);
  if (!added) {
    return added.error();
  }
  if (*added == 0) {
    return conn_->fail(errc::not_found, "store: no session for client id '" + client_id + "'");
  }
  return {};
}

result<void> database::remove_subscription(const std::string& tenant, const std::string& client_id,
                                           const std::string& filter) {
  auto removed = detail::remove_subscription(*conn_, tenant, client_id, filter);
  if (!removed) {
    return removed.error();
  }
  if (*removed == 0) {
    return conn_->fail(errc::not_found, "store: no subscription '" + filter + "'");
  }
  return {};
}

namespace {

using session_key = std::pair<std::string, std::string>;
using session_index = std::map<session_key, std::size_t>;

result<void> load_session_rows(detail::connection& conn, std::int64_t now, session_snapshot& out,
                               session_index& index) {
  return conn.each(
      [&](detail::statement& st) {
        persistent_session s;
        s.session = {st.get_text(0), st.get_text(1), st.get_int64(2), st.get_optional_int64(3),
                     st.get_optional_int64(4), static_cast<std::uint16_t>(st.get_int64(5))};
        index.emplace(session_key{s.session.tenant, s.session.client_id}, out.sessions.size());
        out.sessions.push_back(std::move(s));
      },
      "SELECT tenant, client_id, created_at, disconnected_at, expires_at, next_packet_id FROM sessions"
      " WHERE expires_at IS NULL OR expires_at >= ? ORDER BY tenant, client_id",
      now);
}

result<void> load_subscription_rows(detail::connection& conn, session_snapshot& out, const session_index& index) {
  return conn.each(
      [&](detail::statement& st) {
        auto found = index.find(session_key{st.get_text(0), st.get_text(1)});
        if (found != index.end()) {  // else: the session expired
          out.sessions[found->second].subscriptions.push_back(
              {st.get_text(2), static_cast<std::uint8_t>(st.get_int64(3))});
        }
      },
      "SELECT tenant, client_id, filter, qos FROM subscriptions ORDER BY tenant, client_id, filter");
}

result<void> load_queue_rows(detail::connection& conn, std::int64_t now, session_snapshot& out,
                             const session_index& index, std::set<std::int64_t>& referenced) {
  return conn.each(
      [&](detail::statement& st) {
        auto found = index.find(session_key{st.get_text(0), st.get_text(1)});
        if (found == index.end()) {
          return;  // the session expired
        }
        queue_entry entry;
        entry.seq = st.get_int64(2);
        entry.message_id = st.get_int64(3);
        if (auto packet_id = st.get_optional_int64(4)) {
          entry.packet_id = static_cast<std::uint16_t>(*packet_id);
        }
        entry.dup = st.get_int64(5) != 0;
        referenced.insert(entry.message_id);
        out.sessions[found->second].queue.push_back(entry);
      },
      "SELECT q.tenant, q.client_id, q.seq, q.message_id, q.packet_id, q.dup FROM queue q"
      " JOIN messages m ON m.id = q.message_id WHERE m.expires_at IS NULL OR m.expires_at >= ?"
      " ORDER BY q.tenant, q.client_id, q.seq",
      now);
}

result<void> load_message_rows(detail::connection& conn, std::int64_t now, session_snapshot& out,
                               const std::set<std::int64_t>& referenced) {
  return conn.each(
      [&](detail::statement& st) {
        if (!referenced.contains(st.get_int64(0))) {
          return;  // referenced only by expired sessions, or an orphan awaiting cleanup
        }
        out.messages.push_back({st.get_int64(0), st.get_text(1), st.get_text(2), st.get_blob(3),
                                static_cast<std::uint8_t>(st.get_int64(4)), st.get_int64(5),
                                st.get_optional_int64(6)});
      },
      "SELECT id, tenant, topic, payload, qos, created_at, expires_at FROM messages"
      " WHERE expires_at IS NULL OR expires_at >= ? ORDER BY id",
      now);
}

}  // namespace

result<session_snapshot> database::load_sessions(std::int64_t now) {
  auto tx = detail::transaction::begin(*conn_, detail::transaction::kind::deferred);
  if (!tx) {
    return tx.error();
  }
  session_snapshot out;
  session_index index;
  std::set<std::int64_t> referenced;
  if (auto done = load_session_rows(*conn_, now, out, index); !done) {
    return done.error();
  }
  if (auto done = load_subscription_rows(*conn_, out, index); !done) {
    return done.error();
  }
  if (auto done = load_queue_rows(*conn_, now, out, index, referenced); !done) {
    return done.error();
  }
  if (auto done = load_message_rows(*conn_, now, out, referenced); !done) {
    return done.error();
  }
  if (auto done = tx->commit(); !done) {
    return done.error();
  }
  return out;
}

result<void> database::record_clean_shutdown(const std::vector<queue_entry_ref>& sent) {
  auto tx = detail::transaction::begin(*conn_);
  if (!tx) {
    return tx.error();
  }
  for (const auto& e : sent) {
    if (auto done = conn_->exec("UPDATE queue SET dup = 1 WHERE tenant = ? AND client_id = ? AND message_id = ?",
                                e.tenant, e.client_id, e.message_id);
        !done) {
      return done.error();
    }
  }
  if (auto done = conn_->exec("INSERT OR REPLACE INTO store_state (key, value) VALUES ('queue_dup_exact', 1)");
      !done) {
    return done.error();
  }
  return tx->commit();
}

result<bool> database::take_clean_shutdown() {
  auto tx = detail::transaction::begin(*conn_);
  if (!tx) {
    return {boost::system::in_place_error, tx.error()};
  }
  auto clean = conn_->int64_of("SELECT count(*) FROM store_state WHERE key = 'queue_dup_exact' AND value = 1");
  if (!clean) {
    return {boost::system::in_place_error, clean.error()};
  }
  if (auto done = conn_->exec("DELETE FROM store_state WHERE key = 'queue_dup_exact'"); !done) {
    return {boost::system::in_place_error, done.error()};
  }
  if (auto done = tx->commit(); !done) {
    return {boost::system::in_place_error, done.error()};
  }
  return *clean > 0;
}

result<std::int64_t> database::max_message_id() {
  return conn_->int64_of("SELECT coalesce(max(id), 0) FROM messages");
}

}  // namespace portcullis::store
