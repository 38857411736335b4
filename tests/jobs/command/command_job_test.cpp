#include "jobs/command/command_job.h"

#include <signal.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include "jobs/command/command_config.h"
#include "tests/support/job_run.h"

namespace {

using namespace std::chrono_literals;
using jobs::command::CommandSettings;

core::TimePoint Now() {
  return std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now());
}

struct Ran {
  support::JobRun result;
  std::string output;
  core::Duration took;
};

Ran RunCommand(CommandSettings settings, core::Duration timeout = 10s,
               scheduler::CancelToken* external = nullptr) {
  config::JobConfig job;
  job.name = "cmd";
  job.type = "command";
  job.settings = std::move(settings);
  scheduler::CancelToken own;
  scheduler::CancelToken& cancel = external ? *external : own;
  const auto start = Now();
  cancel.SetDeadline(start + timeout);
  static http::Client http;
  support::JobRun run = support::RunJob(jobs::command::Type(), job, cancel, http);
  std::string output = run.output;
  return Ran{std::move(run), std::move(output), Now() - start};
}

CommandSettings Shell(const std::string& script) {
  CommandSettings s;
  s.argv = {"/bin/sh", "-c", script};
  s.via_shell = true;
  s.kill_grace = 500ms;
  return s;
}

}  // namespace

TEST_CASE("command: exit 0 succeeds and keeps the output", "[command]") {
  CommandSettings s;
  s.argv = {"echo", "hello world"};
  const Ran ran = RunCommand(s);
  REQUIRE(ran.result);
  CHECK(ran.output == "hello world\n");
  CHECK(ran.result.Metric("exit_code") == 0);
}

TEST_CASE("command: a non-zero exit fails with the code and the last line", "[command]") {
  const Ran ran = RunCommand(Shell("echo working; echo 'disk quota exceeded' >&2; exit 3"));
  REQUIRE_FALSE(ran.result);
  CHECK(ran.result.error().message == "exited with code 3: disk quota exceeded");
}

TEST_CASE("command: a program that does not exist is named", "[command]") {
  CommandSettings s;
  s.argv = {"/nonexistent/tool", "--flag"};
  const Ran ran = RunCommand(s);
  REQUIRE_FALSE(ran.result);
  CHECK(ran.result.error().message == "cannot run '/nonexistent/tool': No such file or directory");
  CHECK_FALSE(ran.result.error().retryable);
}

TEST_CASE("command: env and cwd reach the program", "[command]") {
  CommandSettings s = Shell("echo \"$GREETING from $(pwd)\"");
  s.env["GREETING"] = "hi";
  s.cwd = std::filesystem::temp_directory_path();
  const Ran ran = RunCommand(s);
  REQUIRE(ran.result);
  CHECK(ran.output == "hi from " + std::filesystem::temp_directory_path().string() + "\n");

  s.cwd = "/nonexistent-folder";
  const Ran bad = RunCommand(s);
  REQUIRE_FALSE(bad.result);
  CHECK_THAT(bad.result.error().message,
             Catch::Contains("cannot change to folder /nonexistent-folder"));
}

TEST_CASE("command: the deadline kills the whole process group", "[command]") {
  // The shell ignores SIGTERM, so only SIGKILL after kill_grace ends it.
  const Ran ran = RunCommand(Shell("trap '' TERM; echo started; sleep 30 & wait; sleep 30"), 300ms);
  REQUIRE_FALSE(ran.result);
  CHECK_THAT(ran.result.error().message, Catch::Contains("killed by SIGKILL"));
  CHECK(ran.took >= 800ms);  // 300 ms timeout + 500 ms kill_grace
  CHECK(ran.took < 5s);
}

TEST_CASE("command: cancellation stops a run promptly", "[command]") {
  scheduler::CancelToken cancel;
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    cancel.Cancel(scheduler::CancelToken::Reason::kShutdown);
  });
  const Ran ran = RunCommand(Shell("sleep 30"), 60s, &cancel);
  canceller.join();
  REQUIRE_FALSE(ran.result);
  CHECK_THAT(ran.result.error().message, Catch::Contains("killed by SIGTERM"));
  CHECK(ran.took < 3s);
}

TEST_CASE("command: children left behind are ended with the run", "[command]") {
  const auto marker = std::filesystem::temp_directory_path() / "jobsd-leftover-test.pid";
  std::filesystem::remove(marker);
  const Ran ran =
      RunCommand(Shell("sleep 60 & echo $! > " + marker.string() + "; echo parent done"));
  REQUIRE(ran.result);
  CHECK(ran.took < 5s);
  std::ifstream in(marker);
  pid_t child = 0;
  in >> child;
  REQUIRE(child > 0);
  // Give the SIGTERM a moment to land, then the child must be gone.
  bool gone = false;
  for (int i = 0; i < 50 && !gone; ++i) {
    gone = ::kill(child, 0) != 0;
    if (!gone) std::this_thread::sleep_for(50ms);
  }
  CHECK(gone);
  std::filesystem::remove(marker);
}

TEST_CASE("command: a flood of output keeps only the tail", "[command]") {
  const Ran ran = RunCommand(Shell("head -c 20000000 /dev/zero | tr '\\0' 'x'; echo; echo end"));
  REQUIRE(ran.result);
  CHECK(ran.output.size() <= 64 * 1024);
  CHECK(ran.output.size() > 60 * 1024);
  CHECK(ran.output.substr(ran.output.size() - 4) == "end\n");
}
