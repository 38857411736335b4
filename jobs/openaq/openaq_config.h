// The `with:` block of a `type: openaq` job: which OpenAQ v3 locations to
// fetch, where to keep them, and how hard to push the API.
//
//   with:
//     api_key: ${OPENAQ_API_KEY}         # required; sent as X-API-Key
//     base_url: https://api.openaq.org   # default
//     locations: [3459, 6093549]         # required, location ids
//     parameters: [pm25, no2]            # optional filter; default every sensor
//     resolution: raw                    # raw (measurements) | hours
//     database: openaq.db                # SQLite; default openaq-<job>.db beside the state store
//     start: 7d                          # first run: a time (2026-01-01) or how far back
//     lookback: 2h                       # re-read before the cursor on every run
//     page_size: 1000                    # 1..1000
//     concurrency: 4                     # requests in flight, 1..32
//     rate_limit: {per_minute: 60, per_hour: 2000}   # 0 = no limit
//     ranges: {pm25: {min: 0, max: 1000}}            # replaces that parameter's default
//     export: {format: jsonl, folder: exports}       # optional; jsonl | csv
//     from: 2026-01-01                   # backfill (usually via --set): fetch this range,
//     to: 2026-02-01                     # leave the cursors alone
//     ca_file: /etc/ssl/private-ca.pem   # optional, for a private CA (and tests)
//
// Plain values; the daemon reads them with JobConfig::Settings<OpenaqSettings>().
#pragma once

#include <any>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/job_type.h"
#include "config/map_reader.h"
#include "core/time.h"

namespace jobs::openaq {

enum class Resolution { kRaw, kHours };
enum class ExportFormat { kNone, kJsonl, kCsv };

struct ValueRange {
  double min = 0;
  double max = 0;
};

struct OpenaqSettings {
  std::string api_key;
  std::string base_url = "https://api.openaq.org";
  std::vector<std::int64_t> locations;
  std::vector<std::string> parameters;  // empty: all
  Resolution resolution = Resolution::kRaw;
  // Absolute once loaded; empty: openaq-<job>.db beside the state store
  // (DatabaseFor), known only when the job runs.
  std::filesystem::path database;
  // Where that default used to be (beside the config file): a database
  // already there is kept in use, so an upgrade does not start afresh.
  std::filesystem::path legacy_database;
  // Where a sensor without a cursor starts: a fixed time, or this long ago.
  std::optional<core::TimePoint> start_at;
  core::Duration start_ago = std::chrono::hours(24 * 7);
  core::Duration lookback = std::chrono::hours(2);
  int page_size = 1000;
  int concurrency = 4;
  int per_minute = 60;
  int per_hour = 2000;
  std::map<std::string, ValueRange> ranges;  // defaults merged with the config's
  ExportFormat export_format = ExportFormat::kNone;
  std::filesystem::path export_folder;
  std::optional<core::TimePoint> from;  // backfill range; both set or neither
  std::optional<core::TimePoint> to;
  std::optional<std::filesystem::path> ca_file;
  // Tolerated clock difference before a record counts as "in the future".
  core::Duration future_skew = std::chrono::minutes(10);
  // How often a location's sensor list is read again.
  core::Duration sensor_refresh = std::chrono::hours(24);
};

// The built-in valid ranges (pm25, pm10, o3, no2, so2, co, ...).
std::map<std::string, ValueRange> DefaultRanges();

// Validates `with` (reporting every problem through it) and returns what it
// found; placeholders stand in for wrong values.
OpenaqSettings ReadOpenaqSettings(config::MapReader& with, std::string_view job_name);

// Registers `type: openaq` with the config loader; settings are OpenaqSettings.
config::JobTypeSpec OpenaqJobType();

}  // namespace jobs::openaq
