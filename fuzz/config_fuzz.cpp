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
#include "config/document.h"
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

// Where libyaml reads a text at all, it must build what yaml-cpp builds and
// report what yaml-cpp reports; otherwise big configs would mean something
// else than small ones.
static void CompareParsers(const std::string& text) {
  config::Diagnostics slow_problems, fast_problems;
  config::ConfigSource slow_source("fuzz.yaml", "/nonexistent", slow_problems);
  config::ConfigSource fast_source("fuzz.yaml", "/nonexistent", fast_problems);
  config::YamlTree slow_tree, fast_tree;
  const auto slow = config::ParseDocument(text, slow_tree, slow_source, Options().env, nullptr,
                                          nullptr, config::YamlParser::kYamlCpp);
  const auto fast = config::ParseDocument(text, fast_tree, fast_source, Options().env, nullptr,
                                          nullptr, config::YamlParser::kLibyamlFirst);
  if (slow.has_value() != fast.has_value()) __builtin_trap();
  if (slow && config::DebugString(*slow) != config::DebugString(*fast)) __builtin_trap();
  if (slow_problems.ToString() != fast_problems.ToString()) __builtin_trap();
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  CompareParsers(text);
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
    for (const config::Upstream& upstream : job.after) {
      if (result.config->FindJob(upstream.job) == nullptr) __builtin_trap();
    }
  }
  return 0;
}
