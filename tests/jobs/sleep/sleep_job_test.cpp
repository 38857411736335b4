#include "jobs/sleep/sleep_job.h"

#include <catch2/catch.hpp>

#include "jobs/sleep/sleep_config.h"
#include "tests/support/job_run.h"

namespace {

using namespace std::chrono_literals;

support::JobRun RunSleep(jobs::sleep::SleepSettings settings, scheduler::CancelToken& cancel) {
  config::JobConfig job;
  job.name = "nap";
  job.type = "sleep";
  job.settings = settings;
  static http::Client http;
  return support::RunJob(jobs::sleep::Type(), job, cancel, http);
}

}  // namespace

TEST_CASE("sleep: succeeds or fails as configured", "[sleep]") {
  scheduler::CancelToken cancel;
  auto ok = RunSleep({10ms, jobs::sleep::SleepResult::kOk}, cancel);
  REQUIRE(ok);
  CHECK(ok.Metric("slept_seconds") == Approx(0.01));
  auto failed = RunSleep({0ms, jobs::sleep::SleepResult::kFailed}, cancel);
  REQUIRE_FALSE(failed);
  CHECK_THAT(failed.error().message, Catch::Contains("result: failed"));
}

TEST_CASE("sleep: the deadline cuts it short", "[sleep]") {
  scheduler::CancelToken cancel;
  cancel.SetDeadline(
      std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now()) + 50ms);
  const auto start = std::chrono::steady_clock::now();
  auto result = RunSleep({10s, jobs::sleep::SleepResult::kOk}, cancel);
  REQUIRE_FALSE(result);
  CHECK(std::chrono::steady_clock::now() - start < 2s);
  CHECK(cancel.reason() == scheduler::CancelToken::Reason::kTimeout);
}
