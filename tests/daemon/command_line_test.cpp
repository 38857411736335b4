#include "daemon/command_line.h"

#include <catch2/catch.hpp>
#include <vector>

namespace {

core::Result<jobsd::CommandLine> Parse(std::vector<const char*> args) {
  args.insert(args.begin(), "jobsd");
  return jobsd::ParseCommandLine(static_cast<int>(args.size()), args.data());
}

}  // namespace

TEST_CASE("command line: valid invocations", "[cli]") {
  auto list =
      Parse({"list", "-c", "a.yaml", "--next", "3", "--from=2026-11-22T00:00:00Z", "--json"});
  REQUIRE(list);
  auto restore = Parse(
      {"restore", "nightly", "--to", "/tmp/r.db", "--at=latest", "--source", "state", "--force"});
  REQUIRE(restore);
  CHECK(restore->positional == std::vector<std::string>{"nightly"});
  CHECK(restore->to == "/tmp/r.db");
  CHECK(restore->at == "latest");
  CHECK(restore->source == "state");
  CHECK(restore->force);
  CHECK(list->config_path == "a.yaml");
  CHECK(list->next == 3);
  CHECK(list->json);
  CHECK(core::FormatRfc3339(*list->from) == "2026-11-22T00:00:00.000000Z");

  auto once = Parse({"once", "--config", "b.yaml", "sync", "--set", "from=2026-01-01", "--set",
                     "ids=[1,2]", "--log-level", "debug"});
  REQUIRE(once);
  CHECK(once->positional == std::vector<std::string>{"sync"});
  REQUIRE(once->sets.size() == 2);
  CHECK(once->sets[1] == std::pair<std::string, std::string>{"ids", "[1,2]"});
  CHECK(once->log_level == config::LogLevel::kDebug);

  auto history = Parse({"history", "-c", "c.yaml", "backup", "--limit", "5"});
  REQUIRE(history);
  CHECK(history->limit == 5);
  CHECK(Parse({"--version"})->command == "version");
  CHECK(Parse({"-h"})->command == "help");
}

TEST_CASE("command line: mistakes are named", "[cli]") {
  struct Case {
    std::vector<const char*> args;
    const char* message;
  };
  const Case cases[] = {
      {{}, "no command given"},
      {{"start"}, "unknown command 'start'"},
      {{"check", "--json"}, "'check' does not take --json"},
      {{"list", "--next"}, "--next needs a value"},
      {{"list", "--next", "0"}, "--next needs a whole number from 1 to 10000, not '0'"},
      {{"list", "--next", "1000000000"}, "--next needs a whole number from 1 to 10000"},
      {{"list", "--next", "3x"}, "not '3x'"},
      {{"list", "--from", "yesterday"}, "--from: bad time 'yesterday'"},
      {{"list", "--json=yes"}, "--json takes no value"},
      {{"once", "-c", "a.yaml"}, "once: name the job to run"},
      {{"once", "a", "b"}, "unexpected argument 'b'"},
      {{"once", "a", "--set", "novalue"}, "--set needs key=value, not 'novalue'"},
      {{"once", "a", "--set", "=x"}, "--set needs key=value"},
      {{"run", "--log-level", "loud"},
       "--log-level must be one of trace, debug, info, warn, error"},
      {{"check", "extra"}, "unexpected argument 'extra'"},
      {{"backups"}, "backups: name the backup job"},
      {{"backups", "nightly", "--at", "latest"}, "'backups' does not take --at"},
      {{"restore", "nightly"}, "restore: --to PATH says where"},
      {{"restore", "--to", "/tmp/x"}, "restore: name the backup job"},
      {{"restore", "nightly", "--to", "x", "--force=yes"}, "--force takes no value"},
      {{"restore", "nightly", "--to"}, "--to needs a value"},
  };
  for (const Case& c : cases) {
    INFO(c.message);
    const auto parsed = Parse(c.args);
    REQUIRE_FALSE(parsed);
    CHECK_THAT(parsed.error().message, Catch::Contains(c.message));
  }
}

TEST_CASE("command line: history --alerts", "[cli]") {
  auto alerts = Parse({"history", "-c", "a.yaml", "--alerts", "--json", "sync"});
  REQUIRE(alerts);
  CHECK(alerts->alerts);
  CHECK(alerts->json);
  CHECK(alerts->positional == std::vector<std::string>{"sync"});
  CHECK_FALSE(Parse({"history", "--alerts=yes"}));
  CHECK_FALSE(Parse({"list", "--alerts"}));
}

TEST_CASE("command line: alert-test", "[cli]") {
  auto test = Parse({"alert-test", "-c", "a.yaml", "team-slack"});
  REQUIRE(test);
  CHECK(test->command == "alert-test");
  CHECK(test->positional == std::vector<std::string>{"team-slack"});
  CHECK_FALSE(Parse({"alert-test", "-c", "a.yaml", "a", "b"}));
  CHECK_FALSE(Parse({"alert-test", "-c", "a.yaml", "--json", "a"}));
}
