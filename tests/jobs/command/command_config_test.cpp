#include "jobs/command/command_config.h"

#include <catch2/catch.hpp>

#include <chrono>

#include "tests/lib/config/config_test_support.h"

namespace jobs::command {
namespace {

using namespace std::chrono_literals;

const CommandSettings* SettingsOf(const config::LoadResult& result) {
  REQUIRE(result.ok());
  return result.config->jobs[0].Settings<CommandSettings>();
}

TEST_CASE("command: argv, environment, folder and kill grace", "[config]") {
  const config::LoadResult result = config::testing::Load(
      "jobs:\n  - name: dump\n    type: command\n    with:\n"
      "      command: [pg_dump, --format=custom, \"my db\"]\n"
      "      env: {PGHOST: db.internal, PGPORT: 5433}\n      cwd: dumps\n      kill_grace: 30s\n");
  INFO(result.ErrorText());
  const CommandSettings* settings = SettingsOf(result);
  REQUIRE(settings != nullptr);
  CHECK(settings->argv == std::vector<std::string>{"pg_dump", "--format=custom", "my db"});
  CHECK_FALSE(settings->via_shell);
  CHECK(settings->env ==
        std::map<std::string, std::string>{{"PGHOST", "db.internal"}, {"PGPORT", "5433"}});
  CHECK(settings->cwd == std::filesystem::path("/srv/jobsd/dumps"));
  CHECK(settings->kill_grace == 30s);
}

TEST_CASE("command: shell runs through /bin/sh -c; defaults", "[config]") {
  const config::LoadResult result = config::testing::Load(
      "jobs:\n  - {name: a, type: command, with: {shell: \"pg_dump db | gzip > x.gz\"}}\n");
  INFO(result.ErrorText());
  const CommandSettings* settings = SettingsOf(result);
  REQUIRE(settings != nullptr);
  CHECK(settings->argv == std::vector<std::string>{"/bin/sh", "-c", "pg_dump db | gzip > x.gz"});
  CHECK(settings->via_shell);
  CHECK(settings->env.empty());
  CHECK_FALSE(settings->cwd);
  CHECK(settings->kill_grace == 10s);
}

TEST_CASE("command: with: problems", "[config]") {
  struct Row {
    const char* with;
    const char* expected;
  };
  // Each `with` goes into "  - {name: a, type: command, with: WITH}" on line 2;
  // the block starts at column 36.
  const Row rows[] = {
      {"{}",
       "cfg.yaml:2:36: jobs.a.with: missing required key 'command' (a list, run directly) or "
       "'shell' (a string run by /bin/sh -c)\n"},
      {"{command: [ls], shell: ls}",
       "cfg.yaml:2:59: jobs.a.with.shell: set either command: (a list, run directly) or shell: (a "
       "string run by /bin/sh -c), not both\n"},
      {"{command: \"ls -la\"}",
       "cfg.yaml:2:46: jobs.a.with.command: expected a list of strings, got 'ls -la'\n"},
      {"{command: []}",
       "cfg.yaml:2:46: jobs.a.with.command: expected the program and its arguments, like "
       "[pg_dump, mydb]\n"},
      {"{shell: \"\"}", "cfg.yaml:2:44: jobs.a.with.shell: expected a command line, got ''\n"},
      {"{shell: x, env: {1X: a, B: [c]}}",
       "cfg.yaml:2:63: jobs.a.with.env.B: expected a string, got a list\n"},
      {"{shell: x, env: {1X: a, my-var: b}}",
       "cfg.yaml:2:53: jobs.a.with.env.1X: expected an environment variable name (letters, "
       "digits and '_', not starting with a digit)\n"
       "cfg.yaml:2:60: jobs.a.with.env.my-var: expected an environment variable name (letters, "
       "digits and '_', not starting with a digit)\n"},
      {"{shell: x, kill_grace: soon, cmd: y}",
       "cfg.yaml:2:59: jobs.a.with.kill_grace: expected a duration like 30s or 1h30m, got 'soon'\n"
       "cfg.yaml:2:65: jobs.a.with.cmd: unknown key 'cmd' (did you mean 'cwd'?)\n"},
      {"{shell: x, comand: [y]}",
       "cfg.yaml:2:47: jobs.a.with.comand: unknown key 'comand' (did you mean 'command'?)\n"},
  };
  for (const Row& row : rows) {
    INFO(row.with);
    CHECK(config::testing::Problems(std::string("jobs:\n  - {name: a, type: command, with: ") +
                                    row.with + "}\n") == row.expected);
  }
}

TEST_CASE("command: the type registers under its name", "[config]") {
  const config::JobTypeSpec spec = CommandJobType();
  CHECK(spec.name == "command");
  CHECK(spec.validate_with);
}

}  // namespace
}  // namespace jobs::command
