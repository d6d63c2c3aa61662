/*
 * SQLite connection, statement cache, statement and transaction wrappers.
 *
 * Rules enforced here:
 *  - Connections are opened with SQLITE_OPEN_NOMUTEX: one connection is only
 *    ever used by one thread at a time, so SQLite's per-connection mutex would
 *    be pure overhead (the library must still be built thread-safe, checked).
 *  - Extended result codes are on so constraint kinds can be told apart.
 *  - A borrowed statement is always reset and its bindings cleared when it goes
 *    out of scope, so a cached statement never holds a read lock or user data.
 *  - A transaction not committed is rolled back in its destructor.
 */
#include "connection.hpp"

#include <cassert>
#include <utility>

namespace portcullis::store::detail {

// ---- statement ------------------------------------------------------------------

statement::statement(statement&& other) noexcept
    : conn_(other.conn_), stmt_(std::exchange(other.stmt_, nullptr)), bind_rc_(other.bind_rc_) {}

statement::~statement() {
  if (stmt_ != nullptr) {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
}

namespace {
void keep_first(int& slot, int rc) noexcept {
  if (slot == SQLITE_OK && rc != SQLITE_OK) {
    slot = rc;
  }
}
}  // namespace

void statement::bind(int index, std::int64_t value) noexcept {
  keep_first(bind_rc_, sqlite3_bind_int64(stmt_, index, value));
}

void statement::bind(int index, std::string_view value) noexcept {
  // SQLITE_TRANSIENT: SQLite copies, so temporaries passed in are safe.
  keep_first(bind_rc_, sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT,
                                           SQLITE_UTF8));
}

void statement::bind(int index, std::span<const std::uint8_t> value) noexcept {
  // A zero-length blob must still be a blob, not NULL: data() may be null.
  static constexpr std::uint8_t empty = 0;
  const void* data = value.empty() ? &empty : value.data();
  keep_first(bind_rc_, sqlite3_bind_blob64(stmt_, index, data, value.size(), SQLITE_TRANSIENT));
}

void statement::bind(int index, std::nullopt_t) noexcept {
  keep_first(bind_rc_, sqlite3_bind_null(stmt_, index));
}

result<bool> statement::step() {
  if (bind_rc_ != SQLITE_OK) {
    // in_place_error: bool is constructible from error_code, so be explicit.
    return {boost::system::in_place_error, conn_->fail_sqlite(bind_rc_, sqlite3_sql(stmt_))};
  }
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) {
    return true;
  }
  if (rc == SQLITE_DONE) {
    return false;
  }
  return {boost::system::in_place_error, conn_->fail_sqlite(rc, sqlite3_sql(stmt_))};
}

result<void> statement::run() {
  for (;;) {
    auto row = step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return {};
    }
  }
}

bool statement::is_null(int column) const noexcept {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t statement::get_int64(int column) const noexcept {
  return sqlite3_column_int64(stmt_, column);
}

std::optional<std::int64_t> statement::get_optional_int64(int column) const noexcept {
  if (is_null(column)) {
    return std::nullopt;
  }
  return get_int64(column);
}

std::string statement::get_text(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  const int size = sqlite3_column_bytes(stmt_, column);  // after _text, as SQLite requires
  if (text == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(text), static_cast<std::size_t>(size));
}

std::vector<std::uint8_t> statement::get_blob(int column) const {
  const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(stmt_, column));
  const int size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr) {
    return {};
  }
  return std::vector<std::uint8_t>(data, data + size);
}

// ---- connection -----------------------------------------------------------------

result<std::unique_ptr<connection>> connection::open(const std::string& path, bool read_only,
                                                     int busy_timeout_ms, std::string& error_detail) {
  if (sqlite3_threadsafe() == 0) {
    error_detail = "SQLite was built without thread support (SQLITE_THREADSAFE=0)";
    return make_error_code(errc::internal);
  }
  // Process-wide, once, before SQLite initialises: no allocation statistics. With
  // them on, every sqlite3_malloc/free takes a global mutex (≈10 % of the store
  // thread's time under group commit) for figures nothing here reads.
  static const bool configured = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);  // SQLITE_MISUSE if already initialised: harmless
    return sqlite3_initialize() == SQLITE_OK;
  }();
  if (!configured) {
    error_detail = "sqlite3_initialize failed";
    return make_error_code(errc::internal);
  }
  const int flags = (read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) |
                    SQLITE_OPEN_NOMUTEX;
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    error_detail = "open " + path + ": " + (db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close_v2(db);  // a handle is returned even on most failures
    return make_error_code(map_sqlite_error(rc));
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, busy_timeout_ms);
  return std::unique_ptr<connection>(new connection(db, path));
}

connection::~connection() {
  cache_.clear();  // finalize every statement before closing
  sqlite3_close_v2(db_);
}

result<statement> connection::prepare(std::string_view sql) {
  auto found = cache_.find(sql);
  if (found == cache_.end()) {
    sqlite3_stmt* raw = nullptr;
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &raw, &tail);
    if (rc != SQLITE_OK) {
      return fail_sqlite(rc, sql);
    }
    std::unique_ptr<sqlite3_stmt, stmt_deleter> owned(raw);
    if (raw == nullptr || (tail != nullptr && tail != sql.data() + sql.size())) {
      return fail(errc::internal, "store: statement is empty or has trailing SQL: " + std::string(sql));
    }
    found = cache_.emplace(sql, std::move(owned)).first;
  }
  // Invariant: a cached statement is borrowed by one user at a time (a nested
  // borrow of the same SQL would reset the outer one's cursor).
  assert(sqlite3_stmt_busy(found->second.get()) == 0);
  return statement(*this, found->second.get());
}

result<void> connection::exec_script(const char* sql) {
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, sql, nullptr, nullptr, &message);
  if (rc != SQLITE_OK) {
    std::string text = message != nullptr ? message : sqlite3_errstr(rc);
    sqlite3_free(message);
    return fail(map_sqlite_error(rc), std::string(sql).substr(0, 80) + ": " + text);
  }
  return {};
}

std::int64_t connection::changes() const noexcept { return sqlite3_changes64(db_); }

std::int64_t connection::last_insert_rowid() const noexcept { return sqlite3_last_insert_rowid(db_); }

boost::system::error_code connection::fail(errc code, std::string message) {
  last_error_ = std::move(message);
  return make_error_code(code);
}

boost::system::error_code connection::fail_sqlite(int rc, std::string_view context) {
  std::string message(context.substr(0, 120));
  message += ": ";
  message += sqlite3_errmsg(db_);
  message += " (sqlite ";
  message += std::to_string(rc);
  message += ')';
  return fail(map_sqlite_error(rc), std::move(message));
}

errc map_sqlite_error(int rc) noexcept {
  switch (rc) {
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return errc::not_found;
    case SQLITE_CONSTRAINT_CHECK:
    case SQLITE_CONSTRAINT_NOTNULL:
      return errc::invalid_argument;
    default:
      break;
  }
  switch (rc & 0xff) {
    case SQLITE_CONSTRAINT:
      return errc::conflict;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return errc::busy;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
    case SQLITE_PERM:
      return errc::io;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return errc::corrupt;
    case SQLITE_TOOBIG:
    case SQLITE_RANGE:
    case SQLITE_MISMATCH:
      return errc::invalid_argument;
    default:
      return errc::internal;
  }
}

// ---- transaction ----------------------------------------------------------------

result<transaction> transaction::begin(connection& conn, kind k) {
  auto begun = k == kind::immediate ? conn.exec("BEGIN IMMEDIATE") : conn.exec("BEGIN DEFERRED");
  if (!begun) {
    return begun.error();
  }
  return transaction(conn);
}

result<void> transaction::commit() {
  connection* conn = std::exchange(conn_, nullptr);
  auto done = conn->exec("COMMIT");
  if (!done) {
    // A failed COMMIT (e.g. SQLITE_BUSY) leaves the transaction open: undo it.
    if (sqlite3_get_autocommit(conn->handle()) == 0) {
      (void)conn->exec("ROLLBACK");
    }
    return done.error();
  }
  return {};
}

transaction::~transaction() {
  if (conn_ != nullptr && sqlite3_get_autocommit(conn_->handle()) == 0) {
    // Keep the error that made us roll back, not the rollback's own status.
    std::string saved = conn_->last_error();
    (void)conn_->exec("ROLLBACK");
    (void)conn_->fail(errc::internal, std::move(saved));
  }
}

}  // namespace portcullis::store::detail
