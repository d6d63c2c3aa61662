#pragma once
/*
 * Private SQLite plumbing shared by every store source file: the connection
 * (handle, prepared-statement cache, last error), the borrowed `statement`
 * (bind / step / read columns; reset and unbound on destruction) and the RAII
 * `transaction` (BEGIN IMMEDIATE by default; rolls back unless committed).
 *
 * Rules enforced here:
 *  - SQL text is a string literal with `?` parameters; user data is only ever
 *    bound, never concatenated. The cache is keyed by the literal's address
 *    range, so the text must have static storage.
 *  - Statements are prepared once with SQLITE_PREPARE_PERSISTENT and reused.
 *  - Every SQLite failure is mapped to a store::errc and its message recorded.
 */

#include "portcullis/store/error.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <sqlite3.h>

namespace portcullis::store::detail {

class connection;

/// A cached prepared statement borrowed for one use. Thread-safety: as its connection.
class statement {
 public:
  statement(connection& conn, sqlite3_stmt* stmt) noexcept : conn_(&conn), stmt_(stmt) {}
  statement(statement&& other) noexcept;
  statement(const statement&) = delete;
  statement& operator=(const statement&) = delete;
  statement& operator=(statement&&) = delete;
  ~statement();

  void bind(int index, std::int64_t value) noexcept;
  void bind(int index, std::string_view value) noexcept;
  void bind(int index, std::span<const std::uint8_t> value) noexcept;
  void bind(int index, std::nullopt_t) noexcept;
  template <class T>
  void bind(int index, const std::optional<T>& value) noexcept {
    if (value) {
      bind(index, *value);
    } else {
      bind(index, std::nullopt);
    }
  }
  template <class... Args>
  void bind_all(const Args&... args) noexcept {
    int index = 0;
    (bind(++index, args), ...);
  }

  /// One step: true = a row is ready, false = done. Failures are recorded on the connection.
  result<bool> step();
  /// Steps to completion (statements that return no rows).
  result<void> run();

  bool is_null(int column) const noexcept;
  std::int64_t get_int64(int column) const noexcept;
  std::optional<std::int64_t> get_optional_int64(int column) const noexcept;
  std::string get_text(int column) const;
  std::vector<std::uint8_t> get_blob(int column) const;

 private:
  connection* conn_;
  sqlite3_stmt* stmt_;
  int bind_rc_ = SQLITE_OK;  // first bind failure, reported by step()
};

/// Owns one sqlite3 handle. Thread-safety: one thread at a time.
class connection {
 public:
  /// Opens the file; pragmas and migrations are applied by database::open.
  static result<std::unique_ptr<connection>> open(const std::string& path, bool read_only,
                                                  int busy_timeout_ms, std::string& error_detail);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  /// Borrows the cached statement for `sql` (a string literal), preparing it once.
  result<statement> prepare(std::string_view sql);

  /// Prepares and binds `args` as ?1, ?2, ...
  template <class... Args>
  result<statement> query(std::string_view sql, const Args&... args) {
    auto st = prepare(sql);
    if (st) {
      st->bind_all(args...);
    }
    return st;
  }

  /// Runs a query and calls `visit(row)` for every row, in order.
  template <class Visit, class... Args>
  result<void> each(Visit&& visit, std::string_view sql, const Args&... args) {
    auto st = query(sql, args...);
    if (!st) {
      return st.error();
    }
    for (;;) {
      auto row = st->step();
      if (!row) {
        return row.error();
      }
      if (!*row) {
        return {};
      }
      visit(*st);
    }
  }

  /// Runs a query and returns `read(row)` for every row, in order.
  template <class T, class Read, class... Args>
  result<std::vector<T>> collect(Read&& read, std::string_view sql, const Args&... args) {
    std::vector<T> out;
    if (auto done = each([&](statement& st) { out.push_back(read(st)); }, sql, args...); !done) {
      return done.error();
    }
    return out;
  }

  /// Runs a query and returns `read(row)` for its first row, or nothing when it has none.
  template <class T, class Read, class... Args>
  result<std::optional<T>> first(Read&& read, std::string_view sql, const Args&... args) {
    auto st = query(sql, args...);
    if (!st) {
      return st.error();
    }
    auto row = st->step();
    if (!row) {
      return row.error();
    }
    if (!*row) {
      return std::optional<T>();
    }
    return std::optional<T>(read(*st));
  }

  /// The first column of an aggregate query that yields one integer (count(*), coalesce(max(...), 0)).
  template <class... Args>
  result<std::int64_t> int64_of(std::string_view sql, const Args&... args) {
    auto value = first<std::int64_t>([](statement& st) { return st.get_int64(0); }, sql, args...);
    if (!value) {
      return value.error();
    }
    return value->value_or(0);
  }

  /// Prepares, binds and runs a statement that returns no rows.
  template <class... Args>
  result<void> exec(std::string_view sql, const Args&... args) {
    auto st = query(sql, args...);
    if (!st) {
      return st.error();
    }
    return st->run();
  }

  /// Runs constant SQL text (pragmas, DDL) with sqlite3_exec; never user data.
  result<void> exec_script(const char* sql);

  /// Rows changed by the last INSERT/UPDATE/DELETE.
  std::int64_t changes() const noexcept;
  std::int64_t last_insert_rowid() const noexcept;

  /// Records `message` as the last error and returns the code.
  boost::system::error_code fail(errc code, std::string message);
  /// Maps an SQLite result code, records its message with `context`.
  boost::system::error_code fail_sqlite(int rc, std::string_view context);

  const std::string& last_error() const noexcept { return last_error_; }
  const std::string& path() const noexcept { return path_; }
  sqlite3* handle() const noexcept { return db_; }

 private:
  connection(sqlite3* db, std::string path) noexcept : db_(db), path_(std::move(path)) {}

  struct stmt_deleter {
    void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
  };

  sqlite3* db_;
  std::string path_;
  std::string last_error_;
  // Keyed by the SQL literal; the literal outlives the cache.
  std::unordered_map<std::string_view, std::unique_ptr<sqlite3_stmt, stmt_deleter>> cache_;
};

/// Maps an SQLite (extended) result code to a store error.
errc map_sqlite_error(int rc) noexcept;

/// RAII transaction: rolls back on destruction unless committed. Thread-safety: as its connection.
class transaction {
 public:
  enum class kind { deferred, immediate };

  static result<transaction> begin(connection& conn, kind k = kind::immediate);
  transaction(transaction&& other) noexcept : conn_(std::exchange(other.conn_, nullptr)) {}
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;
  transaction& operator=(transaction&&) = delete;
  ~transaction();

  result<void> commit();

 private:
  explicit transaction(connection& conn) noexcept : conn_(&conn) {}
  connection* conn_;  // null once committed or rolled back
};

}  // namespace portcullis::store::detail
