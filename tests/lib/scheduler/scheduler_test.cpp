#include "scheduler/scheduler.h"

#include <spdlog/spdlog.h>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <random>
#include <thread>

#include "tests/lib/scheduler/manual_clock.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using store::RunStatus;
using store::Trigger;

// A job type for these tests: sleeps (cancellably), and fails its first
// `failures` runs.
struct Script {
  core::Duration sleep{};
  int failures = 0;
  std::optional<bool> changed =
      std::nullopt;  // what the run reports with SetChanged; nothing when unset
  std::shared_ptr<std::atomic<int>> runs = std::make_shared<std::atomic<int>>(0);
};

class ScriptedJob final : public scheduler::Job {
 public:
  explicit ScriptedJob(Script script) : script_(std::move(script)) {}
  core::Result<void> Run(scheduler::JobContext& ctx) override {
    const int n = ++*script_.runs;
    if (script_.sleep > core::Duration::zero() && ctx.cancel().WaitFor(script_.sleep)) {
      return core::Unexpected(core::Error{core::ErrorKind::kCancelled, "stopped", true});
    }
    if (n <= script_.failures) {
      return core::Unexpected(core::Error{core::ErrorKind::kUpstream, "planned failure", true});
    }
    if (script_.changed) ctx.metrics().SetChanged(*script_.changed);
    return {};
  }

 private:
  Script script_;
};

scheduler::JobCatalog Catalog() {
  scheduler::JobCatalog catalog;
  catalog.Add(scheduler::JobType{config::JobTypeSpec{"scripted", nullptr},
                                 [](const config::JobConfig& job) {
                                   return std::make_unique<ScriptedJob>(*job.Settings<Script>());
                                 }});
  return catalog;
}

config::JobConfig Job(const std::string& name, Script script) {
  config::JobConfig job;
  job.name = name;
  job.type = "scripted";
  job.settings = std::move(script);
  job.timeout = 10s;
  return job;
}

// A scheduler on a real loop and a real store in a temp folder, on a manual
// clock: time moves only in Step, which stops at every instant something
// waits for and settles there (see Settle) before moving on.
struct Harness {
  // The retries' jitter is fixed, so a test knows when each retry is due.
  static constexpr std::uint64_t kSeed = 20260105;

  // What the observer saw of a finished (or skipped) run, and when.
  struct Report {
    std::string job;
    Trigger trigger;
    RunStatus status;
    std::optional<core::TimePoint> scheduled_at;
    core::TimePoint started_at;
    core::TimePoint finished_at;
    core::TimePoint seen_at;  // the clock when the loop took the outcome
  };

  fs::path dir =
      fs::temp_directory_path() / ("jobsd-sched-" + std::to_string(std::random_device{}()));
  scheduler::JobCatalog catalog = Catalog();
  scheduler::testing::ManualClock clock;
  const core::TimePoint t0 = clock.Now();
  http::Client http;
  boost::asio::io_context loop;
  std::unique_ptr<store::RunRecorder> recorder;
  std::unique_ptr<scheduler::Scheduler> sched;
  // Runs whose end the recorder has seen: the worker is past reading the
  // clock for them (recorder thread).
  std::atomic<int> ended{0};
  std::vector<Report> reports;  // loop thread (the test thread)
  int taken_back = 0;           // reports of runs that ran (not skipped)

  explicit Harness(std::vector<config::JobConfig> jobs) {
    // Create spdlog's default logger before any worker thread logs, as the
    // daemon does: the registry is a function-local static inside
    // libspdlog.so whose guard TSan cannot see, so a first use racing from
    // two threads is reported as a data race.
    spdlog::default_logger_raw();
    auto s = store::RunStore::Open(dir / "state.db", store::Database::Mode::kReadWrite);
    REQUIRE(s);
    auto r = store::RunRecorder::Start(
        std::move(*s), 100, [](const core::Error& e) { FAIL("store error: " << e.message); });
    REQUIRE(r);
    recorder = std::move(*r);
    recorder->SetEndHook([this](store::RunStore&, const store::RunEnd&) { ++ended; });
    auto config = std::make_shared<config::Config>();
    config->jobs = std::move(jobs);
    sched = std::make_unique<scheduler::Scheduler>(loop, clock, catalog, *recorder, http, 4, kSeed);
    sched->OnRunFinished([this](const scheduler::RunReport& run) {
      reports.push_back(Report{std::string(run.job), run.trigger, run.status, run.scheduled_at,
                               run.started_at, run.finished_at, clock.Now()});
      if (run.status != RunStatus::kSkipped) ++taken_back;
    });
    sched->Start(config, {});
    Settle();
  }
  ~Harness() {
    bool stopped = false;
    sched->Stop(0s, [&] { stopped = true; });
    // Fires the grace timer (zero) and lets the cancelled runs wind down.
    clock.Advance(0s);
    const auto end = std::chrono::steady_clock::now() + 10s;
    while (!stopped && std::chrono::steady_clock::now() < end) {
      loop.restart();
      loop.run_for(1ms);
    }
    sched.reset();
    recorder.reset();
    fs::remove_all(dir);
  }

  // Moves the clock, settling at every instant on the way.
  // Settles first: what the test just started reads the clock before it moves.
  void Step(core::Duration d) {
    Settle();
    clock.Advance(d, [this] { Settle(); });
  }
  void StepTo(core::TimePoint t) {
    Settle();
    clock.AdvanceTo(t, [this] { Settle(); });
  }

  // Runs the loop until the scheduler has done all it does at this instant:
  // every run it started has either ended on its worker and been taken back
  // (or is about to be, by a wake due within the hand-back patience), or is
  // asleep on the clock. Waits in real time for the workers, bounded.
  void Settle() {
    const auto give_up = std::chrono::steady_clock::now() + 10s;
    for (;;) {
      loop.restart();
      loop.poll();
      if (Settled()) return;
      if (std::chrono::steady_clock::now() > give_up) {
        FAIL("the scheduler did not settle: running "
             << sched->running() << ", ended " << ended.load() << ", taken back " << taken_back);
      }
      std::this_thread::sleep_for(50us);
    }
  }
  bool Settled() const {
    const int not_taken = ended.load() - taken_back;
    if (not_taken < 0) return false;  // the recorder has not seen every end yet
    if (sched->running() - not_taken != clock.Sleepers()) return false;
    if (not_taken == 0) return true;
    // The scheduler hands runs back at its next wake when that is this close.
    const auto next = clock.NextTimer();
    return next && *next <= clock.Now() + 2ms;
  }

  // Steps to just before `at` and checks that the job has not run more than
  // `runs_before` times, then to `at` and checks that it ran once more.
  void ExpectRunAt(core::TimePoint at, const std::atomic<int>& runs, int runs_before) {
    StepTo(at - 1us);
    CHECK(runs == runs_before);  // not before it
    StepTo(at);
    CHECK(runs == runs_before + 1);  // at it
  }

  // Oldest first.
  std::vector<store::RunRecord> Runs() {
    recorder->Flush();
    std::vector<store::RunRecord> runs;
    recorder->Query([&](store::RunStore& s) { runs = *s.RecentRuns("", 100); });
    recorder->Flush();
    std::reverse(runs.begin(), runs.end());
    return runs;
  }
  const Report& Last(const std::string& job) const {
    for (auto it = reports.rbegin(); it != reports.rend(); ++it) {
      if (it->job == job) return *it;
    }
    FAIL("no report of " << job);
    return reports.front();
  }
};

std::string Summary(const std::vector<store::RunRecord>& runs) {
  std::string out;
  for (const auto& r : runs) {
    out += r.job + ":" + std::string(store::ToString(r.trigger)) + ":" +
           std::string(store::ToString(r.status)) + ":" + std::to_string(r.attempt) + " ";
  }
  return out;
}

}  // namespace

TEST_CASE("retry delays grow exponentially with full jitter", "[scheduler]") {
  std::mt19937_64 random(42);
  const config::RetryPolicy policy{5, 1s, 10s};
  for (int attempt = 1; attempt <= 6; ++attempt) {
    const core::Duration ceiling = std::min<core::Duration>(1s * (1 << (attempt - 1)), 10s);
    core::Duration longest{};
    for (int i = 0; i < 200; ++i) {
      const auto d = scheduler::RetryDelay(policy, attempt, random);
      CHECK(d >= core::Duration::zero());
      CHECK(d <= ceiling);
      longest = std::max(longest, d);
    }
    CHECK(longest > ceiling / 2);  // the whole range is used
  }
}

TEST_CASE("a job every 10 s runs 3 times in 30 s, each at its slot", "[scheduler]") {
  auto tick = Job("tick", Script{});
  tick.every = 10s;
  tick.schedule = schedules::Schedule::Every(10s);
  const auto runs = tick.Settings<Script>()->runs;
  Harness h({tick});
  REQUIRE(h.sched->StatusOf("tick")->next_slot == h.t0 + 10s);

  h.Step(10s - 1us);
  CHECK(*runs == 0);  // not before its slot
  h.Step(1us);
  CHECK(*runs == 1);  // at it
  h.StepTo(h.t0 + 30s);
  CHECK(*runs == 3);
  h.Step(10s - 1us);  // the fourth slot is not there yet
  CHECK(*runs == 3);

  const auto records = h.Runs();
  REQUIRE(records.size() == 3);
  for (std::size_t i = 0; i < records.size(); ++i) {
    const core::TimePoint slot = h.t0 + 10s * static_cast<int>(i + 1);
    CHECK(records[i].trigger == Trigger::kSchedule);
    CHECK(records[i].status == RunStatus::kOk);
    CHECK(records[i].scheduled_at == slot);
    CHECK(records[i].started_at == slot);  // no lateness on a stepped clock
  }
  REQUIRE(h.reports.size() == 3);
  CHECK(h.reports[2].scheduled_at == h.t0 + 30s);
  CHECK(h.sched->StatusOf("tick")->next_slot == h.t0 + 40s);
}

TEST_CASE("scheduler retries a failing run at its backoff, then chains on success", "[scheduler]") {
  auto flaky = Job("flaky", Script{0s, 2});
  flaky.retries = config::RetryPolicy{3, 30s, 10min};
  auto next = Job("next", Script{});
  next.after = {{"flaky"}};
  const auto runs = flaky.Settings<Script>()->runs;
  Harness h({flaky, next});
  // The delays the scheduler draws, from the same seed.
  std::mt19937_64 same(Harness::kSeed);
  const core::Duration first = scheduler::RetryDelay(flaky.retries, 1, same);
  const core::Duration second = scheduler::RetryDelay(flaky.retries, 2, same);
  REQUIRE(first > 1ms);  // so "just before" is a real instant for this seed
  REQUIRE(second > 1ms);

  REQUIRE(h.sched->RunNow("flaky"));
  h.Settle();
  REQUIRE(h.reports.size() == 1);
  CHECK(h.reports[0].status == RunStatus::kFailed);
  const core::TimePoint retry_at = h.reports[0].seen_at + first;
  h.ExpectRunAt(retry_at, *runs, 1);
  h.Step(5ms);  // the failed retry is taken back at one of the next wakes
  REQUIRE(h.reports.size() == 2);
  CHECK(h.reports[1].trigger == Trigger::kRetry);
  CHECK(h.reports[1].started_at == retry_at);

  const core::TimePoint second_at = h.reports[1].seen_at + second;
  h.ExpectRunAt(second_at, *runs, 2);
  h.Step(1s);
  CHECK(Summary(h.Runs()) ==
        "flaky:manual:failed:1 flaky:retry:failed:2 flaky:retry:ok:3 next:chain:ok:1 ");
  CHECK(h.Last("flaky").started_at == second_at);
  // The chained run starts when the upstream's success is taken back.
  CHECK(h.Last("next").scheduled_at == h.Last("flaky").seen_at);
  CHECK(h.Last("next").started_at == h.Last("flaky").seen_at);
}

TEST_CASE("scheduler gives up after the last retry and does not chain", "[scheduler]") {
  auto broken = Job("broken", Script{0s, 100});
  broken.retries = config::RetryPolicy{1, 30s, 30s};
  auto next = Job("next", Script{});
  next.after = {{"broken"}};
  const auto runs = broken.Settings<Script>()->runs;
  Harness h({broken, next});
  std::mt19937_64 same(Harness::kSeed);
  const core::Duration first = scheduler::RetryDelay(broken.retries, 1, same);
  REQUIRE(h.sched->RunNow("broken"));
  h.Settle();
  REQUIRE(h.reports.size() == 1);
  const core::TimePoint retry_at = h.reports[0].seen_at + first;
  h.ExpectRunAt(retry_at, *runs, 1);
  // Longer than any further retry could wait (max_backoff 30 s), and past
  // several of the loop's 30 s re-arms.
  h.Step(5min);
  CHECK(*runs == 2);
  CHECK(Summary(h.Runs()) == "broken:manual:failed:1 broken:retry:failed:2 ");
  CHECK(h.sched->StatusOf("broken")->consecutive_failures == 2);
}

TEST_CASE("after: on changed follows only a run that changed something", "[scheduler]") {
  auto same = Job("same", Script{0s, 0, false});
  auto fresh = Job("fresh", Script{0s, 0, true});
  auto silent = Job("silent", Script{});  // says nothing: taken as a change
  auto train_same = Job("train-same", Script{});
  train_same.after = {{"same", config::ChainOn::kChanged}};
  auto train_fresh = Job("train-fresh", Script{});
  train_fresh.after = {{"fresh", config::ChainOn::kChanged}};
  auto train_silent = Job("train-silent", Script{});
  train_silent.after = {{"silent", config::ChainOn::kChanged}};
  auto report = Job("report", Script{});
  report.after = {{"same", config::ChainOn::kSuccess}};
  Harness h({same, fresh, silent, train_same, train_fresh, train_silent, report});

  REQUIRE(h.sched->RunNow("same"));
  h.Settle();
  REQUIRE(h.sched->RunNow("fresh"));
  h.Settle();
  REQUIRE(h.sched->RunNow("silent"));
  h.Settle();
  h.Step(1s);
  CHECK(Summary(h.Runs()) ==
        "same:manual:ok:1 report:chain:ok:1 fresh:manual:ok:1 train-fresh:chain:ok:1 "
        "silent:manual:ok:1 train-silent:chain:ok:1 ");
}

TEST_CASE("after: on failure follows a failure for good, not one that is retried", "[scheduler]") {
  auto broken = Job("broken", Script{0s, 100});
  broken.retries = config::RetryPolicy{1, 30s, 30s};
  auto cleanup = Job("cleanup", Script{});
  cleanup.after = {{"broken", config::ChainOn::kFailure}};
  const auto runs = broken.Settings<Script>()->runs;
  Harness h({broken, cleanup});
  std::mt19937_64 same(Harness::kSeed);
  const core::Duration first = scheduler::RetryDelay(broken.retries, 1, same);
  REQUIRE(h.sched->RunNow("broken"));
  h.Settle();
  CHECK(Summary(h.Runs()) == "broken:manual:failed:1 ");  // a retry is due: no cleanup yet
  h.ExpectRunAt(h.reports[0].seen_at + first, *runs, 1);
  h.Step(5min);
  CHECK(Summary(h.Runs()) == "broken:manual:failed:1 broken:retry:failed:2 cleanup:chain:ok:1 ");
}

TEST_CASE("after: on finished follows every end that no retry follows", "[scheduler]") {
  auto flaky = Job("flaky", Script{0s, 100});
  flaky.retries = config::RetryPolicy{1, 30s, 30s};
  auto fine = Job("fine", Script{});
  auto notify = Job("notify", Script{});
  notify.after = {{"flaky", config::ChainOn::kFinished}, {"fine", config::ChainOn::kFinished}};
  Harness h({flaky, fine, notify});
  REQUIRE(h.sched->RunNow("fine"));
  h.Settle();
  CHECK(Summary(h.Runs()) == "fine:manual:ok:1 notify:chain:ok:1 ");
  REQUIRE(h.sched->RunNow("flaky"));
  h.Settle();
  // The first failure is retried: not an end yet.
  CHECK(Summary(h.Runs()) == "fine:manual:ok:1 notify:chain:ok:1 flaky:manual:failed:1 ");
  h.Step(5min);
  CHECK(Summary(h.Runs()) ==
        "fine:manual:ok:1 notify:chain:ok:1 flaky:manual:failed:1 flaky:retry:failed:2 "
        "notify:chain:ok:1 ");
}

TEST_CASE("a burst of S3 events gives one run and one queued behind it", "[scheduler]") {
  auto synced = Job("synced", Script{200ms});  // overlap: skip, the default
  const auto runs_made = synced.Settings<Script>()->runs;
  Harness h({synced});
  std::string why;
  REQUIRE(h.sched->RunNow("synced", &why, store::Trigger::kEvent));
  CHECK_FALSE(h.sched->RunNow("synced", &why, store::Trigger::kEvent));
  CHECK_THAT(why, Catch::StartsWith("queued"));
  for (int i = 0; i < 48; ++i) {
    CHECK_FALSE(h.sched->RunNow("synced", &why, store::Trigger::kEvent));
    CHECK_THAT(why, Catch::StartsWith("coalesced"));
  }
  h.Settle();
  CHECK(h.sched->StatusOf("synced")->queued == 1);
  h.Step(200ms);
  CHECK(*runs_made == 2);  // the queued one starts as the first ends
  // An event while the queued run runs queues one again.
  CHECK_FALSE(h.sched->RunNow("synced", &why, store::Trigger::kEvent));
  CHECK_THAT(why, Catch::StartsWith("queued"));
  h.Step(200ms);
  h.Step(200ms);
  CHECK(h.sched->running() == 0);
  const auto runs = h.Runs();
  CHECK(runs.size() == 3);  // no skipped run recorded for the coalesced events
  for (const auto& run : runs) {
    CHECK(run.trigger == store::Trigger::kEvent);
    CHECK(run.status == RunStatus::kOk);
  }
}

TEST_CASE("overlap skip records a skipped run; queue runs it afterwards", "[scheduler]") {
  auto skipper = Job("skipper", Script{200ms});
  auto queuer = Job("queuer", Script{200ms});
  queuer.overlap = config::Overlap::kQueue;
  auto allower = Job("allower", Script{200ms});
  allower.overlap = config::Overlap::kAllow;
  const auto queued_runs = queuer.Settings<Script>()->runs;
  Harness h({skipper, queuer, allower});
  std::string why;
  REQUIRE(h.sched->RunNow("skipper"));
  CHECK_FALSE(h.sched->RunNow("skipper", &why));
  CHECK_THAT(why, Catch::Contains("still running"));
  REQUIRE(h.sched->RunNow("queuer"));
  CHECK_FALSE(h.sched->RunNow("queuer", &why));
  CHECK_THAT(why, Catch::Contains("queued"));
  REQUIRE(h.sched->RunNow("allower"));
  REQUIRE(h.sched->RunNow("allower"));
  CHECK(h.sched->running() == 4);
  h.Settle();
  CHECK(h.sched->StatusOf("queuer")->queued == 1);

  h.Step(200ms - 1us);
  CHECK(h.sched->running() == 4);  // every run still sleeps
  CHECK(*queued_runs == 1);        // the queued one waits for the first
  h.Step(1us);
  CHECK(*queued_runs == 2);  // it starts as the first ends
  CHECK(h.sched->running() == 1);
  CHECK(h.Last("queuer").finished_at == h.t0 + 200ms);
  h.Step(200ms);
  CHECK(h.sched->running() == 0);

  const auto runs = h.Runs();
  CHECK(runs.size() == 6);
  auto count = [&](const std::string& job, RunStatus status) {
    return std::count_if(runs.begin(), runs.end(),
                         [&](const auto& r) { return r.job == job && r.status == status; });
  };
  CHECK(count("skipper", RunStatus::kOk) == 1);
  CHECK(count("skipper", RunStatus::kSkipped) == 1);
  CHECK(count("queuer", RunStatus::kOk) == 2);
  CHECK(count("allower", RunStatus::kOk) == 2);
  CHECK(h.Last("queuer").started_at == h.t0 + 200ms);
  CHECK(h.Last("queuer").finished_at == h.t0 + 400ms);
  CHECK(std::string(h.sched->RunNow("nope", &why) ? "ran" : why) == "no job named 'nope'");
}

TEST_CASE("a run over its timeout is recorded as timeout and retried", "[scheduler]") {
  auto slow = Job("slow", Script{10s});
  slow.timeout = 50ms;
  slow.retries = config::RetryPolicy{1, 1s, 1s};
  Harness h({slow});
  std::mt19937_64 same(Harness::kSeed);
  const core::Duration first = scheduler::RetryDelay(slow.retries, 1, same);
  REQUIRE(h.sched->RunNow("slow"));
  h.Step(50ms - 1us);
  CHECK(h.sched->running() == 1);  // not timed out before its timeout
  CHECK(h.reports.empty());
  h.Step(1us);
  REQUIRE(h.reports.size() == 1);  // at it
  CHECK(h.reports[0].status == RunStatus::kTimeout);
  CHECK(h.reports[0].finished_at == h.t0 + 50ms);
  const core::TimePoint retry_at = h.reports[0].seen_at + first;
  h.StepTo(retry_at + 50ms);
  const auto runs = h.Runs();
  REQUIRE(runs.size() == 2);
  CHECK(runs[0].status == RunStatus::kTimeout);
  CHECK_THAT(runs[0].error, Catch::Contains("timed out after 50ms"));
  CHECK(runs[1].trigger == Trigger::kRetry);
  CHECK(runs[1].status == RunStatus::kTimeout);
  CHECK(runs[1].started_at == retry_at);
  CHECK(runs[1].finished_at == retry_at + 50ms);
  CHECK(h.sched->running() == 0);
}

TEST_CASE("stop waits for the grace period, then cancels", "[scheduler]") {
  Harness h({Job("long", Script{10s}), Job("short", Script{20ms})});
  REQUIRE(h.sched->RunNow("long"));
  REQUIRE(h.sched->RunNow("short"));
  h.Settle();
  bool stopped = false;
  h.sched->Stop(150ms, [&] { stopped = true; });
  CHECK_FALSE(h.sched->RunNow("short"));  // no new runs while stopping
  h.Step(150ms - 1us);
  CHECK_FALSE(stopped);
  CHECK(h.sched->running() == 1);  // short is done, long is given its grace
  h.Step(1us);
  REQUIRE(stopped);
  // Both started at once on different workers, in either order.
  auto runs = h.Runs();
  std::sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) { return a.job < b.job; });
  CHECK(Summary(runs) == "long:manual:cancelled:1 short:manual:ok:1 ");
  CHECK(runs[0].finished_at == h.t0 + 150ms);
  CHECK(runs[1].finished_at == h.t0 + 20ms);
}

TEST_CASE("reload adds, removes and keeps jobs", "[scheduler]") {
  auto keep = Job("keep", Script{});
  keep.every = 1h;
  keep.schedule = schedules::Schedule::Every(1h);
  const auto kept_runs = keep.Settings<Script>()->runs;
  Harness h({keep, Job("gone", Script{})});
  const auto before = h.sched->Status();
  REQUIRE(before.size() == 2);
  h.Step(30min);
  auto next_config = std::make_shared<config::Config>();
  next_config->jobs = {keep, Job("added", Script{})};
  h.sched->Apply(next_config);
  const auto after = h.sched->Status();
  REQUIRE(after.size() == 2);
  CHECK(after[0].name == "keep");
  CHECK(after[0].next_slot == before[0].next_slot);
  CHECK(after[0].next_slot == h.t0 + 1h);
  CHECK(after[1].name == "added");
  std::string why;
  CHECK_FALSE(h.sched->RunNow("gone", &why));
  CHECK(h.sched->RunNow("added"));
  h.Settle();
  // The kept job keeps its slot across the reload: not before it, at it.
  h.StepTo(h.t0 + 1h - 1us);
  CHECK(*kept_runs == 0);
  h.Step(1us);
  CHECK(*kept_runs == 1);
  h.Step(1s);
  CHECK(h.Last("keep").scheduled_at == h.t0 + 1h);
  CHECK(h.Last("added").status == RunStatus::kOk);
}
