#pragma once
/*
 * Schema versioning (private): reading the stored version and applying the
 * forward migrations. See migrations.cpp for the schema itself.
 */

#include "connection.hpp"
#include "portcullis/store/migration.hpp"

#include <span>

namespace portcullis::store::detail {

/// The version in `schema_version`, 0 for a fresh file (table missing or empty).
result<int> read_schema_version(connection& conn);

/// Applies every step newer than the stored version, in order, each in its own
/// IMMEDIATE transaction (re-reading the version inside it, so two processes
/// opening the same fresh file do not both migrate). Errors: schema_too_new,
/// invalid_argument (steps not 1, 2, 3, ...).
result<void> apply_migrations(connection& conn, std::span<const migration> steps);

}  // namespace portcullis::store::detail
