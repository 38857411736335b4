// The openaq job against the fake OpenAQ (tests/fakes/fake_openaq.h): exact
// data after every kind of upstream fault.
#include "jobs/openaq/openaq_job.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <fstream>
#include <random>
#include <set>

#include "jobs/openaq/measurement_store.h"
#include "jobs/openaq/openaq_config.h"
#include "tests/fakes/fake_openaq.h"
#include "tests/fakes/test_tls.h"
#include "tests/support/job_run.h"

namespace jobs::openaq {
namespace {

using namespace std::chrono_literals;

std::int64_t Now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class Folder {
 public:
  Folder() {
    std::random_device seed;
    path_ = std::filesystem::temp_directory_path() /
            ("jobsd-openaq-test-" + std::to_string(seed()) + std::to_string(seed()));
    std::filesystem::create_directories(path_);
  }
  ~Folder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::vector<fakes::FakeLocation> Locations(std::int64_t records) {
  std::vector<fakes::FakeLocation> out;
  const std::int64_t start = (Now() / 3600 - records - 10) * 3600;
  for (int l = 0; l < 2; ++l) {
    fakes::FakeLocation location{100201 + l, "Location " + std::to_string(l), "UTC", {}};
    for (int s = 0; s < 2; ++s) {
      fakes::FakeSeries series;
      series.sensor_id = 300101 + l * 100 + s;
      if (s == 1) {
        series.parameter = "no2";
        series.parameter_id = 5;
      }
      series.start = start;
      series.count = records;
      series.invalid_every = 37;
      series.null_every = 53;
      location.sensors.push_back(series);
    }
    out.push_back(location);
  }
  return out;
}

http::ClientOptions FastClient() {
  http::ClientOptions options;
  options.retry.base_backoff = 5ms;
  options.retry.max_backoff = 20ms;
  options.retry.max_retries = 3;
  options.attempt_timeout = 2s;
  return options;
}

struct Harness {
  explicit Harness(std::int64_t records = 250, fakes::FakeOpenAq::Options fake_options = {})
      : fake(Locations(records), fake_options), client(FastClient()) {
    fake.Start();
    settings.api_key = "test-key";
    settings.base_url = fake.base_url();
    settings.locations = {100201, 100202};
    settings.database = folder.path() / "aq.db";
    settings.start_ago = 24h * 365;
    settings.page_size = 100;
    settings.concurrency = 3;
    settings.per_minute = 0;
    settings.per_hour = 0;
    settings.ranges = DefaultRanges();
  }

  support::JobRun Run(std::optional<core::Duration> timeout = std::nullopt) {
    config::JobConfig job;
    job.name = "aq";
    job.type = "openaq";
    job.settings = settings;
    scheduler::CancelToken cancel;
    if (timeout) {
      cancel.SetDeadline(
          std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now()) +
          *timeout);
    }
    return support::RunJob(
        Type(), job, cancel, client,
        [this](scheduler::JobContext& ctx) { ctx.set_state_folder(folder.path() / "state"); },
        ++run_id);
  }

  // The database holds exactly the fake's valid records, each once.
  void CheckExact() {
    auto store = MeasurementStore::Open(settings.database);
    REQUIRE(store);
    for (const auto& location : fake.locations()) {
      for (const auto& series : location.sensors) {
        std::vector<std::pair<std::int64_t, double>> expected;
        for (const fakes::FakeRecord& r : fake.Records(series.sensor_id)) {
          if (r.value && *r.value >= 0) expected.emplace_back(r.period_end, *r.value);
        }
        auto stored = store->Measurements(series.sensor_id, Resolution::kRaw);
        REQUIRE(stored);
        INFO("sensor " << series.sensor_id);
        CHECK(stored->size() == expected.size());
        CHECK(*stored == expected);
      }
    }
  }

  std::optional<std::int64_t> Cursor(std::int64_t sensor) {
    auto store = MeasurementStore::Open(settings.database);
    REQUIRE(store);
    auto c = store->Cursor(sensor, Resolution::kRaw);
    REQUIRE(c);
    return *c;
  }

  Folder folder;
  fakes::FakeOpenAq fake;
  http::Client client;
  OpenaqSettings settings;
  std::int64_t run_id = 0;
};

double Metric(const support::JobRun& run, const std::string& key) { return run.Metric(key); }

}  // namespace

TEST_CASE("openaq job: first run, incremental run, late correction", "[openaq][job]") {
  Harness h;
  auto first = h.Run();
  INFO((first ? "" : first.error().message));
  REQUIRE(first);
  h.CheckExact();
  // 4 sensors x 250 records; every 37th is -999, every 53rd null.
  CHECK(Metric(first, "fetched") == 1000);
  const double invalid = 4 * (250 / 37 + 250 / 53 - 0);
  CHECK(Metric(first, "invalid") == invalid);
  CHECK(Metric(first, "invalid_out_of_range") == 4 * (250 / 37));
  CHECK(Metric(first, "invalid_not_finite") == 4 * (250 / 53));
  CHECK(Metric(first, "inserted") == 1000 - invalid);
  CHECK(Metric(first, "duplicate") == 0);
  CHECK(Metric(first, "quality") == Approx((1000 - invalid) / 1000));
  CHECK(Metric(first, "sensors") == 4);
  CHECK(Metric(first, "location_100201_fetched") == 500);
  CHECK(Metric(first, "requests") == 4 + 4 * 3);  // 2x2 location calls, 3 pages per sensor
  const auto cursor = h.Cursor(300101);
  REQUIRE(cursor);
  CHECK(*cursor == h.fake.Records(300101).back().period_end);

  // Five new records each; the 2 h lookback re-reads two old ones.
  for (std::int64_t sensor : {300101, 300102, 300201, 300202}) h.fake.Extend(sensor, 5);
  h.fake.ChangeValue(300101, 249, 42.5);
  auto second = h.Run();
  REQUIRE(second);
  h.CheckExact();
  CHECK(Metric(second, "fetched") == 4 * 7);
  CHECK(Metric(second, "updated") == 1);
  CHECK(Metric(second, "inserted") + Metric(second, "invalid") == 4 * 5);
  CHECK(Metric(second, "duplicate") + Metric(second, "updated") == 4 * 2);
  CHECK(Metric(second, "requests") == 4);  // sensors are re-read daily, not every run
  CHECK(*h.Cursor(300101) == *cursor + 5 * 3600);
}

TEST_CASE("openaq job: without a database key, the database sits beside the state store",
          "[openaq][job]") {
  Harness h(20);
  h.settings.database.clear();
  h.settings.legacy_database = h.folder.path() / "config" / "openaq-aq.db";
  const auto first = h.Run();
  REQUIRE(first);
  CHECK(first.Metric("changed") == 1);
  CHECK(std::filesystem::exists(h.folder.path() / "state" / "openaq-aq.db"));
  CHECK_FALSE(std::filesystem::exists(h.settings.legacy_database));

  // One an earlier jobsd left beside the config file stays in use.
  std::filesystem::create_directories(h.settings.legacy_database.parent_path());
  std::filesystem::rename(h.folder.path() / "state" / "openaq-aq.db", h.settings.legacy_database);
  const auto again = h.Run();
  REQUIRE(again);
  CHECK(again.Metric("inserted") == 0);  // the history is there: nothing new
  CHECK(again.Metric("changed") == 0);
  CHECK_FALSE(std::filesystem::exists(h.folder.path() / "state" / "openaq-aq.db"));
}

TEST_CASE("openaq job: exact data through upstream faults", "[openaq][job]") {
  Harness h;
  SECTION("500s and 503s on some requests") {
    h.fake.AddFault({3, fakes::FaultKind::kStatus, 500, 0});
    h.fake.AddFault({7, fakes::FaultKind::kStatus, 503, 0});
    h.fake.AddFault({8, fakes::FaultKind::kStatus, 502, 0});
  }
  SECTION("a truncated body and a reset connection") {
    h.fake.AddFault({6, fakes::FaultKind::kTruncate, 0, 0});
    h.fake.AddFault({9, fakes::FaultKind::kReset, 0, 0});
  }
  bool repeats = false;
  SECTION("a page that repeats the previous page's last record") {
    h.fake.AddFault({6, fakes::FaultKind::kRepeatPrevious, 0, 0});
    h.fake.AddFault({10, fakes::FaultKind::kRepeatPrevious, 0, 0});
    repeats = true;
  }
  SECTION("a slow answer") { h.fake.AddFault({6, fakes::FaultKind::kSlow, 0, 300}); }
  auto run = h.Run();
  INFO((run ? "" : run.error().message));
  REQUIRE(run);
  h.CheckExact();
  CHECK(Metric(run, "inserted") + Metric(run, "invalid") >= 1000);
  if (repeats) CHECK(Metric(run, "duplicate") >= 2);
}

TEST_CASE("openaq job: 429 waits as the rate-limit headers say", "[openaq][job]") {
  Harness h;
  h.fake.AddFault({6, fakes::FaultKind::kStatus, 429, 1000});
  const auto start = std::chrono::steady_clock::now();
  auto run = h.Run();
  REQUIRE(run);
  CHECK(std::chrono::steady_clock::now() - start >= 900ms);
  CHECK(Metric(run, "rate_limit_waits") >= 1);
  h.CheckExact();
}

TEST_CASE("openaq job: two jobs with different rate limits share one limiter at the strictest",
          "[openaq][job]") {
  Harness h;
  const std::string upstream = "openaq 127.0.0.1:" + std::to_string(h.fake.port());
  h.settings.per_minute = 6000;
  h.settings.per_hour = 0;
  REQUIRE(h.Run());
  // A second job (same client, same upstream) with a stricter per-minute
  // limit and no hourly one: the limiter keeps 600/min.
  h.settings.per_minute = 600;
  REQUIRE(h.Run());
  h.settings.per_minute = 6000;
  REQUIRE(h.Run());
  const auto shared = h.client.SetRateLimit(upstream, {0, 0});
  CHECK(shared.in_force == http::RateLimit{600, 0});
  CHECK_FALSE(shared.first_disagreement);  // the job run said it already
  h.CheckExact();
}

TEST_CASE("openaq job: a hanging upstream times the run out; the next run completes it",
          "[openaq][job]") {
  Harness h;
  h.fake.AddFault({7, fakes::FaultKind::kSlow, 0, 3000});
  const auto start = std::chrono::steady_clock::now();
  auto run = h.Run(800ms);
  REQUIRE_FALSE(run);
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  auto again = h.Run();
  REQUIRE(again);
  h.CheckExact();
}

TEST_CASE("openaq job: wrong key, unknown location, retired path, refused query", "[openaq][job]") {
  Harness h;
  SECTION("401 fails the run at once and says the key is wrong") {
    h.settings.api_key = "wrong";
    auto run = h.Run();
    REQUIRE_FALSE(run);
    CHECK_THAT(run.error().message, Catch::Contains("rejected the API key"));
    CHECK_FALSE(run.error().retryable);
    CHECK(h.fake.requests() == 1);
  }
  SECTION("404 fails that location, not the run") {
    h.settings.locations = {100201, 999999999};
    auto run = h.Run();
    REQUIRE(run);
    CHECK(Metric(run, "locations_failed") == 1);
    CHECK(Metric(run, "sensors") == 2);
  }
  SECTION("410 names the retired path") {
    h.settings.base_url = h.fake.base_url() + "/v2";
    auto run = h.Run();
    REQUIRE_FALSE(run);
    CHECK_THAT(run.error().message, Catch::Contains("410 Gone"));
  }
  SECTION("422 carries OpenAQ's bare-string message") {
    h.settings.page_size = 5000;  // the config refuses this; the API does too
    auto run = h.Run();
    REQUIRE_FALSE(run);
    CHECK_THAT(run.error().message, Catch::Contains("HTTP 422: 1 validation error"));
  }
  SECTION("5xx beyond the retries fails the run as retryable, other sensors stored") {
    for (int n = 5; n <= 24; ++n) h.fake.AddFault({n, fakes::FaultKind::kStatus, 503, 0});
    auto run = h.Run();
    REQUIRE_FALSE(run);
    CHECK(run.error().retryable);
    CHECK_THAT(run.error().message, Catch::Contains("HTTP 503"));
    auto again = h.Run();
    REQUIRE(again);
    h.CheckExact();
  }
}

TEST_CASE("openaq job: backfill fetches a range and leaves the cursors alone", "[openaq][job]") {
  Harness h;
  const auto records = h.fake.Records(300101);
  // The newest 100 first, as a normal run would.
  h.settings.start_at = core::TimePoint(std::chrono::seconds(records[149].period_end));
  REQUIRE(h.Run());
  const auto cursor = h.Cursor(300101);
  REQUIRE(cursor);
  h.settings.start_at.reset();
  h.settings.from = core::TimePoint(std::chrono::seconds(records[0].period_end - 3600));
  h.settings.to = core::TimePoint(std::chrono::seconds(records[149].period_end));
  auto backfill = h.Run();
  REQUIRE(backfill);
  CHECK(Metric(backfill, "fetched") == 4 * 150);
  CHECK(h.Cursor(300101) == cursor);
  h.CheckExact();
}

TEST_CASE("openaq job: parameters filter, jsonl export, HTTPS with a private CA",
          "[openaq][job][tls]") {
  Folder certs_folder;
  const auto certs = fakes::MakeTestCertificates(certs_folder.path());
  fakes::FakeOpenAq::Options tls;
  tls.cert_file = certs.server_cert.string();
  tls.key_file = certs.server_key.string();
  tls.gzip = true;
  Harness h(120, tls);
  h.settings.ca_file = certs.ca_cert;
  h.settings.parameters = {"no2"};
  h.settings.export_format = ExportFormat::kJsonl;
  h.settings.export_folder = h.folder.path() / "exports";
  auto run = h.Run();
  INFO((run ? "" : run.error().message));
  REQUIRE(run);
  CHECK(Metric(run, "sensors") == 2);
  CHECK(Metric(run, "fetched") == 240);
  std::ifstream exported(h.folder.path() / "exports" / "location-100201.jsonl");
  REQUIRE(exported);
  int lines = 0;
  std::string line;
  while (std::getline(exported, line)) {
    ++lines;
    CHECK_THAT(line, Catch::Contains("\"parameter\":\"no2\""));
  }
  CHECK(lines == Metric(run, "location_100201_inserted"));

  h.settings.ca_file.reset();  // the system store does not know the test CA
  auto refused = h.Run();
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message, Catch::Contains("TLS handshake"));
}

TEST_CASE("openaq job: export files stay exact across a crash before or during the append",
          "[openaq][job][export]") {
  for (const bool csv : {false, true}) {
    INFO((csv ? "csv" : "jsonl"));
    Harness h(120);
    h.settings.export_format = csv ? ExportFormat::kCsv : ExportFormat::kJsonl;
    h.settings.export_folder = h.folder.path() / "exports";
    REQUIRE(h.Run());
    const auto file =
        h.settings.export_folder / (csv ? "location-100201.csv" : "location-100201.jsonl");

    // A run commits a page of new records (queued for export with them) and
    // dies before its append, or in the middle of it (a torn last line).
    h.fake.Extend(300101, 5);
    {
      auto store = MeasurementStore::Open(h.settings.database);
      REQUIRE(store);
      std::vector<RawRecord> page;
      for (const fakes::FakeRecord& r : h.fake.Records(300101)) {
        if (r.period_end <= *h.Cursor(300101)) continue;
        RawRecord raw;
        raw.period_end = r.period_end;
        raw.has_value = true;
        raw.value = r.value;
        raw.parameter = "pm25";
        page.push_back(raw);
      }
      REQUIRE(page.size() == 5);
      std::vector<Reject> reasons(page.size(), Reject::kNone);
      for (std::size_t i = 0; i < page.size(); ++i) {
        if (!page[i].value) reasons[i] = Reject::kNotFinite;
        if (page[i].value && *page[i].value < 0) reasons[i] = Reject::kOutOfRange;
      }
      const ExportTag tag{100201, "pm25"};
      REQUIRE(store->WritePage(300101, Resolution::kRaw, page, reasons, page.back().period_end, 99,
                               &tag));
    }
    std::ofstream(file, std::ios::app) << (csv ? "300101,pm25,2026-" : "{\"sensor_id\":3001");

    // The next run exports what was queued, cutting the torn tail first,
    // and carries on with new data.
    h.fake.Extend(300102, 3);
    auto run = h.Run();
    REQUIRE(run);
    CHECK(Metric(run, "exported") >= 5 + 3);
    h.CheckExact();

    // Every stored row of the location is in the file exactly once.
    auto store = MeasurementStore::Open(h.settings.database);
    REQUIRE(store);
    std::multiset<std::string> expected, seen;
    for (const std::int64_t sensor : {300101, 300102}) {
      auto rows = store->Measurements(sensor, Resolution::kRaw);
      REQUIRE(rows);
      for (const auto& [end, value] : *rows) {
        expected.insert(std::to_string(sensor) + " " + fakes::FormatUtc(end));
      }
    }
    std::ifstream in(file);
    std::string line;
    int lines = 0;
    while (std::getline(in, line)) {
      if (lines++ == 0 && csv) {
        CHECK(line == "sensor_id,parameter,period_end,value,updated");
        continue;
      }
      std::string sensor, end;
      if (csv) {
        const auto c1 = line.find(','), c2 = line.find(',', c1 + 1), c3 = line.find(',', c2 + 1);
        REQUIRE(c3 != std::string::npos);
        sensor = line.substr(0, c1);
        end = line.substr(c2 + 1, c3 - c2 - 1);
        CHECK_THAT(line, Catch::EndsWith(",false"));
      } else {
        REQUIRE(line.rfind("{\"sensor_id\":", 0) == 0);
        REQUIRE(line.back() == '}');
        sensor = line.substr(13, line.find(',') - 13);
        const auto at = line.find("\"period_end\":\"") + 14;
        end = line.substr(at, line.find('"', at) - at);
      }
      seen.insert(sensor + " " + end);
    }
    CHECK(seen.size() == expected.size());
    CHECK(seen == expected);
  }
}

}  // namespace jobs::openaq
