#include "sqlite/statement.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <limits>

#include "sqlite/database.h"
#include "tests/lib/sqlite/temp_dir.h"

namespace {

using sqlite::Database;

Database OpenFile(const std::filesystem::path& file) {
  auto db = Database::Open(file, Database::Mode::kReadWrite);
  if (!db) FAIL(db.error().message);
  return std::move(*db);
}

}  // namespace

TEST_CASE("every bind type round-trips through a column read", "[sqlite]") {
  sqlite_test::TempDir dir;
  auto db = OpenFile(dir.path / "t.db");
  REQUIRE(db.Execute("CREATE TABLE t (i INTEGER, n INTEGER, d REAL, s TEXT, b BLOB, z)"));
  auto insert = db.Prepare("INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  REQUIRE(insert);
  const std::int64_t big = std::numeric_limits<std::int64_t>::min();
  const std::string text("caf\xc3\xa9 with a \0 inside", 21);
  const sqlite::Bytes blob = {std::byte{0}, std::byte{0xff}, std::byte{7}};
  insert->Bind(1, big).Bind(2, 42).Bind(3, 0.1).Bind(4, text).Bind(5, blob).Bind(6, std::nullopt);
  REQUIRE(insert->Run());
  // Reused: the bindings were cleared, so what is not bound again is NULL.
  insert->Bind(1, std::optional<std::int64_t>(7)).Bind(3, std::optional<double>());
  insert->Bind(5, std::span<const std::byte>());  // an empty blob, not NULL
  REQUIRE(insert->Run());
  const std::string literal = "kept by the caller";
  insert->BindNoCopy(4, literal);
  REQUIRE(insert->Run());

  auto select = db.Prepare("SELECT i, n, d, s, b, z FROM t ORDER BY rowid");
  REQUIRE(select);
  REQUIRE(*select->Step());
  CHECK(select->Int(0) == big);
  CHECK(select->Int(1) == 42);
  CHECK(select->Double(2) == 0.1);
  CHECK(select->Text(3) == text);
  CHECK(select->TextView(3) == text);
  CHECK(select->Blob(4) == blob);
  CHECK(select->IsNull(5));
  CHECK_FALSE(select->OptionalInt(5));
  CHECK(select->OptionalInt(0) == big);
  CHECK(select->OptionalDouble(2) == 0.1);
  CHECK(select->OptionalText(3) == text);
  CHECK(select->OptionalBlob(4) == blob);

  REQUIRE(*select->Step());
  CHECK(select->OptionalInt(0) == 7);
  CHECK(select->IsNull(1));
  CHECK_FALSE(select->OptionalDouble(2));
  CHECK_FALSE(select->OptionalText(3));
  CHECK(select->Text(3).empty());
  CHECK_FALSE(select->IsNull(4));
  CHECK(select->OptionalBlob(4) == sqlite::Bytes{});
  CHECK(select->Int(1) == 0);  // NULL reads as 0

  REQUIRE(*select->Step());
  CHECK(select->Text(3) == literal);
  CHECK_FALSE(select->OptionalBlob(4));
  CHECK_FALSE(*select->Step());
}

// Not -0.0: SQLite stores a whole REAL as an integer on disk, which has no
// sign of zero.
TEST_CASE("doubles keep their bits, special values included", "[sqlite]") {
  sqlite_test::TempDir dir;
  auto db = OpenFile(dir.path / "t.db");
  REQUIRE(db.Execute("CREATE TABLE t (d REAL)"));
  auto insert = db.Prepare("INSERT INTO t VALUES (?1)");
  REQUIRE(insert);
  const double values[] = {-2.5, 1e-310, std::numeric_limits<double>::max(),
                           std::numeric_limits<double>::infinity(), 1.0 / 3};
  for (double v : values) REQUIRE(insert->Bind(1, v).Run());
  auto select = db.Prepare("SELECT d FROM t ORDER BY rowid");
  REQUIRE(select);
  for (double v : values) {
    REQUIRE(*select->Step());
    CHECK(select->Double(0) == v);
  }
}

TEST_CASE("errors name the file, the statement and SQLite's reason", "[sqlite]") {
  sqlite_test::TempDir dir;
  const auto file = dir.path / "t.db";
  auto db = OpenFile(file);
  REQUIRE(db.Execute("CREATE TABLE t (k INTEGER PRIMARY KEY)"));

  auto bad = db.Prepare("SELEC nonsense");
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains(file.string()));
  CHECK_THAT(bad.error().message, Catch::Contains("syntax error"));

  auto insert = db.Prepare("INSERT INTO t VALUES (?1)");
  REQUIRE(insert);
  REQUIRE(insert->Bind(1, 1).Run());
  auto again = insert->Bind(1, 1).Run();
  REQUIRE_FALSE(again);
  CHECK_THAT(again.error().message, Catch::Contains(file.string()));
  CHECK_THAT(again.error().message, Catch::Contains("INSERT INTO t"));
  CHECK_THAT(again.error().message, Catch::Contains("UNIQUE constraint failed"));
  CHECK_FALSE(again.error().retryable);

  // A bind to a parameter that does not exist is reported by the step.
  auto out_of_range = insert->Bind(9, 1).Run();
  REQUIRE_FALSE(out_of_range);
  CHECK_THAT(out_of_range.error().message, Catch::Contains("binding parameter 9"));
  // ...and forgotten after it: the statement works again.
  CHECK(insert->Bind(1, 2).Run());

  auto missing = Database::Open(dir.path / "none" / "x.db", Database::Mode::kReadOnly);
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().message, Catch::Contains((dir.path / "none" / "x.db").string()));
}

TEST_CASE("QueryInt reads one number", "[sqlite]") {
  sqlite_test::TempDir dir;
  auto db = OpenFile(dir.path / "t.db");
  CHECK(db.QueryInt("SELECT 40 + 2")->value_or(0) == 42);
  CHECK_FALSE(db.QueryInt("SELECT NULL")->has_value());
  CHECK_FALSE(db.QueryInt("SELECT 1 WHERE 0")->has_value());
  CHECK_FALSE(db.QueryInt("SELECT * FROM nowhere"));
}

TEST_CASE("writers open in WAL mode with the busy timeout asked for", "[sqlite]") {
  sqlite_test::TempDir dir;
  Database::Options options;
  options.wal = true;
  options.wal_autocheckpoint_pages = 4000;
  auto db = Database::Open(dir.path / "t.db", options);
  REQUIRE(db);
  auto mode = db->Prepare("PRAGMA journal_mode");
  REQUIRE(mode);
  REQUIRE(*mode->Step());
  CHECK(mode->Text(0) == "wal");
  CHECK(db->QueryInt("PRAGMA synchronous")->value_or(-1) == 1);  // NORMAL
  CHECK(db->QueryInt("PRAGMA wal_autocheckpoint")->value_or(-1) == 4000);
  CHECK(db->QueryInt("PRAGMA busy_timeout")->value_or(-1) == 5000);

  // Garbage is refused at open when WAL is asked for, and left as it was.
  const auto garbage = dir.path / "garbage.db";
  {
    std::ofstream out(garbage, std::ios::binary);
    for (int i = 0; i < 4096; ++i) out.put(static_cast<char>(i * 7919 % 251));
  }
  auto refused = Database::Open(garbage, options);
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message, Catch::Contains(garbage.string()));
  CHECK_THAT(refused.error().message, Catch::Contains("not a database"));
  CHECK(std::filesystem::file_size(garbage) == 4096);
}
