#include "sqlite/transaction.h"

#include <catch2/catch.hpp>

#include "tests/lib/sqlite/temp_dir.h"

namespace {

using sqlite::Database;
using sqlite::Transaction;

std::int64_t Count(Database& db) { return db.QueryInt("SELECT COUNT(*) FROM t")->value_or(-1); }

struct Fixture {
  sqlite_test::TempDir dir;
  Database db = Open(dir.path / "t.db");
  static Database Open(const std::filesystem::path& file) {
    Database::Options options;
    options.wal = true;
    auto db = Database::Open(file, options);
    if (!db) FAIL(db.error().message);
    REQUIRE(db->Execute("CREATE TABLE t (k INTEGER PRIMARY KEY)"));
    return std::move(*db);
  }
};

}  // namespace

TEST_CASE("a committed transaction keeps its writes", "[sqlite]") {
  Fixture f;
  {
    auto tx = Transaction::Begin(f.db);
    REQUIRE(tx);
    CHECK(f.db.InTransaction());
    REQUIRE(f.db.Execute("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)"));
    REQUIRE(tx->Commit());
    CHECK_FALSE(tx->active());
  }
  CHECK_FALSE(f.db.InTransaction());
  CHECK(Count(f.db) == 2);
}

TEST_CASE("a transaction not committed rolls back when it goes out of scope", "[sqlite]") {
  Fixture f;
  {
    auto tx = Transaction::Begin(f.db);
    REQUIRE(tx);
    REQUIRE(f.db.Execute("INSERT INTO t VALUES (1)"));
    CHECK(Count(f.db) == 1);
  }
  CHECK_FALSE(f.db.InTransaction());
  CHECK(Count(f.db) == 0);
}

TEST_CASE("an error half-way rolls back the writes before it", "[sqlite]") {
  Fixture f;
  auto write = [&]() -> core::Result<void> {
    auto tx = Transaction::Begin(f.db);
    if (!tx) return core::Unexpected(tx.error());
    auto insert = f.db.Prepare("INSERT INTO t VALUES (?1)");
    if (!insert) return core::Unexpected(insert.error());
    for (int k : {1, 2, 2, 3}) {  // the second 2 breaks the primary key
      if (auto ok = insert->Bind(1, k).Run(); !ok) return ok;
    }
    return tx->Commit();
  };
  auto result = write();
  REQUIRE_FALSE(result);
  CHECK_THAT(result.error().message, Catch::Contains("UNIQUE"));
  CHECK(Count(f.db) == 0);
  CHECK_FALSE(f.db.InTransaction());
}

TEST_CASE("BEGIN IMMEDIATE takes the write lock at Begin", "[sqlite]") {
  Fixture f;
  Database::Options options;
  options.busy_timeout = std::chrono::milliseconds(50);
  auto other = Database::Open(f.dir.path / "t.db", options);
  REQUIRE(other);
  auto holding = Transaction::Begin(f.db);
  REQUIRE(holding);
  auto second = Transaction::Begin(*other);
  REQUIRE_FALSE(second);
  CHECK(second.error().retryable);  // busy: the other writer will finish
  // A deferred (reading) transaction still may begin beside the writer.
  auto reading = Transaction::Begin(*other, Transaction::Kind::kDeferred);
  REQUIRE(reading);
  CHECK(other->QueryInt("SELECT COUNT(*) FROM t")->value_or(-1) == 0);
  reading->Rollback();
  CHECK_FALSE(reading->active());
  REQUIRE(holding->Commit());
  auto now = Transaction::Begin(*other);
  CHECK(now);
}

TEST_CASE("a moved transaction rolls back once, from where it ends up", "[sqlite]") {
  Fixture f;
  std::optional<Transaction> kept;
  {
    auto tx = Transaction::Begin(f.db);
    REQUIRE(tx);
    REQUIRE(f.db.Execute("INSERT INTO t VALUES (1)"));
    kept.emplace(std::move(*tx));
  }
  CHECK(f.db.InTransaction());  // the moved-from one did nothing
  kept.reset();
  CHECK_FALSE(f.db.InTransaction());
  CHECK(Count(f.db) == 0);
}
