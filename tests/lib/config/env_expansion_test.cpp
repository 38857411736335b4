#include "config/env_expansion.h"

#include <catch2/catch.hpp>

#include <map>

namespace config {
namespace {

EnvLookup Fake(std::map<std::string, std::string> values) {
  return [values = std::move(values)](const std::string& name) -> std::optional<std::string> {
    const auto found = values.find(name);
    if (found == values.end()) return std::nullopt;
    return found->second;
  };
}

TEST_CASE("ExpandVariables", "[config]") {
  const EnvLookup env = Fake({{"HOME", "/home/u"}, {"EMPTY", ""}, {"A_1", "x"}});
  struct Row {
    const char* input;
    const char* expected;  // nullptr: an error
    const char* error;
  };
  const Row rows[] = {
      {"plain", "plain", ""},
      {"", "", ""},
      {"${HOME}/data", "/home/u/data", ""},
      {"${A_1}${A_1}", "xx", ""},
      {"${MISSING:-fallback}", "fallback", ""},
      {"${MISSING:-}", "", ""},
      {"${EMPTY:-used when empty}", "used when empty", ""},
      {"${EMPTY}", "", ""},
      {"${HOME:-ignored}", "/home/u", ""},
      {"${MISSING:-a:-b}", "a:-b", ""},
      {"$$", "$", ""},
      {"$${HOME}", "${HOME}", ""},
      {"$$$$", "$$", ""},
      {"cost $5", "cost $5", ""},
      {"$HOME", "$HOME", ""},
      {"trailing $", "trailing $", ""},
      {"${MISSING}", nullptr, "environment variable MISSING is not set"},
      {"a ${HOME", nullptr, "'${HOME' is missing its closing '}'"},
      {"${}", nullptr, "bad variable reference '${}': use ${NAME} or ${NAME:-default}"},
      {"${1X}", nullptr, "bad variable reference '${1X}': use ${NAME} or ${NAME:-default}"},
      {"${A-b}", nullptr, "bad variable reference '${A-b}': use ${NAME} or ${NAME:-default}"},
  };
  for (const Row& row : rows) {
    INFO(row.input);
    const core::Result<std::string> result = ExpandVariables(row.input, env);
    if (row.expected != nullptr) {
      REQUIRE(result.has_value());
      CHECK(*result == row.expected);
    } else {
      REQUIRE_FALSE(result.has_value());
      CHECK(result.error().message == row.error);
    }
  }
}

TEST_CASE("ProcessEnvironment reads the real environment", "[config]") {
  // PATH is set in any environment a test runs in; the name below is not.
  CHECK(ProcessEnvironment()("PATH").has_value());
  CHECK_FALSE(ProcessEnvironment()("JOBSD_TEST_SURELY_UNSET_41f3").has_value());
}

}  // namespace
}  // namespace config
