#include "daemon/command_line.h"

#include "daemon/logging.h"

#include <charconv>
#include <cstdlib>
#include <set>

namespace jobsd {
namespace {

using core::Unexpected;

core::Error Usage(std::string message) { return core::InvalidArgument(std::move(message)); }

// The options each command takes; anything else is refused by name.
const std::set<std::string>& OptionsOf(const std::string& command) {
  static const std::set<std::string> kNone;
  static const std::set<std::string> kCheck{"-c", "--config"};
  static const std::set<std::string> kList{"-c", "--config", "--next", "--from", "--json"};
  static const std::set<std::string> kRun{"-c", "--config", "--log-level"};
  static const std::set<std::string> kOnce{"-c", "--config", "--set", "--log-level", "--json"};
  static const std::set<std::string> kHistory{"-c", "--config", "--limit", "--json", "--alerts"};
  static const std::set<std::string> kAlertTest{"-c", "--config"};
  static const std::set<std::string> kBackups{"-c", "--config", "--json"};
  static const std::set<std::string> kRestore{"-c",       "--config", "--at",
                                              "--source", "--to",     "--force"};
  if (command == "check") return kCheck;
  if (command == "list") return kList;
  if (command == "run") return kRun;
  if (command == "once") return kOnce;
  if (command == "history") return kHistory;
  if (command == "alert-test") return kAlertTest;
  if (command == "backups") return kBackups;
  if (command == "restore") return kRestore;
  return kNone;
}

// A whole number in [1, max]; the cap keeps a typo like --next 1000000000
// from running for minutes.
core::Result<int> PositiveInt(const std::string& option, const std::string& text, int max) {
  int value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || ptr != text.data() + text.size() || value < 1 || value > max) {
    return Unexpected(Usage(option + " needs a whole number from 1 to " + std::to_string(max) +
                            ", not '" + text + "'"));
  }
  return value;
}

}  // namespace

std::string UsageText() {
  return R"(usage: jobsd COMMAND [options]

commands:
  check   -c FILE                 validate the config; print every error as
                                  FILE:LINE:COL: key.path: message (exit 1)
  list    -c FILE [--next N] [--from TIME] [--json]
                                  each job's schedule and next N fire times
                                  (default 5) after now or after TIME (RFC 3339)
  run     -c FILE [--log-level L]  the daemon, in the foreground, logging to stderr
  once    -c FILE JOB [--set key=value ...] [--json]
                                  run one job now and exit with its result
                                  (0 ok, 1 failed, 124 timed out); --set
                                  overrides a key of the job's with: block
  history -c FILE [JOB] [--limit N] [--json] [--alerts]
                                  recorded runs, newest first (default 20);
                                  --alerts: alerts and their deliveries
  alert-test -c FILE CHANNEL      send a test alert through one channel of
                                  alerts.channels, once; print what the far
                                  end answered (exit 0 delivered, 1 not)
  backups -c FILE JOB [--json]    a backup job's backups, oldest first
  restore -c FILE JOB --to PATH [--at TIME|latest] [--source NAME] [--force]
                                  check and write one source of a backup to
                                  PATH (exit 0 only when the copy passes the
                                  backup's checks)
  version                         jobsd's version and its libraries'
  help                            this text

-c defaults to $JOBSD_CONFIG, then /etc/jobsd/jobsd.yaml.
)";
}

core::Result<CommandLine> ParseCommandLine(int argc, const char* const* argv) {
  CommandLine cl;
  if (argc < 2) return Unexpected(Usage("no command given"));
  cl.command = argv[1];
  if (cl.command == "--help" || cl.command == "-h") cl.command = "help";
  if (cl.command == "--version") cl.command = "version";
  static const std::set<std::string> kCommands{"check",   "list",    "run",  "once",
                                               "history", "version", "help", "alert-test",
                                               "backups", "restore"};
  if (!kCommands.count(cl.command)) {
    return Unexpected(Usage("unknown command '" + cl.command + "'"));
  }
  const auto& allowed = OptionsOf(cl.command);

  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    std::optional<std::string> inline_value;
    if (arg.rfind("--", 0) == 0) {
      if (const auto eq = arg.find('='); eq != std::string::npos) {
        inline_value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      }
    }
    if (arg.empty() || arg[0] != '-' || arg == "-") {
      cl.positional.push_back(arg);
      continue;
    }
    if (!allowed.count(arg)) {
      return Unexpected(Usage("'" + cl.command + "' does not take " + arg));
    }
    auto value = [&]() -> core::Result<std::string> {
      if (inline_value) return *inline_value;
      if (i + 1 >= argc) return Unexpected(Usage(arg + " needs a value"));
      return std::string(argv[++i]);
    };
    if (arg == "--json") {
      if (inline_value) return Unexpected(Usage("--json takes no value"));
      cl.json = true;
      continue;
    }
    if (arg == "--alerts") {
      if (inline_value) return Unexpected(Usage("--alerts takes no value"));
      cl.alerts = true;
      continue;
    }
    if (arg == "--force") {
      if (inline_value) return Unexpected(Usage("--force takes no value"));
      cl.force = true;
      continue;
    }
    auto v = value();
    if (!v) return Unexpected(v.error());
    if (arg == "-c" || arg == "--config") {
      cl.config_path = *v;
    } else if (arg == "--next") {
      auto n = PositiveInt(arg, *v, 10000);
      if (!n) return Unexpected(n.error());
      cl.next = *n;
    } else if (arg == "--limit") {
      auto n = PositiveInt(arg, *v, 1000000);
      if (!n) return Unexpected(n.error());
      cl.limit = *n;
    } else if (arg == "--log-level") {
      auto level = ParseLogLevel(*v);
      if (!level) return Unexpected(level.error());
      cl.log_level = *level;
    } else if (arg == "--set") {
      const auto eq = v->find('=');
      if (eq == std::string::npos || eq == 0) {
        return Unexpected(Usage("--set needs key=value, not '" + *v + "'"));
      }
      cl.sets.emplace_back(v->substr(0, eq), v->substr(eq + 1));
    } else if (arg == "--at") {
      cl.at = *v;
    } else if (arg == "--source") {
      cl.source = *v;
    } else if (arg == "--to") {
      cl.to = *v;
    } else if (arg == "--from") {
      auto t = core::ParseRfc3339(*v);
      if (!t) return Unexpected(Usage("--from: " + t.error().message));
      cl.from = *t;
    }
  }
  const std::size_t max_positional = cl.command == "once" || cl.command == "history" ||
                                             cl.command == "alert-test" ||
                                             cl.command == "backups" || cl.command == "restore"
                                         ? 1
                                         : 0;
  if (cl.positional.size() > max_positional) {
    return Unexpected(Usage("unexpected argument '" + cl.positional[max_positional] + "'"));
  }
  if (cl.command == "once" && cl.positional.empty()) {
    return Unexpected(Usage("once: name the job to run"));
  }
  if ((cl.command == "backups" || cl.command == "restore") && cl.positional.empty()) {
    return Unexpected(Usage(cl.command + ": name the backup job"));
  }
  if (cl.command == "restore" && cl.to.empty()) {
    return Unexpected(Usage("restore: --to PATH says where the restored copy goes"));
  }
  if (cl.command == "alert-test" && cl.positional.empty()) {
    return Unexpected(Usage("alert-test: name the channel to test"));
  }
  if (cl.config_path.empty()) {
    const char* env = std::getenv("JOBSD_CONFIG");
    cl.config_path = env && *env ? env : "/etc/jobsd/jobsd.yaml";
  }
  return cl;
}

}  // namespace jobsd
