#include "jobs/openaq/openaq_config.h"

#include <catch2/catch.hpp>

#include <chrono>

#include "config/config_loader.h"

namespace jobs::openaq {
namespace {

using namespace std::chrono_literals;

config::LoadResult Load(const std::string& with) {
  config::LoadOptions options;
  options.job_types = {OpenaqJobType()};
  options.folder = "/srv/jobsd";
  options.env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "OPENAQ_API_KEY") return "k3y";
    return std::nullopt;
  };
  return config::LoadConfigText("jobs:\n  - name: aq\n    type: openaq\n    with:\n" + with,
                                "cfg.yaml", options);
}

}  // namespace

TEST_CASE("openaq config: defaults", "[openaq][config]") {
  const auto result = Load("      api_key: ${OPENAQ_API_KEY}\n      locations: [3459, 6093549]\n");
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  const auto* s = result.config->jobs[0].Settings<OpenaqSettings>();
  REQUIRE(s != nullptr);
  CHECK(s->api_key == "k3y");
  CHECK(s->base_url == "https://api.openaq.org");
  CHECK(s->locations == std::vector<std::int64_t>{3459, 6093549});
  CHECK(s->parameters.empty());
  CHECK(s->resolution == Resolution::kRaw);
  CHECK(s->database.empty());  // beside the state store, decided when it runs
  CHECK(s->legacy_database == std::filesystem::path("/srv/jobsd/openaq-aq.db"));
  CHECK_FALSE(s->start_at);
  CHECK(s->start_ago == 24h * 7);
  CHECK(s->lookback == 2h);
  CHECK(s->page_size == 1000);
  CHECK(s->concurrency == 4);
  CHECK(s->per_minute == 60);
  CHECK(s->per_hour == 2000);
  CHECK(s->ranges.at("pm25").min == 0);
  CHECK(s->ranges.at("pm25").max == 1000);
  CHECK(s->export_format == ExportFormat::kNone);
  CHECK_FALSE(s->from);
}

TEST_CASE("openaq config: every key", "[openaq][config]") {
  const auto result = Load(
      "      api_key: abc\n"
      "      base_url: http://127.0.0.1:8080/\n"
      "      locations: [1]\n"
      "      parameters: [pm25, o3]\n"
      "      resolution: hours\n"
      "      database: data/aq.db\n"
      "      start: 2024-01-01\n"
      "      lookback: 6h\n"
      "      page_size: 500\n"
      "      concurrency: 8\n"
      "      rate_limit: {per_minute: 0, per_hour: 100}\n"
      "      ranges: {pm25: {min: -1, max: 500}, co2: {min: 300, max: 5000}}\n"
      "      export: {format: csv, folder: exports}\n"
      "      from: 2026-01-01\n"
      "      to: 2026-02-01T00:00:00Z\n"
      "      ca_file: ca.pem\n");
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  const auto* s = result.config->jobs[0].Settings<OpenaqSettings>();
  REQUIRE(s != nullptr);
  CHECK(s->base_url == "http://127.0.0.1:8080");
  CHECK(s->parameters == std::vector<std::string>{"pm25", "o3"});
  CHECK(s->resolution == Resolution::kHours);
  CHECK(s->database == std::filesystem::path("/srv/jobsd/data/aq.db"));
  REQUIRE(s->start_at);
  CHECK(core::FormatRfc3339(*s->start_at) == "2024-01-01T00:00:00.000000Z");
  CHECK(s->lookback == 6h);
  CHECK(s->page_size == 500);
  CHECK(s->concurrency == 8);
  CHECK(s->per_minute == 0);
  CHECK(s->per_hour == 100);
  CHECK(s->ranges.at("pm25").min == -1);
  CHECK(s->ranges.at("co2").max == 5000);
  CHECK(s->ranges.at("no2").max == 2000);
  CHECK(s->export_format == ExportFormat::kCsv);
  CHECK(s->export_folder == std::filesystem::path("/srv/jobsd/exports"));
  REQUIRE(s->from);
  REQUIRE(s->to);
  CHECK(*s->to - *s->from == 24h * 31);
  CHECK(s->ca_file == std::filesystem::path("/srv/jobsd/ca.pem"));
}

TEST_CASE("openaq config: problems are reported, all of them", "[openaq][config]") {
  struct Case {
    std::string with;
    std::string problem;
  };
  const Case cases[] = {
      {"      locations: [1]\n", "missing required key 'api_key'"},
      {"      api_key: k\n", "missing required key 'locations'"},
      {"      api_key: k\n      locations: []\n", "expected at least one location id"},
      {"      api_key: k\n      locations: [1]\n      page_size: 5000\n", "page_size"},
      {"      api_key: k\n      locations: [1]\n      resolution: daily\n",
       "expected one of raw, hours, got 'daily'"},
      {"      api_key: k\n      locations: [1]\n      start: yesterday\n",
       "expected a time like 2026-01-01 or a duration like 7d"},
      {"      api_key: k\n      locations: [1]\n      from: 2026-01-01\n",
       "a backfill needs both from: and to:"},
      {"      api_key: k\n      locations: [1]\n      from: 2026-02-01\n      to: 2026-01-01\n",
       "must be after from:"},
      {"      api_key: k\n      locations: [1]\n      base_url: ftp://x\n", "expected an http://"},
      {"      api_key: k\n      locations: [1]\n      ranges: {pm25: {min: 5, max: 1}}\n",
       "min is greater than max"},
      {"      api_key: k\n      locations: [1]\n      export: {format: xml, folder: x}\n",
       "expected one of jsonl, csv"},
      {"      api_key: k\n      locations: [1]\n      pagesize: 5\n",
       "unknown key 'pagesize' (did you mean 'page_size'?)"},
  };
  for (const Case& c : cases) {
    INFO(c.with);
    const auto result = Load(c.with);
    CHECK_FALSE(result.ok());
    CHECK_THAT(result.ErrorText(), Catch::Contains(c.problem));
  }
}

}  // namespace jobs::openaq
