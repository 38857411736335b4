// The jobsd command line: `jobsd COMMAND [options]`, parsed into one struct.
// Parsing never exits or prints; a mistake comes back as an error message
// that main prints with the usage text.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "core/result.h"
#include "core/time.h"

namespace jobsd {

struct CommandLine {
  std::string
      command;  // run, check, list, once, history, alert-test, backups, restore, version, help
  std::string config_path;  // -c/--config, else $JOBSD_CONFIG, else /etc/jobsd/jobsd.yaml
  std::vector<std::string> positional;  // the job of `once`, the channel of `alert-test`
  int next = 5;                         // list --next N
  std::optional<core::TimePoint> from;  // list --from TIME
  bool json = false;                    // --json
  int limit = 20;                       // history --limit N
  bool alerts = false;                  // history --alerts
  std::vector<std::pair<std::string, std::string>> sets;  // once --set key=value
  std::optional<config::LogLevel> log_level;              // --log-level, overrides the config
  std::string at;      // restore --at TIME|latest (empty: latest)
  std::string source;  // restore --source NAME (empty: the backup's only source)
  std::string to;      // restore --to PATH
  bool force = false;  // restore --force: replace an existing PATH
};

core::Result<CommandLine> ParseCommandLine(int argc, const char* const* argv);

// The text `jobsd help` prints.
std::string UsageText();

}  // namespace jobsd
