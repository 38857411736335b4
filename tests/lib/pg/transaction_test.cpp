// pg::Transaction against a real PostgreSQL 15 ([pg], see pg_test_server.h).
#include "pg/transaction.h"

#include <catch2/catch.hpp>
#include <chrono>

#include "pg/error.h"
#include "tests/lib/pg/pg_test_server.h"

namespace {

using pg::Transaction;
using pg_test::Connect;
using pg_test::Exec;
using pg_test::One;

struct Fixture {
  pg::Connection conn = Connect();
  pg::Connection other = Connect();  // sees only what was committed
  Fixture() { Exec(conn, "DROP TABLE IF EXISTS tx; CREATE TABLE tx (k int PRIMARY KEY)"); }
  std::string Count(pg::Connection& c) { return One(c, "SELECT count(*) FROM tx"); }
};

}  // namespace

TEST_CASE("pg: a committed transaction keeps its writes", "[.pg]") {
  Fixture f;
  {
    auto tx = Transaction::Begin(f.conn);
    REQUIRE(tx);
    CHECK(tx->active());
    CHECK(f.conn.InTransaction());
    Exec(f.conn, "INSERT INTO tx VALUES (1), (2)");
    CHECK(f.Count(f.other) == "0");
    REQUIRE(tx->Commit());
    CHECK_FALSE(tx->active());
  }
  CHECK_FALSE(f.conn.InTransaction());
  CHECK(f.Count(f.other) == "2");
}

TEST_CASE("pg: a transaction not committed rolls back when it goes out of scope", "[.pg]") {
  Fixture f;
  {
    auto tx = Transaction::Begin(f.conn);
    REQUIRE(tx);
    Exec(f.conn, "INSERT INTO tx VALUES (1)");
    CHECK(f.Count(f.conn) == "1");
  }
  CHECK_FALSE(f.conn.InTransaction());
  CHECK(f.Count(f.conn) == "0");
  CHECK(f.Count(f.other) == "0");
}

TEST_CASE("pg: Rollback undoes the writes now", "[.pg]") {
  Fixture f;
  auto tx = Transaction::Begin(f.conn);
  REQUIRE(tx);
  Exec(f.conn, "INSERT INTO tx VALUES (1)");
  tx->Rollback();
  CHECK_FALSE(tx->active());
  CHECK_FALSE(f.conn.InTransaction());
  CHECK(f.Count(f.conn) == "0");
  CHECK_FALSE(tx->Commit());
}

TEST_CASE("pg: COMMIT after a failed statement is an error, not a silent rollback", "[.pg]") {
  Fixture f;
  auto tx = Transaction::Begin(f.conn);
  REQUIRE(tx);
  Exec(f.conn, "INSERT INTO tx VALUES (1)");
  auto dup = f.conn.Exec("INSERT INTO tx VALUES (1)");
  REQUIRE_FALSE(dup);
  CHECK(pg::SqlState(dup.error()) == pg::kUniqueViolation);
  auto later = f.conn.Exec("INSERT INTO tx VALUES (2)");
  REQUIRE_FALSE(later);
  CHECK(pg::SqlState(later.error()) == "25P02");  // in failed transaction
  auto committed = tx->Commit();
  REQUIRE_FALSE(committed);
  INFO(committed.error().message);
  CHECK(committed.error().message.find("rolled back") != std::string::npos);
  CHECK_FALSE(committed.error().retryable);
  CHECK_FALSE(tx->active());
  CHECK_FALSE(f.conn.InTransaction());
  CHECK(f.Count(f.other) == "0");
}

TEST_CASE("pg: transactions do not nest", "[.pg]") {
  Fixture f;
  auto tx = Transaction::Begin(f.conn);
  REQUIRE(tx);
  auto inner = Transaction::Begin(f.conn);
  REQUIRE_FALSE(inner);
  CHECK(inner.error().kind == core::ErrorKind::kInternal);
  CHECK(tx->active());
  CHECK(f.conn.InTransaction());
}

TEST_CASE("pg: a read-only transaction refuses writes", "[.pg]") {
  Fixture f;
  Transaction::Options options;
  options.read_only = true;
  options.isolation = Transaction::Isolation::kRepeatableRead;
  auto tx = Transaction::Begin(f.conn, options);
  REQUIRE(tx);
  CHECK(One(f.conn, "SHOW transaction_isolation") == "repeatable read");
  auto write = f.conn.Exec("INSERT INTO tx VALUES (1)");
  REQUIRE_FALSE(write);
  CHECK(pg::SqlState(write.error()) == "25006");
}

TEST_CASE("pg: a serialization failure is retryable (40001)", "[.pg]") {
  Fixture f;
  Exec(f.conn, "DROP TABLE IF EXISTS ledger; CREATE TABLE ledger (class int, value int)");
  Exec(f.conn, "INSERT INTO ledger VALUES (1, 10), (2, 20)");
  Transaction::Options serializable;
  serializable.isolation = Transaction::Isolation::kSerializable;
  auto a = Transaction::Begin(f.conn, serializable);
  auto b = Transaction::Begin(f.other, serializable);
  REQUIRE(a);
  REQUIRE(b);
  // Write skew: each reads what the other writes.
  One(f.conn, "SELECT sum(value) FROM ledger WHERE class = 1");
  One(f.other, "SELECT sum(value) FROM ledger WHERE class = 2");
  Exec(f.conn, "INSERT INTO ledger VALUES (2, 1)");
  Exec(f.other, "INSERT INTO ledger VALUES (1, 1)");
  REQUIRE(a->Commit());
  auto second = b->Commit();
  REQUIRE_FALSE(second);
  INFO(second.error().message);
  CHECK(pg::SqlState(second.error()) == pg::kSerializationFailure);
  CHECK(second.error().retryable);
  CHECK_FALSE(f.other.InTransaction());
  CHECK(One(f.other, "SELECT count(*) FROM ledger") == "3");
}

TEST_CASE("pg: rollback happens even after the run was cancelled", "[.pg]") {
  Fixture f;
  {
    auto tx = Transaction::Begin(f.conn);
    REQUIRE(tx);
    Exec(f.conn, "INSERT INTO tx VALUES (1)");
    f.conn.SetCancelled([] { return true; });
    auto more = f.conn.Exec("INSERT INTO tx VALUES (2)");
    REQUIRE_FALSE(more);
    CHECK(more.error().kind == core::ErrorKind::kCancelled);
    auto committed = tx->Commit();  // cancelled before it is sent: rolled back instead
    REQUIRE_FALSE(committed);
    CHECK(committed.error().kind == core::ErrorKind::kCancelled);
    CHECK_FALSE(tx->active());
  }
  CHECK_FALSE(f.conn.InTransaction());
  f.conn.SetCancelled(nullptr);
  CHECK(f.Count(f.conn) == "0");
}

TEST_CASE("pg: a cancelled statement in a transaction: destruction rolls back", "[.pg]") {
  Fixture f;
  {
    auto tx = Transaction::Begin(f.conn);
    REQUIRE(tx);
    Exec(f.conn, "INSERT INTO tx VALUES (1)");
    const auto at = std::chrono::steady_clock::now() + std::chrono::milliseconds(200);
    f.conn.SetCancelled([at] { return std::chrono::steady_clock::now() >= at; });
    auto slow = f.conn.Exec("SELECT pg_sleep(30)");
    REQUIRE_FALSE(slow);
    CHECK(slow.error().kind == core::ErrorKind::kCancelled);
    CHECK(f.conn.InTransaction());  // failed, still open until the rollback
  }
  CHECK_FALSE(f.conn.InTransaction());
  f.conn.SetCancelled(nullptr);
  CHECK(f.Count(f.other) == "0");
  CHECK(f.Count(f.conn) == "0");
}
