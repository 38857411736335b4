// The `with:` block of a `type: command` job: which program to run, where and
// with what environment.
//
//   with:
//     command: [pg_dump, --format=custom, mydb]   # argv, executed directly
//     # or  shell: "pg_dump mydb | gzip > dump.gz"  (run by /bin/sh -c)
//     env: {PGHOST: db.internal}                   # added to the environment
//     cwd: data/dumps                              # relative to the config folder
//     kill_grace: 10s                              # SIGTERM .. SIGKILL on timeout
//
// Exactly one of command: and shell: is required. Plain values; the daemon
// reads them with JobConfig::Settings<CommandSettings>().
#pragma once

#include <any>
#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/job_type.h"
#include "config/map_reader.h"
#include "core/time.h"

namespace jobs::command {

struct CommandSettings {
  // What to execute: the `command:` list as written, or for `shell:`
  // {"/bin/sh", "-c", script}. Never empty in a loaded config.
  std::vector<std::string> argv;
  bool via_shell = false;  // argv came from `shell:`
  std::map<std::string, std::string> env;
  std::optional<std::filesystem::path> cwd;  // absolute; unset = the daemon's own
  core::Duration kill_grace = std::chrono::seconds(10);
};

// Validates `with` (reporting every problem through it) and returns what it
// found; placeholders stand in for wrong values.
CommandSettings ReadCommandSettings(config::MapReader& with);

// Registers `type: command` with the config loader; settings are a
// CommandSettings.
config::JobTypeSpec CommandJobType();

}  // namespace jobs::command
