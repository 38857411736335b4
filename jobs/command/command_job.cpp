#include "jobs/command/command_job.h"

#include <chrono>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

#include "jobs/command/command_config.h"
#include "process/child_process.h"

namespace jobs::command {
namespace {

constexpr std::size_t kTailBytes = 64 * 1024;
constexpr std::size_t kLoggedBytesPerRun = 1024 * 1024;
constexpr std::size_t kMaxLoggedLine = 4096;
constexpr std::size_t kLogLineOverhead = 64;  // timestamp, level, job=, run=, stream

core::Error Failure(std::string message, bool retryable = true) {
  return core::Error{core::ErrorKind::kInternal, std::move(message), retryable};
}

// Splits a stream into lines for the log.
class OutputCollector {
 public:
  OutputCollector(const scheduler::JobContext& ctx, std::string stream)
      : ctx_(ctx), stream_(std::move(stream)) {}

  void Add(std::string_view data, std::size_t& logged) {
    partial_.append(data);
    std::size_t start = 0;
    for (std::size_t nl; (nl = partial_.find('\n', start)) != std::string::npos; start = nl + 1) {
      LogLine(std::string_view(partial_).substr(start, nl - start), logged);
    }
    partial_.erase(0, start);
    if (partial_.size() > kMaxLoggedLine) {
      LogLine(partial_, logged);
      partial_.clear();
    }
  }

  void Flush(std::size_t& logged) {
    if (!partial_.empty()) LogLine(partial_, logged);
    partial_.clear();
  }

 private:
  void LogLine(std::string_view line, std::size_t& logged) {
    if (logged > kLoggedBytesPerRun) return;
    // Count what the log line costs, prefix included, so a flood of short
    // lines hits the cap as soon as a flood of long ones.
    logged += line.size() + kLogLineOverhead;
    if (logged > kLoggedBytesPerRun) {
      ctx_.Info(stream_ +
                ": (more than 1 MiB of output; the rest is not logged, its tail is "
                "kept in the run record)");
      return;
    }
    if (line.size() > kMaxLoggedLine) line = line.substr(0, kMaxLoggedLine);
    ctx_.Info(stream_ + ": " + std::string(line));
  }

  const scheduler::JobContext& ctx_;
  const std::string stream_;
  std::string partial_;
};

class CommandJob final : public scheduler::Job {
 public:
  explicit CommandJob(CommandSettings settings) : settings_(std::move(settings)) {}

  core::Result<void> Run(scheduler::JobContext& ctx) override;

 private:
  const CommandSettings settings_;
};

core::Result<void> CommandJob::Run(scheduler::JobContext& ctx) {
  if (settings_.argv.empty()) return core::Unexpected(Failure("no command to run", false));
  OutputCollector out(ctx, "stdout");
  OutputCollector err(ctx, "stderr");
  std::size_t logged = 0;

  process::Command command;
  command.argv = settings_.argv;  // `shell:` is already /bin/sh -c <script>
  command.env = settings_.env;
  command.cwd = settings_.cwd;
  command.cancelled = [&ctx] { return ctx.cancel().Cancelled(); };
  command.kill_grace = std::chrono::duration_cast<std::chrono::milliseconds>(settings_.kill_grace);
  command.tail_bytes = kTailBytes;
  command.on_output = [&](process::Stream stream, std::string_view chunk) {
    (stream == process::Stream::kStdout ? out : err).Add(chunk, logged);
  };
  auto ran = process::Run(command);
  if (!ran) return core::Unexpected(ran.error());
  if (ran->ended_leftovers) ctx.Warn("the program exited but left processes behind; ending them");
  out.Flush(logged);
  err.Flush(logged);

  const std::string last_line = ran->LastLine();
  ctx.set_output(std::move(ran->tail));

  if (ran->exit_code) {
    const int code = *ran->exit_code;
    ctx.metrics().Set("exit_code", code);
    if (code == 0) return {};
    return core::Unexpected(Failure("exited with code " + std::to_string(code) +
                                    (last_line.empty() ? "" : ": " + last_line)));
  }
  return core::Unexpected(Failure("killed by " + process::SignalName(ran->signal.value_or(0)) +
                                  (last_line.empty() ? "" : ": " + last_line)));
}

}  // namespace

scheduler::JobType Type() {
  return scheduler::JobType{
      CommandJobType(), [](const config::JobConfig& job) {
        const auto* settings = job.Settings<CommandSettings>();
        return std::make_unique<CommandJob>(settings ? *settings : CommandSettings{});
      }};
}

}  // namespace jobs::command
