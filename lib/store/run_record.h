// A job run as the state store keeps it: how it was triggered, how it
// ended, and the job's health (failure streak) that runs add up to. Plain
// values; RunStore (run_store.h) reads and writes them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/time.h"
#include "store/run_metrics.h"

namespace store {

enum class RunStatus { kRunning, kOk, kFailed, kTimeout, kSkipped, kCancelled, kInterrupted };
enum class Trigger { kSchedule, kManual, kChain, kEvent, kRetry, kCatchup };

std::string_view ToString(RunStatus status);
std::string_view ToString(Trigger trigger);
std::optional<RunStatus> ParseRunStatus(std::string_view text);
std::optional<Trigger> ParseTrigger(std::string_view text);
// Whether a finished run with this status extends the job's failure streak.
bool CountsAsFailure(RunStatus status);

struct RunRecord {
  std::int64_t id = 0;
  std::string job;
  Trigger trigger = Trigger::kSchedule;
  std::optional<core::TimePoint> scheduled_at;  // the slot; none for manual runs
  core::TimePoint started_at;
  std::optional<core::TimePoint> finished_at;
  RunStatus status = RunStatus::kRunning;
  int attempt = 1;
  std::string error;
  std::string output;               // the tail of what the run printed
  std::string metrics_json = "{}";  // a JSON object of the job's metrics
};

// How a run ended; applied by FinishRun.
struct RunEnd {
  std::int64_t id = 0;
  std::string job;
  RunStatus status = RunStatus::kOk;
  core::TimePoint started_at;  // not stored again; for the end hook's duration rules
  core::TimePoint finished_at;
  std::string error;
  std::string output;
  RunMetrics metrics;  // what the job reported, whether it succeeded or not
};

struct JobHealth {
  std::string job;
  int consecutive_failures = 0;
  std::optional<core::TimePoint> last_success_at;
  std::optional<core::TimePoint> last_failure_at;
  std::optional<RunStatus> last_status;
};

}  // namespace store
