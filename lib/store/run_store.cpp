#include "store/run_store.h"

#include <array>
#include <limits>
#include <map>
#include <random>
#include <unordered_map>

#include <fmt/format.h>
#include <system_error>

namespace store {
namespace {

using core::Unexpected;

constexpr std::array<std::string_view, 7> kStatusNames = {
    "running", "ok", "failed", "timeout", "skipped", "cancelled", "interrupted"};
constexpr std::array<std::string_view, 6> kTriggerNames = {"schedule", "manual", "chain",
                                                           "event",    "retry",  "catchup"};

// Each entry moves the schema from version i to i+1. Never edit one that has
// shipped: add the next.
constexpr std::string_view kMigrations[] = {
    R"sql(
CREATE TABLE runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job TEXT NOT NULL,
  trigger TEXT NOT NULL,
  scheduled_at INTEGER,           -- microseconds since the Unix epoch, UTC
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  status TEXT NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 1,
  error TEXT NOT NULL DEFAULT '',
  output TEXT NOT NULL DEFAULT '',
  metrics TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX runs_by_job ON runs (job, started_at);
CREATE INDEX runs_by_start ON runs (started_at);
CREATE INDEX runs_running ON runs (status) WHERE status = 'running';
CREATE TABLE job_health (
  job TEXT PRIMARY KEY,
  consecutive_failures INTEGER NOT NULL DEFAULT 0,
  last_success_at INTEGER,
  last_failure_at INTEGER,
  last_status TEXT
);
CREATE TABLE job_state (
  job TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (job, key)
);
)sql",
    // The alert outbox: an alert is written with one pending delivery per
    // channel in the transaction of the run that raised it, then delivered.
    // alert_state remembers, per job and rule, whether the rule holds and
    // what was last sent, so a restart neither repeats nor forgets an alert.
    R"sql(
CREATE TABLE alerts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  raised_at INTEGER NOT NULL,
  job TEXT NOT NULL,              -- '' for daemon-wide alerts
  rule TEXT NOT NULL,
  kind TEXT NOT NULL,             -- firing, repeat, escalation, recovery
  severity TEXT NOT NULL,
  summary TEXT NOT NULL,
  body TEXT NOT NULL              -- the whole alert as JSON
);
CREATE INDEX alerts_by_time ON alerts (raised_at);
CREATE TABLE alert_deliveries (
  alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
  channel TEXT NOT NULL,
  delivery_id TEXT NOT NULL UNIQUE,
  state TEXT NOT NULL,            -- pending, delivered, rejected, expired
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_attempt_at INTEGER,
  response TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (alert_id, channel)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (channel, next_attempt_at)
  WHERE state = 'pending';
CREATE TABLE alert_state (
  job TEXT NOT NULL,
  rule TEXT NOT NULL,
  holding INTEGER NOT NULL,
  fired INTEGER NOT NULL,         -- an alert went out for the current episode
  severity TEXT NOT NULL,         -- of the last alert sent
  last_sent_at INTEGER,
  PRIMARY KEY (job, rule)
);
)sql",
    // Finding a job's runs. An index on runs (job, started_at) is written
    // per run at a place of its own per job, so 10,000 jobs running every
    // second dirty 10,000 scattered index pages a second, one WAL frame
    // each, most of what recording a run cost. run_index holds the same
    // entries but is written in bulk, sorted by job (IndexPendingRuns, every
    // half minute or so), which writes each job's last page once per bulk.
    // The runs not yet in it all started at or after
    // run_index_pending.since (NULL when there are none); readers find
    // those through runs_by_start, which carries the job for that reason.
    R"sql(
CREATE TABLE run_index (
  job TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  id INTEGER NOT NULL,
  PRIMARY KEY (job, started_at, id)
) WITHOUT ROWID;
INSERT INTO run_index (job, started_at, id)
  SELECT job, started_at, id FROM runs ORDER BY job, started_at, id;
CREATE TABLE run_index_pending (
  only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
  since INTEGER
);
INSERT INTO run_index_pending (only_row, since) VALUES (1, NULL);
DROP INDEX runs_by_job;
DROP INDEX runs_by_start;
CREATE INDEX runs_by_start ON runs (started_at, job);
)sql",
};

// The runs not in run_index yet: every one of them started at or after the
// mark (a condition on `runs`, which runs_by_start serves).
constexpr std::string_view kUnindexed = "started_at >= (SELECT since FROM run_index_pending)";

// Below every time stored: "none" when taking the latest of several.
constexpr std::int64_t kNoTime = std::numeric_limits<std::int64_t>::min();

std::int64_t Micros(core::TimePoint t) { return t.time_since_epoch().count(); }
core::TimePoint FromMicros(std::int64_t us) { return core::TimePoint(core::Duration(us)); }
std::optional<core::TimePoint> FromMicros(std::optional<std::int64_t> us) {
  if (!us) return std::nullopt;
  return FromMicros(*us);
}

constexpr std::string_view kRunColumns =
    "id, job, trigger, scheduled_at, started_at, finished_at, status, attempt, error, output, "
    "metrics";

RunRecord ReadRun(const Statement& row) {
  RunRecord run;
  run.id = row.Int(0);
  run.job = row.Text(1);
  run.trigger = ParseTrigger(row.Text(2)).value_or(Trigger::kManual);
  run.scheduled_at = FromMicros(row.OptionalInt(3));
  run.started_at = FromMicros(row.Int(4));
  run.finished_at = FromMicros(row.OptionalInt(5));
  run.status = ParseRunStatus(row.Text(6)).value_or(RunStatus::kFailed);
  run.attempt = static_cast<int>(row.Int(7));
  run.error = row.Text(8);
  run.output = row.Text(9);
  run.metrics_json = row.Text(10);
  return run;
}

// How stale job_health.last_success_at may grow while a job keeps succeeding.
constexpr auto kHealthRefresh = std::chrono::seconds(60);

constexpr std::array<std::string_view, 4> kDeliveryStateNames = {"pending", "delivered", "rejected",
                                                                 "expired"};

constexpr std::string_view kAlertColumns =
    "a.id, a.raised_at, a.job, a.rule, a.kind, a.severity, a.summary, a.body";
constexpr int kAlertColumnCount = 8;
constexpr std::string_view kDeliveryColumns =
    "d.alert_id, d.channel, d.delivery_id, d.state, d.attempts, d.next_attempt_at, "
    "d.last_attempt_at, d.response";

StoredAlert ReadAlert(const Statement& row, int first) {
  StoredAlert alert;
  alert.id = row.Int(first);
  alert.raised_at = FromMicros(row.Int(first + 1));
  alert.job = row.Text(first + 2);
  alert.rule = row.Text(first + 3);
  alert.kind = row.Text(first + 4);
  alert.severity = row.Text(first + 5);
  alert.summary = row.Text(first + 6);
  alert.body = row.Text(first + 7);
  return alert;
}

AlertDelivery ReadDelivery(const Statement& row, int first) {
  AlertDelivery delivery;
  delivery.alert_id = row.Int(first);
  delivery.channel = row.Text(first + 1);
  delivery.delivery_id = row.Text(first + 2);
  delivery.state = ParseDeliveryState(row.Text(first + 3)).value_or(DeliveryState::kPending);
  delivery.attempts = static_cast<int>(row.Int(first + 4));
  delivery.next_attempt_at = FromMicros(row.Int(first + 5));
  delivery.last_attempt_at = FromMicros(row.OptionalInt(first + 6));
  delivery.response = row.Text(first + 7);
  return delivery;
}

}  // namespace

std::string NewDeliveryId() {
  thread_local std::mt19937_64 random(std::random_device{}());
  std::uint64_t high = random();
  std::uint64_t low = random();
  high = (high & ~std::uint64_t{0xf000}) | 0x4000;                         // version 4
  low = (low & ~(std::uint64_t{0xc} << 60)) | (std::uint64_t{0x8} << 60);  // RFC 4122 variant
  const std::string hex = fmt::format("{:016x}{:016x}", high, low);
  return hex.substr(0, 8) + '-' + hex.substr(8, 4) + '-' + hex.substr(12, 4) + '-' +
         hex.substr(16, 4) + '-' + hex.substr(20);
}

std::string_view ToString(RunStatus status) { return kStatusNames[static_cast<int>(status)]; }
std::string_view ToString(Trigger trigger) { return kTriggerNames[static_cast<int>(trigger)]; }

std::optional<RunStatus> ParseRunStatus(std::string_view text) {
  for (std::size_t i = 0; i < kStatusNames.size(); ++i) {
    if (kStatusNames[i] == text) return static_cast<RunStatus>(i);
  }
  return std::nullopt;
}

std::optional<Trigger> ParseTrigger(std::string_view text) {
  for (std::size_t i = 0; i < kTriggerNames.size(); ++i) {
    if (kTriggerNames[i] == text) return static_cast<Trigger>(i);
  }
  return std::nullopt;
}

bool CountsAsFailure(RunStatus status) {
  return status == RunStatus::kFailed || status == RunStatus::kTimeout ||
         status == RunStatus::kInterrupted;
}

core::Result<RunStore> RunStore::Open(const std::filesystem::path& file, Database::Mode mode) {
  if (mode == Database::Mode::kReadWrite && file.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(file.parent_path(), ec);
    if (ec) {
      return Unexpected(core::Error{
          core::ErrorKind::kIo,
          "cannot create the state folder " + file.parent_path().string() + ": " + ec.message(),
          false});
    }
  } else if (mode == Database::Mode::kReadOnly && !std::filesystem::exists(file)) {
    return Unexpected(core::Error{
        core::ErrorKind::kNotFound,
        "no state file at " + file.string() + " (has the daemon or `jobsd once` run yet?)", false});
  }
  auto db = Database::Open(file, mode);
  if (!db) return Unexpected(db.error());
  RunStore store(std::move(*db));
  if (mode == Database::Mode::kReadWrite) {
    // WAL lets readers (`jobsd history`, the API) run beside the writer;
    // synchronous=NORMAL is durable across process crashes in WAL mode and
    // loses at most the last commits on power loss, never consistency.
    // A checkpoint every ~16 MiB of WAL rather than every 4 MiB writes each
    // hot page of a busy history back once instead of many times.
    if (auto ok = store.db_.Execute("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                                    "PRAGMA wal_autocheckpoint=4000;");
        !ok) {
      return Unexpected(core::Error{core::ErrorKind::kIo,
                                    "state file " + file.string() + ": " + ok.error().message +
                                        " (is it a SQLite file, and is its folder writable?)",
                                    false});
    }
    if (auto ok = store.Migrate(); !ok) return Unexpected(ok.error());
  }
  return store;
}

core::Result<void> RunStore::Migrate() {
  auto version_stmt = db_.Prepare("PRAGMA user_version");
  if (!version_stmt) return Unexpected(version_stmt.error());
  auto row = version_stmt->Step();
  if (!row) return Unexpected(row.error());
  const auto version = static_cast<std::size_t>(version_stmt->Int(0));
  version_stmt->Reset();  // a statement still stepping would block DROP in a migration
  const std::size_t latest = std::size(kMigrations);
  if (version > latest) {
    return Unexpected(core::Error{core::ErrorKind::kInvalidArgument,
                                  "state file " + db_.file().string() + " has schema version " +
                                      std::to_string(version) + ", newer than this jobsd knows (" +
                                      std::to_string(latest) + "): downgrades are not supported",
                                  false});
  }
  for (std::size_t v = version; v < latest; ++v) {
    const std::string sql = "BEGIN IMMEDIATE;" + std::string(kMigrations[v]) +
                            "PRAGMA user_version=" + std::to_string(v + 1) + "; COMMIT;";
    if (auto ok = db_.Execute(sql); !ok) {
      db_.Execute("ROLLBACK").has_value();
      return Unexpected(core::Error{core::ErrorKind::kIo,
                                    "state file " + db_.file().string() + ": migration " +
                                        std::to_string(v + 1) + " failed: " + ok.error().message,
                                    false});
    }
  }
  return {};
}

core::Result<Statement*> RunStore::Prepared(std::optional<Statement>& slot, std::string_view sql) {
  if (!slot) {
    auto stmt = db_.Prepare(sql);
    if (!stmt) return Unexpected(stmt.error());
    slot.emplace(std::move(*stmt));
  }
  return &*slot;
}

core::Result<void> RunStore::Begin() {
  auto began = db_.Execute("BEGIN IMMEDIATE");
  in_transaction_ = began.has_value();
  marked_unindexed_since_.reset();
  return began;
}

core::Result<void> RunStore::Commit() {
  in_transaction_ = false;
  marked_unindexed_since_.reset();
  return db_.Execute("COMMIT");
}

void RunStore::Rollback() {
  in_transaction_ = false;
  marked_unindexed_since_.reset();
  (void)db_.Execute("ROLLBACK").has_value();
}

core::Result<std::int64_t> RunStore::ReserveRunIds(std::int64_t count) {
  // AUTOINCREMENT hands out max(sqlite_sequence, max id) + 1; raising the
  // sequence past the block keeps every other writer's new rows out of it.
  if (auto ok = Begin(); !ok) return Unexpected(ok.error());
  auto next = db_.Prepare(
      "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'runs'), 0), "
      "COALESCE((SELECT MAX(id) FROM runs), 0)) + 1");
  if (!next) {
    Rollback();
    return Unexpected(next.error());
  }
  if (auto row = next->Step(); !row) {
    Rollback();
    return Unexpected(row.error());
  }
  const std::int64_t first = next->Int(0);
  next->Reset();
  const std::int64_t last = first + count - 1;
  const std::string sql =
      "UPDATE sqlite_sequence SET seq = " + std::to_string(last) +
      " WHERE name = 'runs'; INSERT INTO sqlite_sequence (name, seq) SELECT 'runs', " +
      std::to_string(last) +
      " WHERE NOT EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'runs')";
  if (auto ok = db_.Execute(sql); !ok) {
    Rollback();
    return Unexpected(ok.error());
  }
  if (auto ok = Commit(); !ok) {
    Rollback();
    return Unexpected(ok.error());
  }
  return first;
}

core::Result<std::int64_t> RunStore::InsertRun(const RunRecord& run) {
  auto stmt = Prepared(insert_run_,
                       "INSERT INTO runs (id, job, trigger, scheduled_at, started_at, "
                       "finished_at, status, attempt, error, output, metrics) "
                       "VALUES (?11, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)");
  if (!stmt) return Unexpected(stmt.error());
  std::optional<std::int64_t> scheduled;
  if (run.scheduled_at) scheduled = Micros(*run.scheduled_at);
  std::optional<std::int64_t> finished;
  if (run.finished_at) finished = Micros(*run.finished_at);
  (*stmt)
      ->Bind(1, run.job)
      .Bind(2, ToString(run.trigger))
      .Bind(3, scheduled)
      .Bind(4, Micros(run.started_at))
      .Bind(5, finished)
      .Bind(6, ToString(run.status))
      .Bind(7, std::int64_t{run.attempt})
      .Bind(8, run.error)
      .Bind(9, run.output)
      .Bind(10, run.metrics_json);
  if (run.id != 0) {
    (*stmt)->Bind(11, run.id);
  } else {
    (*stmt)->Bind(11, std::nullopt);
  }
  if (auto ok = (*stmt)->Run(); !ok) return Unexpected(ok.error());
  const std::int64_t id = db_.LastInsertId();
  if (auto marked = MarkUnindexed(Micros(run.started_at)); !marked) {
    return Unexpected(marked.error());
  }
  return id;
}

core::Result<void> RunStore::MarkUnindexed(std::int64_t started_at) {
  // Inside one transaction no other writer can index the runs and clear the
  // mark, so once it is at or before this start, there is nothing to write:
  // a batch of runs costs one statement here, not one per run.
  if (in_transaction_ && marked_unindexed_since_ && *marked_unindexed_since_ <= started_at) {
    return {};
  }
  // An UPDATE whose WHERE fails dirties no page.
  auto mark = Prepared(mark_unindexed_,
                       "UPDATE run_index_pending SET since = ?1 WHERE since IS NULL OR since > ?1");
  if (!mark) return Unexpected(mark.error());
  (*mark)->Bind(1, started_at);
  if (auto ok = (*mark)->Run(); !ok) return Unexpected(ok.error());
  if (in_transaction_) marked_unindexed_since_ = started_at;
  return {};
}

core::Result<int> RunStore::IndexPendingRuns() {
  const bool own_transaction = !in_transaction_;
  if (own_transaction) {
    if (auto ok = Begin(); !ok) return Unexpected(ok.error());
  }
  auto indexed = [&]() -> core::Result<int> {
    // Sorted by job, so each job's last index page is written once.
    auto index = Prepared(index_pending_,
                          fmt::format("INSERT OR IGNORE INTO run_index (job, started_at, id) "
                                      "SELECT job, started_at, id FROM runs WHERE {} "
                                      "ORDER BY job, started_at, id",
                                      kUnindexed));
    if (!index) return Unexpected(index.error());
    if (auto ok = (*index)->Run(); !ok) return Unexpected(ok.error());
    const int count = db_.Changes();
    auto clear = Prepared(clear_unindexed_,
                          "UPDATE run_index_pending SET since = NULL WHERE since IS NOT NULL");
    if (!clear) return Unexpected(clear.error());
    if (auto ok = (*clear)->Run(); !ok) return Unexpected(ok.error());
    marked_unindexed_since_.reset();
    return count;
  }();
  if (own_transaction) {
    if (!indexed) {
      Rollback();
    } else if (auto ok = Commit(); !ok) {
      Rollback();
      return Unexpected(ok.error());
    }
  }
  return indexed;
}

core::Result<void> RunStore::FinishRun(const RunEnd& end) {
  auto finish = Prepared(finish_run_,
                         "UPDATE runs SET status = ?2, finished_at = ?3, error = ?4, output = ?5, "
                         "metrics = ?6 WHERE id = ?1");
  if (!finish) return Unexpected(finish.error());
  (*finish)
      ->Bind(1, end.id)
      .Bind(2, ToString(end.status))
      .Bind(3, Micros(end.finished_at))
      .Bind(4, end.error)
      .Bind(5, end.output)
      .Bind(6, end.metrics.ToJson());
  if (auto ok = (*finish)->Run(); !ok) return Unexpected(ok.error());

  return RecordHealth(end.job, end.status, end.finished_at);
}

core::Result<void> RunStore::RecordHealth(std::string_view job, RunStatus status,
                                          core::TimePoint at) {
  if (status == RunStatus::kSkipped || status == RunStatus::kCancelled ||
      status == RunStatus::kRunning) {
    return {};
  }
  // Success resets the streak; a failure extends it. A success after a
  // success changes only last_success_at: that is written at most once per
  // kHealthRefresh (AllHealth finds later successes among the runs), so a
  // job that runs every second does not rewrite its health row every
  // second. An UPDATE whose WHERE fails dirties no page.
  auto health = Prepared(
      update_health_,
      "INSERT INTO job_health (job, consecutive_failures, last_success_at, last_failure_at, "
      "last_status) VALUES (?1, ?2, ?3, ?4, ?5) "
      "ON CONFLICT (job) DO UPDATE SET "
      "consecutive_failures = CASE WHEN ?2 = 0 THEN 0 ELSE consecutive_failures + 1 END, "
      "last_success_at = COALESCE(?3, last_success_at), "
      "last_failure_at = COALESCE(?4, last_failure_at), last_status = ?5 "
      "WHERE ?2 != 0 OR consecutive_failures != 0 OR last_status IS NOT ?5 "
      "OR last_success_at IS NULL OR last_success_at <= ?3 - ?6");
  if (!health) return Unexpected(health.error());
  const bool failed = CountsAsFailure(status);
  std::optional<std::int64_t> success_at;
  std::optional<std::int64_t> failure_at;
  (failed ? failure_at : success_at) = Micros(at);
  (*health)
      ->Bind(1, job)
      .Bind(2, std::int64_t{failed ? 1 : 0})
      .Bind(3, success_at)
      .Bind(4, failure_at)
      .Bind(5, ToString(status))
      .Bind(6, Micros(core::TimePoint(kHealthRefresh)));
  return (*health)->Run();
}

core::Result<int> RunStore::MarkInterrupted(core::TimePoint now) {
  auto running = db_.Prepare("SELECT id, job FROM runs WHERE status = 'running' ORDER BY id");
  if (!running) return Unexpected(running.error());
  std::vector<RunEnd> ends;
  for (;;) {
    auto row = running->Step();
    if (!row) return Unexpected(row.error());
    if (!*row) break;
    RunEnd end;
    end.id = running->Int(0);
    end.job = running->Text(1);
    end.status = RunStatus::kInterrupted;
    end.finished_at = now;
    end.error = "jobsd stopped while this run was in progress";
    ends.push_back(std::move(end));
  }
  if (ends.empty()) return 0;
  if (auto ok = Begin(); !ok) return Unexpected(ok.error());
  for (const RunEnd& end : ends) {
    if (auto ok = FinishRun(end); !ok) {
      Rollback();
      return Unexpected(ok.error());
    }
  }
  if (auto ok = Commit(); !ok) return Unexpected(ok.error());
  return static_cast<int>(ends.size());
}

core::Result<std::vector<RunRecord>> RunStore::RecentRuns(std::string_view job, int limit) {
  // One job's: its newest from run_index, and any not indexed yet.
  const std::string of_job = fmt::format(
      "WHERE id IN (SELECT id FROM (SELECT id FROM run_index WHERE job = ?1 "
      "ORDER BY started_at DESC, id DESC LIMIT ?2) UNION ALL "
      "SELECT id FROM runs WHERE {} AND job = ?1) ",
      kUnindexed);
  const std::string sql = "SELECT " + std::string(kRunColumns) + " FROM runs " +
                          (job.empty() ? "" : of_job) +
                          "ORDER BY started_at DESC, id DESC LIMIT ?2";
  auto stmt = db_.Prepare(sql);
  if (!stmt) return Unexpected(stmt.error());
  if (!job.empty()) stmt->Bind(1, job);
  stmt->Bind(2, std::int64_t{limit});
  std::vector<RunRecord> runs;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Unexpected(row.error());
    if (!*row) return runs;
    runs.push_back(ReadRun(*stmt));
  }
}

core::Result<std::optional<RunRecord>> RunStore::FindRun(std::int64_t id) {
  auto stmt = db_.Prepare("SELECT " + std::string(kRunColumns) + " FROM runs WHERE id = ?1");
  if (!stmt) return Unexpected(stmt.error());
  stmt->Bind(1, id);
  auto row = stmt->Step();
  if (!row) return Unexpected(row.error());
  if (!*row) return std::optional<RunRecord>();
  return std::optional<RunRecord>(ReadRun(*stmt));
}

core::Result<std::vector<JobHealth>> RunStore::AllHealth() {
  auto all = HealthRows();
  if (!all) return all;
  // A job whose row says ok may have succeeded again since, within
  // kHealthRefresh of the success the row holds (RecordHealth): any later
  // success is within that minute, so the newest successful run is as good
  // as the latest finish. Runs not indexed yet are looked at for all jobs at
  // once.
  auto newest_ok = db_.Prepare(
      "SELECT r.finished_at FROM run_index i JOIN runs r ON r.id = i.id "
      "WHERE i.job = ?1 AND r.status = 'ok' ORDER BY i.started_at DESC, i.id DESC LIMIT 1");
  if (!newest_ok) return Unexpected(newest_ok.error());
  auto pending = PendingByJob("MAX(finished_at)", "status = 'ok'");
  if (!pending) return Unexpected(pending.error());
  for (JobHealth& health : *all) {
    if (health.last_status != RunStatus::kOk || !health.last_success_at) continue;
    newest_ok->Bind(1, health.job);
    auto row = newest_ok->Step();
    if (!row) return Unexpected(row.error());
    std::int64_t at = *row && !newest_ok->IsNull(0) ? newest_ok->Int(0) : kNoTime;
    newest_ok->Reset();
    if (const auto it = pending->find(health.job); it != pending->end()) {
      at = std::max(at, it->second);
    }
    if (at != kNoTime) {
      health.last_success_at = std::max(*health.last_success_at, FromMicros(at));
    }
  }
  return all;
}

core::Result<std::unordered_map<std::string, std::int64_t>> RunStore::PendingByJob(
    std::string_view aggregate, std::string_view condition) {
  auto stmt = db_.Prepare(fmt::format("SELECT job, {} FROM runs WHERE {} AND {} GROUP BY job",
                                      aggregate, kUnindexed, condition));
  if (!stmt) return Unexpected(stmt.error());
  std::unordered_map<std::string, std::int64_t> by_job;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Unexpected(row.error());
    if (!*row) return by_job;
    if (const auto value = stmt->OptionalInt(1)) by_job.emplace(stmt->Text(0), *value);
  }
}

core::Result<std::vector<JobHealth>> RunStore::HealthRows() {
  auto stmt = db_.Prepare(
      "SELECT job, consecutive_failures, last_success_at, last_failure_at, last_status "
      "FROM job_health ORDER BY job");
  if (!stmt) return Unexpected(stmt.error());
  std::vector<JobHealth> all;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Unexpected(row.error());
    if (!*row) return all;
    JobHealth health;
    health.job = stmt->Text(0);
    health.consecutive_failures = static_cast<int>(stmt->Int(1));
    health.last_success_at = FromMicros(stmt->OptionalInt(2));
    health.last_failure_at = FromMicros(stmt->OptionalInt(3));
    if (!stmt->IsNull(4)) health.last_status = ParseRunStatus(stmt->Text(4));
    all.push_back(std::move(health));
  }
}

core::Result<std::map<std::string, core::TimePoint>> RunStore::LastScheduledSlots(
    const std::vector<std::string>& jobs) {
  // The slot of the newest run by start; a clock stepped back could order
  // starts and slots differently, which costs at most one catch-up run.
  auto newest = db_.Prepare(
      "SELECT r.scheduled_at FROM run_index i JOIN runs r ON r.id = i.id "
      "WHERE i.job = ?1 AND r.trigger IN ('schedule', 'catchup') AND r.scheduled_at IS NOT NULL "
      "ORDER BY i.started_at DESC, i.id DESC LIMIT 1");
  if (!newest) return Unexpected(newest.error());
  auto pending = PendingByJob("MAX(scheduled_at)", "trigger IN ('schedule', 'catchup')");
  if (!pending) return Unexpected(pending.error());
  std::map<std::string, core::TimePoint> slots;
  for (const std::string& job : jobs) {
    newest->Bind(1, job);
    auto row = newest->Step();
    if (!row) return Unexpected(row.error());
    std::int64_t at = *row && !newest->IsNull(0) ? newest->Int(0) : kNoTime;
    newest->Reset();
    if (const auto it = pending->find(job); it != pending->end()) at = std::max(at, it->second);
    if (at != kNoTime) slots.emplace(job, FromMicros(at));
  }
  return slots;
}

core::Result<int> RunStore::Prune(std::string_view job, int keep) {
  // UNION, not UNION ALL: a run may be both indexed and in the pending
  // range, and counting it twice would delete one run too many.
  auto runs = db_.Prepare(fmt::format(
      "DELETE FROM runs WHERE status != 'running' AND id IN (SELECT id FROM "
      "(SELECT id, started_at FROM run_index WHERE job = ?1 UNION SELECT id, started_at FROM runs "
      "WHERE {} AND job = ?1) ORDER BY started_at DESC, id DESC LIMIT -1 OFFSET ?2)",
      kUnindexed));
  if (!runs) return Unexpected(runs.error());
  runs->Bind(1, job).Bind(2, std::int64_t{keep});
  if (auto ok = runs->Run(); !ok) return Unexpected(ok.error());
  const int deleted = db_.Changes();
  if (deleted == 0) return 0;
  auto entries = db_.Prepare(
      "DELETE FROM run_index WHERE job = ?1 AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.id = "
      "run_index.id)");
  if (!entries) return Unexpected(entries.error());
  entries->Bind(1, job);
  if (auto ok = entries->Run(); !ok) return Unexpected(ok.error());
  return deleted;
}

core::Result<std::optional<std::string>> RunStore::GetState(std::string_view job,
                                                            std::string_view key) {
  auto stmt = db_.Prepare("SELECT value FROM job_state WHERE job = ?1 AND key = ?2");
  if (!stmt) return Unexpected(stmt.error());
  stmt->Bind(1, job).Bind(2, key);
  auto row = stmt->Step();
  if (!row) return Unexpected(row.error());
  if (!*row) return std::optional<std::string>();
  return std::optional<std::string>(stmt->Text(0));
}

core::Result<void> RunStore::PutState(std::string_view job, std::string_view key,
                                      std::string_view value, core::TimePoint now) {
  auto stmt = db_.Prepare(
      "INSERT INTO job_state (job, key, value, updated_at) VALUES (?1, ?2, ?3, ?4) "
      "ON CONFLICT (job, key) DO UPDATE SET value = ?3, updated_at = ?4");
  if (!stmt) return Unexpected(stmt.error());
  stmt->Bind(1, job).Bind(2, key).Bind(3, value).Bind(4, Micros(now));
  return stmt->Run();
}

std::string_view ToString(DeliveryState state) {
  return kDeliveryStateNames[static_cast<int>(state)];
}

std::optional<DeliveryState> ParseDeliveryState(std::string_view text) {
  for (std::size_t i = 0; i < kDeliveryStateNames.size(); ++i) {
    if (kDeliveryStateNames[i] == text) return static_cast<DeliveryState>(i);
  }
  return std::nullopt;
}

core::Result<std::int64_t> RunStore::InsertAlert(const StoredAlert& alert,
                                                 const std::vector<std::string>& channels) {
  auto insert = db_.Prepare(
      "INSERT INTO alerts (raised_at, job, rule, kind, severity, summary, body) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!insert) return Unexpected(insert.error());
  insert->Bind(1, Micros(alert.raised_at))
      .Bind(2, alert.job)
      .Bind(3, alert.rule)
      .Bind(4, alert.kind)
      .Bind(5, alert.severity)
      .Bind(6, alert.summary)
      .Bind(7, alert.body);
  if (auto ok = insert->Run(); !ok) return Unexpected(ok.error());
  const std::int64_t id = db_.LastInsertId();
  auto delivery = db_.Prepare(
      "INSERT INTO alert_deliveries (alert_id, channel, delivery_id, state, next_attempt_at) "
      "VALUES (?1, ?2, ?3, 'pending', ?4)");
  if (!delivery) return Unexpected(delivery.error());
  for (const std::string& channel : channels) {
    delivery->Bind(1, id)
        .Bind(2, channel)
        .Bind(3, NewDeliveryId())
        .Bind(4, Micros(alert.raised_at));
    if (auto ok = delivery->Run(); !ok) return Unexpected(ok.error());
  }
  return id;
}

core::Result<std::vector<std::pair<StoredAlert, AlertDelivery>>> RunStore::DueDeliveries(
    std::string_view channel, core::TimePoint now, int limit) {
  auto stmt =
      db_.Prepare("SELECT " + std::string(kAlertColumns) + ", " + std::string(kDeliveryColumns) +
                  " FROM alert_deliveries d JOIN alerts a ON a.id = d.alert_id "
                  "WHERE d.channel = ?1 AND d.state = 'pending' AND d.next_attempt_at <= ?2 "
                  "ORDER BY d.next_attempt_at, d.alert_id LIMIT ?3");
  if (!stmt) return Unexpected(stmt.error());
  stmt->Bind(1, channel).Bind(2, Micros(now)).Bind(3, std::int64_t{limit});
  std::vector<std::pair<StoredAlert, AlertDelivery>> due;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Unexpected(row.error());
    if (!*row) return due;
    due.emplace_back(ReadAlert(*stmt, 0), ReadDelivery(*stmt, kAlertColumnCount));
  }
}

core::Result<std::optional<core::TimePoint>> RunStore::NextDeliveryDue(std::string_view channel) {
  auto stmt = db_.Prepare(
      "SELECT MIN(next_attempt_at) FROM alert_deliveries WHERE channel = ?1 AND state = 'pending'");
  if (!stmt) return Unexpected(stmt.error());
  stmt->Bind(1, channel);
  auto row = stmt->Step();
  if (!row) return Unexpected(row.error());
  return FromMicros(stmt->OptionalInt(0));
}

core::Result<void> RunStore::UpdateDelivery(const AlertDelivery& delivery) {
  auto stmt = db_.Prepare(
      "UPDATE alert_deliveries SET state = ?3, attempts = ?4, next_attempt_at = ?5, "
      "last_attempt_at = ?6, response = ?7 WHERE alert_id = ?1 AND channel = ?2");
  if (!stmt) return Unexpected(stmt.error());
  std::optional<std::int64_t> last;
  if (delivery.last_attempt_at) last = Micros(*delivery.last_attempt_at);
  stmt->Bind(1, delivery.alert_id)
      .Bind(2, delivery.channel)
      .Bind(3, ToString(delivery.state))
      .Bind(4, std::int64_t{delivery.attempts})
      .Bind(5, Micros(delivery.next_attempt_at))
      .Bind(6, last)
      .Bind(7, delivery.response);
  return stmt->Run();
}

core::Result<std::vector<std::pair<StoredAlert, std::vector<AlertDelivery>>>>
RunStore::RecentAlerts(std::string_view job, int limit) {
  auto alerts =
      db_.Prepare("SELECT " + std::string(kAlertColumns) + " FROM alerts a " +
                  (job.empty() ? "" : "WHERE a.job = ?2 ") + "ORDER BY a.id DESC LIMIT ?1");
  if (!alerts) return Unexpected(alerts.error());
  alerts->Bind(1, std::int64_t{limit});
  if (!job.empty()) alerts->Bind(2, job);
  std::vector<std::pair<StoredAlert, std::vector<AlertDelivery>>> out;
  for (;;) {
    auto row = alerts->Step();
    if (!row) return Unexpected(row.error());
    if (!*row) break;
    out.emplace_back(ReadAlert(*alerts, 0), std::vector<AlertDelivery>{});
  }
  auto deliveries =
      db_.Prepare("SELECT " + std::string(kDeliveryColumns) +
                  " FROM alert_deliveries d WHERE d.alert_id = ?1 ORDER BY d.channel");
  if (!deliveries) return Unexpected(deliveries.error());
  for (auto& [alert, list] : out) {
    deliveries->Bind(1, alert.id);
    for (;;) {
      auto row = deliveries->Step();
      if (!row) return Unexpected(row.error());
      if (!*row) break;
      list.push_back(ReadDelivery(*deliveries, 0));
    }
    deliveries->Reset();
  }
  return out;
}

core::Result<int> RunStore::PruneAlerts(core::TimePoint before) {
  // Deliveries first: the schema's ON DELETE CASCADE needs foreign_keys on,
  // which this connection does not turn on for the sake of the runs table.
  const std::string settled =
      "SELECT id FROM alerts WHERE raised_at < ?1 AND NOT EXISTS (SELECT 1 FROM alert_deliveries "
      "WHERE alert_id = alerts.id AND state = 'pending')";
  auto deliveries = db_.Prepare("DELETE FROM alert_deliveries WHERE alert_id IN (" + settled + ")");
  if (!deliveries) return Unexpected(deliveries.error());
  deliveries->Bind(1, Micros(before));
  if (auto ok = deliveries->Run(); !ok) return Unexpected(ok.error());
  auto alerts = db_.Prepare("DELETE FROM alerts WHERE id IN (" + settled + ")");
  if (!alerts) return Unexpected(alerts.error());
  alerts->Bind(1, Micros(before));
  if (auto ok = alerts->Run(); !ok) return Unexpected(ok.error());
  return db_.Changes();
}

core::Result<std::vector<AlertRuleState>> RunStore::AlertStates() {
  auto stmt = db_.Prepare(
      "SELECT job, rule, holding, fired, severity, last_sent_at FROM alert_state ORDER BY job, "
      "rule");
  if (!stmt) return Unexpected(stmt.error());
  std::vector<AlertRuleState> states;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Unexpected(row.error());
    if (!*row) return states;
    AlertRuleState state;
    state.job = stmt->Text(0);
    state.rule = stmt->Text(1);
    state.holding = stmt->Int(2) != 0;
    state.fired = stmt->Int(3) != 0;
    state.severity = stmt->Text(4);
    state.last_sent_at = FromMicros(stmt->OptionalInt(5));
    states.push_back(std::move(state));
  }
}

core::Result<void> RunStore::PutAlertState(const AlertRuleState& state) {
  auto stmt =
      Prepared(put_alert_state_,
               "INSERT INTO alert_state (job, rule, holding, fired, severity, last_sent_at) "
               "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (job, rule) DO UPDATE SET "
               "holding = ?3, fired = ?4, severity = ?5, last_sent_at = ?6");
  if (!stmt) return Unexpected(stmt.error());
  std::optional<std::int64_t> sent;
  if (state.last_sent_at) sent = Micros(*state.last_sent_at);
  (*stmt)
      ->Bind(1, state.job)
      .Bind(2, state.rule)
      .Bind(3, std::int64_t{state.holding ? 1 : 0})
      .Bind(4, std::int64_t{state.fired ? 1 : 0})
      .Bind(5, state.severity)
      .Bind(6, sent);
  return (*stmt)->Run();
}

core::Result<std::string> RunStore::IntegrityCheck() {
  auto stmt = db_.Prepare("PRAGMA integrity_check");
  if (!stmt) return Unexpected(stmt.error());
  std::string result;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Unexpected(row.error());
    if (!*row) return result;
    if (!result.empty()) result += "\n";
    result += stmt->Text(0);
  }
}

}  // namespace store
