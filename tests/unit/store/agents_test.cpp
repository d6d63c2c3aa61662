// Bindings, agents and assets: provisioning, both binding conflicts, quota,
// the two-connection race, deletion, last-seen updates, hostile strings.
#include "store_test_support.hpp"

#include <atomic>
#include <thread>

using namespace portcullis::store;
using portcullis::store::test::hex64;
using portcullis::store::test::open_db;
using portcullis::store::test::t0;
using portcullis::store::test::temp_dir;

namespace {
const std::string client_a = "device-0000000000a";
const std::string client_b = "device-0000000000b";
const std::string subject_a = "CN=Device A,OU=CT,O=Siemens,L=Istanbul,C=TR";
const std::string subject_b = "CN=Device B,OU=CT,O=Siemens,L=Istanbul,C=TR";
}  // namespace

TEST_CASE("first connect provisions asset, agent and binding", "[store][agents]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  REQUIRE(db->create_tenant("acme", t0));

  auto out = db->bind_or_provision("acme", client_a, subject_a, hex64(1), 50, t0);
  REQUIRE(out);
  CHECK(out->created);
  const agent_record& agent = out->agent;
  CHECK(agent.id.size() == 32);
  CHECK(agent.id == agent.asset.id);
  CHECK(agent.tenant == "acme");
  CHECK(agent.name == client_a);
  CHECK(agent.client_id == client_a);
  CHECK(agent.security_profile == "CACertifiedX509");
  CHECK(agent.onboarding_status == "ONBOARDED");
  CHECK(agent.subject_dn == subject_a);
  CHECK(agent.cert_sha256 == hex64(1));
  CHECK(agent.created_at == t0);
  CHECK(agent.last_seen_at == t0);
  CHECK(agent.asset.name == client_a);
  CHECK(agent.asset.asset_type == "core.mcX509");
  CHECK(agent.asset.description == "Asset for agent provisioned automatically with X.509 certificates.");

  SECTION("same client id and subject returns the existing agent and updates last seen") {
    // A renewed device certificate (new fingerprint, same subject) is the same device.
    auto again = db->bind_or_provision("acme", client_a, subject_a, hex64(2), 50, t0 + 60);
    REQUIRE(again);
    CHECK_FALSE(again->created);
    CHECK(again->agent.id == agent.id);
    CHECK(again->agent.last_seen_at == t0 + 60);
    CHECK(again->agent.cert_sha256 == hex64(1));  // the certificate that first bound it
    CHECK(*db->count_agents("acme") == 1);
  }
  SECTION("another subject with that client id is a conflict") {
    auto other = db->bind_or_provision("acme", client_a, subject_b, hex64(2), 50, t0);
    REQUIRE_FALSE(other);
    CHECK(other.error() == errc::conflict);
    CHECK_FALSE(db->last_error().empty());
  }
  SECTION("that subject with another client id is a conflict") {
    auto other = db->bind_or_provision("acme", client_b, subject_a, hex64(1), 50, t0);
    REQUIRE_FALSE(other);
    CHECK(other.error() == errc::conflict);
    CHECK(*db->count_agents("acme") == 1);
  }
  SECTION("a client id is reserved system-wide: another tenant cannot take it") {
    REQUIRE(db->create_tenant("beta", t0));
    auto other = db->bind_or_provision("beta", client_a, subject_a, hex64(1), 50, t0);
    REQUIRE_FALSE(other);
    CHECK(other.error() == errc::conflict);
    CHECK(*db->count_agents("beta") == 0);
  }
  SECTION("tenants are independent for subjects and agents") {
    REQUIRE(db->create_tenant("beta", t0));
    auto other = db->bind_or_provision("beta", client_b, subject_a, hex64(1), 50, t0);
    REQUIRE(other);
    CHECK(other->created);
    CHECK(other->agent.id != agent.id);
    auto foreign = db->get_agent("beta", agent.id);
    REQUIRE_FALSE(foreign);
    CHECK(foreign.error() == errc::not_found);
  }
}

TEST_CASE("bind_or_provision refuses bad input and unknown tenants", "[store][agents]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  auto no_tenant = db->bind_or_provision("nope", client_a, subject_a, hex64(1), 50, t0);
  REQUIRE_FALSE(no_tenant);
  CHECK(no_tenant.error() == errc::not_found);
  REQUIRE(db->create_tenant("acme", t0));
  auto empty_client = db->bind_or_provision("acme", "", subject_a, hex64(1), 50, t0);
  REQUIRE_FALSE(empty_client);
  CHECK(empty_client.error() == errc::invalid_argument);
  auto empty_subject = db->bind_or_provision("acme", client_a, "", hex64(1), 50, t0);
  REQUIRE_FALSE(empty_subject);
  CHECK(empty_subject.error() == errc::invalid_argument);
}

TEST_CASE("the agent quota is per tenant and only limits new agents", "[store][agents]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  REQUIRE(db->create_tenant("acme", t0));
  REQUIRE(db->create_tenant("beta", t0));
  for (int i = 0; i < 3; ++i) {
    auto out = db->bind_or_provision("acme", "client-" + std::to_string(i), "CN=d" + std::to_string(i), hex64(1), 3, t0);
    REQUIRE(out);
  }
  auto full = db->bind_or_provision("acme", "client-9", "CN=d9", hex64(1), 3, t0);
  REQUIRE_FALSE(full);
  CHECK(full.error() == errc::quota_exceeded);
  // Existing agents still connect, and other tenants are unaffected.
  auto existing = db->bind_or_provision("acme", "client-0", "CN=d0", hex64(1), 3, t0);
  REQUIRE(existing);
  CHECK_FALSE(existing->created);
  CHECK(db->bind_or_provision("beta", "client-b9", "CN=d9", hex64(1), 3, t0));
  auto zero = db->bind_or_provision("beta", "client-8", "CN=d8", hex64(1), 0, t0);
  REQUIRE_FALSE(zero);
  CHECK(zero.error() == errc::quota_exceeded);
  // Deleting an agent frees a slot.
  auto agents = db->list_agents("acme");
  REQUIRE(agents);
  REQUIRE(db->delete_agent("acme", agents->front().id));
  CHECK(db->bind_or_provision("acme", "client-9", "CN=d9", hex64(1), 3, t0));
}

TEST_CASE("two connections racing for one new client id: exactly one creates", "[store][agents][race]") {
  temp_dir dir;
  auto setup = open_db(dir.file());
  REQUIRE(setup->create_tenant("acme", t0));
  for (int round = 0; round < 20; ++round) {
    const std::string client = "race-client-" + std::to_string(round);
    // Even rounds: the same device twice (loser gets the existing agent);
    // odd rounds: two devices (loser gets a conflict).
    const bool same_subject = round % 2 == 0;
    auto a = open_db(dir.file());
    auto b = open_db(dir.file());
    std::atomic<int> created{0};
    std::atomic<int> existing{0};
    std::atomic<int> conflicts{0};
    std::atomic<int> other{0};
    auto connect = [&](database& db, const std::string& subject) {
      auto r = db.bind_or_provision("acme", client, subject, hex64(1), 1000, t0);
      if (r) {
        ++(r->created ? created : existing);
      } else if (r.error() == errc::conflict) {
        ++conflicts;
      } else {
        ++other;
      }
    };
    const std::string subject_1 = "CN=race " + std::to_string(round);
    const std::string subject_2 = same_subject ? subject_1 : subject_1 + " twin";
    std::thread ta([&] { connect(*a, subject_1); });
    std::thread tb([&] { connect(*b, subject_2); });
    ta.join();
    tb.join();
    CHECK(created == 1);
    CHECK(other == 0);
    if (same_subject) {
      CHECK(existing == 1);
    } else {
      CHECK(conflicts == 1);
    }
  }
  CHECK(*setup->count_agents("acme") == 20);
  CHECK(setup->list_bindings()->size() == 20);
}

TEST_CASE("deleting an agent frees its client id and removes asset, binding and session", "[store][agents]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  REQUIRE(db->create_tenant("acme", t0));
  auto out = db->bind_or_provision("acme", client_a, subject_a, hex64(1), 50, t0);
  REQUIRE(out);
  REQUIRE(db->upsert_session({"acme", client_a, t0, {}, {}, 1}));

  auto freed = db->delete_agent("acme", out->agent.id);
  REQUIRE(freed);
  CHECK(*freed == client_a);
  auto stats = db->stats();
  CHECK(stats->agents == 0);
  CHECK(stats->assets == 0);
  CHECK(stats->bindings == 0);
  CHECK(stats->sessions == 0);

  auto gone = db->get_agent("acme", out->agent.id);
  REQUIRE_FALSE(gone);
  CHECK(gone.error() == errc::not_found);
  auto twice = db->delete_agent("acme", out->agent.id);
  REQUIRE_FALSE(twice);
  CHECK(twice.error() == errc::not_found);

  // Another device may now take the client id.
  auto taken = db->bind_or_provision("acme", client_a, subject_b, hex64(2), 50, t0 + 5);
  REQUIRE(taken);
  CHECK(taken->created);
  CHECK(taken->agent.id != out->agent.id);
}

TEST_CASE("agent listing, lookup, bindings and last-seen batch", "[store][agents]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  REQUIRE(db->create_tenant("acme", t0));
  REQUIRE(db->create_tenant("beta", t0));
  auto a = db->bind_or_provision("acme", client_a, subject_a, hex64(1), 50, t0);
  auto b = db->bind_or_provision("acme", client_b, subject_b, hex64(2), 50, t0 + 1);
  auto c = db->bind_or_provision("beta", "client-beta-0000001", subject_a, hex64(1), 50, t0 + 2);
  REQUIRE((a && b && c));

  auto agents = db->list_agents("acme");
  REQUIRE(agents);
  REQUIRE(agents->size() == 2);
  CHECK((*agents)[0].client_id == client_a);
  CHECK((*agents)[1].client_id == client_b);

  auto by_client = db->find_agent_by_client_id("acme", client_b);
  REQUIRE(by_client);
  CHECK(by_client->id == b->agent.id);
  CHECK_FALSE(db->find_agent_by_client_id("acme", "nobody"));

  auto bindings = db->list_bindings();
  REQUIRE(bindings);
  REQUIRE(bindings->size() == 3);
  CHECK((*bindings)[0].tenant == "acme");
  CHECK((*bindings)[0].client_id == client_a);
  CHECK((*bindings)[0].subject_dn == subject_a);
  CHECK((*bindings)[0].agent_id == a->agent.id);
  CHECK((*bindings)[2].tenant == "beta");

  REQUIRE(db->touch_agents({{"acme", client_a, t0 + 500}, {"beta", "client-beta-0000001", t0 + 400}, {"acme", "unknown", t0 + 500}}));
  CHECK(db->get_agent("acme", a->agent.id)->last_seen_at == t0 + 500);
  CHECK(db->get_agent("acme", b->agent.id)->last_seen_at == t0 + 1);
  CHECK(db->get_agent("beta", c->agent.id)->last_seen_at == t0 + 400);
  // An earlier sighting arriving late (a disconnect batched after a reconnect) never moves it back.
  REQUIRE(db->touch_agents({{"acme", client_a, t0 + 450}, {"beta", "client-beta-0000001", t0 + 600}}));
  CHECK(db->get_agent("acme", a->agent.id)->last_seen_at == t0 + 500);
  CHECK(db->get_agent("beta", c->agent.id)->last_seen_at == t0 + 600);
  CHECK(*db->count_agents("acme") == 2);
  CHECK(*db->count_agents("nobody") == 0);
}

TEST_CASE("SQL injection attempts are stored verbatim", "[store][agents][security]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  const std::string tenant = "t'; DROP TABLE tenants; --";
  const std::string client = "x\" OR 1=1; DELETE FROM agents; --";
  const std::string subject = "CN=Robert'); DROP TABLE bindings;--,O=\\\"evil\\\"";
  REQUIRE(db->create_tenant(tenant, t0));
  auto out = db->bind_or_provision(tenant, client, subject, hex64(1), 50, t0);
  REQUIRE(out);
  CHECK(out->agent.client_id == client);
  CHECK(out->agent.subject_dn == subject);
  REQUIRE(db->create_registration_code(tenant, "' OR ''='", t0 + 10));
  CHECK_FALSE(db->consume_registration_code(tenant, "x' OR '1'='1", t0));
  CHECK(db->consume_registration_code(tenant, "' OR ''='", t0));

  auto tenants = db->list_tenants();
  REQUIRE(tenants);
  REQUIRE(tenants->size() == 1);
  CHECK(tenants->front().id == tenant);
  auto bindings = db->list_bindings();
  REQUIRE(bindings->size() == 1);
  CHECK(bindings->front().client_id == client);
  CHECK(bindings->front().subject_dn == subject);
  CHECK(db->get_agent(tenant, out->agent.id)->subject_dn == subject);
  // A wildcard-looking id matches nothing.
  CHECK_FALSE(db->get_agent(tenant, "%"));
  // Embedded NUL and non-ASCII survive too.
  const std::string odd = std::string("nul\0byte-\xc3\xa9", 11);
  REQUIRE(db->create_tenant(odd, t0));
  CHECK(*db->tenant_exists(odd));
  CHECK_FALSE(*db->tenant_exists("nul"));
}

TEST_CASE("bind_or_provision_batch decides each request in one transaction", "[store][agents][batch]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  REQUIRE(db->create_tenant("acme", t0));
  std::vector<provision_request> batch = {
      {"acme", "client-batch-0001", "CN=b1", hex64(1)},
      {"acme", "client-batch-0002", "CN=b1", hex64(2)},  // subject already taken in this batch
      {"acme", "client-batch-0003", "CN=b3", hex64(3)},
      {"acme", "client-batch-0001", "CN=b1", hex64(1)},  // same device again: existing
      {"acme", "client-batch-0004", "CN=b4", hex64(4)},
      {"acme", "client-batch-0005", "CN=b5", hex64(5)},  // over the quota of 3
      {"nobody", "client-batch-0006", "CN=b6", hex64(6)},
  };
  auto out = db->bind_or_provision_batch(batch, 3, t0);
  REQUIRE(out);
  REQUIRE(out->size() == batch.size());
  CHECK((*out)[0]->created);
  CHECK((*out)[1].error() == errc::conflict);
  CHECK((*out)[2]->created);
  CHECK_FALSE((*out)[3]->created);
  CHECK((*out)[3]->agent.id == (*out)[0]->agent.id);
  CHECK((*out)[4]->created);
  CHECK((*out)[5].error() == errc::quota_exceeded);
  CHECK((*out)[6].error() == errc::not_found);
  CHECK(*db->count_agents("acme") == 3);
  // A created agent is returned without reading it back: it must be what the store holds.
  for (std::size_t i : {0u, 2u, 4u}) {
    const agent_record& made = (*out)[i]->agent;
    auto stored = db->find_agent_by_client_id("acme", made.client_id);
    REQUIRE(stored);
    CHECK(stored->id == made.id);
    CHECK(stored->tenant == made.tenant);
    CHECK(stored->name == made.name);
    CHECK(stored->security_profile == made.security_profile);
    CHECK(stored->onboarding_status == made.onboarding_status);
    CHECK(stored->subject_dn == made.subject_dn);
    CHECK(stored->cert_sha256 == made.cert_sha256);
    CHECK(stored->created_at == made.created_at);
    CHECK(stored->last_seen_at == made.last_seen_at);
    CHECK(stored->asset.id == made.asset.id);
    CHECK(stored->asset.name == made.asset.name);
    CHECK(stored->asset.asset_type == made.asset.asset_type);
    CHECK(stored->asset.description == made.asset.description);
  }
  // The quota counter follows deletes (trigger-maintained), freeing a slot.
  REQUIRE(db->delete_agent("acme", (*out)[2]->agent.id));
  CHECK(db->bind_or_provision("acme", "client-batch-0005", "CN=b5", hex64(5), 3, t0));
  CHECK_FALSE(db->bind_or_provision("acme", "client-batch-0007", "CN=b7", hex64(7), 3, t0));
}

TEST_CASE("agent ids are unique lowercase hex and sort by creation time", "[store][agents]") {
  // Time-ordered ids keep provisioning inserts at the right edge of every B-tree they key.
  temp_dir dir;
  auto db = open_db(dir.file());
  REQUIRE(db->create_tenant("acme", t0));
  std::vector<std::string> ids;
  for (int i = 0; i < 3; ++i) {
    auto out = db->bind_or_provision("acme", "device-00000000" + std::to_string(i) + "x", "CN=D" + std::to_string(i),
                                     hex64(i + 1), 50, t0);
    REQUIRE(out);
    const std::string& id = out->agent.id;
    CHECK(id.size() == 32);
    CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
    ids.push_back(id);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // next millisecond
  }
  CHECK(ids[0] < ids[1]);
  CHECK(ids[1] < ids[2]);
  CHECK(ids[0].substr(12) != ids[1].substr(12));  // 80 random bits after the 48-bit time
}

TEST_CASE("agents page by (created_at, id), ties included, within their tenant", "[store][agents]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  REQUIRE(db->create_tenant("acme", t0));
  REQUIRE(db->create_tenant("beta", t0));
  // Five agents created in the same second (ties on created_at), two a second later.
  for (int i = 0; i < 7; ++i) {
    REQUIRE(db->bind_or_provision("acme", "client-" + std::to_string(i), "CN=d" + std::to_string(i), hex64(1), 100,
                                  i < 5 ? t0 : t0 + 1));
  }
  REQUIRE(db->bind_or_provision("beta", "client-b", "CN=db", hex64(1), 100, t0));
  auto whole = db->list_agents("acme");
  REQUIRE(whole);
  REQUIRE(whole->size() == 7);
  std::vector<std::string> paged;
  std::optional<std::string> after;
  for (int guard = 0; guard < 10; ++guard) {
    auto page = db->list_agents("acme", after, 3);
    REQUIRE(page);
    REQUIRE(page->size() <= 3);
    for (const auto& a : *page) paged.push_back(a.id);
    if (page->size() < 3) break;
    after = page->back().id;
  }
  std::vector<std::string> expected;
  for (const auto& a : *whole) expected.push_back(a.id);
  CHECK(paged == expected);
  // `after` must be an agent of this tenant.
  auto other = db->list_agents("beta");
  REQUIRE(other);
  auto foreign = db->list_agents("acme", other->front().id, 3);
  REQUIRE_FALSE(foreign);
  CHECK(foreign.error() == errc::not_found);
  auto unlimited = db->list_agents("acme", whole->at(4).id, 0);
  REQUIRE(unlimited);
  CHECK(unlimited->size() == 2);
}
