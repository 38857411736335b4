// The JSON objects users script against (README: HTTP endpoints): a job as `jobsd
// list --json` and /api/jobs print it, and a run as `jobsd history --json`
// and /api/jobs/{name}/runs print it. One writer for each, so the CLI and
// the API cannot drift apart.
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "core/json_writer.h"
#include "core/time.h"
#include "store/run_store.h"

namespace scheduler {

// "every 2h", "cron 0 3 * * * (Europe/Berlin)", "after build" or "manual".
std::string ScheduleText(const config::JobConfig& job);

// The job's next `count` fire times after `from` (none when it has no
// schedule or is disabled).
std::vector<core::TimePoint> NextFires(const config::JobConfig& job, core::TimePoint from,
                                       int count);

// name, type, schedule, timezone, enabled, next (UTC) and next_local (the
// job's zone, with its offset).
void WriteJobJson(core::JsonWriter& json, const config::JobConfig& job,
                  const std::vector<core::TimePoint>& next);

// id, job, trigger, scheduled_at, started_at, finished_at, status, attempt,
// error, metrics.
void WriteRunJson(core::JsonWriter& json, const store::RunRecord& run);

}  // namespace scheduler
