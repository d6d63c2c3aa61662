/*
 * The schema, as forward-only migrations, and the code that applies them.
 *
 * Schema v1 (all times are epoch seconds):
 *  tenants(id PK, created_at)
 *  registration_codes(code PK, tenant → tenants, expires_at, used_at NULL)
 *  cas(id PK, tenant → tenants, der, sha256 UNIQUE across tenants, subject, not_before, not_after, created_at)
 *  assets(id PK, tenant → tenants, name, asset_type, description, created_at)
 *  agents(id PK → assets, tenant → tenants, name, client_id, security_profile,
 *         onboarding_status, created_at, last_seen_at; UNIQUE(tenant, client_id))
 *  bindings(PK(tenant, client_id), subject_dn, cert_sha256, agent_id → agents,
 *           created_at; UNIQUE(tenant, subject_dn))
 *  admin_tokens(hash PK, tenant NULL → tenants, created_at)
 *  sessions(PK(tenant, client_id), created_at, disconnected_at, expires_at, next_packet_id)
 *  subscriptions(PK(tenant, client_id, filter) → sessions, qos)
 *  messages(id INTEGER PK, tenant, topic, payload, qos, created_at, expires_at)
 *  queue(seq INTEGER PK, tenant, client_id → sessions, message_id → messages, packet_id, dup)
 * v2-v4 (below): global client-id index, per-tenant agent count, store_state(key PK, value).
 *
 * Rules enforced by the schema: one owner per CA fingerprint; a client id and
 * a subject DN are each bound at most once per tenant; a packet id is in
 * flight at most once per session; deleting a tenant
 * cascades to everything it owns that has a foreign key; the trigger
 * `queue_release` deletes a message when its last queue entry goes (reference
 * counting), and cascades make deleting a session or message drop its entries.
 * Sessions and messages carry no foreign key to tenants: the anonymous tenant
 * need not be a created tenant.
 */
#include "schema.hpp"

#include <string>

namespace portcullis::store {
namespace {

constexpr std::string_view schema_v1 = R"sql(
CREATE TABLE tenants (
  id         TEXT PRIMARY KEY NOT NULL,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE registration_codes (
  code       TEXT PRIMARY KEY NOT NULL,
  tenant     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  expires_at INTEGER NOT NULL,
  used_at    INTEGER
) WITHOUT ROWID;
CREATE INDEX registration_codes_expires ON registration_codes(expires_at);
CREATE INDEX registration_codes_tenant ON registration_codes(tenant);

CREATE TABLE cas (
  id         TEXT PRIMARY KEY NOT NULL,
  tenant     TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  der        BLOB NOT NULL,
  sha256     TEXT NOT NULL UNIQUE,
  subject    TEXT NOT NULL,
  not_before INTEGER NOT NULL,
  not_after  INTEGER NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX cas_tenant ON cas(tenant);

CREATE TABLE assets (
  id          TEXT PRIMARY KEY NOT NULL,
  tenant      TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name        TEXT NOT NULL,
  asset_type  TEXT NOT NULL,
  description TEXT NOT NULL,
  created_at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX assets_tenant ON assets(tenant);

CREATE TABLE agents (
  id                TEXT PRIMARY KEY NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
  tenant            TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name              TEXT NOT NULL,
  client_id         TEXT NOT NULL,
  security_profile  TEXT NOT NULL,
  onboarding_status TEXT NOT NULL,
  created_at        INTEGER NOT NULL,
  last_seen_at      INTEGER NOT NULL,
  UNIQUE (tenant, client_id)
) WITHOUT ROWID;

CREATE TABLE bindings (
  tenant      TEXT NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  client_id   TEXT NOT NULL,
  subject_dn  TEXT NOT NULL,
  cert_sha256 TEXT NOT NULL,
  agent_id    TEXT NOT NULL UNIQUE REFERENCES agents(id) ON DELETE CASCADE,
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (tenant, client_id),
  UNIQUE (tenant, subject_dn)
) WITHOUT ROWID;

CREATE TABLE admin_tokens (
  hash       TEXT PRIMARY KEY NOT NULL,
  tenant     TEXT REFERENCES tenants(id) ON DELETE CASCADE,
  created_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX admin_tokens_tenant ON admin_tokens(tenant);

CREATE TABLE sessions (
  tenant          TEXT NOT NULL,
  client_id       TEXT NOT NULL,
  created_at      INTEGER NOT NULL,
  disconnected_at INTEGER,
  expires_at      INTEGER,
  next_packet_id  INTEGER NOT NULL DEFAULT 1 CHECK (next_packet_id BETWEEN 1 AND 65535),
  PRIMARY KEY (tenant, client_id)
) WITHOUT ROWID;
CREATE INDEX sessions_expires ON sessions(expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE subscriptions (
  tenant    TEXT NOT NULL,
  client_id TEXT NOT NULL,
  filter    TEXT NOT NULL,
  qos       INTEGER NOT NULL CHECK (qos BETWEEN 0 AND 2),
  PRIMARY KEY (tenant, client_id, filter),
  FOREIGN KEY (tenant, client_id) REFERENCES sessions(tenant, client_id) ON DELETE CASCADE
) WITHOUT ROWID;

CREATE TABLE messages (
  id         INTEGER PRIMARY KEY,
  tenant     TEXT NOT NULL,
  topic      TEXT NOT NULL,
  payload    BLOB NOT NULL,
  qos        INTEGER NOT NULL CHECK (qos BETWEEN 0 AND 2),
  created_at INTEGER NOT NULL,
  expires_at INTEGER
);
CREATE INDEX messages_expires ON messages(expires_at) WHERE expires_at IS NOT NULL;

CREATE TABLE queue (
  seq        INTEGER PRIMARY KEY,
  tenant     TEXT NOT NULL,
  client_id  TEXT NOT NULL,
  message_id INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
  packet_id  INTEGER CHECK (packet_id BETWEEN 1 AND 65535),
  dup        INTEGER NOT NULL DEFAULT 0,
  FOREIGN KEY (tenant, client_id) REFERENCES sessions(tenant, client_id) ON DELETE CASCADE
);
CREATE INDEX queue_session ON queue(tenant, client_id, seq);
CREATE INDEX queue_message ON queue(message_id);
CREATE UNIQUE INDEX queue_inflight ON queue(tenant, client_id, packet_id) WHERE packet_id IS NOT NULL;

CREATE TRIGGER queue_release AFTER DELETE ON queue
WHEN NOT EXISTS (SELECT 1 FROM queue WHERE message_id = OLD.message_id)
BEGIN
  DELETE FROM messages WHERE id = OLD.message_id;
END;
)sql";

// Client ids are globally unique (seed 000: "the clients need to provide globally
// unique client identifiers"; an id reserved by any agent on the system is refused).
constexpr std::string_view schema_v2 = R"sql(
CREATE UNIQUE INDEX bindings_client_id_global ON bindings(client_id);
)sql";

// The per-tenant agent quota is checked on every first connect: keep the count
// in the tenant row (O(1)) instead of counting the tenant's agents each time.
constexpr std::string_view schema_v3 = R"sql(
ALTER TABLE tenants ADD COLUMN agent_count INTEGER NOT NULL DEFAULT 0;
UPDATE tenants SET agent_count = (SELECT count(*) FROM agents WHERE agents.tenant = tenants.id);
CREATE TRIGGER agents_count_insert AFTER INSERT ON agents BEGIN
  UPDATE tenants SET agent_count = agent_count + 1 WHERE id = NEW.tenant;
END;
CREATE TRIGGER agents_count_delete AFTER DELETE ON agents BEGIN
  UPDATE tenants SET agent_count = agent_count - 1 WHERE id = OLD.tenant;
END;
)sql";

// Whether the queue's dup flags are exact. Delivery writes nothing per send; a clean shutdown
// sets dup on every entry that was sent (or might have been) and then this flag, in one
// transaction; start-up takes the flag away. Without it (a crash), every restored entry may
// have been sent: all go with DUP.
constexpr std::string_view schema_v4 = R"sql(
CREATE TABLE store_state (
  key        TEXT PRIMARY KEY NOT NULL,
  value      INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

constexpr migration builtin[] = {
    {1, "initial schema: tenants, codes, CAs, agents, bindings, tokens, sessions", schema_v1},
    {2, "client ids unique across tenants", schema_v2},
    {3, "per-tenant agent count for O(1) quota checks", schema_v3},
    {4, "store_state: whether the queue's dup flags are exact (clean shutdown)", schema_v4},
};

}  // namespace

std::span<const migration> builtin_migrations() noexcept { return builtin; }

int latest_schema_version() noexcept { return builtin[std::size(builtin) - 1].version; }

namespace detail {

result<int> read_schema_version(connection& conn) {
  auto tables = conn.int64_of("SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'");
  if (!tables) {
    return tables.error();
  }
  if (*tables == 0) {
    return 0;
  }
  // schema_version is created by apply_migrations below, so prepare it only now.
  auto version = conn.int64_of("SELECT max(version) FROM schema_version");  // NULL (empty table) reads as 0
  if (!version) {
    return version.error();
  }
  return static_cast<int>(*version);
}

namespace {

result<void> apply_step(connection& conn, const migration& step) {
  auto tx = transaction::begin(conn);
  if (!tx) {
    return tx.error();
  }
  auto current = read_schema_version(conn);
  if (!current) {
    return current.error();
  }
  if (*current >= step.version) {
    return {};  // another connection applied it first
  }
  const std::string sql(step.sql);  // sqlite3_exec wants a NUL-terminated string
  if (auto done = conn.exec_script(sql.c_str()); !done) {
    return done.error();
  }
  if (auto done = conn.exec("INSERT INTO schema_version (version, applied) VALUES (?, ?)",
                            std::int64_t{step.version}, step.description);
      !done) {
    return done.error();
  }
  return tx->commit();
}

}  // namespace

result<void> apply_migrations(connection& conn, std::span<const migration> steps) {
  for (std::size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].version != static_cast<int>(i) + 1) {
      return conn.fail(errc::invalid_argument, "store: migration versions must be 1, 2, 3, ...");
    }
  }
  if (auto created = conn.exec_script(
          "CREATE TABLE IF NOT EXISTS schema_version ("
          " version INTEGER PRIMARY KEY NOT NULL, applied TEXT NOT NULL)");
      !created) {
    return created.error();
  }
  auto current = read_schema_version(conn);
  if (!current) {
    return current.error();
  }
  const int known = static_cast<int>(steps.size());
  if (*current > known) {
    return conn.fail(errc::schema_too_new, "store: database schema version " + std::to_string(*current) +
                                               " is newer than this build's " + std::to_string(known));
  }
  for (const migration& step : steps.subspan(static_cast<std::size_t>(*current))) {
    if (auto done = apply_step(conn, step); !done) {
      return done.error();
    }
  }
  return {};
}

}  // namespace detail
}  // namespace portcullis::store
