#include "scheduler/run_executor.h"

#include <exception>

#include <spdlog/spdlog.h>

namespace scheduler {

RunOutcome RunExecutor::Execute(const config::Config& config, const config::JobConfig& job,
                                const Firing& firing, std::int64_t run_id, CancelToken& cancel) {
  RunOutcome outcome;
  outcome.id = run_id;
  outcome.started_at = services_.clock.Now();
  cancel.SetDeadline(outcome.started_at + job.timeout);

  store::RunRecord record;
  record.id = run_id;
  record.job = job.name;
  record.trigger = firing.trigger;
  record.scheduled_at = firing.scheduled_at;
  record.started_at = outcome.started_at;
  record.attempt = firing.attempt;
  recorder_.RecordStart(std::move(record));
  spdlog::info("job={} run={} start trigger={} attempt={}", job.name, run_id,
               store::ToString(firing.trigger), firing.attempt);

  std::string output;
  {
    JobContext ctx(services_, job, run_id, firing.attempt, firing.trigger, cancel);
    ctx.set_state_file(config.state.path);
    ctx.set_scheduled_at(firing.scheduled_at);
    try {
      const JobType* type = catalog_.Find(job.type);
      if (type == nullptr) {
        outcome.error = "no job type '" + job.type + "' in this jobsd";
      } else if (auto result = type->create(job)->Run(ctx); result) {
        outcome.status = store::RunStatus::kOk;
      } else {
        outcome.error = result.error().message;
        outcome.retryable = result.error().retryable;
      }
    } catch (const std::exception& e) {
      // A bug or exhausted resources (memory, file descriptors): the next
      // attempt may find them back.
      outcome.error = std::string("internal error: ") + e.what();
      outcome.retryable = true;
    } catch (...) {
      outcome.error = "internal error: unknown exception";
      outcome.retryable = true;
    }
    output = ctx.TakeOutput();
    outcome.metrics = std::move(ctx.metrics());
  }  // the scratch folder goes with the context, before the run counts as over
  outcome.finished_at = services_.clock.Now();

  // A run that failed after being cancelled is reported by why it was
  // cancelled. One that finished its work anyway (and returned ok) stays ok:
  // jobs undo partial work when they give up, so ok means complete.
  if (outcome.status != store::RunStatus::kOk) {
    const std::string detail = outcome.error.empty() ? "" : ": " + outcome.error;
    switch (cancel.reason()) {
      case CancelToken::Reason::kTimeout:
        outcome.status = store::RunStatus::kTimeout;
        outcome.retryable = true;  // the next attempt gets a whole timeout of its own
        outcome.error = "timed out after " + core::FormatDuration(job.timeout) + detail;
        break;
      case CancelToken::Reason::kShutdown:
        outcome.status = store::RunStatus::kCancelled;
        outcome.retryable = false;
        outcome.error = "cancelled: jobsd is shutting down" + detail;
        break;
      case CancelToken::Reason::kManual:
        outcome.status = store::RunStatus::kCancelled;
        outcome.retryable = false;
        outcome.error = "cancelled" + detail;
        break;
      case CancelToken::Reason::kNone:
        break;
    }
  }

  store::RunEnd end;
  end.id = run_id;
  end.job = job.name;
  end.status = outcome.status;
  end.started_at = outcome.started_at;
  end.finished_at = outcome.finished_at;
  end.error = outcome.error;
  outcome.output = output;
  end.output = std::move(output);
  end.metrics = outcome.metrics;
  recorder_.RecordEnd(std::move(end));

  // Formatted by spdlog, so not at all when the level filters the line out
  // (at thousands of runs a second, formatting alone is a noticeable cost).
  const double seconds =
      std::chrono::duration<double>(outcome.finished_at - outcome.started_at).count();
  if (outcome.status == store::RunStatus::kOk) {
    spdlog::info("job={} run={} outcome=ok duration={:.3f}s", job.name, run_id, seconds);
  } else {
    spdlog::warn("job={} run={} outcome={} duration={:.3f}s error={}", job.name, run_id,
                 store::ToString(outcome.status), seconds, outcome.error);
  }
  return outcome;
}

}  // namespace scheduler
