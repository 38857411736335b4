// The `with:` block of a `type: sleep` job: waits, then ends as told. For
// tests, demos and benchmarks of the scheduler itself.
//
//   with:
//     duration: 2s     # required
//     result: ok       # ok | failed (default ok)
//
// Plain values; the daemon reads them with JobConfig::Settings<SleepSettings>().
#pragma once

#include <any>

#include "config/job_type.h"
#include "config/map_reader.h"
#include "core/time.h"

namespace jobs::sleep {

enum class SleepResult { kOk, kFailed };

struct SleepSettings {
  core::Duration duration{};
  SleepResult result = SleepResult::kOk;
};

// Validates `with` (reporting every problem through it) and returns what it
// found; placeholders stand in for wrong values.
SleepSettings ReadSleepSettings(config::MapReader& with);

// Registers `type: sleep` with the config loader; settings are a SleepSettings.
config::JobTypeSpec SleepJobType();

}  // namespace jobs::sleep
