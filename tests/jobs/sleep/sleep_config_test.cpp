#include "jobs/sleep/sleep_config.h"

#include <catch2/catch.hpp>

#include <chrono>

#include "tests/lib/config/config_test_support.h"

namespace jobs::sleep {
namespace {

using namespace std::chrono_literals;

TEST_CASE("sleep: duration and result", "[config]") {
  const config::LoadResult result = config::testing::Load(
      "jobs:\n  - {name: a, type: sleep, with: {duration: 1500ms}}\n"
      "  - {name: b, type: sleep, with: {duration: 2s, result: failed}}\n");
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  const SleepSettings* a = result.config->jobs[0].Settings<SleepSettings>();
  REQUIRE(a != nullptr);
  CHECK(a->duration == 1500ms);
  CHECK(a->result == SleepResult::kOk);
  const SleepSettings* b = result.config->jobs[1].Settings<SleepSettings>();
  REQUIRE(b != nullptr);
  CHECK(b->result == SleepResult::kFailed);
  CHECK(SleepJobType().name == "sleep");
}

TEST_CASE("sleep: with: problems", "[config]") {
  CHECK(config::testing::Problems("jobs:\n  - {name: a, type: sleep}\n") ==
        "cfg.yaml:2:5: jobs.a.with: missing required key 'duration'\n");
  CHECK(config::testing::Problems(
            "jobs:\n  - {name: a, type: sleep, with: {duration: 2, result: maybe, x: 1}}\n") ==
        "cfg.yaml:2:45: jobs.a.with.duration: expected a duration like 30s or 1h30m, got '2' (a "
        "number needs a unit: us ms s m h d w)\n"
        "cfg.yaml:2:56: jobs.a.with.result: expected one of ok, failed, got 'maybe'\n"
        "cfg.yaml:2:63: jobs.a.with.x: unknown key 'x'\n");
}

}  // namespace
}  // namespace jobs::sleep
