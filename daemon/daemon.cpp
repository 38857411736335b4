#include "daemon/daemon.h"

#include <malloc.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <thread>

#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "alert/outbox.h"
#include "alert/rule_evaluator.h"
#include "config/config_loader.h"
#include "daemon/commands.h"
#include "daemon/logging.h"
#include "daemon/service_notifier.h"
#include "http_server/api.h"
#include "http_server/api_metrics.h"
#include "http_server/server.h"
#include "scheduler/scheduler.h"
#include "store/run_recorder.h"

namespace jobsd {
namespace {

// The loop's work comes in short bursts that must begin on time: a slot is
// due. Since Linux 6.12 (EEVDF) a thread may ask for a shorter time slice,
// and a thread with a short slice that wakes preempts one with a longer
// slice (an HTTP write, a /metrics render, a job) instead of waiting up to
// that thread's whole slice (about 3 ms). Older kernels refuse the request
// and nothing else changes.
void AskForShortTimeSlice() {
  // The kernel's struct sched_attr, first version (its header clashes with
  // glibc's <sched.h>).
  struct {
    std::uint32_t size;
    std::uint32_t sched_policy;
    std::uint64_t sched_flags;
    std::int32_t sched_nice;
    std::uint32_t sched_priority;
    std::uint64_t sched_runtime;
    std::uint64_t sched_deadline;
    std::uint64_t sched_period;
  } attr{};
  attr.size = sizeof(attr);
  attr.sched_policy = SCHED_OTHER;
  attr.sched_runtime = 100'000;  // nanoseconds: the shortest slice Linux grants
  if (::syscall(SYS_sched_setattr, 0, &attr, 0) != 0) {
    spdlog::debug("the kernel keeps the loop on its default time slice: {}", std::strerror(errno));
  }
}

namespace asio = boost::asio;

// What a reload may not change: these are bound once at start.
// How often `stale` is checked (and held-back alerts reconsidered).
constexpr auto kAlertSweepEvery = std::chrono::seconds(30);

std::string HostName() {
  char name[256] = {};
  if (::gethostname(name, sizeof(name) - 1) != 0) return "unknown";
  return name;
}

std::string RestartOnlyChange(const config::Config& running, const config::Config& next) {
  if (running.state.path != next.state.path) {
    return "state.path changed (" + running.state.path.string() + " -> " +
           next.state.path.string() + "): restart jobsd to move the state store";
  }
  if (running.http.listen != next.http.listen) {
    return "http.listen changed: restart jobsd to listen elsewhere";
  }
  return {};
}

class Daemon {
 public:
  Daemon(const CommandLine& cl, const scheduler::JobCatalog& catalog, http::Client& http_client,
         std::vector<http::MetricsCollector> collectors,
         alert::AlertOutbox::ChannelFactory make_channel)
      : cl_(cl),
        catalog_(catalog),
        http_client_(http_client),
        make_channel_(std::move(make_channel)),
        signals_(loop_, SIGTERM, SIGINT, SIGHUP) {
    for (auto& collect : collectors) metrics_.AddCollector(std::move(collect));
  }

  int Run();

 private:
  void WaitForSignal();
  // Sets up alerting on the open store, before the recorder takes it.
  bool StartAlerts(store::RunStore& store);
  void SweepAlertsLater();
  void Reload();
  void ApplyReload(config::LoadResult loaded);
  void RefuseReload(const std::string& why);
  // Starts the HTTP server when http.listen is set; false (logged) when it
  // cannot listen.
  bool StartHttp();
  // Closes every connection and ends the HTTP thread.
  void StopHttp();
  // "5 jobs, 1 running, 0 failing" for systemctl status.
  std::string StatusLine() const;

  const CommandLine& cl_;
  const scheduler::JobCatalog& catalog_;
  http::Client& http_client_;
  const alert::AlertOutbox::ChannelFactory make_channel_;
  // The HTTP sockets live on an io_context and thread of their own, so that
  // reading requests and writing answers (a /metrics answer is megabytes)
  // never delays a timer on the loop. Each request hops to the loop, where
  // the Api reads the scheduler's state; /healthz thus still proves that
  // the loop answers. Declared before the loop: requests still queued there
  // at exit hold connections, which must close while this io_context exists.
  asio::io_context http_io_;
  asio::executor_work_guard<asio::io_context::executor_type> http_work_{http_io_.get_executor()};
  std::thread http_thread_;
  asio::io_context loop_;
  asio::signal_set signals_;
  ServiceNotifier systemd_{loop_};
  // Config files are read here, off the loop: reading a file blocks.
  asio::thread_pool control_{1};
  scheduler::SystemClock clock_;
  const core::TimePoint started_ = clock_.Now();
  http::DaemonMetrics metrics_{started_};
  // Before the recorder: the recorder's last batch, written as it goes,
  // still passes runs' ends through it.
  std::unique_ptr<alert::RuleEvaluator> alert_rules_;
  std::unique_ptr<store::RunRecorder> recorder_;
  // After the recorder: its channel threads ask the recorder, so they stop first.
  std::unique_ptr<alert::AlertOutbox> outbox_;
  asio::steady_timer alert_sweep_{loop_};
  std::unique_ptr<scheduler::Scheduler> scheduler_;
  std::unique_ptr<http::Api> api_;
  std::unique_ptr<http::Server> server_;
  std::shared_ptr<const config::Config> config_;
  bool reloading_ = false;
  bool reload_again_ = false;
  bool stopping_ = false;
};

int Daemon::Run() {
  config::LoadResult loaded =
      config::LoadConfigFile(cl_.config_path, LoadOptionsFor(cl_, catalog_));
  if (!loaded.ok()) {
    std::cerr << loaded.ErrorText();
    std::cerr << "jobsd: " << cl_.config_path << " is not valid; not starting\n";
    return 1;
  }
  config_ = std::make_shared<const config::Config>(std::move(*loaded.config));
  loaded = {};
  // The parsed YAML is gone; hand its memory back to the system rather than
  // keep a large config's parse tree as resident memory for the daemon's life.
  ::malloc_trim(0);
  SetUpLogging(config_->log.format, cl_.log_level.value_or(config_->log.level));

  auto store = store::RunStore::Open(config_->state.path, store::Database::Mode::kReadWrite);
  if (!store) {
    spdlog::critical("cannot start: {}", store.error().message);
    return 1;
  }
  auto interrupted = store->MarkInterrupted(clock_.Now());
  if (!interrupted) {
    spdlog::critical("cannot start: state file {}: {}", config_->state.path.string(),
                     interrupted.error().message);
    return 1;
  }
  if (*interrupted > 0) {
    spdlog::warn("{} run(s) were in progress when jobsd last stopped; recorded as interrupted",
                 *interrupted);
  }
  scheduler::RemoveScratchLeftovers(config_->state.path.parent_path());
  // Runs a crash left out of the per-job index: index them now, so the
  // lookups below and the first bulk of the new recorder stay small.
  if (auto indexed = store->IndexPendingRuns(); !indexed) {
    spdlog::critical("cannot start: state file {}: {}", config_->state.path.string(),
                     indexed.error().message);
    return 1;
  }
  std::vector<std::string> job_names;
  job_names.reserve(config_->jobs.size());
  for (const config::JobConfig& job : config_->jobs) job_names.push_back(job.name);
  auto last_slots = store->LastScheduledSlots(job_names);
  if (!last_slots) {
    spdlog::critical("cannot start: state file {}: {}", config_->state.path.string(),
                     last_slots.error().message);
    return 1;
  }
  auto health = store->AllHealth();
  if (!health) {
    spdlog::critical("cannot start: state file {}: {}", config_->state.path.string(),
                     health.error().message);
    return 1;
  }
  if (!StartAlerts(*store)) return 1;
  auto recorder =
      store::RunRecorder::Start(std::move(*store), config_->state.keep_runs,
                                [](const core::Error& e) { spdlog::error("{}", e.message); });
  if (!recorder) {
    spdlog::critical("cannot start: state file {}: {}", config_->state.path.string(),
                     recorder.error().message);
    return 1;
  }
  recorder_ = std::move(*recorder);
  recorder_->SetEndHook(
      [this](store::RunStore& s, const store::RunEnd& end) { alert_rules_->OnRunEnd(s, end); });
  outbox_ = std::make_unique<alert::AlertOutbox>(
      *recorder_, clock_, make_channel_,
      [this](const std::string& channel, config::Severity severity, std::string_view result) {
        metrics_.RecordAlert(channel, alert::ToString(severity), result);
      });
  alert_rules_->OnAlertWritten([this] { outbox_->Wake(); });
  outbox_->SetChannels(config_->alerts.channels);

  scheduler_ = std::make_unique<scheduler::Scheduler>(loop_, clock_, catalog_, *recorder_,
                                                      http_client_, config_->ParallelRuns());
  scheduler_->SeedHealth(*health);
  scheduler_->OnRunFinished([this](const scheduler::RunReport& run) { metrics_.RecordRun(run); });
  api_ = std::make_unique<http::Api>(loop_, clock_, *scheduler_, *recorder_, metrics_, started_);
  api_->SetConfig(config_);
  api_->SetAlertChannels([this] { return outbox_->Health(); });
  // Listening comes before the first run: a port in use stops the start
  // before any job has run.
  if (!StartHttp()) return 1;
  scheduler_->Start(config_, *last_slots);
  SweepAlertsLater();
  WaitForSignal();
  systemd_.Ready(StatusLine());
  systemd_.StartWatchdog();
  spdlog::info("jobsd {} started: {} jobs from {}, state {}, {} parallel runs", JOBSD_VERSION,
               config_->jobs.size(), cl_.config_path, config_->state.path.string(),
               config_->ParallelRuns());

  AskForShortTimeSlice();
  loop_.run();

  control_.join();
  StopHttp();
  api_.reset();        // waits for a /metrics render
  scheduler_.reset();  // joins the worker pool
  outbox_.reset();     // undelivered alerts stay in the store for the next start
  recorder_.reset();   // writes what is queued
  spdlog::info("jobsd stopped");
  return 0;
}

void Daemon::WaitForSignal() {
  signals_.async_wait([this](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      Reload();
      WaitForSignal();
      return;
    }
    if (stopping_) {
      spdlog::warn("second stop signal: cancelling running jobs now");
      scheduler_->Stop(core::Duration::zero(), [this] { loop_.stop(); });
      return;
    }
    stopping_ = true;
    alert_sweep_.cancel();
    api_->SetStopping();
    systemd_.StopWatchdog();
    systemd_.Stopping("Stopping: waiting for " + std::to_string(scheduler_->running()) +
                      " running job(s)");
    spdlog::info("{} received: stopping (no new runs; running ones get {})",
                 sig == SIGTERM ? "SIGTERM" : "SIGINT",
                 core::FormatDuration(config_->shutdown_grace));
    // /healthz and /health keep answering (and /readyz says 503) until
    // the last run has ended.
    scheduler_->Stop(config_->shutdown_grace, [this] {
      signals_.cancel();
      loop_.stop();
    });
    WaitForSignal();
  });
}

bool Daemon::StartAlerts(store::RunStore& store) {
  alert_rules_ = std::make_unique<alert::RuleEvaluator>(config_, HostName(), started_);
  if (auto loaded = alert_rules_->Load(store); !loaded) {
    spdlog::critical("cannot start: state file {}: reading alert state: {}",
                     config_->state.path.string(), loaded.error().message);
    return false;
  }
  if (config_->alerts.channels.empty()) {
    spdlog::info("alerts: no channels configured; alerts are recorded but not sent");
  }
  return true;
}

// A sweep right away picks up streaks that grew while jobsd was down (runs
// marked interrupted), then one every kAlertSweepEvery.
void Daemon::SweepAlertsLater() {
  const core::TimePoint now = clock_.Now();
  recorder_->Write([this, now](store::RunStore& store) { alert_rules_->Sweep(store, now); });
  alert_sweep_.expires_after(kAlertSweepEvery);
  alert_sweep_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec && !stopping_) SweepAlertsLater();
  });
}

void Daemon::Reload() {
  if (stopping_) return;
  // A burst of SIGHUPs reloads once more after the one in progress, not once each.
  if (reloading_) {
    reload_again_ = true;
    return;
  }
  reloading_ = true;
  systemd_.Reloading();
  spdlog::info("SIGHUP received: reloading {}", cl_.config_path);
  asio::post(control_, [this] {
    config::LoadResult loaded =
        config::LoadConfigFile(cl_.config_path, LoadOptionsFor(cl_, catalog_));
    asio::post(loop_, [this, loaded = std::move(loaded)]() mutable {
      ApplyReload(std::move(loaded));
      // READY=1 ends the reload whether or not the new config was taken.
      if (!stopping_) systemd_.Ready(StatusLine());
      reloading_ = false;
      if (reload_again_ && !stopping_) {
        reload_again_ = false;
        Reload();
      }
    });
  });
}

void Daemon::ApplyReload(config::LoadResult loaded) {
  if (stopping_) return;
  if (!loaded.ok()) {
    for (const auto& d : loaded.diagnostics) spdlog::error("{}", d.ToString());
    std::string why =
        std::to_string(loaded.diagnostics.size()) + " problem(s) in " + cl_.config_path;
    if (!loaded.diagnostics.empty()) why += "; first: " + loaded.diagnostics.front().ToString();
    return RefuseReload(why);
  }
  if (const std::string why = RestartOnlyChange(*config_, *loaded.config); !why.empty()) {
    return RefuseReload(why);
  }
  config_ = std::make_shared<const config::Config>(std::move(*loaded.config));
  if (!cl_.log_level) SetLogLevel(config_->log.level);
  recorder_->set_keep_runs(config_->state.keep_runs);
  scheduler_->Apply(config_);
  api_->SetConfig(config_);
  alert_rules_->SetConfig(config_);
  outbox_->SetChannels(config_->alerts.channels);
  const core::TimePoint now = clock_.Now();
  recorder_->Write(
      [this, now](store::RunStore& store) { alert_rules_->ReloadSucceeded(store, now); });
  metrics_.RecordReload(true);
  spdlog::info("reloaded {}: {} jobs", cl_.config_path, config_->jobs.size());
}

void Daemon::RefuseReload(const std::string& why) {
  spdlog::error("reload refused, the running config stays in force: {}", why);
  metrics_.RecordReload(false);
  api_->ReloadFailed(why);
  const core::TimePoint now = clock_.Now();
  recorder_->Write(
      [this, why, now](store::RunStore& store) { alert_rules_->ReloadFailed(store, why, now); });
}

bool Daemon::StartHttp() {
  if (!config_->http.enabled()) {
    spdlog::info("http: disabled (http.listen is empty)");
    return true;
  }
  // Each connection holds a descriptor: allow as many as the hard limit
  // does, and keep the connection cap well below it, so that a flood of
  // connections cannot leave jobs without descriptors for their pipes and files.
  rlimit files{};
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur < files.rlim_max) {
    files.rlim_cur = files.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &files);
  }
  http::ServerOptions options;
  options.host = config_->http.host;
  options.port = config_->http.port;
  if (::getrlimit(RLIMIT_NOFILE, &files) == 0 && files.rlim_cur != RLIM_INFINITY) {
    options.max_connections =
        std::min<std::size_t>(options.max_connections, std::max<rlim_t>(16, files.rlim_cur / 2));
  }
  auto server =
      http::Server::Listen(http_io_, options, [this](http::Request request, http::Respond respond) {
        asio::post(loop_,
                   [this, request = std::move(request), respond = std::move(respond)]() mutable {
                     api_->Handle(std::move(request), std::move(respond));
                   });
      });
  if (!server) {
    spdlog::critical(
        "cannot start: {} (is another jobsd running? change http.listen, or set it "
        "to \"\" to turn the server off)",
        server.error().message);
    return false;
  }
  server_ = std::move(*server);
  http_thread_ = std::thread([this] {
    // Like the render thread, the HTTP thread yields to the loop when the
    // cores are busy (on Linux a thread has a nice value of its own).
    ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 5);
    http_io_.run();
  });
  spdlog::info("http: listening on {}:{}", options.host, server_->port());
  if (!config_->http.token || config_->http.token->empty()) {
    spdlog::warn("http: no http.token is set, so the POST endpoints (run a job now) are off");
  }
  return true;
}

void Daemon::StopHttp() {
  if (http_thread_.joinable()) {
    // Server::Stop belongs on the server's thread.
    std::promise<void> stopped;
    asio::post(http_io_, [this, &stopped] {
      server_->Stop();
      stopped.set_value();
    });
    stopped.get_future().wait();
    http_work_.reset();
    // Answers still on their way (a slow client) are dropped, not waited for.
    http_io_.stop();
    http_thread_.join();
  }
  server_.reset();
}

std::string Daemon::StatusLine() const {
  return std::to_string(config_->jobs.size()) + " jobs, " + std::to_string(scheduler_->running()) +
         " running, " + std::to_string(api_->FailingJobs()) + " failing";
}

}  // namespace

int RunDaemon(const CommandLine& cl, const scheduler::JobCatalog& catalog,
              http::Client& http_client, std::vector<http::MetricsCollector> collectors,
              alert::AlertOutbox::ChannelFactory make_channel) {
  // A broken pipe or a full disk must not kill the daemon: both come back as
  // errors (EPIPE, EFBIG) instead. Children get default handling back.
  ::signal(SIGPIPE, SIG_IGN);
  ::signal(SIGXFSZ, SIG_IGN);
  Daemon daemon(cl, catalog, http_client, std::move(collectors), std::move(make_channel));
  return daemon.Run();
}

}  // namespace jobsd
