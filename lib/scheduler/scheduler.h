// The daemon's heart: decides when each job runs, hands runs to a bounded
// worker pool, and takes their outcomes back (retries, chains, overlap).
//
// Lives on the event loop: every public method is loop thread only, and the
// state here is touched only there, so it needs no locks. Runs execute on the
// pool through RunExecutor; nothing here blocks. One wall-clock timer from
// the Clock is armed for the earliest due time in the FirePlan (re-armed at
// least every 30 s, so a suspend/resume or a clock step is noticed
// promptly); the shutdown grace and every run's timeout are measured on the
// same Clock, so a test on a ManualClock steps all of them.
//
// Per-job policies from the config: overlap (skip: a slot that comes while a
// run is going is recorded `skipped`; queue: it waits, up to 100 deep;
// allow: runs side by side), timeout (via the run's CancelToken), retries
// (exponential backoff with full jitter, trigger `retry`; only failures the
// job marks retryable, and timeouts), misfire (in the
// FirePlan), `after:` chains (trigger `chain` when an upstream succeeds),
// `enabled: false` (not scheduled, still runnable by hand).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "core/time.h"
#include "scheduler/clock.h"
#include "scheduler/job.h"
#include "store/run_recorder.h"

namespace boost::asio {
class io_context;
}

namespace scheduler {

// What the scheduler knows of a job right now (for status, /health and
// /metrics). The failure streak and last success start from the store
// (SeedHealth) and follow every run after that, counted as the store counts.
struct JobStatus {
  std::string name;
  int running = 0;
  int queued = 0;
  std::optional<core::TimePoint> next_slot;
  std::optional<store::RunStatus> last_status;
  std::optional<core::TimePoint> last_finished_at;
  int consecutive_failures = 0;
  std::optional<core::TimePoint> last_success_at;
  std::optional<core::TimePoint> last_failure_at;
  std::string last_error;
};

// One finished (or skipped) run, as the observer sees it, during the call.
struct RunReport {
  std::string_view job;
  // A small number for the job, the same for every report of that job name
  // from this Scheduler and counting from 0, so an observer can keep per-job
  // data in a vector instead of looking the name up at every run.
  std::uint32_t job_number = 0;
  store::Trigger trigger = store::Trigger::kSchedule;
  store::RunStatus status = store::RunStatus::kOk;
  std::optional<core::TimePoint> scheduled_at;
  core::TimePoint started_at;
  core::TimePoint finished_at;
  // What the job reported (failed runs included); null for skipped runs.
  const store::RunMetrics* metrics = nullptr;
};

// How long to wait before retry number `attempt` (1 for the first retry):
// a random time up to backoff x 2^(attempt-1), capped at max_backoff ("full
// jitter"), so jobs failing together do not retry together.
core::Duration RetryDelay(const config::RetryPolicy& policy, int attempt, std::mt19937_64& random);

class Scheduler {
 public:
  // `clock` outlives the Scheduler; `http` is the client lent to every run
  // (JobContext::http). `retry_seed` fixes the retries' jitter
  // (tests, to know when a retry is due); without it the jitter is seeded at random.
  Scheduler(boost::asio::io_context& loop, const Clock& clock, const JobCatalog& catalog,
            store::RunRecorder& recorder, http::Client& http, int worker_threads,
            std::optional<std::uint64_t> retry_seed = std::nullopt);
  // Waits for the pool's threads; Stop first so they have nothing left to do.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Begins scheduling. `last_slots` (per job, from the run history) lets
  // slots missed while the daemon was down be handled by each job's misfire
  // policy.
  void Start(std::shared_ptr<const config::Config> config,
             const std::map<std::string, core::TimePoint>& last_slots);

  // Swaps in a new, already validated config. Added jobs start on their
  // schedule, removed ones stop being scheduled (a run in progress finishes
  // under its old config), jobs whose timing changed are rescheduled, and
  // unchanged ones keep their next fire time.
  void Apply(std::shared_ptr<const config::Config> config);

  // Starts a run now (trigger manual, or event for an S3 notification),
  // honouring the job's overlap policy. Returns the run id, or nullopt with
  // `why` set (unknown job, queued, skipped).
  std::optional<std::int64_t> RunNow(const std::string& job, std::string* why = nullptr,
                                     store::Trigger trigger = store::Trigger::kManual);

  // Stops scheduling; running jobs get `grace`, then are cancelled. `done`
  // runs on the loop once no run is left.
  void Stop(core::Duration grace, std::function<void()> done);

  // Where each job's failure streak and last success stand, from the
  // store; call before Start.
  void SeedHealth(const std::vector<store::JobHealth>& health);
  // Called on the loop thread for every run that ends (skipped ones too).
  void OnRunFinished(std::function<void(const RunReport&)> observer);

  std::vector<JobStatus> Status() const;
  // One job's status, or nullopt when no job has that name.
  std::optional<JobStatus> StatusOf(const std::string& job) const;
  int running() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace scheduler
