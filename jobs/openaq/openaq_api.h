// What the openaq job knows about the OpenAQ v3 API: the requests it makes,
// how it reads the answers, and which records it accepts.
//
// Facts the code relies on (see tests/testdata/openaq):
//   - datetime_from is exclusive and datetime_to inclusive, on the period end
//     (period.datetimeTo); without a UTC offset OpenAQ reads them in the
//     location's local time, so they always carry one ("Z").
//   - meta.found is a number on a short page and a string (">1000") on a full
//     one; a page shorter than `limit` (or empty) is the last.
//   - A page may repeat the previous page's last records (OFFSET pagination
//     racing inserts); the job pages by time instead (datetime_from = the
//     last period end seen), and the store absorbs repeats as duplicates.
//   - `value` may be null; sentinels like -999 occur.
//   - Error bodies are {"detail": "..."}, except 422 whose body is a bare
//     JSON string.
//
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "jobs/openaq/openaq_config.h"

namespace jobs::openaq {

struct SensorInfo {
  std::int64_t id = 0;
  std::int64_t location_id = 0;
  std::string parameter;
  std::string units;
  std::optional<std::int64_t> datetime_first;  // epoch seconds
};

struct LocationInfo {
  std::int64_t id = 0;
  std::string name;
  std::string timezone;
  std::vector<SensorInfo> sensors;
};

// One record as it came, before validation.
struct RawRecord {
  std::optional<std::int64_t> period_end;  // epoch seconds; nullopt: missing or unreadable
  std::optional<std::int64_t> period_start;
  bool has_value = false;       // the key is there (it may be null)
  std::optional<double> value;  // null -> nullopt
  std::string parameter;
};

struct Page {
  std::vector<RawRecord> records;
  bool found_more = false;  // meta.found was ">N"
};

// Path and query of a measurements page ("/v3/sensors/1/measurements?...").
std::string MeasurementsTarget(std::int64_t sensor_id, Resolution resolution, std::int64_t from,
                               std::int64_t to, int limit);

// /v3/locations/{id} (sensors and time zone) and /v3/locations/{id}/sensors
// (each sensor's first datetime).
core::Result<LocationInfo> ParseLocation(std::string_view body);
core::Result<std::vector<SensorInfo>> ParseSensors(std::string_view body);
core::Result<Page> ParsePage(std::string_view body);

// The message OpenAQ put in an error body: "detail", or the bare string of a
// 422; empty when there is none. Cut after 300 bytes, on a character
// boundary, with "..." (core::CutUtf8).
std::string ErrorDetail(std::string_view body);

// Why a record is rejected; names are the metric suffixes (invalid_<reason>).
enum class Reject { kNone, kMissingField, kNotFinite, kOutOfRange, kFuture, kBeforeFirst };
std::string_view ReasonName(Reject reason);

struct ValidationContext {
  const ValueRange* range = nullptr;  // the sensor's parameter's, if any
  std::optional<std::int64_t> datetime_first;
  std::int64_t now = 0;  // epoch seconds
  std::int64_t skew = 600;
};

Reject Validate(const RawRecord& record, const ValidationContext& context);

// "2024-11-03T11:00:00Z" and offsets ("+01:00"); nullopt when unreadable.
std::optional<std::int64_t> ParseUtcSeconds(std::string_view text);
std::string FormatUtcSeconds(std::int64_t epoch_seconds);

}  // namespace jobs::openaq
