/*
 * Tenant CA certificates (SPEC §4.4).
 *
 * Rules enforced here: the caller has verified the certificate and the proof
 * of possession; the store enforces that the tenant exists, that the SHA-256
 * fingerprint (64 lowercase hex) is registered at most once across ALL
 * tenants (errc::conflict), and generates the CA id (16 hex chars) when the
 * caller leaves it empty. add_ca_with_code consumes the registration code and
 * inserts in one transaction so a refused CA does not burn the code. Reads
 * and deletes are always scoped by tenant.
 */
#include "portcullis/store/database.hpp"

#include "connection.hpp"
#include "ids.hpp"
#include "registration_codes.hpp"
#include "tenants.hpp"

namespace portcullis::store {
namespace {

ca_record read_ca(const detail::statement& st) {
  ca_record ca;
  ca.id = st.get_text(0);
  ca.tenant = st.get_text(1);
  ca.der = st.get_blob(2);
  ca.sha256 = st.get_text(3);
  ca.subject = st.get_text(4);
  ca.not_before = st.get_int64(5);
  ca.not_after = st.get_int64(6);
  ca.created_at = st.get_int64(7);
  return ca;
}

/// Validates and inserts inside the caller's transaction.
result<ca_record> insert_ca(detail::connection& conn, ca_record record) {
  if (!detail::is_lower_hex(record.sha256, 64)) {
    return conn.fail(errc::invalid_argument, "store: CA sha256 must be 64 lowercase hex chars");
  }
  if (record.der.empty()) {
    return conn.fail(errc::invalid_argument, "store: empty CA certificate");
  }
  if (auto found = detail::require_tenant(conn, record.tenant); !found) {
    return found.error();
  }
  {
    auto taken = conn.first<std::string>([](detail::statement& st) { return st.get_text(0); },
                                         "SELECT tenant FROM cas WHERE sha256 = ?", record.sha256);
    if (!taken) {
      return taken.error();
    }
    if (*taken) {
      return conn.fail(errc::conflict, "store: CA " + record.sha256 + " is already registered");
    }
  }
  if (record.id.empty()) {
    record.id = detail::random_hex(8);
  }
  auto done = conn.exec(
      "INSERT INTO cas (id, tenant, der, sha256, subject, not_before, not_after, created_at)"
      " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      record.id, record.tenant, record.der, record.sha256, record.subject, record.not_before, record.not_after,
      record.created_at);
  if (!done) {
    return done.error();
  }
  return record;
}

}  // namespace

result<ca_record> database::add_ca(ca_record record) {
  auto tx = detail::transaction::begin(*conn_);
  if (!tx) {
    return tx.error();
  }
  auto added = insert_ca(*conn_, std::move(record));
  if (!added) {
    return added;
  }
  if (auto done = tx->commit(); !done) {
    return done.error();
  }
  return added;
}

result<ca_record> database::add_ca_with_code(ca_record record, const std::string& code, std::int64_t now) {
  auto tx = detail::transaction::begin(*conn_);
  if (!tx) {
    return tx.error();
  }
  if (auto consumed = detail::consume_code(*conn_, record.tenant, code, now); !consumed) {
    return consumed.error();
  }
  auto added = insert_ca(*conn_, std::move(record));
  if (!added) {
    return added;  // the transaction rolls back: the code stays unused
  }
  if (auto done = tx->commit(); !done) {
    return done.error();
  }
  return added;
}

result<std::vector<ca_record>> database::list_cas(const std::string& tenant) {
  return conn_->collect<ca_record>(read_ca,
                                   "SELECT id, tenant, der, sha256, subject, not_before, not_after, created_at FROM cas"
                                   " WHERE tenant = ? ORDER BY created_at, id",
                                   tenant);
}

result<std::vector<ca_record>> database::list_all_cas() {
  return conn_->collect<ca_record>(read_ca,
                                   "SELECT id, tenant, der, sha256, subject, not_before, not_after, created_at FROM cas"
                                   " ORDER BY tenant, created_at, id");
}

result<ca_record> database::get_ca(const std::string& tenant, const std::string& id) {
  auto ca = conn_->first<ca_record>(
      read_ca,
      "SELECT id, tenant, der, sha256, subject, not_before, not_after, created_at FROM cas"
      " WHERE tenant = ? AND id = ?",
      tenant, id);
  if (!ca) {
    return ca.error();
  }
  if (!*ca) {
    return conn_->fail(errc::not_found, "store: no CA '" + id + "' for tenant '" + tenant + "'");
  }
  return std::move(**ca);
}

result<void> database::delete_ca(const std::string& tenant, const std::string& id) {
  if (auto done = conn_->exec("DELETE FROM cas WHERE tenant = ? AND id = ?", tenant, id); !done) {
    return done;
  }
  if (conn_->changes() == 0) {
    return conn_->fail(errc::not_found, "store: no CA '" + id + "' for tenant '" + tenant + "'");
  }
  return {};
}

}  // namespace portcullis::store
