// Garbage must produce diagnostics, never an exception or a crash; and a big
// generated config must load quickly.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <vector>

#include "config/config_loader.h"
#include "config/document.h"
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
  for (const JobConfig& job : result.config->jobs) {
    REQUIRE(result.config->FindJob(job.name) == &job);
  }
  CHECK(result.config->FindJob("job-10000") == nullptr);
  CHECK(result.config->FindJob("") == nullptr);
  const Config copy = *result.config;
  CHECK(copy.FindJob("job-5") == &copy.jobs[5]);
}

}  // namespace
}  // namespace config

namespace config {
namespace {

std::vector<std::string> ParserCorpus() {
  std::vector<std::string> texts = {
      "jobs:\n  - name: a\n    type: sleep\n    with: {duration: 1s}\n",
      "jobs: [{name: a, type: sleep, with: {duration: 1s}}]\n",
      "a: 'quoted ''x'''\nb: \"esc \\t \\\" \\u00e9 \\x41\"\nc: plain text here\n",
      "a: |\n  line one\n  line two\nb: >\n  folded\n  text\n\n  para\nc: |-\n  keep\n",
      "a: multi\n  line\n  plain\nb: [x,\n  y]\n",
      "url: {u: https://example.com:8080/a?b=c#d, v: \"http://x\"}\n",
      "? complex\n: value\n\"quoted key\": 1\n'single': 2\n",
      "a: &x {k: v}\nb: *x\nc: &y [1, 2]\nd: [*y, *x]\ne: &x other\nf: *x\n",
      "a: !!str 12\nb: !custom x\nc: !!null ~\nd: ~\ne: null\nf: Null\ng: NULL\nh: '~'\n",
      "# comment\n\njobs:   # trailing\n  - {name: a}   # x\n\n",
      "--- \njobs: []\n...\n",
      "jobs: []\n---\nx: 1\n",
      "---\n---\njobs: []\n",
      "jobs:\n- a\n- b:\n    c: d\n-   - nested\n    - list\n",
      "a: {b: {c: {d: [e, {f: g}]}}}\n",
      "a: 1\na: 2\nb: {x: 1, x: 2}\n",
      "[a, b]\n",
      "scalar\n",
      "a: b: c\n",
      "a:\n  - b\n c: d\n",
      "a: \"unterminated\n",
      "a: [1, 2\n",
      "&a [*a]\n",
      "jobs: &l\n  - {name: a}\n  - *l\n",
      "a: 'it''s'\nb: \"multi\n  line\"\n",
      "a: x # not: a key\nb: 'x # kept'\n",
      "a:\tb\n",
      "a: -1\nb: - x\n",
      "a: [a: b, c]\n",
      "{a: 1, b: [2, 3]}\n",
      "a: 1\n...\n",
      "[a:b, {c:d}, {e: f:g}]\n",
      "a: []\nb: {}\nc: [ ]\nd: { }\n",
      "a: |2\n   indented\nb: >-\n  x\n  y\nc: |+\n  keep\n\nd: end\n",
      "a: !!map {b: c}\nb: !!seq [c]\nc: !!str\n",
      "a: [b, # comment\n  c]\nb: {x: 1, # c\n  y: 2}\n",
      "key with spaces: value with spaces   \n'a b': \"c d\"\n",
      "- - x\n  - y\n- - z\n",
      "a: \"\\\\ back\"\nb: '\\ single'\n",
      "a: @x\n",
      "a: `x\n",
      "a: %x\n",
      "a: x\n  # comment\n  y\n",
      "a: 'x\n\n  y'\n",
      "a:\n  b:\n    c:\n      d: e\n  f: g\n",
      "a: 0x1F\nb: 1e3\nc: .inf\nd: true\ne: 2026-01-01\n",
      "a: -\nb: - \n",
      "*a\n",
      "a: &x\n  b: c\nd: *x\n",
      "- &x\n  - a\n- *x\n",
      "a: !<tag:x> b\n",
      // Anchor and alias names: libyaml ends one at the first character
      // outside [0-9A-Za-z_-], yaml-cpp only at a blank or a flow indicator.
      "&hesmtp://h:25eor",
      "a: &x:y\n",
      "a: !t &x:y z\n",
      "a: &x b\n*x: d\n",
      "a: &x b\nc: {*x: d}\n",
      "--- a\n--- &x:y\n",
      "a: &x-y_0 b\nc: [*x-y_0, {d: *x-y_0}]\n",
      "%TAG ! tag:x,2000:\n---\na: !b c\n",
      // Tags: yaml-cpp refuses more than two '!' in one.
      "a: !!!!s ok\n",
      "a: !!s!x c\n",
      "a: [!a!b c, !a! d, ! e, !<a!b> f]\n",
      "a: !!\n",
      // yaml-cpp resolves aliases in every document, each on its own anchors.
      "a: &x b\n---\n*x\n",
      "a\n---\n[&x b, *y]\n",
      "a\n---\n- &x b\n- *x\n- &y [c]\n- *y\n",
      "a\n---\nb\n--- *x\n",
      // An alias inside the node it names: a cycle, here one that fans out.
      "a: &w {b: c, d: [*w, *w, *w, *w]}\n",
      // A document that is a plain scalar over two lines.
      "&a  b:c\nd\n",
      "a\nb\n",
      "jobs:\n  - name: a\n    type: sleep\n    with:\n      duration: 1s\n  - name: b\n",
  };
  for (const auto& file : std::filesystem::directory_iterator(
           std::filesystem::path(JOBSD_SOURCE_DIR) / "tests/fuzz_corpus/config")) {
    std::ifstream in(file.path(), std::ios::binary);
    texts.emplace_back(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  std::ifstream example(std::filesystem::path(JOBSD_SOURCE_DIR) / "etc/jobsd.yaml");
  texts.emplace_back(std::istreambuf_iterator<char>(example), std::istreambuf_iterator<char>());
  return texts;
}

TEST_CASE("libyaml reads a text into the same tree as yaml-cpp, or leaves it to yaml-cpp",
          "[config]") {
  for (const std::string& text : ParserCorpus()) {
    INFO(text.substr(0, 200));
    Diagnostics slow_problems, fast_problems;
    ConfigSource slow_source("t.yaml", "/srv", slow_problems);
    ConfigSource fast_source("t.yaml", "/srv", fast_problems);
    YamlTree slow_tree, fast_tree;
    const EnvLookup env = [](const std::string&) -> std::optional<std::string> { return "v"; };
    const std::optional<YamlNode> slow =
        ParseDocument(text, slow_tree, slow_source, env, nullptr, nullptr, YamlParser::kYamlCpp);
    const std::optional<YamlNode> fast = ParseDocument(text, fast_tree, fast_source, env, nullptr,
                                                       nullptr, YamlParser::kLibyamlFirst);
    REQUIRE(slow.has_value() == fast.has_value());
    if (slow) CHECK(DebugString(*slow) == DebugString(*fast));
    CHECK(slow_problems.ToString() == fast_problems.ToString());
  }
}

// The jobs are read while the text is parsed; these layouts make the loader
// start over, and must give what reading the whole document gives.
TEST_CASE("jobs read while parsing see defaults and alerts wherever they are", "[config]") {
  const LoadResult defaults_after = testing::Load(
      "jobs:\n  - {name: a, with: {duration: 1s}}\ndefaults: {type: sleep, timeout: 5m}\n");
  REQUIRE(defaults_after.ok());
  CHECK(defaults_after.config->jobs[0].type == "sleep");
  CHECK(defaults_after.config->jobs[0].timeout == std::chrono::minutes(5));

  const LoadResult alerts_after = testing::Load(
      "jobs:\n  - {name: a, type: sleep, with: {duration: 1s}}\n"
      "alerts:\n  rules: {consecutive_failures: {threshold: 3}}\n");
  REQUIRE(alerts_after.ok());
  REQUIRE(alerts_after.config->jobs[0].alerts.consecutive_failures.size() == 1);
  CHECK(alerts_after.config->jobs[0].alerts.consecutive_failures[0].threshold == 3);

  // Problems of jobs read before the syntax error are not reported.
  CHECK(testing::Problems("jobs:\n  - {name: a, type: nope}\n  - {name: b\n") ==
        "cfg.yaml:4:1: YAML syntax error: end of map flow not found\n");

  // An anchor inside one job, used by a later one.
  const LoadResult anchors = testing::Load(
      "jobs:\n  - {name: a, type: sleep, with: &w {duration: 2s}}\n"
      "  - {name: b, type: sleep, with: *w}\n  - &c {name: c, type: sleep, with: *w}\n");
  REQUIRE(anchors.ok());
  CHECK(anchors.config->jobs.size() == 3);
}

TEST_CASE("a late empty value switches parsers without repeating problems", "[config]") {
  // Large enough for libyaml, which leaves the empty value to yaml-cpp after
  // it has read most jobs.
  std::string yaml = "defaults: {type: sleep}\njobs:\n";
  constexpr int kJobs = 2000;
  for (int i = 0; i < kJobs; ++i) {
    yaml += "  - {name: j" + std::to_string(i) + ", with: {duration: 1s}, evrey: 1h}\n";
  }
  yaml += "  - {name: last, with: {duration: }}\n";
  REQUIRE(yaml.size() > 64 << 10);
  const std::string problems = testing::Problems(yaml);
  CHECK(problems.find("cfg.yaml:3:38: jobs.j0.evrey: unknown key 'evrey' (did you mean 'every'?)\n"
                      "cfg.yaml:4:38: jobs.j1.evrey: unknown key") == 0);
  CHECK(problems.find("cfg.yaml:" + std::to_string(kJobs + 3) +
                      ":25: jobs.last.with.duration: expected a duration like 30s or 1h30m, got "
                      "nothing\n") != std::string::npos);
  std::size_t lines = 0;
  for (std::size_t at = problems.find('\n'); at != std::string::npos;
       at = problems.find('\n', at + 1)) {
    ++lines;
  }
  CHECK(lines == kJobs + 1);
}

}  // namespace
}  // namespace config
