// Carries out one run on the calling thread: records its start, runs the job
// with its cancel token and deadline, and records how it ended. The daemon's
// scheduler and `jobsd once` both run jobs through here, so a run looks the
// same in the history however it was started.
//
// This is the firewall: whatever escapes Job::Run (an Error, an exception)
// becomes a failed run record and a log line, never a crash.
//
// Blocking: worker threads (or a CLI command's main thread) only.
#pragma once

#include <cstdint>
#include <string>

#include "scheduler/clock.h"
#include "scheduler/fire_plan.h"
#include "scheduler/job.h"
#include "store/run_recorder.h"

namespace scheduler {

struct RunOutcome {
  std::int64_t id = 0;
  store::RunStatus status = store::RunStatus::kFailed;
  std::string error;
  // Whether the run's `retries:` apply: the job's Error said so (a 503 may
  // pass, a 401 will not), a timeout, or an exception. False for ok runs.
  bool retryable = false;
  core::TimePoint started_at;
  core::TimePoint finished_at;
  store::RunMetrics metrics;  // what the job reported, failed runs included
  std::string output;         // the tail of what the run printed, as recorded
};

class RunExecutor {
 public:
  // `clock` times the runs; `http` is lent to them; their key/value state
  // goes through `recorder`, in order with their run records.
  RunExecutor(const JobCatalog& catalog, store::RunRecorder& recorder, const Clock& clock,
              http::Client& http)
      : catalog_(catalog), recorder_(recorder), services_{clock, http, &recorder} {}

  // `config` is the one the job comes from (its state.path tells the job
  // where the state store lives).
  RunOutcome Execute(const config::Config& config, const config::JobConfig& job,
                     const Firing& firing, std::int64_t run_id, CancelToken& cancel);

 private:
  const JobCatalog& catalog_;
  store::RunRecorder& recorder_;
  const JobServices services_;
};

}  // namespace scheduler
