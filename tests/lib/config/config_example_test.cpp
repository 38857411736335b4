// The documented example (README: Configuration), with command and sleep jobs in
// place of types this test does not register, loads into the expected values;
// plus defaults, environment, secrets, relative paths and --set overrides.
#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "config/config_loader.h"
#include "tests/lib/config/config_test_support.h"

namespace config {
namespace {

using namespace std::chrono_literals;
using testing::Load;
using testing::Problems;

constexpr const char* kExample = R"(
state:
  path: /var/lib/jobsd/state.db      # SQLite, WAL
  keep_runs: 1000                    # per job; older runs are pruned
log:
  level: info                        # trace debug info warn error
  format: text                       # text | json
http:
  listen: 127.0.0.1:8080             # "" disables the server
  token: ${JOBSD_API_TOKEN}          # required by every POST endpoint
defaults:                            # any job key below, applied where a job omits it
  timeout: 30m
alerts:
  channels:
    team-slack: {type: slack, webhook_url: ${SLACK_WEBHOOK_URL}}
    ops-mail:   {type: email, smtp_url: "smtp://mail.example.com:587", from: jobsd@example.com, to: [ops@example.com], username: ${SMTP_USER}, password: ${SMTP_PASSWORD}}
    pager:      {type: webhook, url: "https://example.com/hook"}
  rules:
    consecutive_failures: {threshold: 3, severity: critical}
    duration_over: {threshold: 60s, severity: warning}
    quality_below: {threshold: 0.9, severity: warning}
  route: {critical: [team-slack, ops-mail, pager], warning: [team-slack]}
  cooldown: 1h                       # the same alert is not repeated within this
  notify_recovery: true
jobs:
  - name: openaq                     # [a-z0-9_-]+, unique
    type: command
    every: 2h                        # or  cron: "0 */2 * * *"  (5 or 6 fields, @hourly ...)
    jitter: 5m
    timezone: Europe/Berlin          # for cron; IANA name; default UTC
    timeout: 15m
    overlap: skip                    # skip | queue | allow
    misfire: run_once                # run_once | skip  (what to do about slots missed while down)
    misfire_grace: 1h
    retries: {max: 3, backoff: 30s, max_backoff: 10m}
    after: []                        # run when these jobs succeed
    enabled: true
    alerts: {}                       # per-job overrides of alerts.rules
    with:                            # the job type's own keys
      command: [bin/fetch-openaq, --locations, "3459,6093549"]
      env: {OPENAQ_API_KEY: "${OPENAQ_API_KEY}"}
  - name: nightly-report
    type: sleep
    cron: "0 3 * * *"
    timezone: Europe/Berlin
    after: [openaq]
    alerts: {consecutive_failures: {threshold: 1, severity: warning}}
    with: {duration: 2s, result: failed}
)";

const std::map<std::string, std::string> kEnv = {
    {"JOBSD_API_TOKEN", "s3cret"},
    {"SLACK_WEBHOOK_URL", "https://hooks.slack.com/services/T0/B0/x"},
    {"SMTP_USER", "jobsd"},
    {"SMTP_PASSWORD", "hunter2"},
    {"OPENAQ_API_KEY", "k-123"},
};

TEST_CASE("the documented example config loads", "[config]") {
  const LoadResult result = Load(kExample, kEnv);
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  const Config& config = *result.config;

  CHECK(config.file == "cfg.yaml");
  CHECK(config.state.path == "/var/lib/jobsd/state.db");
  CHECK(config.state.keep_runs == 1000);
  CHECK(config.log.level == LogLevel::kInfo);
  CHECK(config.log.format == LogFormat::kText);
  CHECK(config.http.listen == "127.0.0.1:8080");
  CHECK(config.http.host == "127.0.0.1");
  CHECK(config.http.port == 8080);
  CHECK(config.http.token == "s3cret");
  CHECK_FALSE(config.http.public_url);
  CHECK(config.max_parallel_runs == 0);
  CHECK(config.ParallelRuns() >= 2);
  CHECK(config.shutdown_grace == 30s);

  const AlertsConfig& alerts = config.alerts;
  REQUIRE(alerts.channels.size() == 3);
  const auto& slack = std::get<SlackChannel>(alerts.channels.at("team-slack").settings);
  CHECK(slack.webhook_url == "https://hooks.slack.com/services/T0/B0/x");
  const ChannelConfig& mail_channel = alerts.channels.at("ops-mail");
  CHECK(mail_channel.line == 16);
  const auto& mail = std::get<EmailChannel>(mail_channel.settings);
  CHECK(mail.smtp_url == "smtp://mail.example.com:587");
  CHECK(mail.from == "jobsd@example.com");
  CHECK(mail.to == std::vector<std::string>{"ops@example.com"});
  CHECK(mail.username == "jobsd");
  CHECK(mail.password == "hunter2");
  CHECK(mail.tls == SmtpTls::kStartTls);
  const auto& pager = std::get<WebhookChannel>(alerts.channels.at("pager").settings);
  CHECK(pager.url == "https://example.com/hook");
  CHECK(pager.headers.empty());
  CHECK_FALSE(pager.secret);

  REQUIRE(alerts.rules.consecutive_failures.size() == 1);
  CHECK(alerts.rules.consecutive_failures[0].threshold == 3);
  CHECK(alerts.rules.consecutive_failures[0].severity == Severity::kCritical);
  REQUIRE(alerts.rules.duration_over.size() == 1);
  CHECK(alerts.rules.duration_over[0].threshold == 60s);
  REQUIRE(alerts.rules.quality_below.size() == 1);
  CHECK(alerts.rules.quality_below[0].threshold == 0.9);
  CHECK_FALSE(alerts.rules.stale);
  CHECK_FALSE(alerts.rules.reload_failed);
  CHECK(alerts.route.at(Severity::kCritical) ==
        std::vector<std::string>{"team-slack", "ops-mail", "pager"});
  CHECK(alerts.route.at(Severity::kWarning) == std::vector<std::string>{"team-slack"});
  CHECK(alerts.route.count(Severity::kInfo) == 0);
  CHECK(alerts.cooldown == 1h);
  CHECK(alerts.notify_recovery);

  REQUIRE(config.jobs.size() == 2);
  const JobConfig& openaq = config.jobs[0];
  CHECK(openaq.name == "openaq");
  CHECK(openaq.type == "command");
  CHECK(openaq.line == 26);
  CHECK(openaq.column == 5);
  CHECK_FALSE(openaq.cron);
  CHECK(openaq.every == 2h);
  CHECK(openaq.jitter == 5min);
  CHECK(openaq.timezone == "Europe/Berlin");
  CHECK(openaq.timeout == 15min);
  CHECK(openaq.overlap == Overlap::kSkip);
  CHECK(openaq.misfire == Misfire::kRunOnce);
  CHECK(openaq.misfire_grace == 1h);
  CHECK(openaq.retries.max == 3);
  CHECK(openaq.retries.backoff == 30s);
  CHECK(openaq.retries.max_backoff == 10min);
  CHECK(openaq.after.empty());
  CHECK(openaq.enabled);
  CHECK_FALSE(openaq.max_age);
  // No overrides: the daemon-wide rules apply.
  REQUIRE(openaq.alerts.consecutive_failures.size() == 1);
  CHECK(openaq.alerts.consecutive_failures[0].threshold == 3);
  REQUIRE(openaq.schedule);
  CHECK_FALSE(openaq.schedule->is_cron());
  const core::Duration offset = schedules::JitterOffset("openaq", 5min);
  CHECK(openaq.schedule->Describe() ==
        "every 2h" + (offset > core::Duration::zero() ? " +" + core::FormatDuration(offset) : ""));
  const auto* command = openaq.Settings<jobs::command::CommandSettings>();
  REQUIRE(command != nullptr);
  CHECK(command->argv ==
        std::vector<std::string>{"bin/fetch-openaq", "--locations", "3459,6093549"});
  CHECK(command->env == std::map<std::string, std::string>{{"OPENAQ_API_KEY", "k-123"}});
  CHECK(openaq.Settings<jobs::sleep::SleepSettings>() == nullptr);

  const JobConfig& report = config.jobs[1];
  CHECK(report.cron == "0 3 * * *");
  CHECK(report.timeout == 30min);  // from defaults
  CHECK(report.after == std::vector<config::Upstream>{{"openaq", config::ChainOn::kSuccess}});
  REQUIRE(report.schedule);
  CHECK(report.schedule->is_cron());
  CHECK(report.schedule->zone() != nullptr);
  // 03:00 in Berlin is 01:00 UTC in winter.
  const auto next = report.schedule->NextAfter(*core::ParseRfc3339("2026-11-22T12:00:00Z"));
  REQUIRE(next);
  CHECK(core::FormatRfc3339(*next) == "2026-11-23T02:00:00.000000Z");
  REQUIRE(report.alerts.consecutive_failures.size() == 1);
  CHECK(report.alerts.consecutive_failures[0].threshold == 1);
  CHECK(report.alerts.consecutive_failures[0].severity == Severity::kWarning);
  REQUIRE(report.alerts.duration_over.size() == 1);  // not overridden: inherited
  const auto* sleep = report.Settings<jobs::sleep::SleepSettings>();
  REQUIRE(sleep != nullptr);
  CHECK(sleep->duration == 2s);
  CHECK(sleep->result == jobs::sleep::SleepResult::kFailed);
}

TEST_CASE("built-in defaults apply to a minimal config", "[config]") {
  const LoadResult result = Load("jobs:\n  - {name: a, type: sleep, with: {duration: 1s}}\n");
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  const Config& config = *result.config;
  CHECK(config.state.path == "/var/lib/jobsd/state.db");
  CHECK(config.http.listen == "127.0.0.1:8080");
  CHECK(config.http.enabled());
  CHECK_FALSE(config.http.token);
  CHECK(config.alerts.channels.empty());
  CHECK(config.alerts.cooldown == 1h);
  const JobConfig& job = config.jobs[0];
  CHECK_FALSE(job.schedule);  // runs only when triggered
  CHECK(job.timezone == "UTC");
  CHECK(job.timeout == 1h);
  CHECK(job.jitter == 0s);
  CHECK(job.misfire_grace == 1h);
  CHECK(job.retries.max == 0);
  CHECK(job.retries.backoff == 30s);
  CHECK(job.retries.max_backoff == 10min);
  CHECK(job.enabled);
  CHECK(job.alerts.consecutive_failures.empty());
  CHECK(config.FindJob("a") == &job);
  CHECK(config.FindJob("b") == nullptr);
}

TEST_CASE("defaults fill in what a job leaves out", "[config]") {
  const LoadResult result = Load(R"(
defaults:
  type: sleep
  every: 1h
  timeout: 5m
  retries: {max: 2, backoff: 1m}
  overlap: queue
  enabled: false
  max_age: 1d
  alerts: {stale: {severity: critical}}
jobs:
  - name: inherits
    with: {duration: 1s}
  - name: overrides
    type: command
    cron: "*/5 * * * *"
    timeout: 10s
    retries: {max: 5}
    overlap: allow
    enabled: true
    alerts: {stale: {severity: info}}
    with: {shell: "true"}
)");
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  const JobConfig& a = result.config->jobs[0];
  CHECK(a.type == "sleep");
  CHECK(a.every == 1h);
  CHECK(a.timeout == 5min);
  CHECK(a.retries.max == 2);
  CHECK(a.retries.backoff == 1min);
  CHECK(a.overlap == Overlap::kQueue);
  CHECK_FALSE(a.enabled);
  CHECK(a.max_age == 24h);
  REQUIRE(a.alerts.stale);
  CHECK(a.alerts.stale->severity == Severity::kCritical);

  const JobConfig& b = result.config->jobs[1];
  CHECK(b.type == "command");
  CHECK(b.cron == "*/5 * * * *");
  CHECK_FALSE(b.every);  // its own cron replaces the default every
  CHECK(b.timeout == 10s);
  CHECK(b.retries.max == 5);
  CHECK(b.retries.backoff == 1min);  // merged key by key
  CHECK(b.overlap == Overlap::kAllow);
  CHECK(b.enabled);
  CHECK(b.max_age == 24h);
  CHECK(b.alerts.stale->severity == Severity::kInfo);
}

TEST_CASE("environment variables expand in values, not keys", "[config]") {
  const LoadResult result = Load(R"(
http:
  listen: "${HOST:-127.0.0.1}:${PORT}"
  public_url: "https://${DOMAIN:-jobsd.example.com}/"
jobs:
  - name: a
    type: command
    with:
      shell: "echo $$HOME costs $5 and ${GREETING}"
      env: {KEY: "${EMPTY:-fallback}"}
)",
                                 {{"PORT", "9090"}, {"GREETING", "hi"}, {"EMPTY", ""}});
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  CHECK(result.config->http.host == "127.0.0.1");
  CHECK(result.config->http.port == 9090);
  CHECK(result.config->http.public_url == "https://jobsd.example.com/");
  CHECK(result.config->http.ui_enabled);  // the defaults
  CHECK_FALSE(result.config->http.ui_token_required);
  const auto* command = result.config->jobs[0].Settings<jobs::command::CommandSettings>();
  REQUIRE(command != nullptr);
  CHECK(command->argv == std::vector<std::string>{"/bin/sh", "-c", "echo $HOME costs $5 and hi"});
  CHECK(command->via_shell);
  CHECK(command->env.at("KEY") == "fallback");
  // The key is left as written, so it is no valid variable name.
  CHECK(Problems("jobs:\n  - {name: a, type: command, with: {shell: x, env: {\"${KEY}\": v}}}\n") ==
        "cfg.yaml:2:53: jobs.a.with.env.${KEY}: expected an environment variable name (letters, "
        "digits and '_', not starting with a digit)\n");
}

TEST_CASE("http.ui turns the status page off or asks the API for the token", "[config]") {
  const LoadResult result = Load(R"(
http:
  token: t
  ui: {enabled: false, token_required: true}
jobs:
  - {name: a, type: sleep, with: {duration: 1s}}
)",
                                 {});
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  CHECK_FALSE(result.config->http.ui_enabled);
  CHECK(result.config->http.ui_token_required);
}

TEST_CASE("an anchored value with a variable expands once", "[config]") {
  const LoadResult result = Load(R"(
defaults: {type: command}
jobs:
  - {name: a, with: {shell: &cmd "echo $$ ${X}"}}
  - {name: b, with: {shell: *cmd}}
)",
                                 {{"X", "$$"}});
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  for (const JobConfig& job : result.config->jobs) {
    CHECK(job.Settings<jobs::command::CommandSettings>()->argv[2] == "echo $ $$");
  }
}

TEST_CASE("secrets come from the value or from a *_file", "[config]") {
  testing::TempDir dir;
  dir.Write("secrets/token", "from-file\n");
  dir.Write("secrets/smtp", "pw\r\n");
  const std::string yaml = R"(
http:
  token_file: secrets/token
alerts:
  channels:
    mail: {type: email, smtp_url: "smtps://m:465", from: a@b, to: [c@d], password_file: )" +
                           (dir.path() / "secrets/smtp").string() + R"(}
    hook: {type: webhook, url: "https://x", secret: inline}
jobs:
  - {name: a, type: sleep, with: {duration: 1s}}
)";
  LoadOptions options = testing::Options();
  options.folder = dir.path();
  const LoadResult result = LoadConfigText(yaml, "cfg.yaml", options);
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  CHECK(result.config->http.token == "from-file");
  CHECK(std::get<EmailChannel>(result.config->alerts.channels.at("mail").settings).password ==
        "pw");
  CHECK(std::get<WebhookChannel>(result.config->alerts.channels.at("hook").settings).secret ==
        "inline");
}

TEST_CASE("secret problems name the key and the file", "[config]") {
  testing::TempDir dir;
  const std::string missing = (dir.path() / "nope").string();
  const std::string yaml =
      "http:\n  token: x\n  token_file: " + missing +
      "\nalerts:\n  channels:\n    s: {type: slack, webhook_url_file: " + missing +
      "}\njobs:\n  - {name: a, type: sleep, with: {duration: 1s}}\n";
  CHECK(Problems(yaml) ==
        "cfg.yaml:3:3: http.token_file: set either 'token' or 'token_file', not both\n"
        "cfg.yaml:6:40: alerts.channels.s.webhook_url_file: cannot read secret file '" +
            missing + "': No such file or directory\n");
  CHECK(Problems(
            "http: {token_file: /}\njobs:\n  - {name: a, type: sleep, with: {duration: 1s}}\n") ==
        "cfg.yaml:1:20: http.token_file: cannot read secret file '/': Is a directory\n");
}

TEST_CASE("relative paths resolve against the config file's folder", "[config]") {
  const std::string yaml =
      "state: {path: data/state.db}\n"
      "jobs:\n  - {name: a, type: command, with: {command: [./run.sh], cwd: ../work}}\n";
  const LoadResult in_folder = Load(yaml);
  REQUIRE(in_folder.ok());
  CHECK(in_folder.config->state.path == "/srv/jobsd/data/state.db");
  CHECK(in_folder.config->jobs[0].Settings<jobs::command::CommandSettings>()->cwd == "/srv/work");

  // Without options.folder, the folder of the named file counts.
  LoadOptions options = testing::Options();
  options.folder.reset();
  const LoadResult by_name = LoadConfigText(yaml, "/etc/jobsd/jobsd.yaml", options);
  REQUIRE(by_name.ok());
  CHECK(by_name.config->state.path == "/etc/jobsd/data/state.db");
}

TEST_CASE("LoadConfigFile reads the file and resolves paths next to it", "[config]") {
  testing::TempDir dir;
  const auto file = dir.Write(
      "etc/jobsd.yaml",
      "state: {path: state.db}\njobs:\n  - {name: a, type: sleep, with: {duration: 1s}}\n");
  LoadOptions options = testing::Options();
  options.folder.reset();
  const LoadResult result = LoadConfigFile(file, options);
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  CHECK(result.config->file == file.string());
  CHECK(result.config->state.path == dir.path() / "etc/state.db");

  const LoadResult missing = LoadConfigFile(dir.path() / "nope.yaml", options);
  CHECK(missing.ErrorText() == (dir.path() / "nope.yaml").string() +
                                   ": cannot read the config file: No such file or directory\n");
}

TEST_CASE("once --set overrides a with: key of one job before validation", "[config]") {
  const std::string yaml =
      "jobs:\n  - {name: a, type: sleep, with: {duration: 1s}}\n  - {name: b, type: sleep}\n";
  LoadOptions options = testing::Options();
  options.with_overrides = {
      {"a", "duration", "5s"}, {"b", "duration", "2m"}, {"b", "result", "failed"}};
  const LoadResult result = LoadConfigText(yaml, "cfg.yaml", options);
  INFO(result.ErrorText());
  REQUIRE(result.ok());
  CHECK(result.config->jobs[0].Settings<jobs::sleep::SleepSettings>()->duration == 5s);
  CHECK(result.config->jobs[1].Settings<jobs::sleep::SleepSettings>()->duration == 2min);
  CHECK(result.config->jobs[1].Settings<jobs::sleep::SleepSettings>()->result ==
        jobs::sleep::SleepResult::kFailed);

  options.with_overrides = {{"a", "duration", "[1, 2]"}, {"a", "extra", "x"}, {"zz", "k", "v"}};
  CHECK(LoadConfigText(yaml, "cfg.yaml", options).ErrorText() ==
        "cfg.yaml: jobs.a.with.duration: expected a duration like 30s or 1h30m, got a list\n"
        "cfg.yaml: jobs.a.with.extra: unknown key 'extra'\n"
        "cfg.yaml: --set k=...: no job named 'zz'\n"
        "cfg.yaml:3:5: jobs.b.with: missing required key 'duration'\n");
}

TEST_CASE("an alert rule may have levels that escalate", "[config]") {
  const LoadResult loaded = Load(
      "alerts:\n"
      "  rules:\n"
      "    consecutive_failures:\n"
      "      - {threshold: 3, severity: warning}\n"
      "      - {threshold: 10, severity: critical}\n"
      "    quality_below: [{threshold: 0.9}, {threshold: 0.5, severity: critical}]\n"
      "jobs:\n  - {name: a, type: sleep, with: {duration: 1s}}\n");
  REQUIRE(loaded.ok());
  const AlertRules& rules = loaded.config->jobs[0].alerts;
  REQUIRE(rules.consecutive_failures.size() == 2);
  CHECK(rules.consecutive_failures[1].threshold == 10);
  CHECK(rules.consecutive_failures[1].severity == Severity::kCritical);
  REQUIRE(rules.quality_below.size() == 2);
  CHECK(rules.quality_below[1].threshold == 0.5);

  const std::string text = Problems(
      "alerts:\n"
      "  rules:\n"
      "    consecutive_failures:\n"
      "      - {threshold: 10, severity: critical}\n"
      "      - {threshold: 3, severity: warning}\n"
      "    duration_over:\n"
      "      - {threshold: 1m, severity: critical}\n"
      "      - {threshold: 5m, severity: warning}\n"
      "jobs:\n  - {name: a, type: sleep, with: {duration: 1s}}\n");
  CHECK_THAT(text,
             Catch::Contains("cfg.yaml:5:21: alerts.rules.consecutive_failures[1].threshold") &&
                 Catch::Contains("each level must be worse than the one before it"));
  CHECK_THAT(text, Catch::Contains("cfg.yaml:8:35: alerts.rules.duration_over[1].severity") &&
                       Catch::Contains("each level must be at least as severe"));
}

}  // namespace
}  // namespace config
