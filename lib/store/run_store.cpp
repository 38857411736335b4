// RunStore: opening the file, transactions, and the runs table with its
// per-job index (run_index). Health, job state, alerts and the schema are in
// run_store_health.cpp, run_store_state.cpp, run_store_alerts.cpp and
// run_store_schema.cpp.
#include "store/run_store.h"

#include <array>
#include <map>
#include <system_error>
#include <unordered_map>

#include <fmt/format.h>

#include "core/json_writer.h"
#include "store/run_store_sql.h"

namespace store {
namespace {

using core::Unexpected;
using detail::FromMicros;
using detail::kNoTime;
using detail::kUnindexed;
using detail::Micros;
using sqlite::Statement;

constexpr std::array<std::string_view, 7> kStatusNames = {
    "running", "ok", "failed", "timeout", "skipped", "cancelled", "interrupted"};
constexpr std::array<std::string_view, 6> kTriggerNames = {"schedule", "manual", "chain",
                                                           "event",    "retry",  "catchup"};

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

}  // namespace

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
  sqlite::Database::Options options;
  options.mode = mode;
  // Another process (the daemon, `jobsd once`, `jobsd history`) may hold the
  // write lock for a moment; wait for it rather than fail.
  options.busy_timeout = std::chrono::seconds(5);
  // WAL lets readers (`jobsd history`, the API) run beside the writer;
  // synchronous=NORMAL is durable across process crashes in WAL mode and
  // loses at most the last commits on power loss, never consistency.
  // A checkpoint every ~16 MiB of WAL rather than every 4 MiB writes each
  // hot page of a busy history back once instead of many times.
  options.wal = true;  // writers only
  options.wal_autocheckpoint_pages = 4000;
  auto db = Database::Open(file, options);
  if (!db) {
    core::Error error = db.error();
    error.message = "state file " + error.message;
    if (mode == Database::Mode::kReadWrite) {
      error.message += " (is it a SQLite file, and is its folder writable?)";
      error.retryable = false;
    }
    return Unexpected(std::move(error));
  }
  RunStore store(std::move(*db));
  if (mode == Database::Mode::kReadWrite) {
    if (auto ok = store.Migrate(); !ok) return Unexpected(ok.error());
  }
  return store;
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

core::Result<std::vector<RunRecord>> RunStore::RecentRuns(std::string_view job, int limit,
                                                          std::optional<std::int64_t> before) {
  // Paging back: the runs after `before` in the list's order (?3 its start,
  // ?4 its id), a condition run_index's (job, started_at, id) key serves.
  std::optional<std::int64_t> before_start;
  if (before) {
    auto anchor = db_.Prepare("SELECT started_at FROM runs WHERE id = ?1");
    if (!anchor) return Unexpected(anchor.error());
    anchor->Bind(1, *before);
    auto row = anchor->Step();
    if (!row) return Unexpected(row.error());
    if (*row) before_start = anchor->Int(0);
  }
  const std::string older = !before ? ""
                            : before_start
                                ? " AND (started_at < ?3 OR (started_at = ?3 AND id < ?4))"
                                : " AND id < ?4";
  // One job's: its newest from run_index, and any not indexed yet.
  const std::string of_job = fmt::format(
      "WHERE id IN (SELECT id FROM (SELECT id FROM run_index WHERE job = ?1{0} "
      "ORDER BY started_at DESC, id DESC LIMIT ?2) UNION ALL "
      "SELECT id FROM runs WHERE {1} AND job = ?1{0}) ",
      older, kUnindexed);
  const std::string all = older.empty() ? "" : "WHERE 1" + older + " ";
  const std::string sql = "SELECT " + std::string(kRunColumns) + " FROM runs " +
                          (job.empty() ? all : of_job) +
                          "ORDER BY started_at DESC, id DESC LIMIT ?2";
  auto stmt = db_.Prepare(sql);
  if (!stmt) return Unexpected(stmt.error());
  if (!job.empty()) stmt->Bind(1, job);
  stmt->Bind(2, std::int64_t{limit});
  if (before_start) stmt->Bind(3, *before_start);
  if (before) stmt->Bind(4, *before);
  std::vector<RunRecord> runs;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Unexpected(row.error());
    if (!*row) return runs;
    runs.push_back(ReadRun(*stmt));
  }
}

core::Result<std::map<std::string, std::vector<RunRecord>>> RunStore::RecentRunsPerJob(
    const std::vector<std::string>& jobs, int per_job) {
  // Numbering every job's runs would read the whole index (a million
  // entries at 1,000 jobs of 1,000 runs, most of a second). So each job's
  // range in run_index starts at the start of its per_job-th newest entry,
  // and only those entries, with the runs not indexed yet (once each), are
  // numbered.
  core::JsonWriter names;  // {"jobs": [...]}, for json_each
  names.Key("jobs").BeginArray();
  for (const std::string& job : jobs) names.String(job);
  names.EndArray();
  auto stmt = db_.Prepare(fmt::format(
      "WITH names (job) AS (SELECT value FROM json_each(?2, '$.jobs')), "
      "cutoffs AS (SELECT job, (SELECT started_at FROM run_index i WHERE i.job = names.job "
      "ORDER BY started_at DESC, id DESC LIMIT 1 OFFSET ?1 - 1) AS since FROM names), "
      "keys AS (SELECT i.job, i.started_at, i.id FROM cutoffs c JOIN run_index i "
      "ON i.job = c.job AND i.started_at >= coalesce(c.since, {0}) "
      "UNION ALL SELECT job, started_at, id FROM runs r WHERE {1} "
      "AND job IN (SELECT job FROM names) AND NOT EXISTS (SELECT 1 FROM run_index i "
      "WHERE i.job = r.job AND i.started_at = r.started_at AND i.id = r.id)), "
      "ranked AS (SELECT id, ROW_NUMBER() OVER (PARTITION BY job ORDER BY started_at DESC, "
      "id DESC) AS n FROM keys) "
      "SELECT {2} FROM runs WHERE id IN (SELECT id FROM ranked WHERE n <= ?1) "
      "ORDER BY job, started_at DESC, id DESC",
      kNoTime, kUnindexed, kRunColumns));
  if (!stmt) return Unexpected(stmt.error());
  stmt->Bind(1, std::int64_t{per_job}).Bind(2, names.Finish());
  std::map<std::string, std::vector<RunRecord>> by_job;
  std::vector<RunRecord>* current = nullptr;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Unexpected(row.error());
    if (!*row) return by_job;
    RunRecord run = ReadRun(*stmt);
    if (current == nullptr || current->front().job != run.job) current = &by_job[run.job];
    current->push_back(std::move(run));
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
