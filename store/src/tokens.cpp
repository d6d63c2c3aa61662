/*
 * Admin tokens, stored only as the SHA-256 hex of the token.
 *
 * Rules enforced here: the hash is 64 lowercase hex chars; a token is scoped
 * to one existing tenant or global (NULL tenant); lookup is by the hash's
 * primary-key index (a 256-bit random token's hash is not guessable, and the
 * broker hashes what it is presented with before asking).
 */
#include "portcullis/store/database.hpp"

#include "connection.hpp"
#include "ids.hpp"
#include "tenants.hpp"

namespace portcullis::store {

result<void> database::add_admin_token(const std::string& sha256_hex, const std::optional<std::string>& tenant,
                                       std::int64_t now) {
  if (!detail::is_lower_hex(sha256_hex, 64)) {
    return conn_->fail(errc::invalid_argument, "store: token hash must be 64 lowercase hex chars");
  }
  auto tx = detail::transaction::begin(*conn_);
  if (!tx) {
    return tx.error();
  }
  if (tenant) {
    if (auto found = detail::require_tenant(*conn_, *tenant); !found) {
      return found;
    }
  }
  auto done = conn_->exec("INSERT INTO admin_tokens (hash, tenant, created_at) VALUES (?, ?, ?)", sha256_hex,
                          tenant, now);
  if (!done) {
    if (done.error() == errc::conflict) {
      return conn_->fail(errc::conflict, "store: token hash exists");
    }
    return done;
  }
  return tx->commit();
}

result<std::optional<std::string>> database::find_admin_token(const std::string& sha256_hex) {
  // A NULL tenant: the token is not bound to one tenant.
  auto found = conn_->first<std::optional<std::string>>(
      [](const detail::statement& st) {
        return st.is_null(0) ? std::optional<std::string>{} : std::optional<std::string>{st.get_text(0)};
      },
      "SELECT tenant FROM admin_tokens WHERE hash = ?", sha256_hex);
  if (!found) {
    return found.error();
  }
  if (!*found) {
    return conn_->fail(errc::not_found, "store: unknown admin token");
  }
  return std::move(**found);
}

}  // namespace portcullis::store
