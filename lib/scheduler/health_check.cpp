#include "scheduler/health_check.h"

namespace scheduler {

std::vector<std::string> HealthProblems(const config::JobConfig& job, const JobStatus& status,
                                        core::TimePoint now, core::TimePoint daemon_started) {
  std::vector<std::string> problems;
  const int threshold = job.alerts.consecutive_failures.empty()
                            ? kDefaultFailureThreshold
                            : job.alerts.consecutive_failures.front().threshold;
  if (status.consecutive_failures >= threshold) {
    std::string text = std::to_string(status.consecutive_failures) +
                       " consecutive failures (threshold " + std::to_string(threshold) + ")";
    if (!status.last_error.empty()) text += ": " + status.last_error;
    problems.push_back(std::move(text));
  }
  if (job.max_age) {
    const core::TimePoint since = status.last_success_at.value_or(daemon_started);
    if (now - since > *job.max_age) {
      if (status.last_success_at) {
        problems.push_back("last success " + core::FormatRfc3339(*status.last_success_at) +
                           " is older than max_age " + core::FormatDuration(*job.max_age));
      } else {
        problems.push_back("no success since jobsd started, more than max_age " +
                           core::FormatDuration(*job.max_age) + " ago");
      }
    }
  }
  return problems;
}

}  // namespace scheduler
