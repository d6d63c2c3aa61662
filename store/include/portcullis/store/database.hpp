#pragma once
// The store's single entry point: a typed, synchronous API over one SQLite
// file (`<data_dir>/portcullis.db`). See docs in each method; the rules:
//  - Every failure is a value (`result<T>` with `store::errc`); the SQLite
//    message of the last failure is kept in `last_error()` for logging.
//  - Time is always passed in (`now`, epoch seconds); the store never reads a clock.
//  - Every multi-statement change runs in one BEGIN IMMEDIATE transaction.
//
// Threading: one `database` object is used by ONE thread at a time (the
// broker's store thread owns the write connection). The connection is opened
// with SQLITE_OPEN_NOMUTEX (SQLite "multi-thread" mode: no per-connection
// mutex, since we never share a connection). Other threads open their own
// `database` on the same file (read-only or read-write); WAL lets readers run
// concurrently with the writer, and writers serialise on the busy timeout.
//
// Durability: journal_mode=WAL. synchronous=NORMAL (default) survives an
// application crash but a power loss may roll back the last commits;
// synchronous=FULL fsyncs every commit. The broker group-commits session
// changes (`apply`) so FULL costs one fsync per batch, not per message.

#include "portcullis/store/error.hpp"
#include "portcullis/store/migration.hpp"
#include "portcullis/store/records.hpp"
#include "portcullis/store/sessions.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace portcullis::store {

namespace detail {
class connection;
}

enum class synchronous_mode { normal, full };
enum class checkpoint_mode { passive, truncate };

struct options {
  synchronous_mode synchronous = synchronous_mode::normal;
  int busy_timeout_ms = 5000;
  /// Open read-only (a reader beside the store thread). The schema must already
  /// be at `latest_schema_version()`; no pragma that writes is issued.
  bool read_only = false;
  /// Migration steps to apply; tests substitute their own list.
  std::span<const migration> migrations = builtin_migrations();
};

/// A connection to the store database.
/// Thread-safety: distinct objects: safe; shared objects: unsafe (use one
/// `database` per thread; open another on the same file for another thread).
class database {
 public:
  /// Opens (creating if needed) the database file at `path`, applies pragmas
  /// and pending migrations. Errors: schema_too_new, corrupt, io, busy,
  /// invalid_argument (bad migration list, or read_only on an unmigrated file).
  /// `error_detail`, when given, receives the SQLite message on failure.
  /// Thread-safety: safe; may be called several times on the same file.
  static result<std::unique_ptr<database>> open(const std::string& path, const options& opts = {},
                                                std::string* error_detail = nullptr);

  ~database();
  database(const database&) = delete;
  database& operator=(const database&) = delete;

  /// Message of the last failed call (SQLite text and context); empty before any.
  const std::string& last_error() const noexcept;
  const std::string& path() const noexcept;
  /// The schema version stored in the file.
  result<int> schema_version();

  // ---- tenants (tenants.cpp) --------------------------------------------------
  /// Errors: conflict (exists), invalid_argument (empty id).
  result<void> create_tenant(const std::string& id, std::int64_t now);
  result<std::vector<tenant_record>> list_tenants();  ///< ordered by id
  result<bool> tenant_exists(const std::string& id);
  /// Deletes the tenant with its codes, CAs, agents, bindings, tokens, sessions
  /// and messages. Errors: not_found.
  result<void> delete_tenant(const std::string& id);

  // ---- registration codes (registration_codes.cpp, SPEC §4.4) ----------------
  /// Errors: not_found (tenant), conflict (code exists), invalid_argument (empty code).
  result<void> create_registration_code(const std::string& tenant, const std::string& code,
                                        std::int64_t expires_at);
  /// Marks the code used; exactly one of racing consumers succeeds.
  /// Errors: not_found (unknown, or another tenant's), already_used, expired (now >= expires_at).
  result<void> consume_registration_code(const std::string& tenant, const std::string& code,
                                         std::int64_t now);

  // ---- tenant CAs (cas.cpp) --------------------------------------------------
  /// Stores a CA the caller has verified; returns it with its id. The store
  /// generates the id when `record.id` is empty. Errors: not_found (tenant),
  /// conflict (sha256 registered by any tenant, or id taken), invalid_argument
  /// (sha256 not 64 lowercase hex, empty der).
  result<ca_record> add_ca(ca_record record);
  /// Consumes `code` (as consume_registration_code) and adds the CA in ONE
  /// transaction: if adding fails, the code stays unused.
  result<ca_record> add_ca_with_code(ca_record record, const std::string& code, std::int64_t now);
  result<std::vector<ca_record>> list_cas(const std::string& tenant);  ///< by created_at, id
  result<std::vector<ca_record>> list_all_cas();                       ///< by tenant, created_at, id
  result<ca_record> get_ca(const std::string& tenant, const std::string& id);  ///< not_found
  result<void> delete_ca(const std::string& tenant, const std::string& id);    ///< not_found

  // ---- bindings and agents (agents.cpp, SPEC §4.1, §4.3) ---------------------
  /// In ONE IMMEDIATE transaction: an existing binding of (tenant, client_id)
  /// with the same subject returns its agent (created=false, last_seen_at=now);
  /// with another subject → conflict. A subject already bound to another
  /// client id of the tenant → conflict. A tenant with >= quota agents →
  /// quota_exceeded. Otherwise creates asset + agent + binding (created=true).
  /// Errors also: not_found (tenant), invalid_argument (empty client id / subject).
  result<provision_outcome> bind_or_provision(const std::string& tenant, const std::string& client_id,
                                              const std::string& subject_dn, const std::string& cert_sha256,
                                              std::size_t agents_per_tenant_quota, std::int64_t now);
  /// Many bind_or_provision decisions in ONE transaction (group commit of a
  /// connect storm). Each request gets its own outcome (conflict, quota, ...);
  /// an SQLite failure fails the whole batch and nothing of it is kept.
  result<std::vector<result<provision_outcome>>> bind_or_provision_batch(const std::vector<provision_request>& requests,
                                                                          std::size_t agents_per_tenant_quota,
                                                                          std::int64_t now);
  result<std::vector<binding_record>> list_bindings();  ///< by tenant, client_id
  result<std::vector<agent_record>> list_agents(const std::string& tenant);  ///< by created_at, id
  /// One page of list_agents: at most `limit` agents (0 = no limit) after the agent `after`
  /// (none = from the first) in that order. not_found when `after` is no agent of the tenant.
  result<std::vector<agent_record>> list_agents(const std::string& tenant, const std::optional<std::string>& after,
                                                std::size_t limit);
  result<agent_record> get_agent(const std::string& tenant, const std::string& id);  ///< not_found
  result<agent_record> find_agent_by_client_id(const std::string& tenant,
                                               const std::string& client_id);  ///< not_found
  /// Deletes agent, asset, binding and the client's persistent session; the
  /// client id is free again. Returns the freed client id. Errors: not_found.
  result<std::string> delete_agent(const std::string& tenant, const std::string& id);
  result<std::int64_t> count_agents(const std::string& tenant);
  /// Batch last-seen update, one transaction: each agent's last_seen_at becomes `at` unless it
  /// is already later (entries may arrive out of order); unknown clients are ignored.
  result<void> touch_agents(const std::vector<agent_seen>& seen);

  // ---- admin tokens (tokens.cpp) ---------------------------------------------
  /// Stores the SHA-256 hex of a token (never the token). Scope: a tenant, or
  /// global when empty. Errors: conflict (hash exists), not_found (tenant),
  /// invalid_argument (hash not 64 lowercase hex).
  result<void> add_admin_token(const std::string& sha256_hex, const std::optional<std::string>& tenant,
                               std::int64_t now);
  /// The token's scope: a tenant id, or nullopt for a global token. Errors: not_found.
  result<std::optional<std::string>> find_admin_token(const std::string& sha256_hex);

  // ---- persistent sessions (sessions.cpp, session_ops.cpp) -------------------
  result<void> upsert_session(const session_record& session);
  result<void> delete_session(const std::string& tenant, const std::string& client_id);  ///< not_found
  /// Replaces all subscriptions of the session. Errors: not_found (session).
  result<void> set_subscriptions(const std::string& tenant, const std::string& client_id,
                                 const std::vector<subscription>& subs);
  result<void> add_subscription(const std::string& tenant, const std::string& client_id,
                                const subscription& sub);  ///< not_found (session)
  result<void> remove_subscription(const std::string& tenant, const std::string& client_id,
                                   const std::string& filter);  ///< not_found (subscription)
  /// Sessions not expired at `now`, with subscriptions and non-expired queued
  /// messages in order, read in one consistent snapshot.
  result<session_snapshot> load_sessions(std::int64_t now);
  /// Clean shutdown, after the last commit: marks `sent` (entries sent at least once, or that
  /// might have been) dup, then records that every entry's dup flag is exact; one transaction.
  result<void> record_clean_shutdown(const std::vector<queue_entry_ref>& sent);
  /// Start-up, before load_sessions: whether the last run ended with record_clean_shutdown
  /// (then a queue entry without dup was never sent); clears the record, so that a crash of
  /// this run is not taken for a clean shutdown.
  result<bool> take_clean_shutdown();
  /// The largest message id ever stored that still exists (0 when none): the
  /// broker continues its own message-id sequence above it after a restart.
  result<std::int64_t> max_message_id();
  /// Executes all `ops` in order in ONE transaction (group commit): all or
  /// nothing. Ops on missing sessions/entries are skipped (counted), not errors.
  /// Errors: invalid_argument (qos > 2, empty ids, packet id 0), conflict (a
  /// packet id already in flight for another entry of the session), io, busy.
  result<apply_result> apply(const std::vector<session_op>& ops);

  // ---- maintenance (maintenance.cpp) -----------------------------------------
  /// In one transaction: deletes sessions and messages whose expires_at <= now,
  /// registration codes whose expires_at <= now, and messages no queue references.
  result<cleanup_result> cleanup(std::int64_t now);
  /// WAL checkpoint. truncate resets the WAL file; errc::busy when readers prevented it.
  result<void> checkpoint(checkpoint_mode mode = checkpoint_mode::passive);
  result<store_stats> stats();

 private:
  explicit database(std::unique_ptr<detail::connection> conn) noexcept;
  std::unique_ptr<detail::connection> conn_;
};

}  // namespace portcullis::store
