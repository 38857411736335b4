#include "jobs/openaq/openaq_config.h"

#include <cmath>

namespace jobs::openaq {
namespace {

// A time ("2026-01-01", RFC 3339) or nullopt after a report.
std::optional<core::TimePoint> ReadTime(config::MapReader& with, std::string_view key) {
  const std::optional<std::string> text = with.String(key);
  if (!text) return std::nullopt;
  auto t = core::ParseRfc3339(*text);
  if (!t) {
    with.Report(key, "expected a date or time like 2026-01-01 or 2026-01-01T06:00:00Z, got '" +
                         *text + "'");
    return std::nullopt;
  }
  return *t;
}

}  // namespace

std::map<std::string, ValueRange> DefaultRanges() {
  // Generous physical bounds: they catch sentinels (-999) and unit mix-ups,
  // not merely unusual air.
  return {
      {"pm1", {0, 1000}},        {"pm25", {0, 1000}},        {"pm10", {0, 2000}},
      {"o3", {0, 1000}},         {"no2", {0, 2000}},         {"no", {0, 2000}},
      {"nox", {0, 4000}},        {"so2", {0, 2000}},         {"co", {0, 50000}},
      {"bc", {0, 1000}},         {"temperature", {-90, 60}}, {"relativehumidity", {0, 100}},
      {"pressure", {300, 1100}},
  };
}

OpenaqSettings ReadOpenaqSettings(config::MapReader& with, std::string_view job_name) {
  OpenaqSettings out;
  out.api_key = with.Secret("api_key", config::Need::kRequired).value_or("");
  if (with.Has("api_key") && out.api_key.empty()) {
    with.Report("api_key", "is empty (is the environment variable set?)");
  }
  if (auto url = with.String("base_url")) {
    while (!url->empty() && url->back() == '/') url->pop_back();
    if (url->rfind("https://", 0) != 0 && url->rfind("http://", 0) != 0) {
      with.Report("base_url", "expected an http:// or https:// URL, got '" + *url + "'");
    }
    out.base_url = *url;
  }
  out.locations = with.IntList("locations", 1, std::int64_t(1) << 53, config::Need::kRequired)
                      .value_or(out.locations);
  if (with.Has("locations") && out.locations.empty()) {
    with.Report("locations", "expected at least one location id");
  }
  out.parameters = with.StringList("parameters").value_or(out.parameters);
  out.resolution = with.Enum<Resolution>("resolution",
                                         {{"raw", Resolution::kRaw}, {"hours", Resolution::kHours}})
                       .value_or(out.resolution);
  out.database = with.Path("database").value_or(std::filesystem::path());
  out.legacy_database = with.source().Resolve("openaq-" + std::string(job_name) + ".db");

  if (with.Has("start")) {
    const std::optional<std::string> text = with.String("start");
    if (text) {
      if (auto ago = core::ParseDuration(*text)) {
        out.start_ago = *ago;
      } else if (auto at = core::ParseRfc3339(*text)) {
        out.start_at = *at;
      } else {
        with.Report("start",
                    "expected a time like 2026-01-01 or a duration like 7d, got '" + *text + "'");
      }
    }
  }
  out.lookback = with.Duration("lookback").value_or(out.lookback);
  out.page_size = int(with.Int("page_size", 1, 1000).value_or(out.page_size));
  out.concurrency = int(with.Int("concurrency", 1, 32).value_or(out.concurrency));
  if (auto rate = with.Map("rate_limit")) {
    out.per_minute = int(rate->Int("per_minute", 0, 1'000'000).value_or(out.per_minute));
    out.per_hour = int(rate->Int("per_hour", 0, 100'000'000).value_or(out.per_hour));
  }
  out.ranges = DefaultRanges();
  if (auto ranges = with.NamedMaps("ranges")) {
    for (auto& [parameter, range] : *ranges) {
      const auto min = range.Double("min", -1e300, 1e300, config::Need::kRequired);
      const auto max = range.Double("max", -1e300, 1e300, config::Need::kRequired);
      if (min && max) {
        if (*min > *max) range.ReportHere("min is greater than max");
        out.ranges[parameter] = ValueRange{*min, *max};
      }
    }
  }
  if (auto exp = with.Map("export")) {
    out.export_format =
        exp->Enum<ExportFormat>("format",
                                {{"jsonl", ExportFormat::kJsonl}, {"csv", ExportFormat::kCsv}},
                                config::Need::kRequired)
            .value_or(ExportFormat::kJsonl);
    out.export_folder = exp->Path("folder", config::Need::kRequired).value_or("");
  }
  out.from = ReadTime(with, "from");
  out.to = ReadTime(with, "to");
  if (out.from.has_value() != out.to.has_value()) {
    with.Report(out.from ? "from" : "to", "a backfill needs both from: and to:");
  } else if (out.from && *out.from >= *out.to) {
    with.Report("to", "must be after from:");
  }
  out.ca_file = with.Path("ca_file");
  return out;
}

config::JobTypeSpec OpenaqJobType() {
  return config::JobTypeSpec{"openaq",
                             [](config::MapReader& with, std::string_view job) -> std::any {
                               return ReadOpenaqSettings(with, job);
                             }};
}

}  // namespace jobs::openaq
