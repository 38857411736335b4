#include "jobs/openaq/measurement_store.h"

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "sqlite/database.h"
#include "sqlite/migrations.h"
#include "tests/lib/sqlite/temp_dir.h"

namespace {

using jobs::openaq::MeasurementStore;
using jobs::openaq::RawRecord;
using jobs::openaq::Reject;
using jobs::openaq::Resolution;

std::string ReadTestdata(const std::string& name) {
  std::ifstream in(std::string(JOBSD_SOURCE_DIR) + "/tests/testdata/openaq/" + name);
  REQUIRE(in);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

RawRecord Record(std::int64_t end, double value) {
  RawRecord r;
  r.period_end = end;
  r.period_start = end - 3600;
  r.has_value = true;
  r.value = value;
  return r;
}

}  // namespace

TEST_CASE("an openaq file from before schema versions is adopted as version 1 with its data",
          "[openaq]") {
  sqlite_test::TempDir dir;
  const auto file = dir.path / "openaq.db";
  {
    // What jobsd made of the file before it had a version: its schema SQL
    // as it was, and a run's worth of rows.
    auto db = sqlite::Database::Open(file, sqlite::Database::Mode::kReadWrite);
    REQUIRE(db);
    REQUIRE(db->Execute(ReadTestdata("measurements_unversioned.sql")));
    REQUIRE(db->Execute(
        "INSERT INTO locations VALUES (100201, 'Old Town', 'Europe/Berlin', 1700000000);"
        "INSERT INTO sensors VALUES (300101, 100201, 'pm25', 'µg/m³', 1600000000);"
        "INSERT INTO measurements VALUES (300101, 'hours', 1700003600, 1700000000, 12.5, 7);"
        "INSERT INTO measurements VALUES (300101, 'hours', 1700007200, 1700003600, 13.5, 7);"
        "INSERT INTO cursors VALUES (300101, 'hours', 1700007200);"
        "INSERT INTO export_queue (location_id, sensor_id, parameter, period_end, value, "
        "updated) VALUES (100201, 300101, 'pm25', 1700007200, 13.5, 0);"));
    CHECK(*sqlite::SchemaVersion(*db) == 0);
  }

  auto store = MeasurementStore::Open(file);
  REQUIRE(store);
  {
    auto db = sqlite::Database::Open(file, sqlite::Database::Mode::kReadOnly);
    REQUIRE(db);
    CHECK(*sqlite::SchemaVersion(*db) == 1);
  }
  auto cursor = store->Cursor(300101, Resolution::kHours);
  REQUIRE(cursor);
  CHECK(*cursor == 1700007200);
  auto sensors = store->Sensors(100201);
  REQUIRE(sensors);
  REQUIRE(sensors->size() == 1);
  CHECK(sensors->front().units == "µg/m³");
  CHECK(sensors->front().datetime_first == 1600000000);
  CHECK(*store->LocationRefreshedAt(100201) == 1700000000);
  auto queued = store->QueuedExportLocations();
  REQUIRE(queued);
  CHECK(*queued == std::vector<std::int64_t>{100201});

  // The adopted file works as a new one: a repeat is a duplicate, a new
  // value an update, and the cursor moves on.
  const RawRecord records[] = {Record(1700007200, 13.5), Record(1700010800, 14.5),
                               Record(1700003600, 12.0)};
  const Reject reasons[] = {Reject::kNone, Reject::kNone, Reject::kNone};
  auto counts =
      store->WritePage(300101, Resolution::kHours, records, reasons, 1700010800, 8, nullptr);
  REQUIRE(counts);
  CHECK(counts->duplicate == 1);
  CHECK(counts->inserted == 1);
  CHECK(counts->updated == 1);
  auto stored = store->Measurements(300101, Resolution::kHours);
  REQUIRE(stored);
  CHECK(*stored == std::vector<std::pair<std::int64_t, double>>{
                       {1700003600, 12.0}, {1700007200, 13.5}, {1700010800, 14.5}});
  CHECK(*store->Cursor(300101, Resolution::kHours) == 1700010800);

  // Opening again changes nothing.
  auto again = MeasurementStore::Open(file);
  REQUIRE(again);
  CHECK(again->Measurements(300101, Resolution::kHours)->size() == 3);
}

TEST_CASE("an openaq file newer than this jobsd is refused", "[openaq]") {
  sqlite_test::TempDir dir;
  const auto file = dir.path / "openaq.db";
  REQUIRE(MeasurementStore::Open(file));
  {
    auto db = sqlite::Database::Open(file, sqlite::Database::Mode::kReadWrite);
    REQUIRE(db);
    REQUIRE(db->Execute("PRAGMA user_version = 9"));
  }
  auto refused = MeasurementStore::Open(file);
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message, Catch::Contains(file.string()));
  CHECK_THAT(refused.error().message, Catch::Contains("version 9"));
}

TEST_CASE("a failed page leaves neither its rows nor its cursor", "[openaq]") {
  sqlite_test::TempDir dir;
  const auto file = dir.path / "openaq.db";
  auto store = MeasurementStore::Open(file);
  REQUIRE(store);
  {
    // A trigger makes the third insert of the page fail.
    auto db = sqlite::Database::Open(file, sqlite::Database::Mode::kReadWrite);
    REQUIRE(db);
    REQUIRE(
        db->Execute("CREATE TRIGGER refuse BEFORE INSERT ON measurements WHEN NEW.period_end = 3 "
                    "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;"));
  }
  const RawRecord records[] = {Record(1, 1.0), Record(2, 2.0), Record(3, 3.0)};
  const Reject reasons[] = {Reject::kNone, Reject::kNone, Reject::kNone};
  auto counts = store->WritePage(5, Resolution::kHours, records, reasons, 3, 1, nullptr);
  REQUIRE_FALSE(counts);
  CHECK_THAT(counts.error().message, Catch::Contains("refused by the test"));
  CHECK_THAT(counts.error().message, Catch::Contains(file.string()));
  CHECK(store->Measurements(5, Resolution::kHours)->empty());
  CHECK_FALSE(store->Cursor(5, Resolution::kHours)->has_value());
  // The connection is usable after the rollback.
  auto ok = store->WritePage(5, Resolution::kHours, std::span(records).first(2),
                             std::span(reasons).first(2), 2, 1, nullptr);
  REQUIRE(ok);
  CHECK(ok->inserted == 2);
}
