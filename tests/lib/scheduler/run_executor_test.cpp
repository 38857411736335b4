#include "scheduler/run_executor.h"

#include <spdlog/spdlog.h>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>

#include "tests/lib/scheduler/manual_clock.h"

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using store::RunStatus;

// What the test job does in its run, given its context.
using Script = std::function<core::Result<void>(scheduler::JobContext&)>;

class ScriptJob final : public scheduler::Job {
 public:
  explicit ScriptJob(Script script) : script_(std::move(script)) {}
  core::Result<void> Run(scheduler::JobContext& ctx) override { return script_(ctx); }

 private:
  Script script_;
};

struct Harness {
  fs::path dir =
      fs::temp_directory_path() / ("jobsd-exec-" + std::to_string(std::random_device{}()));
  scheduler::JobCatalog catalog;
  scheduler::testing::ManualClock clock;  // stands still: the run's times are the test's
  http::Client http;
  std::unique_ptr<store::RunRecorder> recorder;
  config::Config config;

  Harness() {
    spdlog::default_logger_raw();
    config.state.path = dir / "state.db";
    auto s = store::RunStore::Open(config.state.path, store::Database::Mode::kReadWrite);
    REQUIRE(s);
    auto r = store::RunRecorder::Start(
        std::move(*s), 100, [](const core::Error& e) { FAIL("store error: " << e.message); }, 10);
    REQUIRE(r);
    recorder = std::move(*r);
    catalog.Add(scheduler::JobType{config::JobTypeSpec{"script", nullptr},
                                   [](const config::JobConfig& job) {
                                     return std::make_unique<ScriptJob>(*job.Settings<Script>());
                                   }});
  }
  ~Harness() {
    recorder.reset();
    fs::remove_all(dir);
  }

  scheduler::RunOutcome Run(Script script, const std::string& type = "script") {
    config::JobConfig job;
    job.name = "sync";
    job.type = type;
    job.settings = std::move(script);
    job.timeout = 10s;
    scheduler::RunExecutor executor(catalog, *recorder, clock, http);
    scheduler::CancelToken cancel(clock);
    const std::int64_t id = recorder->NewRunId();
    return executor.Execute(config, job, scheduler::Firing{"sync", store::Trigger::kManual, {}, 1},
                            id, cancel);
  }

  store::RunRecord Record(std::int64_t id) {
    recorder->Flush();
    auto s = store::RunStore::Open(config.state.path, store::Database::Mode::kReadOnly);
    REQUIRE(s);
    auto run = s->FindRun(id);
    REQUIRE(run);
    REQUIRE(*run);
    return **run;
  }
};

}  // namespace

TEST_CASE("RunExecutor: a failed run keeps what it reported, and says whether it may pass",
          "[executor]") {
  Harness h;
  const auto outcome = h.Run([](scheduler::JobContext& ctx) -> core::Result<void> {
    ctx.metrics().AddRecords("inserted", 40000);
    ctx.set_output("40000 rows, then the upstream went away\n");
    return core::Unexpected(core::Error{core::ErrorKind::kUpstream, "HTTP 503", true});
  });
  CHECK(outcome.status == RunStatus::kFailed);
  CHECK(outcome.retryable);
  CHECK(outcome.metrics.Value("inserted") == 40000);
  CHECK(outcome.started_at == h.clock.Now());
  const store::RunRecord record = h.Record(outcome.id);
  CHECK(record.status == RunStatus::kFailed);
  CHECK(record.error == "HTTP 503");
  CHECK(record.metrics_json == R"({"inserted":40000})");
  CHECK(record.output == "40000 rows, then the upstream went away\n");

  const auto rejected = h.Run([](scheduler::JobContext&) -> core::Result<void> {
    return core::Unexpected(core::Error{core::ErrorKind::kUpstream, "HTTP 401", false});
  });
  CHECK(rejected.status == RunStatus::kFailed);
  CHECK_FALSE(rejected.retryable);
}

TEST_CASE("RunExecutor: exceptions and unknown types become failed runs", "[executor]") {
  Harness h;
  const auto thrown = h.Run([](scheduler::JobContext& ctx) -> core::Result<void> {
    ctx.metrics().Add("pages", 2);
    throw std::runtime_error("out of file descriptors");
  });
  CHECK(thrown.status == RunStatus::kFailed);
  CHECK(thrown.error == "internal error: out of file descriptors");
  CHECK(thrown.retryable);
  CHECK(thrown.metrics.Value("pages") == 2);

  const auto unknown = h.Run({}, "no-such-type");
  CHECK(unknown.status == RunStatus::kFailed);
  CHECK(unknown.error == "no job type 'no-such-type' in this jobsd");
  CHECK_FALSE(unknown.retryable);
}

TEST_CASE("JobContext: the job's key/value state is committed when PutState returns",
          "[executor]") {
  Harness h;
  const auto first = h.Run([](scheduler::JobContext& ctx) -> core::Result<void> {
    auto before = ctx.GetState("last_artifact");
    REQUIRE(before);
    CHECK_FALSE(*before);
    REQUIRE(ctx.PutState("last_artifact", "feast-1234"));
    // Another connection sees it at once: it is committed, not queued.
    auto other =
        store::RunStore::Open(ctx.state_folder() / "state.db", store::Database::Mode::kReadOnly);
    REQUIRE(other);
    auto seen = other->GetState("sync", "last_artifact");
    REQUIRE(seen);
    CHECK(*seen == std::optional<std::string>("feast-1234"));
    return {};
  });
  REQUIRE(first.status == RunStatus::kOk);
  const auto second = h.Run([](scheduler::JobContext& ctx) -> core::Result<void> {
    auto value = ctx.GetState("last_artifact");
    REQUIRE(value);
    CHECK(*value == std::optional<std::string>("feast-1234"));
    return {};
  });
  CHECK(second.status == RunStatus::kOk);

  // Without a state store (a job's unit test), the calls fail and say why.
  config::JobConfig job;
  job.name = "bare";
  scheduler::CancelToken cancel(h.clock);
  const scheduler::JobServices services{h.clock, h.http};
  scheduler::JobContext ctx(services, job, 1, 1, store::Trigger::kManual, cancel);
  auto missing = ctx.GetState("k");
  REQUIRE_FALSE(missing);
  CHECK_THAT(missing.error().message, Catch::Contains("no state store"));
  CHECK_FALSE(ctx.PutState("k", "v"));
}

TEST_CASE("JobContext: the scratch folder is the run's own and goes when the run ends",
          "[executor]") {
  Harness h;
  fs::path scratch;
  const auto outcome = h.Run([&](scheduler::JobContext& ctx) -> core::Result<void> {
    auto folder = ctx.ScratchFolder();
    REQUIRE(folder);
    CHECK(*ctx.ScratchFolder() == *folder);  // the same folder for the whole run
    scratch = *folder;
    CHECK(scratch.parent_path() == h.dir / "scratch");
    fs::create_directories(scratch / "unpacked");
    std::ofstream(scratch / "unpacked" / "part.bin") << "data";
    return core::Unexpected(core::Error{core::ErrorKind::kIo, "disk full", true});
  });
  CHECK(outcome.status == RunStatus::kFailed);
  CHECK_FALSE(fs::exists(scratch));

  // What a crash leaves behind is cleared at the next start.
  fs::create_directories(h.dir / "scratch" / "sync-7" / "half");
  scheduler::RemoveScratchLeftovers(h.dir);
  CHECK_FALSE(fs::exists(h.dir / "scratch"));
  scheduler::RemoveScratchLeftovers(h.dir);  // nothing there: nothing to do

  // A scratch folder that cannot be made is an error naming it.
  std::ofstream(h.dir / "scratch") << "a file where the folder should be";
  const auto blocked = h.Run([](scheduler::JobContext& ctx) -> core::Result<void> {
    auto folder = ctx.ScratchFolder();
    REQUIRE_FALSE(folder);
    CHECK_THAT(folder.error().message, Catch::Contains("cannot make the scratch folder"));
    return core::Unexpected(folder.error());
  });
  CHECK(blocked.status == RunStatus::kFailed);
}

TEST_CASE("JobContext: a cancelled run's error says why", "[executor]") {
  Harness h;
  config::JobConfig job;
  job.name = "sync";
  const scheduler::JobServices services{h.clock, h.http};
  scheduler::CancelToken timed_out;
  timed_out.SetDeadline(core::TimePoint(std::chrono::seconds(1)));
  scheduler::JobContext late(services, job, 1, 1, store::Trigger::kManual, timed_out);
  CHECK(late.CancelledError("page 3").message == "timed out during page 3");
  CHECK(late.CallOptions().cancelled());
  CHECK(late.CallOptions().deadline == timed_out.deadline());

  scheduler::CancelToken stopped;
  stopped.Cancel(scheduler::CancelToken::Reason::kShutdown);
  scheduler::JobContext ctx(services, job, 2, 1, store::Trigger::kManual, stopped);
  const core::Error error = ctx.CancelledError();
  CHECK(error.message == "cancelled");
  CHECK(error.kind == core::ErrorKind::kCancelled);
  CHECK_FALSE(error.retryable);
}
