#include "store/run_metrics.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

using store::RunMetrics;

TEST_CASE("RunMetrics: tallies add up, levels are set, records keep their kind", "[metrics]") {
  RunMetrics m;
  CHECK(m.empty());
  CHECK(m.ToJson() == "{}");
  m.Add("pages", 1);
  m.Add("pages", 2);
  m.AddRecords("inserted", 40);
  m.AddRecords("inserted", 2);
  m.Set("exit_code", 3);
  m.Set("exit_code", 0);
  CHECK(m.Value("pages") == 3);
  CHECK(m.Value("inserted") == 42);
  CHECK(m.Value("exit_code") == 0);
  CHECK(m.Value("absent") == 0);
  CHECK_FALSE(m.Get("absent"));
  CHECK(m.figures().at("pages").kind == RunMetrics::Kind::kTally);
  CHECK(m.figures().at("inserted").kind == RunMetrics::Kind::kRecords);
  CHECK(m.figures().at("exit_code").kind == RunMetrics::Kind::kLevel);

  // A name first tallied, then counted as records, is records (and so on
  // /metrics) whatever the order.
  m.Add("fetched", 5);
  m.AddRecords("fetched", 1);
  CHECK(m.figures().at("fetched").kind == RunMetrics::Kind::kRecords);
  CHECK(m.Value("fetched") == 6);
  CHECK(m.ToJson() == R"({"exit_code":0,"fetched":6,"inserted":42,"pages":3})");
}

TEST_CASE("RunMetrics: quality and changed", "[metrics]") {
  RunMetrics m;
  CHECK_FALSE(m.quality());
  CHECK_FALSE(m.changed());
  m.SetQuality(0.25);
  m.SetChanged(false);
  CHECK(*m.quality() == 0.25);
  CHECK(m.changed() == std::optional<bool>(false));
  m.SetChanged(true);
  CHECK(m.changed() == std::optional<bool>(true));
  CHECK(m.ToJson() == R"({"changed":1,"quality":0.25})");
}

TEST_CASE("RunMetrics: figures JSON cannot hold stay valid JSON", "[metrics]") {
  RunMetrics m;
  m.SetQuality(std::numeric_limits<double>::quiet_NaN());
  m.Add("bytes", std::numeric_limits<double>::infinity());
  m.Add("odd \"name\"\n", 1);
  CHECK(m.ToJson() == R"({"bytes":null,"odd \"name\"\n":1,"quality":null})");
}

TEST_CASE("RunMetrics: folder sizes by path go to /metrics only and the last one set wins",
          "[metrics]") {
  RunMetrics m;
  CHECK(m.folder_sizes().empty());
  m.SetFolderSize("/srv/data/raw", 10, 1000);
  m.SetFolderSize("/srv/logs", 1, 5);
  m.SetFolderSize("/srv/data/raw", 8, 800);
  REQUIRE(m.folder_sizes().size() == 2);
  CHECK(m.folder_sizes().at("/srv/data/raw").files == 8);
  CHECK(m.folder_sizes().at("/srv/data/raw").bytes == 800);
  CHECK(m.folder_sizes().at("/srv/logs").files == 1);
  // They are not figures: not in the run record, and not counted by empty().
  CHECK(m.empty());
  CHECK(m.ToJson() == "{}");
  m.Add("files_deleted", 2);
  CHECK(m.ToJson() == R"({"files_deleted":2})");
  // A copy (what the executor hands on) keeps them.
  const RunMetrics copy = m;
  CHECK(copy.folder_sizes().at("/srv/logs").bytes == 5);
}
