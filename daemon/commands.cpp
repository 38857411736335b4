#include "daemon/commands.h"

#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <boost/version.hpp>
#include <cstdio>
#include <iostream>
#include <random>
#include <thread>

#include <date/tz.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <spdlog/version.h>

#include "alert/channel.h"
#include "alert/secret_scrubber.h"
#include "config/config_loader.h"
#include "core/json_writer.h"
#include "core/utf8.h"
#include "daemon/logging.h"
#include "scheduler/job_json.h"
#include "scheduler/run_executor.h"
#include "store/alert_json.h"
#include "store/run_recorder.h"

namespace jobsd {
namespace {

std::optional<config::Config> Load(const CommandLine& cl, const scheduler::JobCatalog& catalog) {
  config::LoadResult loaded = config::LoadConfigFile(cl.config_path, LoadOptionsFor(cl, catalog));
  if (!loaded.ok()) {
    std::cerr << loaded.ErrorText();
    return std::nullopt;
  }
  return std::move(*loaded.config);
}

std::string_view ChannelType(const config::ChannelConfig& channel) {
  switch (channel.settings.index()) {
    case 0:
      return "slack";
    case 1:
      return "email";
    default:
      return "webhook";
  }
}

}  // namespace

config::LoadOptions LoadOptionsFor(const CommandLine& cl, const scheduler::JobCatalog& catalog) {
  config::LoadOptions options;
  options.job_types = catalog.Specs();
  if (cl.command == "once" && !cl.positional.empty()) {
    for (const auto& [key, value] : cl.sets) {
      options.with_overrides.push_back({cl.positional.front(), key, value});
    }
  }
  return options;
}

int CheckCommand(const CommandLine& cl, const scheduler::JobCatalog& catalog) {
  const auto config = Load(cl, catalog);
  if (!config) return 1;
  std::cout << cl.config_path << ": ok (" << config->jobs.size() << " jobs)\n";
  return 0;
}

int ListCommand(const CommandLine& cl, const scheduler::JobCatalog& catalog) {
  const auto config = Load(cl, catalog);
  if (!config) return 1;
  const core::TimePoint from = cl.from.value_or(
      std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now()));
  std::string out;
  for (const config::JobConfig& job : config->jobs) {
    const std::vector<core::TimePoint> fires = scheduler::NextFires(job, from, cl.next);
    const date::time_zone* zone = job.schedule ? job.schedule->zone() : nullptr;
    if (cl.json) {
      core::JsonWriter json;
      scheduler::WriteJobJson(json, job, fires);
      out += json.Finish() + "\n";
      continue;
    }
    out += fmt::format("{}  ({}, {}, {})\n", job.name, job.type, scheduler::ScheduleText(job),
                       job.timezone);
    for (const auto& t : fires) {
      const auto seconds = date::floor<std::chrono::seconds>(t);
      if (zone) {
        out +=
            fmt::format("    {}  {}\n", date::format("%F %T %Z", date::make_zoned(zone, seconds)),
                        date::format("%FT%TZ", seconds));
      } else {
        out += fmt::format("    {}\n", date::format("%F %T UTC", seconds));
      }
    }
  }
  std::cout << out;
  return 0;
}

namespace {

// `history --alerts`: the outbox, newest first, one line per alert with how
// each channel's delivery stands.
int AlertHistory(const CommandLine& cl, store::RunStore& store) {
  const std::string job = cl.positional.empty() ? "" : cl.positional.front();
  auto alerts = store.RecentAlerts(job, cl.limit);
  if (!alerts) {
    std::cerr << "jobsd history: " << alerts.error().message << "\n";
    return 1;
  }
  std::string out;
  if (!cl.json) {
    out += fmt::format("{:>6}  {:<27} {:<16} {:<20} {:<10} {:<8}  {:<40}  {}\n", "ID", "RAISED",
                       "JOB", "RULE", "KIND", "SEVERITY", "DELIVERIES", "SUMMARY");
  }
  for (const auto& [alert, deliveries] : *alerts) {
    if (cl.json) {
      core::JsonWriter json;
      store::WriteAlertJson(json, alert, deliveries);
      out += json.Finish() + "\n";
      continue;
    }
    std::string states;
    for (const store::AlertDelivery& delivery : deliveries) {
      if (!states.empty()) states += ' ';
      states += fmt::format("{}:{}", delivery.channel, store::ToString(delivery.state));
      if (delivery.attempts > 1) states += fmt::format("({})", delivery.attempts);
    }
    if (states.empty()) states = "(no channel)";
    out += fmt::format("{:>6}  {:<27} {:<16} {:<20} {:<10} {:<8}  {:<40}  {}\n", alert.id,
                       core::FormatRfc3339(alert.raised_at),
                       alert.job.empty() ? "-" : core::EscapeForTerminal(alert.job),
                       core::EscapeForTerminal(alert.rule), core::EscapeForTerminal(alert.kind),
                       core::EscapeForTerminal(alert.severity), core::EscapeForTerminal(states),
                       core::EscapeForTerminal(alert.summary));
  }
  std::cout << out;
  return 0;
}

}  // namespace

int HistoryCommand(const CommandLine& cl, const scheduler::JobCatalog& catalog) {
  const auto config = Load(cl, catalog);
  if (!config) return 1;
  auto store = store::RunStore::Open(config->state.path, store::Database::Mode::kReadOnly);
  if (!store) {
    std::cerr << "jobsd history: " << store.error().message << "\n";
    return 1;
  }
  if (cl.alerts) return AlertHistory(cl, *store);
  const std::string job = cl.positional.empty() ? "" : cl.positional.front();
  auto runs = store->RecentRuns(job, cl.limit);
  if (!runs) {
    std::cerr << "jobsd history: " << runs.error().message << "\n";
    return 1;
  }
  std::string out;
  if (!cl.json) {
    out += fmt::format("{:>8}  {:<20} {:<9} {:<11} {:<27} {:>9}  {}\n", "ID", "JOB", "TRIGGER",
                       "STATUS", "STARTED", "DURATION", "ERROR");
  }
  for (const store::RunRecord& run : *runs) {
    if (cl.json) {
      core::JsonWriter json;
      scheduler::WriteRunJson(json, run);
      out += json.Finish() + "\n";
      continue;
    }
    std::string duration = "-";
    if (run.finished_at) {
      duration = fmt::format(
          "{:.3f}s", std::chrono::duration<double>(*run.finished_at - run.started_at).count());
    }
    // A job's error is its output: on a terminal its escape sequences and
    // NULs are shown, not obeyed, and a newline stays inside the cell.
    out += fmt::format("{:>8}  {:<20} {:<9} {:<11} {:<27} {:>9}  {}\n", run.id,
                       core::EscapeForTerminal(run.job), store::ToString(run.trigger),
                       store::ToString(run.status), core::FormatRfc3339(run.started_at), duration,
                       core::EscapeForTerminal(run.error));
  }
  std::cout << out;
  return 0;
}

int OnceCommand(const CommandLine& cl, const scheduler::JobCatalog& catalog,
                http::Client& http_client) {
  const auto config = Load(cl, catalog);
  if (!config) return 1;
  const std::string& name = cl.positional.front();
  const config::JobConfig* job = config->FindJob(name);
  if (job == nullptr) {
    std::cerr << "jobsd once: no job named '" << name << "' in " << cl.config_path << "\n";
    return 2;
  }
  SetUpLogging(config->log.format, cl.log_level.value_or(config->log.level));

  // SIGINT/SIGTERM cancel the run (a command's process group gets SIGTERM,
  // then SIGKILL); the run is still recorded. The signals are blocked before
  // any thread starts, so only the waiting thread ever receives them.
  scheduler::CancelToken cancel;
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGUSR2);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::thread signal_waiter([&] {
    int sig = 0;
    sigwait(&stop_signals, &sig);
    if (sig != SIGUSR2) cancel.Cancel(scheduler::CancelToken::Reason::kManual);
  });
  struct ReleaseWaiter {
    std::thread& thread;
    ~ReleaseWaiter() {
      pthread_kill(thread.native_handle(), SIGUSR2);
      thread.join();
    }
  } release{signal_waiter};

  auto store = store::RunStore::Open(config->state.path, store::Database::Mode::kReadWrite);
  if (!store) {
    std::cerr << "jobsd once: " << store.error().message << "\n";
    return 1;
  }
  auto recorder = store::RunRecorder::Start(
      std::move(*store), config->state.keep_runs,
      [](const core::Error& e) { spdlog::error("{}", e.message); }, 1);
  if (!recorder) {
    std::cerr << "jobsd once: " << recorder.error().message << "\n";
    return 1;
  }

  scheduler::SystemClock clock;
  scheduler::RunExecutor executor(catalog, **recorder, clock, http_client);
  const std::int64_t id = (*recorder)->NewRunId();
  const scheduler::RunOutcome outcome = executor.Execute(
      *config, *job, scheduler::Firing{name, store::Trigger::kManual, std::nullopt, 1}, id, cancel);
  (*recorder)->Flush();

  const double seconds =
      std::chrono::duration<double>(outcome.finished_at - outcome.started_at).count();
  if (cl.json) {
    core::JsonWriter json;
    json.Key("id").Int(id).Key("job").String(name).Key("status").String(
        store::ToString(outcome.status));
    json.Key("duration_seconds").Double(seconds).Key("error").String(outcome.error);
    json.Key("metrics").Raw(outcome.metrics.ToJson()).Key("output").String(outcome.output);
    std::cout << json.Finish() << "\n";
  } else {
    std::cout << fmt::format(
        "run {} of {}: {} in {:.3f}s{}\n", id, name, store::ToString(outcome.status), seconds,
        outcome.error.empty() ? "" : " (" + core::EscapeForTerminal(outcome.error) + ")");
  }
  switch (outcome.status) {
    case store::RunStatus::kOk:
      return 0;
    case store::RunStatus::kTimeout:
      return 124;
    default:
      return 1;
  }
}

int AlertTestCommand(const CommandLine& cl, const scheduler::JobCatalog& catalog,
                     http::Client& http_client) {
  const auto config = Load(cl, catalog);
  if (!config) return 1;
  const std::string& name = cl.positional.front();
  const auto found = config->alerts.channels.find(name);
  if (found == config->alerts.channels.end()) {
    std::string names;
    for (const auto& [known, channel] : config->alerts.channels) {
      names += (names.empty() ? "" : ", ") + known;
    }
    std::cerr << "jobsd alert-test: no channel named '" << name << "' in " << cl.config_path
              << " (alerts.channels: " << (names.empty() ? "none" : names) << ")\n";
    return 2;
  }
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "unknown");

  alert::Alert test;
  test.kind = alert::AlertKind::kTest;
  test.rule = "test";
  test.severity = config::Severity::kInfo;
  test.raised_at = std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now());
  test.summary = std::string("Test alert from jobsd on ") + host;
  test.host = host;

  const std::unique_ptr<alert::Channel> channel =
      alert::MakeChannel(found->second, alert::ChannelContext{http_client});
  const alert::DeliveryResult result =
      channel->Deliver(alert::Delivery{test, store::NewDeliveryId(), 1, {}});

  std::string_view outcome = "delivered";
  if (result.outcome == alert::DeliveryResult::Outcome::kRetry) outcome = "retry";
  if (result.outcome == alert::DeliveryResult::Outcome::kRejected) outcome = "rejected";
  std::string line =
      fmt::format("{} ({}): {}: {}", name, ChannelType(found->second), outcome,
                  core::EscapeForTerminal(alert::SecretScrubber(*config).Scrub(result.response)));
  if (result.retry_after) {
    line += fmt::format(" (retry after {})", core::FormatDuration(*result.retry_after));
  }
  std::cout << line << "\n";
  return result.outcome == alert::DeliveryResult::Outcome::kDelivered ? 0 : 1;
}

int VersionCommand() {
  std::cout << "jobsd " << JOBSD_VERSION << "\n"
            << "  boost " << BOOST_VERSION / 100000 << "." << BOOST_VERSION / 100 % 1000 << "."
            << BOOST_VERSION % 100 << "\n"
            << "  yaml-cpp " << JOBSD_YAML_CPP_VERSION << "\n"
            << "  spdlog " << SPDLOG_VER_MAJOR << "." << SPDLOG_VER_MINOR << "." << SPDLOG_VER_PATCH
            << "\n"
            << "  fmt " << FMT_VERSION / 10000 << "." << FMT_VERSION / 100 % 100 << "."
            << FMT_VERSION % 100 << "\n"
            << "  sqlite " << sqlite3_libversion() << "\n"
            << "  date (tz) " << JOBSD_DATE_VERSION << "\n";
  return 0;
}

}  // namespace jobsd
