/*
 * Tenants: create, list, existence check, delete with everything they own.
 *
 * Rules enforced here: tenant ids are non-empty and unique (the admin API
 * validates their character set); deleting a tenant removes its codes, CAs,
 * assets, agents, bindings and tokens (foreign-key cascades) plus its sessions
 * and messages (explicit deletes, they have no foreign key) in one transaction.
 */
#include "portcullis/store/database.hpp"

#include "connection.hpp"
#include "tenants.hpp"

namespace portcullis::store {

namespace detail {

result<void> require_tenant(connection& conn, const std::string& tenant) {
  auto found = conn.first<int>([](const statement&) { return 1; }, "SELECT 1 FROM tenants WHERE id = ?", tenant);
  if (!found) {
    return found.error();
  }
  if (!*found) {
    return conn.fail(errc::not_found, "store: no tenant '" + tenant + "'");
  }
  return {};
}

}  // namespace detail

result<void> database::create_tenant(const std::string& id, std::int64_t now) {
  if (id.empty()) {
    return conn_->fail(errc::invalid_argument, "store: empty tenant id");
  }
  auto done = conn_->exec("INSERT INTO tenants (id, created_at) VALUES (?, ?)", id, now);
  if (!done && done.error() == errc::conflict) {
    return conn_->fail(errc::conflict, "store: tenant '" + id + "' exists");
  }
  return done;
}

result<std::vector<tenant_record>> database::list_tenants() {
  return conn_->collect<tenant_record>([](detail::statement& st) { return tenant_record{st.get_text(0), st.get_int64(1)}; },
                               "SELECT id, created_at FROM tenants ORDER BY id");
}

result<bool> database::tenant_exists(const std::string& id) {
  auto found = detail::require_tenant(*conn_, id);
  if (found) {
    return true;
  }
  if (found.error() == errc::not_found) {
    return false;
  }
  return {boost::system::in_place_error, found.error()};
}

result<void> database::delete_tenant(const std::string& id) {
  auto tx = detail::transaction::begin(*conn_);
  if (!tx) {
    return tx.error();
  }
  if (auto found = detail::require_tenant(*conn_, id); !found) {
    return found;
  }
  // Sessions first: their queue entries release messages via the trigger; then
  // any message of the tenant still left (orphans) goes too.
  if (auto done = conn_->exec("DELETE FROM sessions WHERE tenant = ?", id); !done) {
    return done;
  }
  if (auto done = conn_->exec("DELETE FROM messages WHERE tenant = ?", id); !done) {
    return done;
  }
  // bindings → agents → assets cascade as well, but explicit order keeps it obvious.
  if (auto done = conn_->exec("DELETE FROM bindings WHERE tenant = ?", id); !done) {
    return done;
  }
  if (auto done = conn_->exec("DELETE FROM tenants WHERE id = ?", id); !done) {
    return done;
  }
  return tx->commit();
}

}  // namespace portcullis::store
