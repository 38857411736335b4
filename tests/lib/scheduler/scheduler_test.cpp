#include "scheduler/scheduler.h"

#include <spdlog/spdlog.h>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <random>

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

// A scheduler on a real loop, a real store in a temp folder, the real clock.
struct Harness {
  fs::path dir =
      fs::temp_directory_path() / ("jobsd-sched-" + std::to_string(std::random_device{}()));
  scheduler::JobCatalog catalog = Catalog();
  scheduler::SystemClock clock;
  http::Client http;
  boost::asio::io_context loop;
  std::unique_ptr<store::RunRecorder> recorder;
  std::unique_ptr<scheduler::Scheduler> sched;

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
    auto config = std::make_shared<config::Config>();
    config->jobs = std::move(jobs);
    sched = std::make_unique<scheduler::Scheduler>(loop, clock, catalog, *recorder, http, 4);
    sched->Start(config, {});
  }
  ~Harness() {
    bool stopped = false;
    sched->Stop(0s, [&] { stopped = true; });
    RunUntil([&] { return stopped; });
    sched.reset();
    recorder.reset();
    fs::remove_all(dir);
  }

  void RunUntil(const std::function<bool()>& done, core::Duration limit = 5s) {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (!done() && std::chrono::steady_clock::now() < end) {
      loop.restart();
      loop.run_for(5ms);
    }
  }
  void Idle() {
    RunUntil([&] { return sched->running() == 0; });
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

TEST_CASE("scheduler retries a failing run, then chains on success", "[scheduler]") {
  auto flaky = Job("flaky", Script{0s, 2});
  flaky.retries = config::RetryPolicy{3, 5ms, 20ms};
  auto next = Job("next", Script{});
  next.after = {"flaky"};
  Harness h({flaky, next});
  REQUIRE(h.sched->RunNow("flaky"));
  h.RunUntil([&] { return h.Runs().size() == 4; });
  h.Idle();
  CHECK(Summary(h.Runs()) ==
        "flaky:manual:failed:1 flaky:retry:failed:2 flaky:retry:ok:3 next:chain:ok:1 ");
}

TEST_CASE("scheduler gives up after the last retry and does not chain", "[scheduler]") {
  auto broken = Job("broken", Script{0s, 100});
  broken.retries = config::RetryPolicy{1, 1ms, 1ms};
  auto next = Job("next", Script{});
  next.after = {"broken"};
  Harness h({broken, next});
  REQUIRE(h.sched->RunNow("broken"));
  h.RunUntil([&] { return h.Runs().size() == 2; });
  h.RunUntil([] { return false; }, 100ms);
  CHECK(Summary(h.Runs()) == "broken:manual:failed:1 broken:retry:failed:2 ");
}

TEST_CASE("overlap skip records a skipped run; queue runs it afterwards", "[scheduler]") {
  auto skipper = Job("skipper", Script{200ms});
  auto queuer = Job("queuer", Script{200ms});
  queuer.overlap = config::Overlap::kQueue;
  auto allower = Job("allower", Script{200ms});
  allower.overlap = config::Overlap::kAllow;
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
  h.RunUntil([&] { return h.Runs().size() == 6; });
  h.Idle();
  const auto runs = h.Runs();
  auto count = [&](const std::string& job, RunStatus status) {
    return std::count_if(runs.begin(), runs.end(),
                         [&](const auto& r) { return r.job == job && r.status == status; });
  };
  CHECK(count("skipper", RunStatus::kOk) == 1);
  CHECK(count("skipper", RunStatus::kSkipped) == 1);
  CHECK(count("queuer", RunStatus::kOk) == 2);
  CHECK(count("allower", RunStatus::kOk) == 2);
  CHECK(std::string(h.sched->RunNow("nope", &why) ? "ran" : why) == "no job named 'nope'");
}

TEST_CASE("a run over its timeout is recorded as timeout and retried", "[scheduler]") {
  auto slow = Job("slow", Script{10s});
  slow.timeout = 50ms;
  slow.retries = config::RetryPolicy{1, 1ms, 1ms};
  Harness h({slow});
  REQUIRE(h.sched->RunNow("slow"));
  h.RunUntil([&] { return h.Runs().size() == 2 && h.sched->running() == 0; });
  const auto runs = h.Runs();
  REQUIRE(runs.size() == 2);
  CHECK(runs[0].status == RunStatus::kTimeout);
  CHECK_THAT(runs[0].error, Catch::Contains("timed out after 50ms"));
  CHECK(runs[1].trigger == Trigger::kRetry);
  CHECK(runs[1].status == RunStatus::kTimeout);
}

TEST_CASE("stop waits for the grace period, then cancels", "[scheduler]") {
  Harness h({Job("long", Script{10s}), Job("short", Script{20ms})});
  REQUIRE(h.sched->RunNow("long"));
  REQUIRE(h.sched->RunNow("short"));
  bool stopped = false;
  const auto start = std::chrono::steady_clock::now();
  h.sched->Stop(150ms, [&] { stopped = true; });
  CHECK_FALSE(h.sched->RunNow("short"));  // no new runs while stopping
  h.RunUntil([&] { return stopped; });
  REQUIRE(stopped);
  CHECK(std::chrono::steady_clock::now() - start >= 150ms);
  // Both started at once on different workers, in either order.
  auto runs = h.Runs();
  std::sort(runs.begin(), runs.end(), [](const auto& a, const auto& b) { return a.job < b.job; });
  CHECK(Summary(runs) == "long:manual:cancelled:1 short:manual:ok:1 ");
}

TEST_CASE("reload adds, removes and keeps jobs", "[scheduler]") {
  auto keep = Job("keep", Script{});
  keep.every = 1h;
  keep.schedule = schedules::Schedule::Every(1h);
  Harness h({keep, Job("gone", Script{})});
  const auto before = h.sched->Status();
  REQUIRE(before.size() == 2);
  auto next_config = std::make_shared<config::Config>();
  next_config->jobs = {keep, Job("added", Script{})};
  h.sched->Apply(next_config);
  const auto after = h.sched->Status();
  REQUIRE(after.size() == 2);
  CHECK(after[0].name == "keep");
  CHECK(after[0].next_slot == before[0].next_slot);
  CHECK(after[1].name == "added");
  std::string why;
  CHECK_FALSE(h.sched->RunNow("gone", &why));
  CHECK(h.sched->RunNow("added"));
  h.Idle();
}
