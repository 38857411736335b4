// The state store: run history, per-job health (failure streaks) and per-job
// key/value state, in one SQLite file in WAL mode.
//
// Schema changes are numbered migrations (PRAGMA user_version) applied when a
// writer opens the file. Several processes may use the file at once (the
// daemon writes, `jobsd history` reads, `jobsd once` writes a run of its own);
// SQLite's locking and a busy timeout keep them apart.
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
#include "store/run_metrics.h"
#include "store/sqlite.h"

namespace store {

enum class RunStatus { kRunning, kOk, kFailed, kTimeout, kSkipped, kCancelled, kInterrupted };
enum class Trigger { kSchedule, kManual, kChain, kEvent, kRetry, kCatchup };

std::string_view ToString(RunStatus status);
std::string_view ToString(Trigger trigger);
std::optional<RunStatus> ParseRunStatus(std::string_view text);
std::optional<Trigger> ParseTrigger(std::string_view text);
// Whether a finished run with this status extends the job's failure streak.
bool CountsAsFailure(RunStatus status);

struct RunRecord {
  std::int64_t id = 0;
  std::string job;
  Trigger trigger = Trigger::kSchedule;
  std::optional<core::TimePoint> scheduled_at;  // the slot; none for manual runs
  core::TimePoint started_at;
  std::optional<core::TimePoint> finished_at;
  RunStatus status = RunStatus::kRunning;
  int attempt = 1;
  std::string error;
  std::string output;               // the tail of what the run printed
  std::string metrics_json = "{}";  // a JSON object of the job's metrics
};

// How a run ended; applied by FinishRun.
struct RunEnd {
  std::int64_t id = 0;
  std::string job;
  RunStatus status = RunStatus::kOk;
  core::TimePoint started_at;  // not stored again; for the end hook's duration rules
  core::TimePoint finished_at;
  std::string error;
  std::string output;
  RunMetrics metrics;  // what the job reported, whether it succeeded or not
};

// Where one delivery of an alert to one channel stands.
enum class DeliveryState { kPending, kDelivered, kRejected, kExpired };
std::string_view ToString(DeliveryState state);
std::optional<DeliveryState> ParseDeliveryState(std::string_view text);

// An alert in the outbox. The store keeps a few columns to list and filter
// by, and the whole alert as JSON (lib/alert reads it back).
struct StoredAlert {
  std::int64_t id = 0;
  core::TimePoint raised_at;
  std::string job;  // empty for daemon-wide alerts
  std::string rule;
  std::string kind;
  std::string severity;
  std::string summary;
  std::string body;  // JSON
};

struct AlertDelivery {
  std::int64_t alert_id = 0;
  std::string channel;
  // Random, made once per (alert, channel); the same delivery always carries
  // the same id, so a receiver can tell a repeat.
  std::string delivery_id;
  DeliveryState state = DeliveryState::kPending;
  int attempts = 0;
  core::TimePoint next_attempt_at;
  std::optional<core::TimePoint> last_attempt_at;
  std::string response;  // what the far end last answered
};

// Per job and rule: does the rule hold now, and what was sent about it.
struct AlertRuleState {
  std::string job;  // empty for daemon-wide rules
  std::string rule;
  bool holding = false;
  bool fired = false;  // an alert went out for the current episode
  std::string severity;
  std::optional<core::TimePoint> last_sent_at;
};

// A delivery id: a random (version 4) UUID, unique without coordination
// (even across state files), so a receiver may dedupe on it.
std::string NewDeliveryId();

struct JobHealth {
  std::string job;
  int consecutive_failures = 0;
  std::optional<core::TimePoint> last_success_at;
  std::optional<core::TimePoint> last_failure_at;
  std::optional<RunStatus> last_status;
};

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

  // Newest (by start) first; all jobs when `job` is empty.
  core::Result<std::vector<RunRecord>> RecentRuns(std::string_view job, int limit);
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
  core::Result<Statement*> Prepared(std::optional<Statement>& slot, std::string_view sql);

  Database db_;
  // Prepared once, reused: a run costs two statements, not two parses.
  std::optional<Statement> insert_run_;
  std::optional<Statement> finish_run_;
  std::optional<Statement> update_health_;
  std::optional<Statement> put_alert_state_;
  std::optional<Statement> mark_unindexed_;
  std::optional<Statement> index_pending_;
  std::optional<Statement> clear_unindexed_;
  bool in_transaction_ = false;  // between a successful Begin and Commit/Rollback
  // The start time this transaction has already marked unindexed (the mark
  // is at or before it for the rest of the transaction).
  std::optional<std::int64_t> marked_unindexed_since_;
};

}  // namespace store
