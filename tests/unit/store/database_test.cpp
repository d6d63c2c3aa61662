// Opening, pragmas, migrations, read-only connections, stats and checkpoints.
#include "store_test_support.hpp"

#include <filesystem>
#include <fstream>

using namespace portcullis::store;
using portcullis::store::test::open_db;
using portcullis::store::test::t0;
using portcullis::store::test::temp_dir;

namespace {

std::vector<migration> builtin_plus_v2() {
  std::vector<migration> steps(builtin_migrations().begin(), builtin_migrations().end());
  steps.push_back({static_cast<int>(steps.size()) + 1, "test: extra table",
                   "CREATE TABLE extra (x INTEGER NOT NULL); INSERT INTO extra VALUES (42);"});
  return steps;
}

}  // namespace

TEST_CASE("open migrates an empty file to the latest schema", "[store][database]") {
  temp_dir dir;
  auto db = open_db(dir.file());
  auto version = db->schema_version();
  REQUIRE(version);
  CHECK(*version == latest_schema_version());
  CHECK(db->path() == dir.file());
  CHECK(std::filesystem::exists(dir.file()));
  CHECK(std::filesystem::exists(dir.file() + "-wal"));  // WAL mode
  auto stats = db->stats();
  REQUIRE(stats);
  CHECK(stats->path == dir.file());
  CHECK(stats->tenants == 0);
  CHECK(stats->messages == 0);
}

TEST_CASE("reopening keeps data and does not re-run migrations", "[store][database]") {
  temp_dir dir;
  {
    auto db = open_db(dir.file());
    REQUIRE(db->create_tenant("acme", t0));
  }
  auto db = open_db(dir.file());
  auto exists = db->tenant_exists("acme");
  REQUIRE(exists);
  CHECK(*exists);
  CHECK(*db->schema_version() == latest_schema_version());
}

TEST_CASE("forward migration applies only the new step, keeping data", "[store][database]") {
  temp_dir dir;
  {
    auto db = open_db(dir.file());
    REQUIRE(db->create_tenant("acme", t0));
  }
  const auto steps = builtin_plus_v2();
  options opts;
  opts.migrations = steps;
  auto db = open_db(dir.file(), opts);
  CHECK(*db->schema_version() == latest_schema_version() + 1);
  CHECK(*db->tenant_exists("acme"));
}

TEST_CASE("a database newer than this build is refused", "[store][database]") {
  temp_dir dir;
  {
    const auto steps = builtin_plus_v2();
    options opts;
    opts.migrations = steps;
    open_db(dir.file(), opts);
  }
  std::string detail;
  auto db = database::open(dir.file(), {}, &detail);
  REQUIRE_FALSE(db);
  CHECK(db.error() == errc::schema_too_new);
  CHECK(detail.find("newer") != std::string::npos);

  options ro;
  ro.read_only = true;
  auto reader = database::open(dir.file(), ro);
  REQUIRE_FALSE(reader);
  CHECK(reader.error() == errc::schema_too_new);
}

TEST_CASE("a migration list with gaps is refused", "[store][database]") {
  temp_dir dir;
  const migration bad[] = {{1, "one", "CREATE TABLE a (x);"}, {3, "three", "CREATE TABLE b (x);"}};
  options opts;
  opts.migrations = bad;
  auto db = database::open(dir.file(), opts);
  REQUIRE_FALSE(db);
  CHECK(db.error() == errc::invalid_argument);
}

TEST_CASE("a file that is not a database is reported corrupt", "[store][database]") {
  temp_dir dir;
  {
    std::ofstream junk(dir.file(), std::ios::binary);
    junk << std::string(4096, 'x');
  }
  std::string detail;
  auto db = database::open(dir.file(), {}, &detail);
  REQUIRE_FALSE(db);
  CHECK(db.error() == errc::corrupt);
  CHECK_FALSE(detail.empty());
}

TEST_CASE("an unopenable path is an io error", "[store][database]") {
  temp_dir dir;
  auto db = database::open(dir.file("missing-dir/portcullis.db"));
  REQUIRE_FALSE(db);
  CHECK(db.error() == errc::io);
}

TEST_CASE("a read-only connection reads beside the writer and cannot write", "[store][database]") {
  temp_dir dir;
  auto writer = open_db(dir.file());
  REQUIRE(writer->create_tenant("acme", t0));
  options ro;
  ro.read_only = true;
  auto reader = open_db(dir.file(), ro);
  CHECK(*reader->tenant_exists("acme"));

  REQUIRE(writer->create_tenant("beta", t0));
  auto tenants = reader->list_tenants();
  REQUIRE(tenants);
  CHECK(tenants->size() == 2);

  auto write = reader->create_tenant("gamma", t0);
  REQUIRE_FALSE(write);
  CHECK(write.error() == errc::io);
  CHECK_FALSE(reader->last_error().empty());
}

TEST_CASE("read-only open of a file that was never migrated is refused", "[store][database]") {
  temp_dir dir;
  {
    std::ofstream empty(dir.file());
  }
  options ro;
  ro.read_only = true;
  auto db = database::open(dir.file(), ro);
  REQUIRE_FALSE(db);
  CHECK(db.error() == errc::invalid_argument);
}

TEST_CASE("synchronous FULL and checkpoints", "[store][database]") {
  temp_dir dir;
  options opts;
  opts.synchronous = synchronous_mode::full;
  auto db = open_db(dir.file(), opts);
  REQUIRE(db->create_tenant("acme", t0));
  CHECK(db->checkpoint(checkpoint_mode::passive));
  REQUIRE(db->checkpoint(checkpoint_mode::truncate));
  CHECK(std::filesystem::file_size(dir.file() + "-wal") == 0);
  CHECK(*db->tenant_exists("acme"));
}

TEST_CASE("two read-write connections on one file see each other's commits", "[store][database]") {
  temp_dir dir;
  auto a = open_db(dir.file());
  auto b = open_db(dir.file());
  REQUIRE(a->create_tenant("acme", t0));
  CHECK(*b->tenant_exists("acme"));
  auto again = b->create_tenant("acme", t0);
  REQUIRE_FALSE(again);
  CHECK(again.error() == errc::conflict);
}
