// Feeds arbitrary text to the config loader with the command and sleep job
// types and a fake environment. Loading must never throw or crash, must
// report at least one diagnostic when it refuses a config, and a config it
// accepts must hold only jobs with valid, unique names.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <set>
#include <string>

#include "config/config.h"
#include "config/config_loader.h"
#include "jobs/command/command_config.h"
#include "jobs/sleep/sleep_config.h"

namespace {

const config::LoadOptions& Options() {
  static const config::LoadOptions options = [] {
    config::LoadOptions out;
    out.job_types = {jobs::command::CommandJobType(), jobs::sleep::SleepJobType()};
    // A folder that does not exist: relative `*_file` secrets and paths never
    // reach real files.
    out.folder = "/nonexistent/jobsd-fuzz";
    out.env = [](const std::string& name) -> std::optional<std::string> {
      if (name == "JOBSD_API_TOKEN") return "s3cret";
      if (name == "SLACK_WEBHOOK_URL") return "https://hooks.slack.com/services/T0/B0/x";
      if (name == "EMPTY") return "";
      return std::nullopt;
    };
    return out;
  }();
  return options;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  config::LoadResult result;
  try {
    result = config::LoadConfigText(text, "fuzz.yaml", Options());
  } catch (...) {
    __builtin_trap();  // the loader promises never to throw for bad input
  }
  if (!result.ok()) {
    if (result.diagnostics.empty()) __builtin_trap();  // refused without saying why
    (void)result.ErrorText();
    return 0;
  }
  if (!result.diagnostics.empty()) __builtin_trap();
  std::set<std::string> names;
  for (const config::JobConfig& job : result.config->jobs) {
    if (!config::IsValidJobName(job.name)) __builtin_trap();
    if (!names.insert(job.name).second) __builtin_trap();  // names are unique
    if (result.config->FindJob(job.name) != &job) __builtin_trap();
    if (job.cron && job.every) __builtin_trap();  // at most one schedule
    for (const std::string& upstream : job.after) {
      if (result.config->FindJob(upstream) == nullptr) __builtin_trap();
    }
  }
  return 0;
}
