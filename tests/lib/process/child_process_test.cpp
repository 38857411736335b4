#include "process/child_process.h"

#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

namespace {

using namespace std::chrono_literals;

process::Command Shell(const std::string& script) {
  process::Command c;
  c.argv = {script};
  c.shell = true;
  c.kill_grace = 300ms;
  return c;
}

core::TimePoint In(core::Duration d) {
  return std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now()) + d;
}

bool GoneSoon(pid_t pid) {
  for (int i = 0; i < 100; ++i) {
    if (::kill(pid, 0) != 0) return true;
    std::this_thread::sleep_for(20ms);
  }
  return false;
}

struct TempFolder {
  std::filesystem::path path;
  TempFolder() {
    char name[] = "/tmp/jobsd-process-XXXXXX";
    path = ::mkdtemp(name);
  }
  ~TempFolder() { std::filesystem::remove_all(path); }
};

}  // namespace

TEST_CASE("process: exit codes and output are reported", "[process]") {
  struct Case {
    const char* script;
    int code;
    const char* tail;
    const char* last_line;
  };
  const Case cases[] = {
      {"true", 0, "", ""},
      {"echo hi", 0, "hi\n", "hi"},
      {"echo out; echo err >&2; exit 3", 3, "out\nerr\n", "err"},
      {"printf 'a\\nlast\\n\\n'; exit 255", 255, "a\nlast\n\n", "last"},
  };
  for (const Case& c : cases) {
    INFO(c.script);
    auto ran = process::Run(Shell(c.script));
    REQUIRE(ran);
    CHECK(ran->exit_code == c.code);
    CHECK_FALSE(ran->signal);
    CHECK(ran->Succeeded() == (c.code == 0));
    CHECK(ran->tail == c.tail);
    CHECK(ran->LastLine() == c.last_line);
    CHECK_FALSE(ran->timed_out);
    CHECK_FALSE(ran->cancelled);
  }
}

TEST_CASE("process: argv, env, cwd and a shell's positional arguments", "[process]") {
  TempFolder dir;
  process::Command c;
  c.argv = {"sh", "-c", "echo \"$1 $GREETING $(pwd)\"", "zero", "one"};
  c.env["GREETING"] = "hi";
  c.cwd = dir.path;
  auto ran = process::Run(c);
  REQUIRE(ran);
  CHECK(ran->tail == "one hi " + dir.path.string() + "\n");

  process::Command s = Shell("echo \"$0 $1\"; echo ${HOME:-nohome}");
  s.argv.push_back("first");
  s.argv.push_back("second");
  s.clear_environment = true;
  ran = process::Run(s);
  REQUIRE(ran);
  CHECK(ran->tail == "first second\nnohome\n");
}

TEST_CASE("process: what cannot be run is an error", "[process]") {
  process::Command c;
  c.argv = {"/nonexistent/tool"};
  auto ran = process::Run(c);
  REQUIRE_FALSE(ran);
  CHECK(ran.error().message == "cannot run '/nonexistent/tool': No such file or directory");
  CHECK_FALSE(ran.error().retryable);

  c.argv = {"true"};
  c.cwd = "/nonexistent-folder";
  ran = process::Run(c);
  REQUIRE_FALSE(ran);
  CHECK(ran.error().message ==
        "cannot change to folder /nonexistent-folder: No such file or directory");

  CHECK_FALSE(process::Run(process::Command{}));
}

TEST_CASE("process: a signal that ends the program is reported", "[process]") {
  auto ran = process::Run(Shell("echo bye; kill -USR1 $$"));
  REQUIRE(ran);
  CHECK_FALSE(ran->exit_code);
  CHECK(ran->signal == SIGUSR1);
  CHECK(process::SignalName(*ran->signal) == "SIGUSR1");
  CHECK(ran->LastLine() == "bye");
  CHECK(process::SignalName(SIGKILL) == "SIGKILL");
}

TEST_CASE("process: the deadline escalates to SIGKILL and reaches the whole group", "[process]") {
  TempFolder dir;
  const auto marker = dir.path / "grandchild.pid";
  // The shell ignores SIGTERM; its grandchild `sleep` would outlive it.
  process::Command c = Shell("trap '' TERM; sleep 30 & echo $! > " + marker.string() +
                             "; echo started; wait; sleep 30");
  c.deadline = In(300ms);
  c.kill_grace = 400ms;
  const auto start = std::chrono::steady_clock::now();
  auto ran = process::Run(c);
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE(ran);
  CHECK(ran->timed_out);
  CHECK(ran->signal == SIGKILL);
  CHECK(ran->tail == "started\n");
  CHECK(took >= 700ms);  // 300 ms deadline + 400 ms grace
  CHECK(took < 5s);
  pid_t grandchild = 0;
  std::ifstream(marker) >> grandchild;
  REQUIRE(grandchild > 0);
  CHECK(GoneSoon(grandchild));
}

TEST_CASE("process: a program that honours SIGTERM ends without SIGKILL", "[process]") {
  std::atomic<bool> stop{false};
  process::Command c = Shell("sleep 30");
  c.kill_grace = 10s;
  c.cancelled = [&] { return stop.load(); };
  std::thread canceller([&] {
    std::this_thread::sleep_for(200ms);
    stop = true;
  });
  auto ran = process::Run(c);
  canceller.join();
  REQUIRE(ran);
  CHECK(ran->cancelled);
  CHECK(ran->signal == SIGTERM);
  CHECK(ran->took < 3s);
}

TEST_CASE("process: children left behind are ended with the run", "[process]") {
  TempFolder dir;
  const auto marker = dir.path / "child.pid";
  // One holds the output open, one has it redirected away.
  auto ran = process::Run(Shell("sleep 60 & echo $! > " + marker.string() +
                                "; sleep 60 >/dev/null 2>&1 & echo parent done"));
  REQUIRE(ran);
  CHECK(ran->exit_code == 0);
  CHECK(ran->ended_leftovers);
  CHECK(ran->took < 3s);
  pid_t child = 0;
  std::ifstream(marker) >> child;
  REQUIRE(child > 0);
  CHECK(GoneSoon(child));
}

TEST_CASE("process: the tail is bounded however much is printed", "[process]") {
  std::size_t seen = 0;
  process::Command c = Shell("head -c 5000000 /dev/zero | tr '\\0' 'x'; echo; echo end >&2");
  c.tail_bytes = 1000;
  c.on_output = [&](process::Stream, std::string_view chunk) { seen += chunk.size(); };
  auto ran = process::Run(c);
  REQUIRE(ran);
  CHECK(ran->tail.size() == 1000);
  CHECK(ran->tail.substr(ran->tail.size() - 4) == "end\n");
  CHECK(seen == 5'000'005);
  CHECK(ran->stdout_bytes == 5'000'001);
}

TEST_CASE("process: a large stdout streams to a file or a callback", "[process]") {
  TempFolder dir;
  const auto file = dir.path / "out.bin";
  const std::string script = "head -c 52428800 /dev/zero; echo done >&2";

  process::Command to_file = Shell(script);
  to_file.stdout_file = file;
  auto ran = process::Run(to_file);
  REQUIRE(ran);
  CHECK(ran->exit_code == 0);
  CHECK(std::filesystem::file_size(file) == 52428800);
  CHECK(ran->tail == "done\n");  // stderr only

  std::uint64_t received = 0;
  bool all_zero = true;
  process::Command to_callback = Shell(script);
  to_callback.on_stdout = [&](std::string_view chunk) -> core::Result<void> {
    received += chunk.size();
    all_zero = all_zero && chunk.find_first_not_of('\0') == std::string_view::npos;
    return {};
  };
  ran = process::Run(to_callback);
  REQUIRE(ran);
  CHECK(received == 52428800);
  CHECK(ran->stdout_bytes == 52428800);
  CHECK(all_zero);
  CHECK(ran->tail == "done\n");

  process::Command unwritable = Shell("true");
  unwritable.stdout_file = dir.path / "no-such-folder" / "out";
  CHECK_FALSE(process::Run(unwritable));
}

TEST_CASE("process: an error from the stdout callback ends the group", "[process]") {
  process::Command c = Shell("yes");
  c.on_stdout = [](std::string_view) -> core::Result<void> {
    return core::Unexpected(core::Error{core::ErrorKind::kIo, "disk full", false});
  };
  const auto start = std::chrono::steady_clock::now();
  auto ran = process::Run(c);
  REQUIRE_FALSE(ran);
  CHECK(ran.error().message == "disk full");
  CHECK(std::chrono::steady_clock::now() - start < 3s);
}
