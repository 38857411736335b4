#include "sqlite/backup.h"

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>

#include "sqlite/transaction.h"
#include "tests/lib/sqlite/temp_dir.h"

namespace {

using sqlite::Database;

Database OpenWal(const std::filesystem::path& file) {
  Database::Options options;
  options.wal = true;
  auto db = Database::Open(file, options);
  if (!db) FAIL(db.error().message);
  return std::move(*db);
}

// A source of a few MiB: enough pages for many backup steps.
void Fill(Database& db, int rows) {
  REQUIRE(db.Execute("CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v BLOB)"));
  auto tx = sqlite::Transaction::Begin(db);
  REQUIRE(tx);
  auto insert = db.Prepare("INSERT INTO t (v) VALUES (randomblob(1000))");
  REQUIRE(insert);
  for (int i = 0; i < rows; ++i) REQUIRE(insert->Run());
  REQUIRE(tx->Commit());
}

std::string Integrity(Database& db) {
  auto check = db.Prepare("PRAGMA integrity_check");
  REQUIRE(check);
  REQUIRE(*check->Step());
  return check->Text(0);
}

}  // namespace

TEST_CASE("a backup copies the database in steps", "[sqlite]") {
  sqlite_test::TempDir dir;
  auto source = OpenWal(dir.path / "source.db");
  Fill(source, 3000);
  sqlite::BackupOptions options;
  options.pages_per_step = 100;
  auto stats = sqlite::BackupTo(source, dir.path / "copy.db", options);
  REQUIRE(stats);
  CHECK(stats->steps > 5);
  CHECK(stats->pages > 500);
  auto copy = Database::Open(dir.path / "copy.db", Database::Mode::kReadOnly);
  REQUIRE(copy);
  CHECK(Integrity(*copy) == "ok");
  CHECK(copy->QueryInt("SELECT COUNT(*) FROM t")->value_or(0) == 3000);
}

TEST_CASE("a backup taken while another connection writes is consistent", "[sqlite]") {
  sqlite_test::TempDir dir;
  const auto file = dir.path / "source.db";
  auto source = OpenWal(file);
  Fill(source, 2000);
  REQUIRE(
      source.Execute("CREATE TABLE counter (n INTEGER NOT NULL); INSERT INTO counter "
                     "VALUES (0)"));

  // The writer keeps one invariant in every commit: counter.n equals the
  // number of rows in t. A copy from one moment keeps it too.
  std::atomic<bool> stop{false};
  std::atomic<int> commits{0};
  std::thread writer([&] {
    auto db = OpenWal(file);
    auto insert = db.Prepare("INSERT INTO t (v) VALUES (randomblob(1000))");
    auto bump = db.Prepare("UPDATE counter SET n = (SELECT COUNT(*) FROM t)");
    if (!insert || !bump) return;
    while (!stop) {
      auto tx = sqlite::Transaction::Begin(db);
      if (!tx) continue;
      if (insert->Run() && bump->Run() && tx->Commit()) ++commits;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  });
  while (commits < 5) std::this_thread::sleep_for(std::chrono::milliseconds(1));

  sqlite::BackupOptions options;
  options.pages_per_step = 50;
  // Writes between the steps make SQLite start over; after a few restarts
  // the rest goes in one step.
  options.max_restarts = 2;
  auto stats = sqlite::BackupTo(source, dir.path / "copy.db", options);
  const int during = commits;
  stop = true;
  writer.join();
  REQUIRE(stats);
  CHECK(during > 5);

  auto copy = Database::Open(dir.path / "copy.db", Database::Mode::kReadOnly);
  REQUIRE(copy);
  CHECK(Integrity(*copy) == "ok");
  const auto rows = copy->QueryInt("SELECT COUNT(*) FROM t")->value_or(-1);
  CHECK(rows >= 2000);
  CHECK(copy->QueryInt("SELECT n FROM counter")->value_or(-2) == rows);
}

TEST_CASE("a backup stops between steps when cancelled and leaves no partial copy", "[sqlite]") {
  sqlite_test::TempDir dir;
  auto source = OpenWal(dir.path / "source.db");
  Fill(source, 2000);
  int asked = 0;
  sqlite::BackupOptions options;
  options.pages_per_step = 20;
  options.cancelled = [&] { return ++asked == 3; };
  const auto target = dir.path / "copy.db";
  auto stats = sqlite::BackupTo(source, target, options);
  REQUIRE_FALSE(stats);
  CHECK(stats.error().kind == core::ErrorKind::kCancelled);
  CHECK(asked == 3);
  CHECK_FALSE(std::filesystem::exists(target));
  // The source is untouched and usable.
  CHECK(Integrity(source) == "ok");
  CHECK(source.QueryInt("SELECT COUNT(*) FROM t")->value_or(0) == 2000);
}

TEST_CASE("a backup to a folder that does not exist names both files", "[sqlite]") {
  sqlite_test::TempDir dir;
  auto source = OpenWal(dir.path / "source.db");
  Fill(source, 10);
  const auto target = dir.path / "missing" / "copy.db";
  auto stats = sqlite::BackupTo(source, target);
  REQUIRE_FALSE(stats);
  CHECK_THAT(stats.error().message, Catch::Contains(target.string()));
  CHECK_THAT(stats.error().message, Catch::Contains((dir.path / "source.db").string()));
}
