#include "scheduler/health_check.h"

#include <catch2/catch.hpp>

namespace {

using namespace std::chrono_literals;

core::TimePoint At(const char* text) { return *core::ParseRfc3339(text); }

}  // namespace

TEST_CASE("a failure streak breaks the job's rule at the configured threshold", "[health]") {
  config::JobConfig job;
  job.name = "aq";
  scheduler::JobStatus status;
  status.last_error = "HTTP 503";
  const auto now = At("2026-11-22T12:00:00Z");

  status.consecutive_failures = scheduler::kDefaultFailureThreshold - 1;
  CHECK(scheduler::HealthProblems(job, status, now, now).empty());
  status.consecutive_failures = scheduler::kDefaultFailureThreshold;
  const auto problems = scheduler::HealthProblems(job, status, now, now);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0] == "3 consecutive failures (threshold 3): HTTP 503");

  job.alerts.consecutive_failures = {
      config::ConsecutiveFailuresRule{5, config::Severity::kCritical}};
  CHECK(scheduler::HealthProblems(job, status, now, now).empty());
  status.consecutive_failures = 5;
  CHECK(scheduler::HealthProblems(job, status, now, now).size() == 1);
}

TEST_CASE("max_age: a success older than it makes the job stale", "[health]") {
  config::JobConfig job;
  job.max_age = 2h;
  scheduler::JobStatus status;
  const auto started = At("2026-11-22T09:00:00Z");
  const auto now = At("2026-11-22T12:00:00Z");

  status.last_success_at = At("2026-11-22T10:30:00Z");
  CHECK(scheduler::HealthProblems(job, status, now, started).empty());
  status.last_success_at = At("2026-11-22T09:59:59Z");
  const auto problems = scheduler::HealthProblems(job, status, now, started);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0] == "last success 2026-11-22T09:59:59.000000Z is older than max_age 2h");
}

TEST_CASE("max_age: a job that never succeeded counts from the daemon's start", "[health]") {
  config::JobConfig job;
  job.max_age = 1h;
  scheduler::JobStatus never;
  const auto started = At("2026-11-22T11:30:00Z");
  CHECK(scheduler::HealthProblems(job, never, At("2026-11-22T12:00:00Z"), started).empty());
  const auto late = scheduler::HealthProblems(job, never, At("2026-11-22T12:30:01Z"), started);
  REQUIRE(late.size() == 1);
  CHECK(late[0] == "no success since jobsd started, more than max_age 1h ago");
}
