#pragma once
/*
 * Private helpers other store files use to check a tenant inside their own
 * transaction.
 */

#include "connection.hpp"

#include <string>

namespace portcullis::store::detail {

/// Ok when the tenant exists; errc::not_found (recorded) otherwise.
result<void> require_tenant(connection& conn, const std::string& tenant);

}  // namespace portcullis::store::detail
