#include "jobs/sleep/sleep_config.h"

namespace jobs::sleep {

SleepSettings ReadSleepSettings(config::MapReader& with) {
  SleepSettings out;
  out.duration = with.Duration("duration", config::Need::kRequired).value_or(out.duration);
  out.result =
      with.Enum<SleepResult>("result", {{"ok", SleepResult::kOk}, {"failed", SleepResult::kFailed}})
          .value_or(out.result);
  return out;
}

config::JobTypeSpec SleepJobType() {
  return config::JobTypeSpec{"sleep", [](config::MapReader& with, std::string_view) -> std::any {
                               return ReadSleepSettings(with);
                             }};
}

}  // namespace jobs::sleep
