#include "scheduler/run_executor.h"

#include <exception>

#include <spdlog/spdlog.h>

#include "core/json_writer.h"

namespace scheduler {
std::string MetricsJson(const RunSummary& summary) {
  core::JsonWriter json;
  for (const auto& [name, value] : summary.metrics) json.Key(name).Double(value);
  return json.Finish();
}

RunOutcome RunExecutor::Execute(const config::Config& config, const config::JobConfig& job,
                                const Firing& firing, std::int64_t run_id, CancelToken& cancel) {
  RunOutcome outcome;
  outcome.id = run_id;
  outcome.started_at = clock_.Now();
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

  JobContext ctx(job, run_id, firing.attempt, firing.trigger, cancel);
  ctx.set_state_file(config.state.path);
  RunSummary summary;
  try {
    const JobType* type = catalog_.Find(job.type);
    if (type == nullptr) {
      outcome.error = "no job type '" + job.type + "' in this jobsd";
    } else if (auto result = type->create(job)->Run(ctx); result) {
      summary = std::move(*result);
      outcome.status = store::RunStatus::kOk;
    } else {
      outcome.error = result.error().message;
    }
  } catch (const std::exception& e) {
    outcome.error = std::string("internal error: ") + e.what();
  } catch (...) {
    outcome.error = "internal error: unknown exception";
  }
  outcome.finished_at = clock_.Now();

  // A run that failed after being cancelled is reported by why it was
  // cancelled. One that finished its work anyway (and returned ok) stays ok:
  // jobs undo partial work when they give up, so ok means complete.
  if (outcome.status != store::RunStatus::kOk) {
    const std::string detail = outcome.error.empty() ? "" : ": " + outcome.error;
    switch (cancel.reason()) {
      case CancelToken::Reason::kTimeout:
        outcome.status = store::RunStatus::kTimeout;
        outcome.error = "timed out after " + core::FormatDuration(job.timeout) + detail;
        break;
      case CancelToken::Reason::kShutdown:
        outcome.status = store::RunStatus::kCancelled;
        outcome.error = "cancelled: jobsd is shutting down" + detail;
        break;
      case CancelToken::Reason::kManual:
        outcome.status = store::RunStatus::kCancelled;
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
  end.output = ctx.output();
  end.metrics_json = MetricsJson(summary);
  recorder_.RecordEnd(std::move(end));
  outcome.metrics = std::move(summary.metrics);

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
