#pragma once
/*
 * Private: the single-session operations shared by the direct session API
 * (sessions.cpp) and the batch `apply` (session_ops.cpp). Each runs inside
 * the caller's transaction (or as one autocommit statement) and reports how
 * many rows it touched so callers can tell "no such session" apart.
 */

#include "connection.hpp"
#include "portcullis/store/sessions.hpp"

#include <cstdint>
#include <string>

namespace portcullis::store::detail {

/// invalid_argument when tenant or client id is empty.
result<void> check_session_key(connection& conn, const std::string& tenant, const std::string& client_id);

result<void> upsert_session(connection& conn, const session_record& session);
/// Rows deleted (0 or 1); subscriptions and queue go with it.
result<std::int64_t> delete_session(connection& conn, const std::string& tenant, const std::string& client_id);
/// Rows written; 0 when the session does not exist.
result<std::int64_t> add_subscription(connection& conn, const std::string& tenant, const std::string& client_id,
                                      const subscription& sub);
result<std::int64_t> remove_subscription(connection& conn, const std::string& tenant, const std::string& client_id,
                                         const std::string& filter);

}  // namespace portcullis::store::detail
