#include "jobs/command/command_job.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>

#include "core/utf8.h"
#include "jobs/command/command_config.h"

extern char** environ;

namespace jobs::command {
namespace {

constexpr std::size_t kTailBytes = 64 * 1024;
constexpr std::size_t kLoggedBytesPerRun = 1024 * 1024;
constexpr std::size_t kMaxLoggedLine = 4096;
constexpr std::size_t kLogLineOverhead = 64;  // timestamp, level, job=, run=, stream
constexpr int kPollMillis = 100;
// How long output may keep coming after the program itself exited.
constexpr auto kDrainAfterExit = std::chrono::milliseconds(200);

core::Error Failure(std::string message, bool retryable = true) {
  return core::Error{core::ErrorKind::kInternal, std::move(message), retryable};
}

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

// One end of a pipe, closed when it goes out of scope.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    Reset();
    fd_ = std::exchange(other.fd_, -1);
    return *this;
  }
  ~Fd() { Reset(); }
  int get() const { return fd_; }
  void Reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

bool MakePipe(Fd& read_end, Fd& write_end) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return false;
  read_end = Fd(fds[0]);
  write_end = Fd(fds[1]);
  return true;
}

// Splits a stream into lines for the log and keeps the tail of it all.
class OutputCollector {
 public:
  OutputCollector(const scheduler::JobContext& ctx, std::string stream)
      : ctx_(ctx), stream_(std::move(stream)) {}

  void Add(const char* data, std::size_t size, std::string& tail, std::size_t& logged) {
    tail.append(data, size);
    // Trim in large steps so appending stays cheap.
    if (tail.size() > 2 * kTailBytes) {
      tail.erase(0, core::NextUtf8Boundary(tail, tail.size() - kTailBytes));
    }
    partial_.append(data, size);
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

  core::Result<scheduler::RunSummary> Run(scheduler::JobContext& ctx) override;

 private:
  // Everything the child needs, built before fork: after it only
  // async-signal-safe calls are allowed.
  struct Prepared {
    std::vector<std::string> argv_storage;
    std::vector<std::string> env_storage;
    std::vector<char*> argv;
    std::vector<char*> envp;
  };
  Prepared Prepare() const;

  const CommandSettings settings_;
};

CommandJob::Prepared CommandJob::Prepare() const {
  Prepared p;
  p.argv_storage = settings_.argv;
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    const std::string_view entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string_view::npos) env[std::string(entry.substr(0, eq))] = entry.substr(eq + 1);
  }
  for (const auto& [key, value] : settings_.env) env[key] = value;
  for (const auto& [key, value] : env) p.env_storage.push_back(key + "=" + value);
  for (auto& s : p.argv_storage) p.argv.push_back(s.data());
  p.argv.push_back(nullptr);
  for (auto& s : p.env_storage) p.envp.push_back(s.data());
  p.envp.push_back(nullptr);
  return p;
}

core::Result<scheduler::RunSummary> CommandJob::Run(scheduler::JobContext& ctx) {
  if (settings_.argv.empty()) return core::Unexpected(Failure("no command to run", false));
  Prepared prepared = Prepare();
  const std::string cwd = settings_.cwd ? settings_.cwd->string() : std::string();

  Fd out_read, out_write, err_read, err_write, exec_read, exec_write;
  if (!MakePipe(out_read, out_write) || !MakePipe(err_read, err_write) ||
      !MakePipe(exec_read, exec_write)) {
    return core::Unexpected(Failure(std::string("cannot create pipes: ") + std::strerror(errno)));
  }

  const pid_t pid = ::fork();
  if (pid < 0) {
    return core::Unexpected(Failure(std::string("cannot fork: ") + std::strerror(errno)));
  }
  if (pid == 0) {
    // Child: a process group of its own so the whole tree can be signalled,
    // default signal handling (ignored signals would survive exec), and
    // stdin from /dev/null so nothing waits on the daemon's terminal.
    ::setpgid(0, 0);
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    ::signal(SIGXFSZ, SIG_DFL);
    const int devnull = ::open("/dev/null", O_RDONLY);
    if (devnull >= 0) ::dup2(devnull, 0);
    ::dup2(out_write.get(), 1);
    ::dup2(err_write.get(), 2);
    int error = 0;
    if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) {
      error = errno;
    } else {
      ::execvpe(prepared.argv[0], prepared.argv.data(), prepared.envp.data());
      error = errno;
    }
    const char tag = cwd.empty() || error == 0 ? 'e' : 'c';
    [[maybe_unused]] auto w1 = ::write(exec_write.get(), &tag, 1);
    [[maybe_unused]] auto w2 = ::write(exec_write.get(), &error, sizeof error);
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // also here, so signals reach the group whoever runs first
  out_write.Reset();
  err_write.Reset();
  exec_write.Reset();

  // exec either succeeded (the pipe closes with nothing in it) or tells why not.
  char tag = 0;
  int exec_error = 0;
  if (::read(exec_read.get(), &tag, 1) == 1 &&
      ::read(exec_read.get(), &exec_error, sizeof exec_error) == sizeof exec_error) {
    ::waitpid(pid, nullptr, 0);
    if (tag == 'c') {
      return core::Unexpected(
          Failure("cannot change to folder " + cwd + ": " + std::strerror(exec_error), false));
    }
    return core::Unexpected(
        Failure("cannot run '" + settings_.argv[0] + "': " + std::strerror(exec_error), false));
  }

  OutputCollector out(ctx, "stdout");
  OutputCollector err(ctx, "stderr");
  std::string tail;
  std::size_t logged = 0;
  std::vector<char> buffer(64 * 1024);

  int status = 0;
  bool exited = false;
  std::optional<std::chrono::steady_clock::time_point> exited_at;
  std::optional<std::chrono::steady_clock::time_point> term_sent_at;
  bool kill_sent = false;
  bool leftovers_ended = false;

  auto signal_group = [&](int sig) { ::kill(-pid, sig); };
  // Readable when the program exits, so its end is seen at once rather than
  // at the next poll timeout. Absent on kernels before 5.3: polling then.
  Fd exit_fd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));

  while (true) {
    pollfd fds[3];
    nfds_t count = 0;
    if (out_read.get() >= 0) fds[count++] = {out_read.get(), POLLIN, 0};
    if (err_read.get() >= 0) fds[count++] = {err_read.get(), POLLIN, 0};
    const nfds_t pipes = count;
    if (!exited && exit_fd.get() >= 0) fds[count++] = {exit_fd.get(), POLLIN, 0};
    if (count > 0) {
      ::poll(fds, count, kPollMillis);
    } else {
      ::poll(nullptr, 0, 10);  // no pidfd, pipes closed: wait for the exit a little
    }
    for (nfds_t i = 0; i < pipes; ++i) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      const bool is_out = fds[i].fd == out_read.get();
      const ssize_t n = ::read(fds[i].fd, buffer.data(), buffer.size());
      if (n > 0) {
        (is_out ? out : err).Add(buffer.data(), static_cast<std::size_t>(n), tail, logged);
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        (is_out ? out_read : err_read).Reset();
      }
    }

    if (!exited) {
      const pid_t done = ::waitpid(pid, &status, WNOHANG);
      if (done == pid) {
        exited = true;
        exited_at = std::chrono::steady_clock::now();
      }
    }
    const auto now = std::chrono::steady_clock::now();
    const bool pipes_closed = out_read.get() < 0 && err_read.get() < 0;
    if (exited && (pipes_closed || now - *exited_at > kDrainAfterExit)) {
      if (!pipes_closed && !leftovers_ended) {
        // Processes the program left behind still hold its output open.
        ctx.Warn("the program exited but left processes behind; ending them");
        leftovers_ended = true;
        signal_group(SIGTERM);
        term_sent_at = now;
      }
      if (pipes_closed) break;
    }
    if (!exited && ctx.cancel().Cancelled() && !term_sent_at) {
      signal_group(SIGTERM);
      term_sent_at = now;
    }
    if (term_sent_at && !kill_sent && now - *term_sent_at > settings_.kill_grace) {
      signal_group(SIGKILL);
      kill_sent = true;
    }
    if (kill_sent && exited && now - *term_sent_at > settings_.kill_grace + kDrainAfterExit) {
      break;  // output held open by something SIGKILL could not reach
    }
  }
  // Processes the program left in its group without holding its output
  // (daemonized with their streams redirected) end with the run too.
  if (!kill_sent && ::kill(-pid, 0) == 0) {
    ctx.Warn("the program exited but left processes behind; ending them");
    signal_group(SIGTERM);
    const auto grace_end = std::chrono::steady_clock::now() + settings_.kill_grace;
    while (::kill(-pid, 0) == 0 && std::chrono::steady_clock::now() < grace_end) {
      ::poll(nullptr, 0, 10);
    }
    if (::kill(-pid, 0) == 0) signal_group(SIGKILL);
  }
  out.Flush(logged);
  err.Flush(logged);
  if (tail.size() > kTailBytes)
    tail.erase(0, core::NextUtf8Boundary(tail, tail.size() - kTailBytes));

  std::string last_line;
  {
    std::string_view t(tail);
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.remove_suffix(1);
    const auto nl = t.rfind('\n');
    last_line = std::string(nl == std::string_view::npos ? t : t.substr(nl + 1));
    last_line = core::CutUtf8(std::move(last_line), 300);
  }
  ctx.set_output(std::move(tail));

  scheduler::RunSummary summary;
  if (WIFEXITED(status)) {
    const int code = WEXITSTATUS(status);
    summary.metrics["exit_code"] = code;
    if (code == 0) return summary;
    return core::Unexpected(Failure("exited with code " + std::to_string(code) +
                                    (last_line.empty() ? "" : ": " + last_line)));
  }
  const int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  return core::Unexpected(
      Failure("killed by " + SignalName(sig) + (last_line.empty() ? "" : ": " + last_line)));
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
