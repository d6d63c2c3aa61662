/*
 * Registration codes for CA proof of possession (SPEC §4.4).
 *
 * Rules enforced here: a code belongs to one tenant and is unique across all
 * tenants; it can be consumed once (the UPDATE is guarded by `used_at IS NULL`
 * inside an IMMEDIATE transaction, so of two racing consumers exactly one
 * wins); it is expired from `expires_at` on (now >= expires_at); another
 * tenant's code is reported as not_found, so a tenant learns nothing about
 * other tenants' codes. Expired codes are pruned by database::cleanup.
 */
#include "registration_codes.hpp"

#include "portcullis/store/database.hpp"
#include "tenants.hpp"

namespace portcullis::store {

namespace detail {

result<void> consume_code(connection& conn, const std::string& tenant, const std::string& code,
                          std::int64_t now) {
  struct code_row {
    std::string tenant;
    std::int64_t expires_at;
    bool used;
  };
  auto row = conn.first<code_row>(
      [](statement& st) { return code_row{st.get_text(0), st.get_int64(1), !st.is_null(2)}; },
      "SELECT tenant, expires_at, used_at FROM registration_codes WHERE code = ?", code);
  if (!row) {
    return row.error();
  }
  if (!*row || (*row)->tenant != tenant) {
    return conn.fail(errc::not_found, "store: no such registration code for tenant '" + tenant + "'");
  }
  if ((*row)->used) {
    return conn.fail(errc::already_used, "store: registration code already used");
  }
  if (now >= (*row)->expires_at) {
    return conn.fail(errc::expired, "store: registration code expired");
  }
  if (auto done = conn.exec("UPDATE registration_codes SET used_at = ? WHERE code = ? AND used_at IS NULL", now,
                            code);
      !done) {
    return done;
  }
  if (conn.changes() != 1) {
    // Unreachable under the IMMEDIATE transaction; kept as a guard, not an assert.
    return conn.fail(errc::already_used, "store: registration code already used");
  }
  return {};
}

}  // namespace detail

result<void> database::create_registration_code(const std::string& tenant, const std::string& code,
                                                std::int64_t expires_at) {
  if (code.empty()) {
    return conn_->fail(errc::invalid_argument, "store: empty registration code");
  }
  auto tx = detail::transaction::begin(*conn_);
  if (!tx) {
    return tx.error();
  }
  if (auto found = detail::require_tenant(*conn_, tenant); !found) {
    return found;
  }
  auto done = conn_->exec("INSERT INTO registration_codes (code, tenant, expires_at) VALUES (?, ?, ?)", code,
                          tenant, expires_at);
  if (!done) {
    if (done.error() == errc::conflict) {
      return conn_->fail(errc::conflict, "store: registration code exists");
    }
    return done;
  }
  return tx->commit();
}

result<void> database::consume_registration_code(const std::string& tenant, const std::string& code,
                                                 std::int64_t now) {
  auto tx = detail::transaction::begin(*conn_);
  if (!tx) {
    return tx.error();
  }
  if (auto done = detail::consume_code(*conn_, tenant, code, now); !done) {
    return done;
  }
  return tx->commit();
}

}  // namespace portcullis::store
