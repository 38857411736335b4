// Whether a job is within its rules, for /health (and the daemon's status
// line): a job is unhealthy when its failure streak reaches the
// consecutive_failures rule's threshold (3 when no such rule is set), or
// when it has a `max_age` and its last success is older than that (a job
// that never succeeded counts from the moment the daemon started, so a fresh
// start is not unhealthy at once).
#pragma once

#include <string>
#include <vector>

#include "config/config.h"
#include "core/time.h"
#include "scheduler/scheduler.h"

namespace scheduler {

// The streak that makes a job unhealthy when no consecutive_failures rule is set.
inline constexpr int kDefaultFailureThreshold = 3;

// The reasons the job breaks its rules, empty when it is healthy.
std::vector<std::string> HealthProblems(const config::JobConfig& job, const JobStatus& status,
                                        core::TimePoint now, core::TimePoint daemon_started);

}  // namespace scheduler
