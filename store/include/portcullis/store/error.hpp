#pragma once
// Store errors as values (STYLE §c16): every fallible store call returns
// `store::result<T>` (boost::system::result) whose error_code lives in the
// store category below. The enum is usable as both a boost::system and a
// std error code enum. The SQLite detail behind an error is kept on the
// database object (`database::last_error()`), never in the code itself.

#include <boost/system/error_category.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/is_error_code_enum.hpp>
#include <boost/system/result.hpp>

#include <string_view>
#include <system_error>
#include <type_traits>

namespace portcullis::store {

/// What went wrong, independent of SQLite's own codes.
enum class errc {
  not_found = 1,     ///< no such row (or it belongs to another tenant)
  conflict,          ///< uniqueness or binding rule violated
  quota_exceeded,    ///< the tenant's agent quota is used up
  expired,           ///< the row exists but its expiry time has passed
  already_used,      ///< a single-use row (registration code) was consumed before
  invalid_argument,  ///< the caller passed a value the store refuses (empty id, bad hex, qos > 2)
  busy,              ///< SQLITE_BUSY/LOCKED after the busy timeout
  io,                ///< I/O failure, disk full, read-only file, cannot open
  corrupt,           ///< the file is not a database or is damaged
  schema_too_new,    ///< the file was written by a newer Portcullis
  internal,          ///< anything else (a bug)
};

/// The store error category (name "portcullis.store"). Thread-safety: safe.
const boost::system::error_category& store_category() noexcept;

/// Makes an error_code in the store category. Thread-safety: safe.
boost::system::error_code make_error_code(errc e) noexcept;

/// Stable, loggable name, e.g. "store.not_found". Thread-safety: safe.
std::string_view name_of(errc e) noexcept;

/// Result type of every fallible store operation.
template <class T>
using result = boost::system::result<T>;

}  // namespace portcullis::store

template <>
struct boost::system::is_error_code_enum<portcullis::store::errc> : std::true_type {};

template <>
struct std::is_error_code_enum<portcullis::store::errc> : std::true_type {};
