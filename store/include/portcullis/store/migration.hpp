#pragma once
// Forward-only schema migrations. Each step has a version (1, 2, 3, ... with no
// gaps) and constant DDL; `database::open` applies the steps newer than the
// file's `schema_version` in order, each inside its own IMMEDIATE transaction,
// and refuses a file whose version is newer than the last known step.

#include <span>
#include <string_view>

namespace portcullis::store {

struct migration {
  int version = 0;
  std::string_view description;
  std::string_view sql;  ///< constant DDL, may hold several statements; never user data
};

/// The migrations this build knows, ascending. Thread-safety: safe.
std::span<const migration> builtin_migrations() noexcept;

/// The schema version this build writes (the last builtin step). Thread-safety: safe.
int latest_schema_version() noexcept;

}  // namespace portcullis::store
