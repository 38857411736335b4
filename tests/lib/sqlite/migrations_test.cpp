#include "sqlite/migrations.h"

#include <catch2/catch.hpp>

#include "tests/lib/sqlite/temp_dir.h"

namespace {

using sqlite::Database;

constexpr std::string_view kSteps[] = {
    "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (1);",
    "CREATE TABLE b (y TEXT);",
    "ALTER TABLE a ADD COLUMN z TEXT NOT NULL DEFAULT 'new';",
};

Database Open(const std::filesystem::path& file) {
  auto db = Database::Open(file, Database::Mode::kReadWrite);
  if (!db) FAIL(db.error().message);
  return std::move(*db);
}

bool HasTable(Database& db, std::string_view name) {
  return db.QueryInt("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = '" +
                     std::string(name) + "'")
             ->value_or(0) == 1;
}

}  // namespace

TEST_CASE("a fresh file gets every step and the latest version", "[sqlite]") {
  sqlite_test::TempDir dir;
  auto db = Open(dir.path / "m.db");
  auto outcome = sqlite::Migrate(db, kSteps);
  REQUIRE(outcome);
  CHECK(outcome->from_version == 0);
  CHECK(outcome->to_version == 3);
  CHECK(*sqlite::SchemaVersion(db) == 3);
  CHECK(HasTable(db, "a"));
  CHECK(HasTable(db, "b"));
  CHECK(db.QueryInt("SELECT COUNT(*) FROM a WHERE z = 'new'")->value_or(0) == 1);

  // Again: nothing to do, nothing changed.
  auto again = sqlite::Migrate(db, kSteps);
  REQUIRE(again);
  CHECK(again->from_version == 3);
  CHECK(db.QueryInt("SELECT COUNT(*) FROM a")->value_or(0) == 1);
}

TEST_CASE("a file part of the way gets only the steps it lacks", "[sqlite]") {
  sqlite_test::TempDir dir;
  const auto file = dir.path / "m.db";
  {
    auto db = Open(file);
    REQUIRE(sqlite::Migrate(db, std::span(kSteps).first(1)));
    REQUIRE(db.Execute("INSERT INTO a VALUES (2)"));
    CHECK(*sqlite::SchemaVersion(db) == 1);
  }
  auto db = Open(file);
  auto outcome = sqlite::Migrate(db, kSteps);
  REQUIRE(outcome);
  CHECK(outcome->from_version == 1);
  CHECK(*sqlite::SchemaVersion(db) == 3);
  // Step 1 did not run again: its row is there once, the later one kept.
  CHECK(db.QueryInt("SELECT COUNT(*) FROM a")->value_or(0) == 2);
  CHECK(HasTable(db, "b"));
}

TEST_CASE("a file newer than the binary is refused and left alone", "[sqlite]") {
  sqlite_test::TempDir dir;
  const auto file = dir.path / "m.db";
  auto db = Open(file);
  REQUIRE(sqlite::Migrate(db, kSteps));
  REQUIRE(db.Execute("PRAGMA user_version = 7"));
  auto outcome = sqlite::Migrate(db, kSteps);
  REQUIRE_FALSE(outcome);
  CHECK(outcome.error().kind == core::ErrorKind::kInvalidArgument);
  CHECK_THAT(outcome.error().message, Catch::Contains(file.string()));
  CHECK_THAT(outcome.error().message, Catch::Contains("version 7"));
  CHECK_THAT(outcome.error().message, Catch::Contains("(3)"));
  CHECK(*sqlite::SchemaVersion(db) == 7);
}

TEST_CASE("a failing step rolls back and leaves the version where it was", "[sqlite]") {
  sqlite_test::TempDir dir;
  const auto file = dir.path / "m.db";
  constexpr std::string_view kBroken[] = {
      kSteps[0],
      // Half of it works before the error: none of it may stay.
      "CREATE TABLE c (q INTEGER); INSERT INTO c VALUES (1); INSERT INTO nowhere VALUES (1);",
  };
  auto db = Open(file);
  auto outcome = sqlite::Migrate(db, kBroken);
  REQUIRE_FALSE(outcome);
  CHECK_THAT(outcome.error().message, Catch::Contains(file.string()));
  CHECK_THAT(outcome.error().message, Catch::Contains("migration 2"));
  CHECK_THAT(outcome.error().message, Catch::Contains("no such table: nowhere"));
  CHECK(*sqlite::SchemaVersion(db) == 1);  // step 1 committed on its own
  CHECK_FALSE(HasTable(db, "c"));
  CHECK_FALSE(db.InTransaction());
  // Fixed in the next build: the file goes on from version 1.
  auto fixed = sqlite::Migrate(db, kSteps);
  REQUIRE(fixed);
  CHECK(fixed->from_version == 1);
  CHECK(*sqlite::SchemaVersion(db) == 3);
}

TEST_CASE("two connections migrating one file apply each step once", "[sqlite]") {
  sqlite_test::TempDir dir;
  const auto file = dir.path / "m.db";
  auto first = Open(file);
  auto second = Open(file);
  REQUIRE(sqlite::Migrate(first, std::span(kSteps).first(1)));
  // `second` finds version 1 and applies only the steps after it.
  REQUIRE(sqlite::Migrate(second, kSteps));
  REQUIRE(sqlite::Migrate(first, kSteps));
  CHECK(first.QueryInt("SELECT COUNT(*) FROM a")->value_or(0) == 1);
  CHECK(*sqlite::SchemaVersion(first) == 3);
}
