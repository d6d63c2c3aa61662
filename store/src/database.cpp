/*
 * Opening a database: connection flags, pragmas, migrations.
 *
 * Rules enforced here:
 *  - journal_mode=WAL (checked: a file system without WAL support is an error),
 *    foreign_keys=ON, synchronous=NORMAL or FULL, a busy timeout; temp data in memory.
 *  - A read-write open brings the schema to the newest known version; a file
 *    with a newer version is refused (schema_too_new) and left untouched.
 *  - A read-only open writes nothing and requires the schema to be current.
 */
#include "portcullis/store/database.hpp"

#include "connection.hpp"
#include "schema.hpp"

#include <string>

namespace portcullis::store {
namespace {

result<void> apply_pragmas(detail::connection& conn, const options& opts) {
  if (auto done = conn.exec_script("PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;"); !done) {
    return done;
  }
  if (opts.read_only) {
    return {};
  }
  auto mode = conn.first<std::string>([](detail::statement& st) { return st.get_text(0); }, "PRAGMA journal_mode = WAL");
  if (!mode) {
    return mode.error();
  }
  if (const std::string got = mode->value_or(""); got != "wal") {
    return conn.fail(errc::io, "store: journal_mode WAL not available (got '" + got + "')");
  }
  return conn.exec_script(opts.synchronous == synchronous_mode::full ? "PRAGMA synchronous = FULL"
                                                                     : "PRAGMA synchronous = NORMAL");
}

result<void> check_read_only_schema(detail::connection& conn, const options& opts) {
  auto version = detail::read_schema_version(conn);
  if (!version) {
    return version.error();
  }
  const int known = static_cast<int>(opts.migrations.size());
  if (*version > known) {
    return conn.fail(errc::schema_too_new, "store: database schema version " + std::to_string(*version) +
                                               " is newer than this build's " + std::to_string(known));
  }
  if (*version < known) {
    return conn.fail(errc::invalid_argument,
                     "store: read-only open of a database that is not migrated; open it read-write first");
  }
  return {};
}

}  // namespace

database::database(std::unique_ptr<detail::connection> conn) noexcept : conn_(std::move(conn)) {}

database::~database() = default;

result<std::unique_ptr<database>> database::open(const std::string& path, const options& opts,
                                                 std::string* error_detail) {
  std::string detail_text;
  auto conn = detail::connection::open(path, opts.read_only, opts.busy_timeout_ms, detail_text);
  if (!conn) {
    if (error_detail != nullptr) {
      *error_detail = std::move(detail_text);
    }
    return conn.error();
  }
  detail::connection& c = **conn;
  auto ready = apply_pragmas(c, opts);
  if (ready) {
    ready = opts.read_only ? check_read_only_schema(c, opts) : detail::apply_migrations(c, opts.migrations);
  }
  if (!ready) {
    if (error_detail != nullptr) {
      *error_detail = c.last_error();
    }
    return ready.error();
  }
  return std::unique_ptr<database>(new database(std::move(*conn)));
}

const std::string& database::last_error() const noexcept { return conn_->last_error(); }

const std::string& database::path() const noexcept { return conn_->path(); }

result<int> database::schema_version() { return detail::read_schema_version(*conn_); }

}  // namespace portcullis::store
