#include "config/config_loader.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <string>
#include <vector>

#include "tests/lib/config/config_test_support.h"

namespace config {
namespace {

using namespace std::chrono_literals;
using testing::Load;
using testing::Problems;

struct Case {
  const char* name;
  const char* yaml;
  const char* expected;  // the diagnostics, one per line
};

// A job that is valid on its own, to keep cases about one thing.
#define OK_JOB "  - {name: ok, type: sleep, with: {duration: 1s}}\n"

const Case kCases[] = {
    {"empty file", "", "cfg.yaml: no jobs defined (the file is empty)\n"},
    {"only a comment", "# nothing here\n", "cfg.yaml: no jobs defined (the file is empty)\n"},
    {"top level is a list", "- a\n- b\n",
     "cfg.yaml:1:1: expected a mapping at the top level (keys such as jobs: and alerts:), got a "
     "list\n"},
    {"top level is a scalar", "hello\n",
     "cfg.yaml:1:1: expected a mapping at the top level (keys such as jobs: and alerts:), got "
     "'hello'\n"},
    {"no jobs key", "log: {level: info}\n", "cfg.yaml:1:1: no jobs defined (add a jobs: list)\n"},
    {"empty jobs list", "jobs: []\n", "cfg.yaml:1:7: jobs: no jobs defined\n"},
    {"null jobs", "jobs:\n", "cfg.yaml:1:1: jobs: no jobs defined\n"},
    {"jobs not a list", "jobs: {a: 1}\n",
     "cfg.yaml:1:7: jobs: expected a list of mappings, got a mapping\n"},
    {"job not a mapping", "jobs:\n  - just-a-name\n" OK_JOB,
     "cfg.yaml:2:5: jobs[0]: expected a mapping, got 'just-a-name'\n"},
    {"syntax error: tab indentation", "jobs:\n  - name: a\n\ttype: sleep\n",
     "cfg.yaml:3:1: YAML syntax error: illegal tab when looking for indentation\n"},
    {"syntax error: unclosed flow", "jobs: [\n  {name: a\n",
     "cfg.yaml:3:1: YAML syntax error: end of map flow not found\n"},
    {"syntax error: bad indentation", "jobs:\n  - name: a\n   type: sleep\n",
     "cfg.yaml:3:4: YAML syntax error: end of sequence not found\n"},
    {"two documents", "jobs:\n" OK_JOB "---\njobs: []\n",
     "cfg.yaml:3:1: expected one YAML document; a second one starts here\n"},
    {"empty documents around one are fine", "---\njobs:\n" OK_JOB "---\n---\n", ""},
    {"a stray comma after the document", "jobs:\n" OK_JOB "...\n,\n",
     "cfg.yaml:4:1: YAML syntax error: unexpected ','\n"},
    {"a lone comma", ",",
     "cfg.yaml: no jobs defined (the file is empty)\n"
     "cfg.yaml:1:1: YAML syntax error: unexpected ','\n"},
    {"unknown top-level key with suggestion", "job:\n" OK_JOB,
     "cfg.yaml:1:1: no jobs defined (add a jobs: list)\n"
     "cfg.yaml:1:1: job: unknown key 'job' (did you mean 'jobs'?)\n"},
    {"unknown top-level key without suggestion", "colour: blue\njobs:\n" OK_JOB,
     "cfg.yaml:1:1: colour: unknown key 'colour'\n"},
    {"unknown job key with suggestion",
     "jobs:\n  - name: backup\n    type: sleep\n    timout: 5m\n    with: {duration: 1s}\n",
     "cfg.yaml:4:5: jobs.backup.timout: unknown key 'timout' (did you mean 'timeout'?)\n"},
    {"swapped letters are a typo too",
     "jobs:\n  - {name: a, type: sleep, evrey: 1h, with: {duration: 1s}}\n",
     "cfg.yaml:2:28: jobs.a.evrey: unknown key 'evrey' (did you mean 'every'?)\n"},
    {"unknown nested key",
     "state: {path: s.db, keep: 5}\nhttp: {listen: \"\", tokn: x}\njobs:\n" OK_JOB,
     "cfg.yaml:1:21: state.keep: unknown key 'keep'\n"
     "cfg.yaml:2:20: http.tokn: unknown key 'tokn' (did you mean 'token'?)\n"},
    {"duplicate mapping key",
     "jobs:\n  - name: a\n    type: sleep\n    timeout: 1m\n    timeout: 2m\n"
     "    with: {duration: 1s}\n",
     "cfg.yaml:5:5: jobs.a.timeout: duplicate key 'timeout' (first defined at line 4)\n"},
    {"duplicate key in a flow mapping", "log: {level: info, level: debug}\njobs:\n" OK_JOB,
     "cfg.yaml:1:20: log.level: duplicate key 'level' (first defined at line 1)\n"},
    {"duplicate job names",
     "jobs:\n  - {name: a, type: sleep, with: {duration: 1s}}\n"
     "  - {name: b, type: sleep, with: {duration: 1s}}\n"
     "  - {name: a, type: sleep, with: {duration: 2s}}\n",
     "cfg.yaml:4:12: jobs.a.name: duplicate job name 'a' (defined at lines 2 and 4)\n"},
    {"missing name and type", "jobs:\n  - {every: 1h}\n  - {name: b}\n",
     "cfg.yaml:2:5: jobs[0]: missing required key 'name'\n"
     "cfg.yaml:2:5: jobs[0]: missing required key 'type'\n"
     "cfg.yaml:3:5: jobs.b: missing required key 'type'\n"},
    {"bad job name", "jobs:\n  - {name: Open AQ, type: sleep, with: {duration: 1s}}\n",
     "cfg.yaml:2:12: jobs[0].name: expected a job name of lowercase letters, digits, '_' and '-', "
     "got 'Open AQ'\n"},
    {"unknown job type", "jobs:\n  - name: openaq\n    type: openaq\n    with: {api_key: x}\n",
     "cfg.yaml:3:11: jobs.openaq.type: unknown job type 'openaq' (known: command, sleep)\n"},
    {"bad duration",
     "shutdown_grace: soon\njobs:\n  - {name: a, type: sleep, timeout: 30, with: {duration: 1s}}\n",
     "cfg.yaml:1:17: shutdown_grace: expected a duration like 30s or 1h30m, got 'soon'\n"
     "cfg.yaml:3:37: jobs.a.timeout: expected a duration like 30s or 1h30m, got '30' (a number "
     "needs a unit: us ms s m h d w)\n"},
    {"zero interval", "jobs:\n  - {name: a, type: sleep, every: 0s, with: {duration: 1s}}\n",
     "cfg.yaml:2:35: jobs.a.every: expected a duration greater than 0, got '0s'\n"},
    {"bad cron",
     "jobs:\n  - name: a\n    type: sleep\n    cron: \"61 * * * *\"\n"
     "    with: {duration: 1s}\n",
     "cfg.yaml:4:11: jobs.a.cron: cron '61 * * * *': minute field '61': 61 is out of range 0-59\n"},
    {"cron and every",
     "jobs:\n  - name: a\n    type: sleep\n    cron: \"@daily\"\n"
     "    every: 1h\n    with: {duration: 1s}\n",
     "cfg.yaml:5:12: jobs.a.every: set either cron: or every:, not both\n"},
    {"unknown time zone",
     "jobs:\n  - name: a\n    type: sleep\n    cron: \"@daily\"\n    timezone: Europe/Berln\n"
     "    with: {duration: 1s}\n",
     "cfg.yaml:5:15: jobs.a.timezone: unknown time zone 'Europe/Berln' (an IANA name like "
     "Europe/Berlin, America/New_York or UTC)\n"},
    {"wrong types",
     "state: {keep_runs: 0}\nmax_parallel_runs: many\njobs:\n"
     "  - name: a\n    type: sleep\n    enabled: yes\n    retries: 3\n    after: b\n"
     "    overlap: sometimes\n    with: {duration: 1s}\n",
     "cfg.yaml:1:20: state.keep_runs: expected an integer between 1 and 100000000, got '0'\n"
     "cfg.yaml:2:20: max_parallel_runs: expected an integer between 0 and 10000, got 'many'\n"
     "cfg.yaml:6:14: jobs.a.enabled: expected true or false, got 'yes'\n"
     "cfg.yaml:7:14: jobs.a.retries: expected a mapping, got '3'\n"
     "cfg.yaml:8:12: jobs.a.after: expected a list of job names, got 'b'\n"
     "cfg.yaml:9:14: jobs.a.overlap: expected one of skip, queue, allow, got 'sometimes'\n"},
    {"a list where a string belongs",
     "jobs:\n  - name: a\n    type: [sleep]\n    after: [[b]]\n    with: {duration: 1s}\n",
     "cfg.yaml:3:11: jobs.a.type: expected a string, got a list\n"
     "cfg.yaml:4:13: jobs.a.after[0]: expected a job name or {job, on}, got a list\n"},
    {"a chain condition that is no end of a run",
     "jobs:\n  - name: b\n    type: sleep\n    with: {duration: 1s}\n"
     "  - name: a\n    type: sleep\n    with: {duration: 1s}\n"
     "    after: [{job: b, on: changes}, {on: success}, {job: b, when: x}]\n",
     "cfg.yaml:8:26: jobs.a.after[0].on: expected one of success, changed, failure, finished, got "
     "'changes'\n"
     "cfg.yaml:8:36: jobs.a.after[1]: missing required key 'job'\n"
     "cfg.yaml:8:60: jobs.a.after[2].when: unknown key 'when'\n"},
    {"key without a value",
     "jobs:\n  - name: a\n    type: sleep\n    timeout:\n    with: {duration: 1s}\n",
     "cfg.yaml:4:5: jobs.a.timeout: expected a duration like 30s or 1h30m, got nothing\n"},
    {"retries",
     "jobs:\n  - name: a\n    type: sleep\n    retries: {max: -1, backoff: 5m, max_backoff: 1m}\n"
     "    with: {duration: 1s}\n",
     "cfg.yaml:4:20: jobs.a.retries.max: expected an integer between 0 and 1000, got '-1'\n"
     "cfg.yaml:4:50: jobs.a.retries.max_backoff: max_backoff (1m) is shorter than backoff (5m)\n"},
    {"after names an unknown job",
     "jobs:\n  - {name: extract, type: sleep, with: {duration: 1s}}\n"
     "  - {name: load, type: sleep, after: [extrct, nothing], with: {duration: 1s}}\n",
     "cfg.yaml:3:39: jobs.load.after[0]: no job named 'extrct' (did you mean 'extract'?)\n"
     "cfg.yaml:3:47: jobs.load.after[1]: no job named 'nothing'\n"},
    {"after forms a cycle",
     "jobs:\n  - {name: a, type: sleep, after: [b], with: {duration: 1s}}\n"
     "  - {name: b, type: sleep, after: [a], with: {duration: 1s}}\n",
     "cfg.yaml:3:36: jobs.b.after[0]: 'after' forms a cycle: b -> a -> b\n"},
    {"after forms a longer cycle and a self loop",
     "jobs:\n  - {name: a, type: sleep, after: [c], with: {duration: 1s}}\n"
     "  - {name: b, type: sleep, after: [a], with: {duration: 1s}}\n"
     "  - {name: c, type: sleep, after: [b, c], with: {duration: 1s}}\n",
     "cfg.yaml:3:36: jobs.b.after[0]: 'after' forms a cycle: b -> a -> c -> b\n"
     "cfg.yaml:4:39: jobs.c.after[1]: 'after' forms a cycle: c -> c\n"},
    {"environment variable not set",
     "http: {token: \"${API_TOKEN}\"}\njobs:\n"
     "  - {name: a, type: sleep, with: {duration: \"${NAP}\"}}\n",
     "cfg.yaml:1:15: http.token: environment variable API_TOKEN is not set\n"
     "cfg.yaml:3:45: jobs.a.with.duration: environment variable NAP is not set\n"},
    {"environment reference never closed",
     "jobs:\n  - {name: a, type: sleep, with: {duration: \"${NAP\"}}\n",
     "cfg.yaml:2:45: jobs.a.with.duration: '${NAP' is missing its closing '}'\n"},
    {"http listen", "http: {listen: \"localhost\"}\njobs:\n" OK_JOB,
     "cfg.yaml:1:16: http.listen: expected host:port with a port from 1 to 65535 (like "
     "127.0.0.1:8080, or \"\" to disable the server), got 'localhost'\n"},
    {"http port out of range", "http: {listen: \"0.0.0.0:65536\"}\njobs:\n" OK_JOB,
     "cfg.yaml:1:16: http.listen: expected host:port with a port from 1 to 65535 (like "
     "127.0.0.1:8080, or \"\" to disable the server), got '0.0.0.0:65536'\n"},
    {"http ui keys", "http: {ui: {enabled: yes, token_requird: true}}\njobs:\n" OK_JOB,
     "cfg.yaml:1:22: http.ui.enabled: expected true or false, got 'yes'\n"
     "cfg.yaml:1:27: http.ui.token_requird: unknown key 'token_requird' (did you mean "
     "'token_required'?)\n"},
    {"http ui not a mapping", "http: {ui: on}\njobs:\n" OK_JOB,
     "cfg.yaml:1:12: http.ui: expected a mapping, got 'on'\n"},
    {"http ui token_required without a token", "http: {ui: {token_required: true}}\njobs:\n" OK_JOB,
     "cfg.yaml:1:29: http.ui.token_required: needs http.token (or token_file), which is not "
     "set\n"},
    {"log enums", "log: {level: verbose, format: xml}\njobs:\n" OK_JOB,
     "cfg.yaml:1:14: log.level: expected one of trace, debug, info, warn, error, got 'verbose'\n"
     "cfg.yaml:1:31: log.format: expected one of text, json, got 'xml'\n"},
    {"route names an undefined channel",
     "alerts:\n  channels:\n    team-slack: {type: slack, webhook_url: \"https://hooks.example\"}\n"
     "  route: {critical: [team-slak, pager], warning: [team-slack]}\njobs:\n" OK_JOB,
     "cfg.yaml:4:22: alerts.route.critical[0]: no channel named 'team-slak' in alerts.channels "
     "(did you mean 'team-slack'?)\n"
     "cfg.yaml:4:33: alerts.route.critical[1]: no channel named 'pager' in alerts.channels\n"},
    {"route severity unknown",
     "alerts:\n  channels: {a: {type: webhook, url: \"https://x\"}}\n  route: {fatal: [a]}\n"
     "jobs:\n" OK_JOB,
     "cfg.yaml:3:11: alerts.route.fatal: unknown key 'fatal'\n"},
    {"channels",
     "alerts:\n  channels:\n    chat: {type: slak}\n    nothing:\n"
     "    mail: {type: email, smtp_url: \"mail.example.com\", from: a@example.com, to: [],"
     " passwrd: x, tls: ssl}\n    hook: {type: webhook, url: \"https://x\", headers: {A: [1]}}\n"
     "jobs:\n" OK_JOB,
     "cfg.yaml:3:18: alerts.channels.chat.type: expected one of slack, email, webhook, got 'slak'\n"
     "cfg.yaml:4:5: alerts.channels.nothing: missing required key 'type'\n"
     "cfg.yaml:5:35: alerts.channels.mail.smtp_url: expected a URL starting with smtp:// or "
     "smtps://, got 'mail.example.com'\n"
     "cfg.yaml:5:80: alerts.channels.mail.to: expected at least one address\n"
     "cfg.yaml:5:84: alerts.channels.mail.passwrd: unknown key 'passwrd' (did you mean "
     "'password'?)\n"
     "cfg.yaml:5:101: alerts.channels.mail.tls: expected one of starttls, none, got 'ssl'\n"
     "cfg.yaml:6:58: alerts.channels.hook.headers.A: expected a string, got a list\n"},
    {"channel missing its keys",
     "alerts:\n  channels:\n    chat: {type: slack}\n    mail: {type: email}\njobs:\n" OK_JOB,
     "cfg.yaml:3:11: alerts.channels.chat: missing required key 'webhook_url' (or "
     "'webhook_url_file')\n"
     "cfg.yaml:4:11: alerts.channels.mail: missing required key 'smtp_url'\n"
     "cfg.yaml:4:11: alerts.channels.mail: missing required key 'from'\n"
     "cfg.yaml:4:11: alerts.channels.mail: missing required key 'to'\n"},
    {"rules",
     "alerts:\n  rules:\n    consecutive_failures: {threshold: 0, severity: critcal}\n"
     "    duration_over: {severity: warning}\n    quality_below: {threshold: 1.5}\n"
     "    stal: {}\njobs:\n"
     "  - {name: a, type: sleep, alerts: {reload_failed: {}}, with: {duration: 1s}}\n",
     "cfg.yaml:3:39: alerts.rules.consecutive_failures.threshold: expected an integer between 1 "
     "and 1000000, got '0'\n"
     "cfg.yaml:3:52: alerts.rules.consecutive_failures.severity: expected one of info, warning, "
     "critical, got 'critcal'\n"
     "cfg.yaml:4:20: alerts.rules.duration_over: missing required key 'threshold'\n"
     "cfg.yaml:5:32: alerts.rules.quality_below.threshold: expected a number between 0 and 1, got "
     "'1.5'\n"
     "cfg.yaml:6:5: alerts.rules.stal: unknown key 'stal' (did you mean 'stale'?)\n"
     "cfg.yaml:8:52: jobs.a.alerts.reload_failed: reload_failed is a daemon-wide rule; set it in "
     "alerts.rules\n"},
    {"defaults are checked once, at their own position",
     "defaults:\n  timeout: 5x\n  name: x\n  with: {}\n  after: [nobody]\n  type: sleep\n"
     "jobs:\n  - {name: a, with: {duration: 1s}}\n  - {name: b, with: {duration: 1s}}\n",
     "cfg.yaml:2:12: defaults.timeout: expected a duration like 30s or 1h30m, got '5x'\n"
     "cfg.yaml:3:9: defaults.name: a job's name cannot have a default\n"
     "cfg.yaml:4:9: defaults.with: with: cannot have a default; each job type has its own keys\n"
     "cfg.yaml:5:11: defaults.after[0]: no job named 'nobody'\n"},
    {"unknown type in defaults", "defaults: {type: openaq}\njobs:\n  - {name: a}\n  - {name: b}\n",
     "cfg.yaml:1:18: defaults.type: unknown job type 'openaq' (known: command, sleep)\n"},
    {"every error at once",
     "log: {levl: info}\njobs:\n  - name: a\n    type: sleep\n    every: 1hour\n"
     "    with: {duration: 1s, reslt: ok}\n  - name: a\n    type: nope\n",
     "cfg.yaml:1:7: log.levl: unknown key 'levl' (did you mean 'level'?)\n"
     "cfg.yaml:5:12: jobs.a.every: expected a duration like 30s or 1h30m, got '1hour'\n"
     "cfg.yaml:6:26: jobs.a.with.reslt: unknown key 'reslt' (did you mean 'result'?)\n"
     "cfg.yaml:7:11: jobs.a.name: duplicate job name 'a' (defined at lines 3 and 7)\n"
     "cfg.yaml:8:11: jobs.a.type: unknown job type 'nope' (known: command, sleep)\n"},
};

TEST_CASE("config loader reports every problem with its position and key path", "[config]") {
  for (const Case& c : kCases) {
    SECTION(c.name) { CHECK(Problems(c.yaml) == c.expected); }
  }
}

TEST_CASE("a config with errors yields no Config", "[config]") {
  const LoadResult result = Load("jobs:\n  - {name: a, type: sleep}\n");
  CHECK_FALSE(result.ok());
  CHECK_FALSE(result.config.has_value());
  REQUIRE(result.diagnostics.size() == 1);
  CHECK(result.diagnostics[0] ==
        Diagnostic{"cfg.yaml", 2, 5, "jobs.a.with", "missing required key 'duration'"});
}

TEST_CASE("after: names and {job, on} entries, defaults and all", "[config]") {
  const LoadResult result = Load(
      "defaults: {after: [base]}\n"
      "jobs:\n"
      "  - {name: base, type: sleep, after: [], with: {duration: 1s}}\n"
      "  - {name: pull, type: sleep, with: {duration: 1s}}\n"
      "  - name: train\n    type: sleep\n    with: {duration: 1s}\n"
      "    after: [pull, {job: base, on: changed}, {job: pull, on: failure}, {job: base},\n"
      "            {job: pull, on: finished}]\n");
  INFO((result.diagnostics.empty() ? "" : result.diagnostics[0].message));
  REQUIRE(result.ok());
  const JobConfig* pull = result.config->FindJob("pull");
  const JobConfig* train = result.config->FindJob("train");
  REQUIRE(pull);
  REQUIRE(train);
  CHECK(pull->after == std::vector<Upstream>{{"base", ChainOn::kSuccess}});  // from defaults
  CHECK(train->after == std::vector<Upstream>{{"pull", ChainOn::kSuccess},
                                              {"base", ChainOn::kChanged},
                                              {"pull", ChainOn::kFailure},
                                              {"base", ChainOn::kSuccess},
                                              {"pull", ChainOn::kFinished}});
}

}  // namespace
}  // namespace config
