// The state store: run history, per-job health (failure streaks) and per-job
// key/value state, in one SQLite file in WAL mode.
//
// Schema changes are numbered migrations (PRAGMA user_version) applied when a
// writer opens the file. Several processes may use the file at once (the
// daemon writes, `jobsd history` reads, `jobsd once` writes a run of its own);
// SQLite's locking and a busy timeout keep them apart.
//
// The SQLite layer underneath is lib/sqlite; the code is split by concept:
// run_store.cpp (opening, transactions, runs), run_store_health.cpp,
// run_store_state.cpp, run_store_alerts.cpp and run_store_schema.cpp (the
// numbered migrations). The value types are in run_record.h and
// stored_alert.h.
//
// Blocking: worker threads and CLI commands only, never the event loop.
// One thread at a time per RunStore (it owns one connection).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "sqlite/database.h"
#include "sqlite/statement.h"
#include "store/run_record.h"
#include "store/stored_alert.h"

namespace store {

// RunStore::Open takes SQLite's open mode; the alias keeps the spelling its
// callers use (store::Database::Mode::kReadWrite).
using Database = sqlite::Database;

class RunStore {
 public:
  // Opens the file. kReadWrite creates it (and its folder) and migrates the
  // schema; kReadOnly requires an existing, migrated file. Errors name the
  // file and say what to check (permissions, free space, corruption).
  static core::Result<RunStore> Open(const std::filesystem::path& file, Database::Mode mode);

  // Groups the writes that follow into one transaction (one fsync).
  core::Result<void> Begin();
  core::Result<void> Commit();
  void Rollback();

  // Reserves `count` run ids for this process: ids it may then give runs
  // without asking SQLite, which no other process (another `jobsd once`)
  // will be given. Returns the first; the block is [first, first + count).
  core::Result<std::int64_t> ReserveRunIds(std::int64_t count);

  // Writes a new run row and returns its id: run.id when set (from a
  // reserved block), else a fresh one. A skipped run is written finished,
  // with no later FinishRun.
  core::Result<std::int64_t> InsertRun(const RunRecord& run);
  // Records a run's end and updates the job's health row to match.
  core::Result<void> FinishRun(const RunEnd& end);
  // Updates the job's health row for a run that ended with `status` (what
  // FinishRun does besides updating the run): for runs written whole by
  // InsertRun. Skipped and cancelled runs leave it alone.
  core::Result<void> RecordHealth(std::string_view job, RunStatus status, core::TimePoint at);
  // Marks runs left `running` by a crashed process as `interrupted` and
  // counts them in their jobs' failure streaks. Returns how many.
  core::Result<int> MarkInterrupted(core::TimePoint now);

  // The latest slot each of `jobs` ran for (trigger schedule or catchup),
  // for those that have one: where misfire handling resumes after a restart.
  core::Result<std::map<std::string, core::TimePoint>> LastScheduledSlots(
      const std::vector<std::string>& jobs);

  // Newest (by start, then id) first; all jobs when `job` is empty. With
  // `before`, the page after run `before` in that order (for paging back);
  // when that run is gone (pruned), the runs with a smaller id.
  core::Result<std::vector<RunRecord>> RecentRuns(std::string_view job, int limit,
                                                  std::optional<std::int64_t> before = {});
  // The newest `per_job` runs of each of `jobs` that has runs, newest first,
  // by job name: one query for all of them (the status page's strip of
  // recent runs), reading about `per_job` index entries per job.
  core::Result<std::map<std::string, std::vector<RunRecord>>> RecentRunsPerJob(
      const std::vector<std::string>& jobs, int per_job);
  core::Result<std::optional<RunRecord>> FindRun(std::int64_t id);
  // Every job's health: the job_health rows, with last_success_at brought up
  // to date from the runs (RecordHealth writes it at most once a minute
  // while a job keeps succeeding).
  core::Result<std::vector<JobHealth>> AllHealth();

  // Keeps the newest `keep` runs of the job. Returns how many were deleted.
  core::Result<int> Prune(std::string_view job, int keep);

  // Adds the runs written since the last call to run_index, the per-job
  // lookup (see the schema): in bulk, sorted, so that it costs a page per
  // job rather than a page per run. Runs not in it yet are still found by
  // every query here, so calling it is a matter of cost, not correctness:
  // now and then, and after a crash. Inside the caller's transaction, or
  // its own. Returns how many runs it added.
  core::Result<int> IndexPendingRuns();

  core::Result<std::optional<std::string>> GetState(std::string_view job, std::string_view key);
  core::Result<void> PutState(std::string_view job, std::string_view key, std::string_view value,
                              core::TimePoint now);

  // The alert outbox (run_store_alerts.cpp).
  //
  // Writes the alert and one pending delivery, due now, per channel; returns
  // the alert's id. Inside the caller's transaction when there is one.
  core::Result<std::int64_t> InsertAlert(const StoredAlert& alert,
                                         const std::vector<std::string>& channels);
  // Pending deliveries of `channel` due at `now`, oldest first, with their alerts.
  core::Result<std::vector<std::pair<StoredAlert, AlertDelivery>>> DueDeliveries(
      std::string_view channel, core::TimePoint now, int limit);
  // When the next pending delivery of `channel` is due, if any.
  core::Result<std::optional<core::TimePoint>> NextDeliveryDue(std::string_view channel);
  // Stores a delivery's state, attempts, next attempt and last answer.
  core::Result<void> UpdateDelivery(const AlertDelivery& delivery);
  // The newest alerts first, each with its deliveries; all jobs' (and the
  // daemon-wide ones) when `job` is empty.
  core::Result<std::vector<std::pair<StoredAlert, std::vector<AlertDelivery>>>> RecentAlerts(
      std::string_view job, int limit);
  // Deletes alerts older than `before` whose deliveries are all settled.
  core::Result<int> PruneAlerts(core::TimePoint before);
  core::Result<std::vector<AlertRuleState>> AlertStates();
  core::Result<void> PutAlertState(const AlertRuleState& state);

  // PRAGMA integrity_check: "ok" or SQLite's list of problems.
  core::Result<std::string> IntegrityCheck();

  const std::filesystem::path& file() const { return db_.file(); }

 private:
  explicit RunStore(Database db) : db_(std::move(db)) {}
  core::Result<void> Migrate();
  core::Result<std::vector<JobHealth>> HealthRows();
  // Records that a run starting at `started_at` is not in run_index yet.
  core::Result<void> MarkUnindexed(std::int64_t started_at);
  // `aggregate` per job over the runs not in run_index yet that meet `condition`.
  core::Result<std::unordered_map<std::string, std::int64_t>> PendingByJob(
      std::string_view aggregate, std::string_view condition);
  // The statement in `slot`, prepared on first use.
  core::Result<sqlite::Statement*> Prepared(std::optional<sqlite::Statement>& slot,
                                            std::string_view sql);

  Database db_;
  // Prepared once, reused: a run costs two statements, not two parses.
  std::optional<sqlite::Statement> insert_run_;
  std::optional<sqlite::Statement> finish_run_;
  std::optional<sqlite::Statement> update_health_;
  std::optional<sqlite::Statement> put_alert_state_;
  std::optional<sqlite::Statement> mark_unindexed_;
  std::optional<sqlite::Statement> index_pending_;
  std::optional<sqlite::Statement> clear_unindexed_;
  bool in_transaction_ = false;  // between a successful Begin and Commit/Rollback
  // The start time this transaction has already marked unindexed (the mark
  // is at or before it for the rest of the transaction).
  std::optional<std::int64_t> marked_unindexed_since_;
};

}  // namespace store
