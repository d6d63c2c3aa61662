/*
 * The batch API for group commit: `database::apply` runs many session
 * operations in ONE IMMEDIATE transaction, all or nothing.
 *
 * Rules enforced here:
 *  - A message is inserted once and referenced by one queue entry per target
 *    session; targets without a session are skipped (counted), and a message
 *    that reached no session is not kept.
 *  - Queue caps drop the oldest entries that are NOT in flight: an in-flight
 *    entry must stay until its PUBACK (its packet id is on the wire).
 *  - mark_inflight picks the entry of that message already in flight with
 *    that packet id (redelivery), else the oldest one not in flight.
 *  - Operations on a missing session or entry are skipped, never an error;
 *    invalid values (empty ids, qos > 2, packet id 0) fail the whole batch.
 * Removing the last queue entry of a message deletes the message (trigger).
 */
#include "portcullis/store/database.hpp"

#include "connection.hpp"
#include "session_ops.hpp"

#include <variant>

namespace portcullis::store {
namespace {

/// Drops the oldest not-in-flight entries beyond `max_queued`; returns how many.
result<std::int64_t> trim_queue(detail::connection& conn, const std::string& tenant, const std::string& client_id,
                                std::size_t max_queued) {
  auto counted = conn.int64_of("SELECT count(*) FROM queue WHERE tenant = ? AND client_id = ?", tenant, client_id);
  if (!counted) {
    return counted.error();
  }
  const std::int64_t count = *counted;
  const auto cap = static_cast<std::int64_t>(max_queued);
  if (count <= cap) {
    return 0;
  }
  if (auto done = conn.exec(
          "DELETE FROM queue WHERE seq IN (SELECT seq FROM queue WHERE tenant = ? AND client_id = ?"
          " AND packet_id IS NULL ORDER BY seq LIMIT ?)",
          tenant, client_id, count - cap);
      !done) {
    return done.error();
  }
  return conn.changes();
}

class op_runner {
 public:
  op_runner(detail::connection& conn, apply_result& out) noexcept : conn_(conn), out_(out) {}

  result<void> operator()(const upsert_session_op& op) { return detail::upsert_session(conn_, op.session); }

  result<void> operator()(const delete_session_op& op) {
    return count_skip(detail::delete_session(conn_, op.tenant, op.client_id));
  }

  result<void> operator()(const add_subscription_op& op) {
    return count_skip(detail::add_subscription(conn_, op.tenant, op.client_id, op.sub));
  }

  result<void> operator()(const remove_subscription_op& op) {
    return count_skip(detail::remove_subscription(conn_, op.tenant, op.client_id, op.filter));
  }

  result<void> operator()(const enqueue_op& op);

  result<void> operator()(const mark_inflight_op& op) {
    if (auto ok = detail::check_session_key(conn_, op.tenant, op.client_id); !ok) {
      return ok;
    }
    if (auto done = conn_.exec(
            "UPDATE queue SET packet_id = ?1, dup = ?2 WHERE seq = (SELECT seq FROM queue"
            " WHERE tenant = ?3 AND client_id = ?4 AND message_id = ?5 AND (packet_id IS NULL OR packet_id = ?1)"
            " ORDER BY packet_id IS NULL, seq LIMIT 1)",
            std::int64_t{op.packet_id}, std::int64_t{op.dup ? 1 : 0}, op.tenant, op.client_id, op.message_id);
        !done) {
      return done;
    }
    return count_skip(conn_.changes());
  }

  result<void> operator()(const ack_op& op) {
    if (auto done = conn_.exec("DELETE FROM queue WHERE tenant = ? AND client_id = ? AND packet_id = ?", op.tenant,
                               op.client_id, std::int64_t{op.packet_id});
        !done) {
      return done;
    }
    return count_skip(conn_.changes());
  }

  result<void> operator()(const remove_entry_op& op) {
    if (auto done = conn_.exec(
            "DELETE FROM queue WHERE seq = (SELECT seq FROM queue WHERE tenant = ? AND client_id = ?"
            " AND message_id = ? ORDER BY seq LIMIT 1)",
            op.tenant, op.client_id, op.message_id);
        !done) {
      return done;
    }
    return count_skip(conn_.changes());
  }

  result<void> operator()(const trim_queue_op& op) {
    auto dropped = trim_queue(conn_, op.tenant, op.client_id, op.max_queued);
    if (!dropped) {
      return dropped.error();
    }
    out_.dropped += static_cast<std::uint64_t>(*dropped);
    return {};
  }

 private:
  result<void> count_skip(result<std::int64_t> changed) {
    if (!changed) {
      return changed.error();
    }
    if (*changed == 0) {
      ++out_.skipped;
    }
    return {};
  }

  detail::connection& conn_;
  apply_result& out_;
};

result<void> op_runner::operator()(const enqueue_op& op) {
  if (op.tenant.empty() || op.qos > 2) {
    return conn_.fail(errc::invalid_argument, "store: enqueue with empty tenant or qos > 2");
  }
  if (op.id > 0) {
    if (auto done = conn_.exec(
            "INSERT INTO messages (id, tenant, topic, payload, qos, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            op.id, op.tenant, op.topic, op.payload, std::int64_t{op.qos}, op.created_at, op.expires_at);
        !done) {
      return done;
    }
  } else if (auto done = conn_.exec(
                 "INSERT INTO messages (tenant, topic, payload, qos, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                 op.tenant, op.topic, op.payload, std::int64_t{op.qos}, op.created_at, op.expires_at);
             !done) {
    return done;
  }
  const std::int64_t message_id = conn_.last_insert_rowid();
  std::size_t queued = 0;
  for (const std::string& client_id : op.client_ids) {
    // INSERT ... SELECT queues nothing when the session does not exist.
    if (auto done = conn_.exec(
            "INSERT INTO queue (tenant, client_id, message_id)"
            " SELECT tenant, client_id, ?3 FROM sessions WHERE tenant = ?1 AND client_id = ?2",
            op.tenant, client_id, message_id);
        !done) {
      return done;
    }
    if (conn_.changes() == 0) {
      ++out_.skipped;
      continue;
    }
    ++queued;
    if (op.max_queued > 0) {
      auto dropped = trim_queue(conn_, op.tenant, client_id, op.max_queued);
      if (!dropped) {
        return dropped.error();
      }
      out_.dropped += static_cast<std::uint64_t>(*dropped);
    }
  }
  if (queued == 0) {
    // No session took it: do not keep an unreferenced message.
    if (auto done = conn_.exec("DELETE FROM messages WHERE id = ?", message_id); !done) {
      return done;
    }
    out_.message_ids.push_back(0);
    return {};
  }
  out_.message_ids.push_back(message_id);
  return {};
}

}  // namespace

result<apply_result> database::apply(const std::vector<session_op>& ops) {
  auto tx = detail::transaction::begin(*conn_);
  if (!tx) {
    return tx.error();
  }
  apply_result out;
  op_runner runner(*conn_, out);
  for (const session_op& op : ops) {
    if (auto done = std::visit(runner, op); !done) {
      return done.error();  // the transaction rolls back: nothing of the batch is kept
    }
  }
  if (auto done = tx->commit(); !done) {
    return done.error();
  }
  return out;
}

}  // namespace portcullis::store
