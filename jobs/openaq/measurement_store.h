// The openaq job's SQLite file: locations and their sensors, measurements
// keyed by (sensor, resolution, period end), rejected records with their
// reason, and one cursor per sensor and resolution.
//
// A page is written in one transaction together with the cursor it moves,
// so after a crash at any instant the next run neither skips nor duplicates
// data. A repeat of a stored record is a duplicate; the same key with a new
// value is an update (the new value is kept).
//
// Export files get the same guarantee through a queue: the rows a page
// changes are queued in the page's transaction; ExportQueued appends them to
// the location's file and, in one transaction, dequeues them and records the
// file's new size. A crash before that commit leaves the rows queued and
// the file possibly longer than recorded; the next ExportQueued cuts the
// file back to the recorded size (the unacknowledged tail, possibly a torn
// line) and appends the rows again. So every changed row is in the file
// exactly once, whenever the process dies.
//
// Blocking; one thread at a time (the job's run). Several processes may open
// the file (WAL); writers wait up to 30 s for each other.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "jobs/openaq/openaq_api.h"

namespace jobs::openaq {

struct WriteCounts {
  std::int64_t inserted = 0;
  std::int64_t updated = 0;
  std::int64_t duplicate = 0;
  std::int64_t invalid = 0;
};

// Where the rows a write changes are exported: they are queued in the same
// transaction as the rows themselves, then appended by ExportQueued.
struct ExportTag {
  std::int64_t location_id = 0;
  std::string parameter;
};

// A row waiting in the export queue.
struct QueuedRow {
  std::int64_t sensor_id = 0;
  std::string parameter;
  std::int64_t period_end = 0;
  double value = 0;
  bool updated = false;  // false: new
};

class MeasurementStore {
 public:
  // Opens or creates the file and its schema.
  static core::Result<MeasurementStore> Open(const std::filesystem::path& file);
  MeasurementStore(MeasurementStore&&) noexcept;
  MeasurementStore& operator=(MeasurementStore&&) noexcept;
  ~MeasurementStore();

  // When the location's sensors were last read from the API (epoch seconds).
  core::Result<std::optional<std::int64_t>> LocationRefreshedAt(std::int64_t location_id);
  // Replaces what is known about the location and its sensors.
  core::Result<void> SaveLocation(const LocationInfo& location, std::int64_t now);
  core::Result<std::vector<SensorInfo>> Sensors(std::int64_t location_id);

  // The period end up to which the sensor is complete; nullopt before its first run.
  core::Result<std::optional<std::int64_t>> Cursor(std::int64_t sensor_id, Resolution resolution);

  // Stores one page: valid records upserted, rejected ones (reasons[i] !=
  // kNone) recorded, and the cursor moved to `advance_to` unless that would
  // move it backwards; all in one transaction. With `export_to`, the rows
  // inserted or updated are queued for export in that transaction too.
  core::Result<WriteCounts> WritePage(std::int64_t sensor_id, Resolution resolution,
                                      std::span<const RawRecord> records,
                                      std::span<const Reject> reasons,
                                      std::optional<std::int64_t> advance_to, std::int64_t run_id,
                                      const ExportTag* export_to);

  // Locations with rows waiting in the export queue.
  core::Result<std::vector<std::int64_t>> QueuedExportLocations();
  // Appends the location's queued rows to `file` (one `line(row)` each,
  // `header` first when the file is new or empty), flushed to disk, then
  // dequeues them; see the note on export files above. Returns how many rows
  // were written. The file's folder must exist.
  core::Result<std::int64_t> ExportQueued(std::int64_t location_id,
                                          const std::filesystem::path& file,
                                          std::string_view header,
                                          const std::function<std::string(const QueuedRow&)>& line);

  // For tests and tools: every stored measurement of a sensor, in time order.
  core::Result<std::vector<std::pair<std::int64_t, double>>> Measurements(std::int64_t sensor_id,
                                                                          Resolution resolution);

 private:
  struct Impl;
  explicit MeasurementStore(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace jobs::openaq
