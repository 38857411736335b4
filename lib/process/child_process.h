// Runs a program to its end as a child in a process group of its own: argv
// (PATH searched) or a /bin/sh -c script, an environment, a working folder,
// a deadline and a cancellation check.
//
// What a run guarantees:
//   - stdin is /dev/null; signals are at their defaults and unblocked in the
//     child (ignored ones would survive exec).
//   - stdout and stderr are read as they come: into one tail of the last
//     `tail_bytes` (memory stays flat however much is printed) and, when
//     given, to `on_output`. stdout can instead go to a file (the child
//     writes it directly) or to `on_stdout` (a pipe into a compressor, a
//     checksum); then only stderr reaches the tail.
//   - At the deadline, on cancellation, or when `on_stdout` fails, the whole
//     group gets SIGTERM, then SIGKILL after `kill_grace`. When the program
//     exits, processes it left in its group (holding its output or not) are
//     ended the same way: a run never leaks children that outlive it.
//
// Failure: a program that ran and ended, however it ended (an exit code, a
// signal, killed at the deadline), is an Outcome. An Error means it could not
// be run or its output not be taken: no pipe or fork (kInternal, retryable),
// a folder or program that is not there (kInvalidArgument, not retryable),
// the stdout file not writable (kIo), or `on_stdout`'s own error.
//
// Blocking: worker pool only; Run() returns when the program and every
// process of its group are gone (or SIGKILLed). Any thread may run children
// at the same time. Nothing is shared between runs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/time.h"

namespace process {

enum class Stream { kStdout, kStderr };

struct Command {
  // The program and its arguments; argv[0] is looked up in PATH. With
  // `shell`, argv[0] is a script run by /bin/sh -c and the rest its $0, $1...
  std::vector<std::string> argv;
  bool shell = false;
  // Set on top of the daemon's own environment (or of nothing, with
  // `clear_environment`).
  std::map<std::string, std::string> env;
  bool clear_environment = false;
  std::optional<std::filesystem::path> cwd;  // must exist

  // When the group is killed: past `deadline`, or once `cancelled` returns
  // true (polled about every 100 ms).
  core::TimePoint deadline = core::TimePoint::max();
  std::function<bool()> cancelled;
  // SIGTERM to SIGKILL.
  std::chrono::milliseconds kill_grace{5000};

  // The tail keeps the last this many bytes of stdout and stderr together.
  std::size_t tail_bytes = 64 * 1024;
  // Every chunk of output as it arrives, stdout (unless redirected below)
  // and stderr; on the calling thread.
  std::function<void(Stream, std::string_view)> on_output;

  // Where stdout goes instead of the tail, at most one of these. A file is
  // created or truncated, written by the child itself. `on_stdout` receives
  // every chunk; an error from it ends the group and becomes Run()'s error.
  std::optional<std::filesystem::path> stdout_file;
  std::function<core::Result<void>(std::string_view)> on_stdout;
};

struct Outcome {
  std::optional<int> exit_code;  // set when the program exited
  std::optional<int> signal;     // set when a signal ended it
  // Why the group was signalled, if it was.
  bool timed_out = false;
  bool cancelled = false;
  // The program exited but processes of its group were still there and
  // were ended.
  bool ended_leftovers = false;
  std::string tail;                // the last `tail_bytes` of its output
  std::uint64_t stdout_bytes = 0;  // read from the pipe (not counted for stdout_file)
  std::chrono::steady_clock::duration took{};

  bool Succeeded() const { return exit_code == 0; }
  // The last non-empty line of the tail, cut to 300 characters ("..."
  // appended): what a failure message quotes.
  std::string LastLine() const;
};

core::Result<Outcome> Run(const Command& command);

// "SIGTERM", "SIGKILL", or "signal 77" for one without a name.
std::string SignalName(int sig);

}  // namespace process
