// Loads and validates a jobsd config file into a Config.
//
// Validation is complete: the loader keeps going after a problem and returns
// every one it found (syntax, unknown keys with suggestions, wrong types, bad
// durations and cron expressions, unknown time zones and job types, duplicate
// keys and job names, `after:` naming unknown jobs or forming a cycle, alert
// routes naming undefined channels, ...), each as
// `FILE:LINE:COL: key.path: message`. A Config is returned only when there
// are none, so a half-valid config can never be swapped in on SIGHUP.
//
// Blocking: reads the config file and any secret `*_file`s, and resolves time
// zones. Call at startup or from the worker pool, never from the loop thread.
// Never throws for bad input.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "config/diagnostics.h"
#include "config/env_expansion.h"
#include "config/job_type.h"

namespace config {

// `jobsd once JOB --set key=value`: replaces (or adds) one key of a job's
// `with:` block before the job type validates it. The value is read as YAML,
// so `--set ids=[1,2]` gives a list; problems with it are reported without a
// line number.
struct WithOverride {
  std::string job;
  std::string key;
  std::string value;
};

struct LoadOptions {
  // The job types `type:` may name; the daemon registers every type it has.
  std::vector<JobTypeSpec> job_types;
  // Where `${VAR}` references are looked up.
  EnvLookup env = ProcessEnvironment();
  // Relative paths resolve against this folder instead of the config file's.
  std::optional<std::filesystem::path> folder;
  std::vector<WithOverride> with_overrides;
};

struct LoadResult {
  std::optional<Config> config;         // set only when `diagnostics` is empty
  std::vector<Diagnostic> diagnostics;  // ordered by position

  bool ok() const { return config.has_value(); }
  // Every diagnostic, one per line (what `jobsd check` prints).
  std::string ErrorText() const;
};

LoadResult LoadConfigFile(const std::filesystem::path& path, const LoadOptions& options);

// `file_name` names the text in diagnostics, and its folder is where relative
// paths resolve (unless options.folder says otherwise).
LoadResult LoadConfigText(const std::string& text, const std::string& file_name,
                          const LoadOptions& options);

}  // namespace config
