#include "jobs/openaq/measurement_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "sqlite/database.h"
#include "sqlite/migrations.h"
#include "sqlite/statement.h"
#include "sqlite/transaction.h"

namespace jobs::openaq {
namespace {

using core::Unexpected;
using sqlite::Statement;
using sqlite::Transaction;

// Each entry moves the schema from version i to i+1 (sqlite/migrations.h).
// Never edit one that has shipped: add the next.
constexpr std::string_view kMigrations[] = {
    // The schema as jobsd created it before the file had a version, with IF
    // NOT EXISTS as it was then: a file made by that jobsd (user_version 0,
    // the tables there) is adopted as version 1 with its data.
    R"sql(
CREATE TABLE IF NOT EXISTS locations (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  timezone TEXT NOT NULL,
  refreshed_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sensors (
  id INTEGER PRIMARY KEY,
  location_id INTEGER NOT NULL,
  parameter TEXT NOT NULL,
  units TEXT NOT NULL,
  datetime_first INTEGER
);
CREATE INDEX IF NOT EXISTS sensors_by_location ON sensors (location_id);
CREATE TABLE IF NOT EXISTS measurements (
  sensor_id INTEGER NOT NULL,
  resolution TEXT NOT NULL,
  period_end INTEGER NOT NULL,
  period_start INTEGER,
  value REAL NOT NULL,
  run_id INTEGER NOT NULL,
  PRIMARY KEY (sensor_id, resolution, period_end)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rejects (
  id INTEGER PRIMARY KEY,
  sensor_id INTEGER NOT NULL,
  resolution TEXT NOT NULL,
  period_end INTEGER,
  value TEXT,
  reason TEXT NOT NULL,
  run_id INTEGER NOT NULL,
  UNIQUE (sensor_id, resolution, period_end, reason)
);
CREATE TABLE IF NOT EXISTS export_queue (
  seq INTEGER PRIMARY KEY,
  location_id INTEGER NOT NULL,
  sensor_id INTEGER NOT NULL,
  parameter TEXT NOT NULL,
  period_end INTEGER NOT NULL,
  value REAL NOT NULL,
  updated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS export_queue_by_location ON export_queue (location_id, seq);
CREATE TABLE IF NOT EXISTS export_files (
  path TEXT PRIMARY KEY,
  size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
  sensor_id INTEGER NOT NULL,
  resolution TEXT NOT NULL,
  period_end INTEGER NOT NULL,
  PRIMARY KEY (sensor_id, resolution)
) WITHOUT ROWID;
)sql",
};

const char* ResolutionName(Resolution r) { return r == Resolution::kHours ? "hours" : "raw"; }

// The error for a failed step, with what the store was doing.
core::Error Context(core::Error error, std::string_view what) {
  error.message = std::string(what) + ": " + error.message;
  return error;
}

}  // namespace

struct MeasurementStore::Impl {
  sqlite::Database db;
  // Prepared once in Open, reused for every record of every page.
  Statement insert, update, reject, cursor_get, cursor_set, queue;
};

MeasurementStore::MeasurementStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MeasurementStore::MeasurementStore(MeasurementStore&&) noexcept = default;
MeasurementStore& MeasurementStore::operator=(MeasurementStore&&) noexcept = default;
MeasurementStore::~MeasurementStore() = default;

core::Result<MeasurementStore> MeasurementStore::Open(const std::filesystem::path& file) {
  std::error_code ec;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  sqlite::Database::Options options;
  options.busy_timeout = std::chrono::seconds(30);
  options.wal = true;
  auto db = sqlite::Database::Open(file, options);
  if (!db) return Unexpected(db.error());
  if (auto migrated = sqlite::Migrate(*db, kMigrations); !migrated) {
    return Unexpected(migrated.error());
  }
  auto prepare = [&](std::string_view sql) -> core::Result<Statement> { return db->Prepare(sql); };
  auto insert = prepare(
      "INSERT OR IGNORE INTO measurements (sensor_id, resolution, period_end, period_start, "
      "value, run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  auto update = prepare(
      "UPDATE measurements SET value = ?4, run_id = ?5 WHERE sensor_id = ?1 AND resolution = ?2 "
      "AND period_end = ?3 AND value IS NOT ?4");
  auto reject = prepare(
      "INSERT OR IGNORE INTO rejects (sensor_id, resolution, period_end, value, reason, run_id) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  auto cursor_get =
      prepare("SELECT period_end FROM cursors WHERE sensor_id = ?1 AND resolution = ?2");
  auto cursor_set = prepare(
      "INSERT INTO cursors (sensor_id, resolution, period_end) VALUES (?1, ?2, ?3) "
      "ON CONFLICT (sensor_id, resolution) DO UPDATE SET period_end = excluded.period_end "
      "WHERE excluded.period_end > cursors.period_end");
  auto queue = prepare(
      "INSERT INTO export_queue (location_id, sensor_id, parameter, period_end, value, updated) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  for (const auto* stmt : {&insert, &update, &reject, &cursor_get, &cursor_set, &queue}) {
    if (!*stmt) return Unexpected(stmt->error());
  }
  auto impl = std::unique_ptr<Impl>(new Impl{std::move(*db), std::move(*insert), std::move(*update),
                                             std::move(*reject), std::move(*cursor_get),
                                             std::move(*cursor_set), std::move(*queue)});
  return MeasurementStore(std::move(impl));
}

core::Result<std::optional<std::int64_t>> MeasurementStore::LocationRefreshedAt(
    std::int64_t location_id) {
  auto stmt = impl_->db.Prepare("SELECT refreshed_at FROM locations WHERE id = ?1");
  if (!stmt) return Unexpected(stmt.error());
  stmt->Bind(1, location_id);
  auto row = stmt->Step();
  if (!row) return Unexpected(Context(row.error(), "read location"));
  if (!*row) return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(stmt->Int(0));
}

core::Result<void> MeasurementStore::SaveLocation(const LocationInfo& location, std::int64_t now) {
  auto tx = Transaction::Begin(impl_->db);
  if (!tx) return Unexpected(tx.error());
  auto loc = impl_->db.Prepare(
      "INSERT INTO locations (id, name, timezone, refreshed_at) VALUES (?1, ?2, ?3, "
      "?4) ON CONFLICT (id) DO UPDATE SET name = excluded.name, timezone = "
      "excluded.timezone, refreshed_at = excluded.refreshed_at");
  auto del = impl_->db.Prepare("DELETE FROM sensors WHERE location_id = ?1");
  auto ins = impl_->db.Prepare(
      "INSERT OR REPLACE INTO sensors (id, location_id, parameter, units, "
      "datetime_first) VALUES (?1, ?2, ?3, ?4, ?5)");
  for (const auto* stmt : {&loc, &del, &ins}) {
    if (!*stmt) return Unexpected(stmt->error());
  }
  loc->Bind(1, location.id).Bind(2, location.name).Bind(3, location.timezone).Bind(4, now);
  if (auto ok = loc->Run(); !ok) return Unexpected(Context(ok.error(), "save location"));
  del->Bind(1, location.id);
  if (auto ok = del->Run(); !ok) return Unexpected(Context(ok.error(), "save sensors"));
  for (const SensorInfo& s : location.sensors) {
    ins->Bind(1, s.id)
        .Bind(2, location.id)
        .Bind(3, s.parameter)
        .Bind(4, s.units)
        .Bind(5, s.datetime_first);
    if (auto ok = ins->Run(); !ok) return Unexpected(Context(ok.error(), "save sensors"));
  }
  return tx->Commit();
}

core::Result<std::vector<SensorInfo>> MeasurementStore::Sensors(std::int64_t location_id) {
  auto stmt = impl_->db.Prepare(
      "SELECT id, parameter, units, datetime_first FROM sensors WHERE location_id = ?1 ORDER BY "
      "id");
  if (!stmt) return Unexpected(stmt.error());
  stmt->Bind(1, location_id);
  std::vector<SensorInfo> out;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Unexpected(Context(row.error(), "read sensors"));
    if (!*row) return out;
    SensorInfo s;
    s.id = stmt->Int(0);
    s.location_id = location_id;
    s.parameter = stmt->Text(1);
    s.units = stmt->Text(2);
    s.datetime_first = stmt->OptionalInt(3);
    out.push_back(std::move(s));
  }
}

core::Result<std::optional<std::int64_t>> MeasurementStore::Cursor(std::int64_t sensor_id,
                                                                   Resolution resolution) {
  Statement& stmt = impl_->cursor_get;
  stmt.Bind(1, sensor_id).BindNoCopy(2, ResolutionName(resolution));
  auto row = stmt.Step();
  std::optional<std::int64_t> out;
  if (row && *row) out = stmt.Int(0);
  stmt.Reset();
  if (!row) return Unexpected(Context(row.error(), "read cursor"));
  return out;
}

core::Result<WriteCounts> MeasurementStore::WritePage(std::int64_t sensor_id, Resolution resolution,
                                                      std::span<const RawRecord> records,
                                                      std::span<const Reject> reasons,
                                                      std::optional<std::int64_t> advance_to,
                                                      std::int64_t run_id,
                                                      const ExportTag* export_to) {
  Impl& s = *impl_;
  const char* res = ResolutionName(resolution);
  // The page and the cursor commit together, or neither does.
  auto tx = Transaction::Begin(s.db);
  if (!tx) return Unexpected(Context(tx.error(), "begin"));
  WriteCounts counts;
  auto queue = [&](const RawRecord& r, bool updated) -> core::Result<void> {
    if (!export_to) return {};
    s.queue.Bind(1, export_to->location_id)
        .Bind(2, sensor_id)
        .BindNoCopy(3, export_to->parameter)
        .Bind(4, *r.period_end)
        .Bind(5, *r.value)
        .Bind(6, updated ? 1 : 0);
    return s.queue.Run();
  };
  for (std::size_t i = 0; i < records.size(); ++i) {
    const RawRecord& r = records[i];
    if (reasons[i] != Reject::kNone) {
      ++counts.invalid;
      char value[32] = "null";
      if (r.value) std::snprintf(value, sizeof value, "%.17g", *r.value);
      if (!r.has_value) std::snprintf(value, sizeof value, "missing");
      s.reject.Bind(1, sensor_id)
          .BindNoCopy(2, res)
          .Bind(3, r.period_end)
          .BindNoCopy(4, value)
          .BindNoCopy(5, ReasonName(reasons[i]))
          .Bind(6, run_id);
      if (auto ok = s.reject.Run(); !ok) return Unexpected(Context(ok.error(), "record reject"));
      continue;
    }
    s.insert.Bind(1, sensor_id)
        .BindNoCopy(2, res)
        .Bind(3, *r.period_end)
        .Bind(4, r.period_start)
        .Bind(5, *r.value)
        .Bind(6, run_id);
    if (auto ok = s.insert.Run(); !ok) return Unexpected(Context(ok.error(), "insert"));
    if (s.db.Changes() == 1) {
      ++counts.inserted;
      if (auto ok = queue(r, false); !ok) return Unexpected(Context(ok.error(), "queue export"));
      continue;
    }
    s.update.Bind(1, sensor_id)
        .BindNoCopy(2, res)
        .Bind(3, *r.period_end)
        .Bind(4, *r.value)
        .Bind(5, run_id);
    if (auto ok = s.update.Run(); !ok) return Unexpected(Context(ok.error(), "update"));
    if (s.db.Changes() == 1) {
      ++counts.updated;
      if (auto ok = queue(r, true); !ok) return Unexpected(Context(ok.error(), "queue export"));
    } else {
      ++counts.duplicate;
    }
  }
  if (advance_to) {
    s.cursor_set.Bind(1, sensor_id).BindNoCopy(2, res).Bind(3, *advance_to);
    if (auto ok = s.cursor_set.Run(); !ok) return Unexpected(Context(ok.error(), "move cursor"));
  }
  if (auto ok = tx->Commit(); !ok) return Unexpected(Context(ok.error(), "commit"));
  return counts;
}

core::Result<std::vector<std::int64_t>> MeasurementStore::QueuedExportLocations() {
  auto stmt = impl_->db.Prepare("SELECT DISTINCT location_id FROM export_queue");
  if (!stmt) return Unexpected(stmt.error());
  std::vector<std::int64_t> out;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Unexpected(Context(row.error(), "read export queue"));
    if (!*row) return out;
    out.push_back(stmt->Int(0));
  }
}

core::Result<std::int64_t> MeasurementStore::ExportQueued(
    std::int64_t location_id, const std::filesystem::path& file, std::string_view header,
    const std::function<std::string(const QueuedRow&)>& line) {
  Impl& s = *impl_;
  // The write lock for the whole export: two runs sharing this database
  // never append to one file at the same time. Every early return below
  // rolls back (the Transaction's destructor), leaving the rows queued.
  auto tx = Transaction::Begin(s.db);
  if (!tx) return Unexpected(Context(tx.error(), "begin export"));
  int fd = -1;
  auto fail = [&](core::Error error) {
    if (fd >= 0) ::close(fd);
    return Unexpected(std::move(error));
  };
  auto file_error = [&](const std::string& what) {
    return core::Error{core::ErrorKind::kIo,
                       "export: " + what + " " + file.string() + ": " + std::strerror(errno),
                       false};
  };
  auto rows = s.db.Prepare(
      "SELECT seq, sensor_id, parameter, period_end, value, updated FROM export_queue "
      "WHERE location_id = ?1 ORDER BY seq");
  auto recorded = s.db.Prepare("SELECT size FROM export_files WHERE path = ?1");
  auto dequeue = s.db.Prepare("DELETE FROM export_queue WHERE location_id = ?1 AND seq <= ?2");
  auto record = s.db.Prepare(
      "INSERT INTO export_files (path, size) VALUES (?1, ?2) ON CONFLICT (path) DO "
      "UPDATE SET size = excluded.size");
  for (const auto* stmt : {&rows, &recorded, &dequeue, &record}) {
    if (!*stmt) return Unexpected(Context(stmt->error(), "prepare export"));
  }
  std::string text;
  std::int64_t count = 0, last_seq = 0;
  rows->Bind(1, location_id);
  for (;;) {
    auto row = rows->Step();
    if (!row) return Unexpected(Context(row.error(), "read export queue"));
    if (!*row) break;
    QueuedRow queued;
    last_seq = rows->Int(0);
    queued.sensor_id = rows->Int(1);
    queued.parameter = rows->Text(2);
    queued.period_end = rows->Int(3);
    queued.value = rows->Double(4);
    queued.updated = rows->Int(5) != 0;
    text += line(queued);
    ++count;
  }
  // Nothing queued means nothing was appended without being recorded.
  if (count == 0) return count;

  const std::string path = file.string();
  recorded->Bind(1, path);
  auto known_row = recorded->Step();
  if (!known_row) return Unexpected(Context(known_row.error(), "read export state"));
  // -1: no size recorded for this file yet.
  const std::int64_t known = *known_row ? recorded->Int(0) : -1;

  fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return fail(file_error("cannot open"));
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(file_error("cannot read the size of"));
  std::int64_t size = st.st_size;
  // Longer than recorded: an append whose dequeue never committed (the rows
  // are still queued). Shorter: someone rotated or cut the file; go on
  // from what is there.
  if (known >= 0 && size > known) {
    if (::ftruncate(fd, known) != 0) return fail(file_error("cannot cut the unrecorded tail of"));
    size = known;
  }
  if (size == 0) text.insert(0, header);
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail(file_error("cannot append to"));
    done += std::size_t(n);
  }
  if (::fdatasync(fd) != 0) return fail(file_error("cannot flush"));
  ::close(fd);
  fd = -1;
  size += std::int64_t(text.size());

  dequeue->Bind(1, location_id).Bind(2, last_seq);
  record->Bind(1, path).Bind(2, size);
  if (auto ok = dequeue->Run(); !ok)
    return Unexpected(Context(ok.error(), "dequeue exported rows"));
  if (auto ok = record->Run(); !ok) return Unexpected(Context(ok.error(), "dequeue exported rows"));
  if (auto ok = tx->Commit(); !ok) return Unexpected(Context(ok.error(), "commit export"));
  return count;
}

core::Result<std::vector<std::pair<std::int64_t, double>>> MeasurementStore::Measurements(
    std::int64_t sensor_id, Resolution resolution) {
  auto stmt = impl_->db.Prepare(
      "SELECT period_end, value FROM measurements WHERE sensor_id = ?1 AND resolution = ?2 "
      "ORDER BY period_end");
  if (!stmt) return Unexpected(stmt.error());
  stmt->Bind(1, sensor_id).BindNoCopy(2, ResolutionName(resolution));
  std::vector<std::pair<std::int64_t, double>> out;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Unexpected(Context(row.error(), "read measurements"));
    if (!*row) return out;
    out.emplace_back(stmt->Int(0), stmt->Double(1));
  }
}

}  // namespace jobs::openaq
