// A fake OpenAQ v3 API for the openaq job's tests and benchmark.
//
// Serves the documented shapes (tests/testdata/openaq) from generated data,
// with the API's semantics: X-API-Key checked (401), unknown locations and
// sensors 404, /v1 and /v2 answer 410, `limit` above 1000 is a 422 whose body
// is a bare JSON string, datetime_from is exclusive and datetime_to inclusive
// on the period end, both must carry a UTC offset, `page`/`limit` pagination
// with `meta.found` a number on short pages and ">limit" on full ones,
// x-ratelimit-* headers on every answer and 429 past the configured rate.
//
// It misbehaves on request (AddFault, or POST /_fake/fault for processes):
// a status on the Nth request, a truncated body, a reset connection, a slow
// or hanging answer, a page that repeats the previous page's last record.
//
// Data: each sensor is a series of hourly records; record i ends at
// start + i*interval and its value is a function of (sensor, i), so a test
// knows exactly what a complete fetch holds (ExpectedRecords).
//
// Thread-safe; cpp-httplib serves on its own threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tests/fakes/loopback_server.h"

namespace fakes {

struct FakeSeries {
  std::int64_t sensor_id = 0;
  std::string parameter = "pm25";
  std::string units = "µg/m³";
  int parameter_id = 2;
  std::int64_t start = 0;  // epoch seconds: the period end of record 0
  std::int64_t interval = 3600;
  std::int64_t count = 0;  // records published so far
  int invalid_every = 0;   // every Nth record's value is -999 (out of range)
  int null_every = 0;      // every Nth record's value is null
};

struct FakeLocation {
  std::int64_t id = 0;
  std::string name;
  std::string timezone = "UTC";
  std::vector<FakeSeries> sensors;
};

enum class FaultKind {
  kStatus,          // answer `status` ({"detail": ...}; 429 with rate-limit headers)
  kTruncate,        // announce the whole body, send half, close
  kReset,           // send headers, then close without a body
  kSlow,            // wait `delay_ms`, then answer normally
  kRepeatPrevious,  // a measurements page that starts with the record at datetime_from
                    // (moves on to the next request when there is none)
};

struct Fault {
  int nth = 0;  // 1-based number of the request it applies to (all paths counted)
  FaultKind kind = FaultKind::kStatus;
  int status = 500;
  int delay_ms = 0;  // kSlow; for a 429, the x-ratelimit-reset in ms (rounded up to s)
};

struct FakeRecord {
  std::int64_t sensor_id = 0;
  std::int64_t period_end = 0;  // epoch seconds
  std::optional<double> value;  // null when the record's value is null
};

class FakeOpenAq {
 public:
  struct Options {
    std::string api_key = "test-key";
    bool gzip = false;                // compress when the client accepts gzip
    int rate_limit_per_minute = 0;    // 0: never 429 on its own
    std::string cert_file, key_file;  // HTTPS when both are set
  };

  FakeOpenAq(std::vector<FakeLocation> locations, Options options);
  ~FakeOpenAq();

  void Start();
  std::string base_url() const { return server_->base_url(); }
  int port() const { return server_->port(); }

  void AddFault(Fault fault);
  // Publishes `more` records at the end of a sensor's series.
  void Extend(std::int64_t sensor_id, std::int64_t more);
  // Changes the value of record `index` (a late correction upstream).
  void ChangeValue(std::int64_t sensor_id, std::int64_t index, double value);

  int requests() const;
  std::vector<std::string> request_log() const;  // "path?query" per request

  // The value of record `i` of `series` as served (nullopt = null).
  std::optional<double> Value(const FakeSeries& series, std::int64_t i) const;
  // Every record currently published for a sensor, in time order.
  std::vector<FakeRecord> Records(std::int64_t sensor_id) const;
  const std::vector<FakeLocation>& locations() const { return locations_; }

 private:
  void Install();
  FakeSeries* FindSeries(std::int64_t sensor_id);

  Options options_;
  std::unique_ptr<LoopbackServer> server_;
  mutable std::mutex mutex_;
  // Guarded by mutex_.
  std::vector<FakeLocation> locations_;
  std::map<std::pair<std::int64_t, std::int64_t>, double> changed_;
  std::vector<Fault> faults_;
  std::vector<std::string> log_;
  int requests_ = 0;
  std::int64_t window_start_ = 0;
  int window_count_ = 0;
};

// Epoch seconds as "2024-11-03T11:00:00Z".
std::string FormatUtc(std::int64_t epoch_seconds);

}  // namespace fakes
