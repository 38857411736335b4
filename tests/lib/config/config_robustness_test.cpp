// Garbage must produce diagnostics, never an exception or a crash; and a big
// generated config must load quickly.
#include <catch2/catch.hpp>

#include <chrono>
#include <random>
#include <string>

#include "config/config_loader.h"
#include "tests/lib/config/config_test_support.h"

namespace config {
namespace {

LoadResult LoadGarbage(const std::string& text) {
  LoadResult result;
  REQUIRE_NOTHROW(result = testing::Load(text));
  return result;
}

TEST_CASE("garbage input yields errors, never a throw", "[config]") {
  const std::string inputs[] = {
      "{{{{",
      "}}}}",
      "[[[[",
      "\t\t\tjobs:\n\t- a",
      ":",
      "- - - -",
      "jobs: *undefined",
      "jobs: !!binary AAAA",
      "? [a, b]\n: c\n",
      "{[1]: 2}\n",
      "%YAML 9.9\n---\njobs: []\n",
      "jobs: &a [*a]\n",
      "jobs:\n  - &j {name: a, type: sleep, with: *j}\n",
      "jobs:\n  - {name: a, type: command, with: &w {command: [x], env: *w}}\n",
      std::string("jobs:\0\0\0\n", 10),
      "\xff\xfe\x00j\x00o\x00b\x00",
      "\xef\xbb\xbfjobs: 3\n",
      "jobs: \"${\"\n",
      std::string(100000, '['),
      std::string(100000, '{'),
      std::string(5000, '-') + " a",
  };
  for (const std::string& input : inputs) {
    INFO(input.substr(0, 60));
    const LoadResult result = LoadGarbage(input);
    CHECK_FALSE(result.ok());
    CHECK_FALSE(result.diagnostics.empty());
  }
}

TEST_CASE("deep nesting is refused, not recursed into", "[config]") {
  std::string deep = "jobs:\n";
  std::string indent = "  ";
  for (int i = 0; i < 3000; ++i) {
    deep += indent + "- \n";
    indent += "  ";
  }
  CHECK_FALSE(LoadGarbage(deep).ok());

  std::string flow = "jobs: ";
  for (int i = 0; i < 3000; ++i) flow += "{a: ";
  CHECK_THAT(LoadGarbage(flow).ErrorText(),
             Catch::Matchers::EndsWith(": YAML syntax error: nesting is too deep\n"));
}

TEST_CASE("exponentially aliased input (billion laughs) stays cheap", "[config]") {
  std::string yaml = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i < 30; ++i) {
    const std::string prev = "*a" + std::to_string(i - 1);
    yaml += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + prev + ", " + prev +
            ", " + prev + ", " + prev + ", " + prev + "]\n";
  }
  yaml += "jobs:\n  - {name: a, type: command, with: {command: *a29}}\n";
  const auto start = std::chrono::steady_clock::now();
  const LoadResult result = LoadGarbage(yaml);
  CHECK_FALSE(result.ok());
  // Unknown top-level keys a0..a29, one report each; the list itself is
  // never flattened.
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
}

TEST_CASE("random bytes and mutated configs never throw", "[config]") {
  std::mt19937 random(20261122);  // fixed: failures must reproduce
  std::uniform_int_distribution<int> byte(0, 255);
  for (int round = 0; round < 200; ++round) {
    std::string text(static_cast<std::size_t>(byte(random)) * 4, '\0');
    for (char& c : text) c = static_cast<char>(byte(random));
    LoadGarbage(text);
  }

  // Mutations of a valid config reach deeper than pure noise.
  const std::string valid =
      "http: {listen: \"127.0.0.1:8080\", token: x}\n"
      "alerts:\n  channels: {c: {type: slack, webhook_url: \"https://x\"}}\n"
      "  route: {critical: [c]}\n"
      "defaults: {timeout: 5m}\n"
      "jobs:\n  - name: a\n    type: sleep\n    cron: \"0 3 * * *\"\n    after: [b]\n"
      "    with: {duration: 1s}\n  - {name: b, type: command, every: 1h, with: {command: [x]}}\n";
  const std::string alphabet = " \n\t:-[]{},&*!|>'\"#%@`$abc019";
  std::uniform_int_distribution<std::size_t> where(0, valid.size() - 1);
  std::uniform_int_distribution<std::size_t> what(0, alphabet.size() - 1);
  for (int round = 0; round < 500; ++round) {
    std::string text = valid;
    for (int edit = 0; edit < 3; ++edit) text[where(random)] = alphabet[what(random)];
    LoadGarbage(text);
  }
}

TEST_CASE("a config of 10000 jobs loads", "[config]") {
  std::string yaml = "defaults: {type: sleep, timeout: 5m}\njobs:\n";
  for (int i = 0; i < 10000; ++i) {
    const std::string name = "job-" + std::to_string(i);
    yaml += "  - name: " + name + "\n";
    yaml += i % 2 == 0 ? "    cron: \"*/5 * * * *\"\n    timezone: Europe/Berlin\n"
                       : "    every: 1h\n    jitter: 5m\n";
    if (i > 0) yaml += "    after: [job-" + std::to_string(i - 1) + "]\n";
    yaml += "    with: {duration: 1s}\n";
  }
  const LoadResult result = testing::Load(yaml);
  REQUIRE(result.ok());
  CHECK(result.config->jobs.size() == 10000);
  CHECK(result.config->jobs.back().schedule.has_value());
}

}  // namespace
}  // namespace config
