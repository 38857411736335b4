#include "jobs/command/command_config.h"

namespace jobs::command {
namespace {

bool IsEnvName(std::string_view name) {
  if (name.empty() || (name.front() >= '0' && name.front() <= '9')) return false;
  for (char c : name) {
    const bool ok =
        (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

CommandSettings ReadCommandSettings(config::MapReader& with) {
  CommandSettings out;
  const bool has_command = with.Has("command");
  const bool has_shell = with.Has("shell");
  if (has_command && has_shell) {
    with.Report("shell",
                "set either command: (a list, run directly) or shell: (a string run "
                "by /bin/sh -c), not both");
  } else if (has_command) {
    if (std::optional<std::vector<std::string>> argv = with.StringList("command")) {
      if (argv->empty() || argv->front().empty()) {
        with.Report("command", "expected the program and its arguments, like [pg_dump, mydb]");
      }
      out.argv = std::move(*argv);
    }
  } else if (has_shell) {
    if (std::optional<std::string> script = with.String("shell")) {
      if (script->empty()) with.Report("shell", "expected a command line, got ''");
      out.argv = {"/bin/sh", "-c", *script};
      out.via_shell = true;
    }
  } else {
    with.ReportHere(
        "missing required key 'command' (a list, run directly) or 'shell' (a string "
        "run by /bin/sh -c)");
  }

  if (std::optional<std::map<std::string, std::string>> env = with.StringMap("env")) {
    const config::YamlNode env_node = with.Node("env").value_or(config::YamlNode());
    for (auto entry : env_node) {
      const std::string& name = entry.first.Scalar();
      if (entry.first.IsScalar() && !IsEnvName(name)) {
        with.ReportAt(entry.first, with.path() + ".env." + name,
                      "expected an environment variable name (letters, digits and '_', not "
                      "starting with a digit)");
      }
    }
    out.env = std::move(*env);
  }
  out.cwd = with.Path("cwd");
  out.kill_grace = with.Duration("kill_grace").value_or(out.kill_grace);
  return out;
}

config::JobTypeSpec CommandJobType() {
  return config::JobTypeSpec{"command", [](config::MapReader& with, std::string_view) -> std::any {
                               return ReadCommandSettings(with);
                             }};
}

}  // namespace jobs::command
