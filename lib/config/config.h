// The daemon's configuration as typed values, built and fully validated by
// the config loader (config_loader.h). Field defaults here are the documented
// defaults of the YAML keys of the same name.
//
// A Config is immutable once loaded; the daemon shares it as
// shared_ptr<const Config> and swaps in a new one on SIGHUP, so any thread
// may read it.
#pragma once

#include <any>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "core/time.h"
#include "schedule/schedule.h"

namespace config {

struct StateConfig {
  std::filesystem::path path = "/var/lib/jobsd/state.db";  // absolute once loaded
  int keep_runs = 1000;                                    // per job
};

enum class LogLevel { kTrace, kDebug, kInfo, kWarn, kError };
enum class LogFormat { kText, kJson };

struct LogConfig {
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
};

struct HttpConfig {
  std::string listen = "127.0.0.1:8080";  // "" disables the server
  std::string host = "127.0.0.1";         // `listen` split up; IPv6 without brackets
  int port = 8080;
  // Required by every POST endpoint. An empty value (e.g. `${TOKEN:-}`) counts
  // as no token.
  std::optional<std::string> token;
  std::optional<std::string> public_url;  // how alerts link back to this daemon
  // `ui:`: the status page at GET / and /ui/*; off, they answer 404.
  bool ui_enabled = true;
  // `ui.token_required`: every GET /api/... needs the bearer token too (the
  // page's own files and /health, /healthz, /readyz, /metrics do not).
  bool ui_token_required = false;

  bool enabled() const { return !listen.empty(); }
};

enum class Severity { kInfo, kWarning, kCritical };

struct ConsecutiveFailuresRule {
  int threshold = 1;  // alert when this many runs in a row have failed
  Severity severity = Severity::kWarning;
};
struct DurationOverRule {
  core::Duration threshold{};  // alert when a run takes longer than this
  Severity severity = Severity::kWarning;
  // 1: this run's duration. N: the average of the last N runs that ran to
  // their end (ok or timed out; a run that failed early says nothing about
  // how long the job takes), like an alarm on a metric's average.
  int average_of = 1;
};
// Alert when `count` runs have failed within `window` (however many
// succeeded in between), like an alarm on an error count over a period.
struct FailuresWithinRule {
  int count = 1;
  core::Duration window{};
  Severity severity = Severity::kWarning;
};
struct QualityBelowRule {
  double threshold = 0;  // alert when a run's quality score (0..1) is below this
  Severity severity = Severity::kWarning;
};
// A rule with no threshold: `stale` (no success within the job's max_age) and
// `reload_failed` (SIGHUP found an invalid config).
struct SeverityRule {
  Severity severity = Severity::kWarning;
};

// Which conditions raise an alert. An unset rule is off. A rule with a
// threshold may have several levels (a list in the config), each worse than
// the one before and at least as severe, e.g. a warning after 3 failures and
// critical after 10: reaching a more severe level escalates at once.
struct AlertRules {
  std::vector<ConsecutiveFailuresRule> consecutive_failures;  // ascending thresholds
  std::vector<DurationOverRule> duration_over;                // ascending thresholds
  std::vector<QualityBelowRule> quality_below;                // descending thresholds
  std::vector<FailuresWithinRule> failures_within;            // ascending counts
  std::optional<SeverityRule> stale;
  std::optional<SeverityRule> reload_failed;  // daemon-wide only; never set on a job
};

struct SlackChannel {
  std::string webhook_url;

  bool operator==(const SlackChannel&) const = default;
};

enum class SmtpTls { kStartTls, kNone };

struct EmailChannel {
  std::string smtp_url;  // smtp://host:port or smtps://host:port
  std::string from;
  std::vector<std::string> to;  // at least one address
  std::optional<std::string> username;
  std::optional<std::string> password;
  SmtpTls tls = SmtpTls::kStartTls;

  bool operator==(const EmailChannel&) const = default;
};

struct WebhookChannel {
  std::string url;
  std::map<std::string, std::string> headers;
  std::optional<std::string> secret;  // signs the body when set

  bool operator==(const WebhookChannel&) const = default;
};

struct ChannelConfig {
  std::string name;
  int line = 0;  // where the channel is defined, for later messages
  std::variant<SlackChannel, EmailChannel, WebhookChannel> settings;
  // `ca_file:` (any type): trust this CA (PEM) instead of the system store,
  // for a private CA (and the tests).
  std::optional<std::filesystem::path> ca_file;
  // `timeout:` (any type): one delivery attempt, instead of the daemon's
  // default (alert::ChannelContext::timeout).
  std::optional<core::Duration> timeout;
};

struct AlertsConfig {
  std::map<std::string, ChannelConfig> channels;  // by name
  AlertRules rules;
  // Channel names per severity; every name is a key of `channels`.
  std::map<Severity, std::vector<std::string>> route;
  core::Duration cooldown = std::chrono::hours(1);  // the same alert is not repeated within this
  bool notify_recovery = true;
};

// `on_s3:`: the job runs (trigger `event`) when an S3 event notification
// posted to /api/events/s3 names an object in `bucket` (any bucket when
// empty) whose key starts with `prefix` and ends with `suffix`.
struct S3Trigger {
  std::string bucket;
  std::string prefix;
  std::string suffix;

  bool Matches(std::string_view event_bucket, std::string_view key) const {
    return (bucket.empty() || bucket == event_bucket) && key.starts_with(prefix) &&
           key.ends_with(suffix);
  }
};

enum class Overlap { kSkip, kQueue, kAllow };  // when a run is due while one is running
enum class Misfire { kRunOnce, kSkip };        // slots missed while the daemon was down

// Which end of an upstream job's run starts a job that lists it in `after:`:
// a success; a success that changed something (a run that never says, with
// RunMetrics::SetChanged, counts as a change); a failure for good (its
// retries used up, or not retried); or either of the last two: any end that
// no retry follows.
enum class ChainOn { kSuccess, kChanged, kFailure, kFinished };

// One entry of `after:`: `- extract` or `- {job: extract, on: changed}`.
struct Upstream {
  std::string job;
  ChainOn on = ChainOn::kSuccess;
  bool operator==(const Upstream&) const = default;
};

struct RetryPolicy {
  int max = 0;                                        // retries after the first attempt
  core::Duration backoff = std::chrono::seconds(30);  // before the first retry, doubling after each
  core::Duration max_backoff = std::chrono::minutes(10);
};

struct JobConfig {
  std::string name;  // [a-z0-9_-]+, unique
  std::string type;  // a registered job type
  int line = 0;      // where the job's entry starts (1-based), for later messages
  int column = 0;

  // At most one of cron and every; neither means the job runs only when
  // triggered (after:, manual, event).
  std::optional<std::string> cron;  // as written
  std::optional<core::Duration> every;
  std::optional<schedules::Schedule> schedule;  // built from cron or every, jitter included
  core::Duration jitter{0};
  std::string timezone = "UTC";  // IANA name; only cron schedules use it

  core::Duration timeout = std::chrono::hours(1);
  Overlap overlap = Overlap::kSkip;
  Misfire misfire = Misfire::kRunOnce;
  core::Duration misfire_grace = std::chrono::hours(1);
  RetryPolicy retries;
  std::vector<Upstream> after;  // run when these jobs' runs end as each entry says
  bool enabled = true;
  std::optional<core::Duration> max_age;  // a success older than this makes the job stale
  std::optional<S3Trigger> on_s3;
  // The alert rules in force for this job: alerts.rules with the job's (and
  // defaults') overrides applied rule by rule.
  AlertRules alerts;

  // What the job type's validator made of the job's `with:` block (see
  // JobTypeSpec); Settings<T>() gives it back typed. The YAML itself is not
  // kept: holding one node would keep the whole parsed document alive, about
  // 10 KB per job.
  std::any settings;

  // The validated settings of the job's type, or null when T is not the
  // type the validator returned.
  template <typename T>
  const T* Settings() const {
    return std::any_cast<T>(&settings);
  }
};

struct Config {
  std::string file;  // the config file as named when loading
  StateConfig state;
  LogConfig log;
  HttpConfig http;
  int max_parallel_runs = 0;  // 0 = auto, see ParallelRuns()
  core::Duration shutdown_grace = std::chrono::seconds(30);
  AlertsConfig alerts;
  std::vector<JobConfig> jobs;  // in file order
  // Every value read as a secret (tokens, passwords, API keys, secret URLs,
  // from the file or a `_file`), so alerts and logs can mask them.
  std::vector<std::string> secrets;

  // max_parallel_runs, with 0 resolved to twice the number of cores.
  int ParallelRuns() const;
  // The job with this name, or null. O(1) once IndexJobs has run (the
  // loader does it); the scheduler asks several times per run.
  const JobConfig* FindJob(std::string_view name) const;
  // Builds the name index FindJob uses; call again after changing `jobs`.
  void IndexJobs();

 private:
  // An open-addressing hash table of positions in `jobs` (not pointers, so a
  // copied Config stays correct), probed linearly; kNoJob marks a free slot.
  // One flat array: a node per job would cost 100,000 allocations and page
  // faults at start-up for a big config.
  static constexpr std::uint32_t kNoJob = 0xffffffff;
  std::vector<std::uint32_t> job_index_;
  std::size_t indexed_jobs_ = 0;  // jobs.size() when the index was built
};

// Whether `name` is a valid job name: [a-z0-9_-]+.
bool IsValidJobName(std::string_view name);

// The YAML spelling of each enum value ("run_once", "critical", ...).
std::string_view Name(LogLevel value);
std::string_view Name(LogFormat value);
std::string_view Name(Severity value);
std::string_view Name(SmtpTls value);
std::string_view Name(Overlap value);
std::string_view Name(Misfire value);
std::string_view Name(ChainOn value);

}  // namespace config
