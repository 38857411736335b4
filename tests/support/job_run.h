// Runs one job the way RunExecutor does, for a job type's tests: a context on
// the system clock and the given HTTP client, what the run reported kept
// beside its result.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "scheduler/job.h"

namespace support {

struct JobRun {
  core::Result<void> result;
  store::RunMetrics metrics;
  std::string output;

  explicit operator bool() const { return result.has_value(); }
  const core::Error& error() const { return result.error(); }
  // The figure the run reported, or -1 when it reported none by that name.
  double Metric(std::string_view name) const { return metrics.Get(name).value_or(-1); }
};

// `prepare` may set up the context (a state folder) before the run; `state`
// is the store GetState/PutState use (none: those calls fail).
inline JobRun RunJob(const scheduler::JobType& type, const config::JobConfig& job,
                     scheduler::CancelToken& cancel, http::Client& http,
                     const std::function<void(scheduler::JobContext&)>& prepare = {},
                     std::int64_t run_id = 1, store::RunRecorder* state = nullptr) {
  static const scheduler::SystemClock clock;
  const scheduler::JobServices services{clock, http, state};
  scheduler::JobContext ctx(services, job, run_id, 1, store::Trigger::kManual, cancel);
  if (prepare) prepare(ctx);
  JobRun run{type.create(job)->Run(ctx), {}, {}};
  run.metrics = ctx.metrics();
  run.output = ctx.output();
  return run;
}

}  // namespace support
