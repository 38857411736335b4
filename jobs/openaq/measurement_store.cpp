#include "jobs/openaq/measurement_store.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace jobs::openaq {
namespace {

constexpr const char* kSchema = R"sql(
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
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
)sql";

const char* ResolutionName(Resolution r) { return r == Resolution::kHours ? "hours" : "raw"; }

class Stmt {
 public:
  Stmt() = default;
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  ~Stmt() { sqlite3_finalize(stmt_); }
  sqlite3_stmt** out() { return &stmt_; }
  sqlite3_stmt* get() const { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

}  // namespace

struct MeasurementStore::Impl {
  sqlite3* db = nullptr;
  std::filesystem::path file;
  Stmt insert, update, reject, cursor_get, cursor_set, queue, begin, commit, rollback;

  // close_v2: the statements (members, destroyed after this body) are
  // finalized afterwards, and the connection closes with the last of them.
  ~Impl() { sqlite3_close_v2(db); }

  core::Error Fail(const std::string& what) const {
    return core::Error{
        core::ErrorKind::kIo,
        file.string() + ": " + what + ": " + (db ? sqlite3_errmsg(db) : "no database"),
        sqlite3_errcode(db) == SQLITE_BUSY || sqlite3_errcode(db) == SQLITE_LOCKED};
  }

  core::Result<void> Prepare(Stmt& stmt, const char* sql) {
    if (sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt.out(), nullptr) !=
        SQLITE_OK) {
      return core::Unexpected(Fail("prepare"));
    }
    return {};
  }

  core::Result<void> Exec(const char* sql) {
    char* message = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &message) != SQLITE_OK) {
      std::string text = message ? message : "error";
      sqlite3_free(message);
      return core::Unexpected(
          core::Error{core::ErrorKind::kIo, file.string() + ": " + text, false});
    }
    return {};
  }

  // Runs a statement to completion and resets it.
  bool Run(Stmt& stmt) {
    const int rc = sqlite3_step(stmt.get());
    sqlite3_reset(stmt.get());
    sqlite3_clear_bindings(stmt.get());
    return rc == SQLITE_DONE || rc == SQLITE_ROW;
  }
};

MeasurementStore::MeasurementStore(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MeasurementStore::MeasurementStore(MeasurementStore&&) noexcept = default;
MeasurementStore& MeasurementStore::operator=(MeasurementStore&&) noexcept = default;
MeasurementStore::~MeasurementStore() = default;

core::Result<MeasurementStore> MeasurementStore::Open(const std::filesystem::path& file) {
  auto impl = std::make_unique<Impl>();
  impl->file = file;
  std::error_code ec;
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path(), ec);
  if (sqlite3_open_v2(file.c_str(), &impl->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                      nullptr) != SQLITE_OK) {
    return core::Unexpected(impl->Fail("cannot open"));
  }
  sqlite3_busy_timeout(impl->db, 30'000);
  if (auto r = impl->Exec(kSchema); !r) return core::Unexpected(r.error());
  struct {
    Stmt* stmt;
    const char* sql;
  } statements[] = {
      {&impl->insert,
       "INSERT OR IGNORE INTO measurements (sensor_id, resolution, period_end, period_start, "
       "value, "
       "run_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
      {&impl->update,
       "UPDATE measurements SET value = ?4, run_id = ?5 WHERE sensor_id = ?1 AND resolution = ?2 "
       "AND period_end = ?3 AND value IS NOT ?4"},
      {&impl->reject,
       "INSERT OR IGNORE INTO rejects (sensor_id, resolution, period_end, value, reason, run_id) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
      {&impl->cursor_get,
       "SELECT period_end FROM cursors WHERE sensor_id = ?1 AND resolution = ?2"},
      {&impl->cursor_set,
       "INSERT INTO cursors (sensor_id, resolution, period_end) VALUES (?1, ?2, ?3) "
       "ON CONFLICT (sensor_id, resolution) DO UPDATE SET period_end = excluded.period_end "
       "WHERE excluded.period_end > cursors.period_end"},
      {&impl->queue,
       "INSERT INTO export_queue (location_id, sensor_id, parameter, period_end, value, updated) "
       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)"},
      {&impl->begin, "BEGIN IMMEDIATE"},
      {&impl->commit, "COMMIT"},
      {&impl->rollback, "ROLLBACK"},
  };
  for (auto& s : statements) {
    if (auto r = impl->Prepare(*s.stmt, s.sql); !r) return core::Unexpected(r.error());
  }
  return MeasurementStore(std::move(impl));
}

core::Result<std::optional<std::int64_t>> MeasurementStore::LocationRefreshedAt(
    std::int64_t location_id) {
  Stmt stmt;
  if (auto r = impl_->Prepare(stmt, "SELECT refreshed_at FROM locations WHERE id = ?1"); !r) {
    return core::Unexpected(r.error());
  }
  sqlite3_bind_int64(stmt.get(), 1, location_id);
  const int rc = sqlite3_step(stmt.get());
  if (rc == SQLITE_ROW) return std::optional<std::int64_t>(sqlite3_column_int64(stmt.get(), 0));
  if (rc == SQLITE_DONE) return std::optional<std::int64_t>();
  return core::Unexpected(impl_->Fail("read location"));
}

core::Result<void> MeasurementStore::SaveLocation(const LocationInfo& location, std::int64_t now) {
  if (auto r = impl_->Exec("BEGIN IMMEDIATE"); !r) return r;
  auto fail = [&](const char* what) {
    core::Error error = impl_->Fail(what);
    static_cast<void>(impl_->Exec("ROLLBACK"));
    return core::Unexpected(std::move(error));
  };
  Stmt loc, del, ins;
  if (!impl_->Prepare(
          loc,
          "INSERT INTO locations (id, name, timezone, refreshed_at) VALUES (?1, ?2, ?3, "
          "?4) ON CONFLICT (id) DO UPDATE SET name = excluded.name, timezone = "
          "excluded.timezone, refreshed_at = excluded.refreshed_at") ||
      !impl_->Prepare(del, "DELETE FROM sensors WHERE location_id = ?1") ||
      !impl_->Prepare(ins,
                      "INSERT OR REPLACE INTO sensors (id, location_id, parameter, units, "
                      "datetime_first) VALUES (?1, ?2, ?3, ?4, ?5)")) {
    return fail("prepare");
  }
  sqlite3_bind_int64(loc.get(), 1, location.id);
  sqlite3_bind_text(loc.get(), 2, location.name.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(loc.get(), 3, location.timezone.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(loc.get(), 4, now);
  if (sqlite3_step(loc.get()) != SQLITE_DONE) return fail("save location");
  sqlite3_bind_int64(del.get(), 1, location.id);
  if (sqlite3_step(del.get()) != SQLITE_DONE) return fail("save sensors");
  for (const SensorInfo& s : location.sensors) {
    sqlite3_reset(ins.get());
    sqlite3_bind_int64(ins.get(), 1, s.id);
    sqlite3_bind_int64(ins.get(), 2, location.id);
    sqlite3_bind_text(ins.get(), 3, s.parameter.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(ins.get(), 4, s.units.c_str(), -1, SQLITE_TRANSIENT);
    if (s.datetime_first) {
      sqlite3_bind_int64(ins.get(), 5, *s.datetime_first);
    } else {
      sqlite3_bind_null(ins.get(), 5);
    }
    if (sqlite3_step(ins.get()) != SQLITE_DONE) return fail("save sensors");
  }
  if (auto r = impl_->Exec("COMMIT"); !r) return fail("commit");
  return {};
}

core::Result<std::vector<SensorInfo>> MeasurementStore::Sensors(std::int64_t location_id) {
  Stmt stmt;
  if (auto r = impl_->Prepare(stmt,
                              "SELECT id, parameter, units, datetime_first FROM sensors WHERE "
                              "location_id = ?1 ORDER BY id");
      !r) {
    return core::Unexpected(r.error());
  }
  sqlite3_bind_int64(stmt.get(), 1, location_id);
  std::vector<SensorInfo> out;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    SensorInfo s;
    s.id = sqlite3_column_int64(stmt.get(), 0);
    s.location_id = location_id;
    s.parameter = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 1));
    s.units = reinterpret_cast<const char*>(sqlite3_column_text(stmt.get(), 2));
    if (sqlite3_column_type(stmt.get(), 3) != SQLITE_NULL) {
      s.datetime_first = sqlite3_column_int64(stmt.get(), 3);
    }
    out.push_back(std::move(s));
  }
  if (rc != SQLITE_DONE) return core::Unexpected(impl_->Fail("read sensors"));
  return out;
}

core::Result<std::optional<std::int64_t>> MeasurementStore::Cursor(std::int64_t sensor_id,
                                                                   Resolution resolution) {
  sqlite3_stmt* stmt = impl_->cursor_get.get();
  sqlite3_bind_int64(stmt, 1, sensor_id);
  sqlite3_bind_text(stmt, 2, ResolutionName(resolution), -1, SQLITE_STATIC);
  const int rc = sqlite3_step(stmt);
  std::optional<std::int64_t> out;
  if (rc == SQLITE_ROW) out = sqlite3_column_int64(stmt, 0);
  sqlite3_reset(stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return core::Unexpected(impl_->Fail("read cursor"));
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
  if (!s.Run(s.begin)) return core::Unexpected(s.Fail("begin"));
  auto fail = [&](const char* what) {
    core::Error error = s.Fail(what);
    s.Run(s.rollback);
    return core::Unexpected(std::move(error));
  };
  WriteCounts counts;
  auto queue = [&](const RawRecord& r, bool updated) {
    if (!export_to) return true;
    sqlite3_stmt* q = s.queue.get();
    sqlite3_bind_int64(q, 1, export_to->location_id);
    sqlite3_bind_int64(q, 2, sensor_id);
    sqlite3_bind_text(q, 3, export_to->parameter.data(), int(export_to->parameter.size()),
                      SQLITE_STATIC);
    sqlite3_bind_int64(q, 4, *r.period_end);
    sqlite3_bind_double(q, 5, *r.value);
    sqlite3_bind_int(q, 6, updated ? 1 : 0);
    return s.Run(s.queue);
  };
  for (std::size_t i = 0; i < records.size(); ++i) {
    const RawRecord& r = records[i];
    if (reasons[i] != Reject::kNone) {
      ++counts.invalid;
      sqlite3_stmt* st = s.reject.get();
      sqlite3_bind_int64(st, 1, sensor_id);
      sqlite3_bind_text(st, 2, res, -1, SQLITE_STATIC);
      if (r.period_end) sqlite3_bind_int64(st, 3, *r.period_end);
      char value[32] = "null";
      if (r.value) std::snprintf(value, sizeof value, "%.17g", *r.value);
      if (!r.has_value) std::snprintf(value, sizeof value, "missing");
      sqlite3_bind_text(st, 4, value, -1, SQLITE_TRANSIENT);
      const std::string_view reason = ReasonName(reasons[i]);
      sqlite3_bind_text(st, 5, reason.data(), int(reason.size()), SQLITE_STATIC);
      sqlite3_bind_int64(st, 6, run_id);
      if (!s.Run(s.reject)) return fail("record reject");
      continue;
    }
    sqlite3_stmt* ins = s.insert.get();
    sqlite3_bind_int64(ins, 1, sensor_id);
    sqlite3_bind_text(ins, 2, res, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 3, *r.period_end);
    if (r.period_start) sqlite3_bind_int64(ins, 4, *r.period_start);
    sqlite3_bind_double(ins, 5, *r.value);
    sqlite3_bind_int64(ins, 6, run_id);
    if (!s.Run(s.insert)) return fail("insert");
    if (sqlite3_changes(s.db) == 1) {
      ++counts.inserted;
      if (!queue(r, false)) return fail("queue export");
      continue;
    }
    sqlite3_stmt* up = s.update.get();
    sqlite3_bind_int64(up, 1, sensor_id);
    sqlite3_bind_text(up, 2, res, -1, SQLITE_STATIC);
    sqlite3_bind_int64(up, 3, *r.period_end);
    sqlite3_bind_double(up, 4, *r.value);
    sqlite3_bind_int64(up, 5, run_id);
    if (!s.Run(s.update)) return fail("update");
    if (sqlite3_changes(s.db) == 1) {
      ++counts.updated;
      if (!queue(r, true)) return fail("queue export");
    } else {
      ++counts.duplicate;
    }
  }
  if (advance_to) {
    sqlite3_stmt* st = s.cursor_set.get();
    sqlite3_bind_int64(st, 1, sensor_id);
    sqlite3_bind_text(st, 2, res, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, *advance_to);
    if (!s.Run(s.cursor_set)) return fail("move cursor");
  }
  if (!s.Run(s.commit)) return fail("commit");
  return counts;
}

core::Result<std::vector<std::int64_t>> MeasurementStore::QueuedExportLocations() {
  Stmt stmt;
  if (auto r = impl_->Prepare(stmt, "SELECT DISTINCT location_id FROM export_queue"); !r) {
    return core::Unexpected(r.error());
  }
  std::vector<std::int64_t> out;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    out.push_back(sqlite3_column_int64(stmt.get(), 0));
  }
  if (rc != SQLITE_DONE) return core::Unexpected(impl_->Fail("read export queue"));
  return out;
}

core::Result<std::int64_t> MeasurementStore::ExportQueued(
    std::int64_t location_id, const std::filesystem::path& file, std::string_view header,
    const std::function<std::string(const QueuedRow&)>& line) {
  Impl& s = *impl_;
  // The write lock for the whole export: two runs sharing this database
  // never append to one file at the same time.
  if (!s.Run(s.begin)) return core::Unexpected(s.Fail("begin export"));
  int fd = -1;
  auto fail = [&](core::Error error) {
    if (fd >= 0) ::close(fd);
    s.Run(s.rollback);
    return core::Unexpected(std::move(error));
  };
  auto file_error = [&](const std::string& what) {
    return core::Error{core::ErrorKind::kIo,
                       "export: " + what + " " + file.string() + ": " + std::strerror(errno),
                       false};
  };
  Stmt rows, recorded, dequeue, record;
  if (!s.Prepare(rows,
                 "SELECT seq, sensor_id, parameter, period_end, value, updated FROM export_queue "
                 "WHERE location_id = ?1 ORDER BY seq") ||
      !s.Prepare(recorded, "SELECT size FROM export_files WHERE path = ?1") ||
      !s.Prepare(dequeue, "DELETE FROM export_queue WHERE location_id = ?1 AND seq <= ?2") ||
      !s.Prepare(record,
                 "INSERT INTO export_files (path, size) VALUES (?1, ?2) ON CONFLICT (path) DO "
                 "UPDATE SET size = excluded.size")) {
    return fail(s.Fail("prepare export"));
  }
  std::string text;
  std::int64_t count = 0, last_seq = 0;
  sqlite3_bind_int64(rows.get(), 1, location_id);
  int rc;
  while ((rc = sqlite3_step(rows.get())) == SQLITE_ROW) {
    QueuedRow row;
    last_seq = sqlite3_column_int64(rows.get(), 0);
    row.sensor_id = sqlite3_column_int64(rows.get(), 1);
    row.parameter = reinterpret_cast<const char*>(sqlite3_column_text(rows.get(), 2));
    row.period_end = sqlite3_column_int64(rows.get(), 3);
    row.value = sqlite3_column_double(rows.get(), 4);
    row.updated = sqlite3_column_int(rows.get(), 5) != 0;
    text += line(row);
    ++count;
  }
  if (rc != SQLITE_DONE) return fail(s.Fail("read export queue"));
  if (count == 0) {
    // Nothing queued means nothing was appended without being recorded.
    s.Run(s.rollback);
    return count;
  }

  const std::string path = file.string();
  sqlite3_bind_text(recorded.get(), 1, path.c_str(), -1, SQLITE_TRANSIENT);
  rc = sqlite3_step(recorded.get());
  if (rc != SQLITE_ROW && rc != SQLITE_DONE) return fail(s.Fail("read export state"));
  const std::optional<std::int64_t> known =
      rc == SQLITE_ROW ? std::optional(sqlite3_column_int64(recorded.get(), 0)) : std::nullopt;

  fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return fail(file_error("cannot open"));
  struct stat st {};
  if (::fstat(fd, &st) != 0) return fail(file_error("cannot read the size of"));
  std::int64_t size = st.st_size;
  // Longer than recorded: an append whose dequeue never committed (the rows
  // are still queued). Shorter: someone rotated or cut the file; go on
  // from what is there.
  if (known && size > *known) {
    if (::ftruncate(fd, *known) != 0) return fail(file_error("cannot cut the unrecorded tail of"));
    size = *known;
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

  sqlite3_bind_int64(dequeue.get(), 1, location_id);
  sqlite3_bind_int64(dequeue.get(), 2, last_seq);
  sqlite3_bind_text(record.get(), 1, path.c_str(), -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(record.get(), 2, size);
  if (sqlite3_step(dequeue.get()) != SQLITE_DONE || sqlite3_step(record.get()) != SQLITE_DONE) {
    return fail(s.Fail("dequeue exported rows"));
  }
  if (!s.Run(s.commit)) return fail(s.Fail("commit export"));
  return count;
}

core::Result<std::vector<std::pair<std::int64_t, double>>> MeasurementStore::Measurements(
    std::int64_t sensor_id, Resolution resolution) {
  Stmt stmt;
  if (auto r = impl_->Prepare(stmt,
                              "SELECT period_end, value FROM measurements WHERE sensor_id = ?1 AND "
                              "resolution = ?2 ORDER BY period_end");
      !r) {
    return core::Unexpected(r.error());
  }
  sqlite3_bind_int64(stmt.get(), 1, sensor_id);
  sqlite3_bind_text(stmt.get(), 2, ResolutionName(resolution), -1, SQLITE_STATIC);
  std::vector<std::pair<std::int64_t, double>> out;
  int rc;
  while ((rc = sqlite3_step(stmt.get())) == SQLITE_ROW) {
    out.emplace_back(sqlite3_column_int64(stmt.get(), 0), sqlite3_column_double(stmt.get(), 1));
  }
  if (rc != SQLITE_DONE) return core::Unexpected(impl_->Fail("read measurements"));
  return out;
}

}  // namespace jobs::openaq
