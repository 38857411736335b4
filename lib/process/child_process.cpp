// Design note: one loop polls the output pipes and a pidfd (readable when
// the program exits, so its end is seen at once rather than at the next poll
// timeout; absent before Linux 5.3, then the loop polls). Everything the
// child needs is built before fork: after it only async-signal-safe calls
// are allowed. A third pipe, closed on exec, tells the parent whether exec
// (or chdir) failed and why.
#include "process/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "core/utf8.h"

extern char** environ;

namespace process {
namespace {

using Steady = std::chrono::steady_clock;

constexpr int kPollMillis = 100;
// How long output may keep coming after the program itself exited.
constexpr auto kDrainAfterExit = std::chrono::milliseconds(200);

core::Error Failure(core::ErrorKind kind, std::string message, bool retryable) {
  return core::Error{kind, std::move(message), retryable};
}

// One file descriptor, closed when it goes out of scope.
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

// argv and envp as exec wants them, owning their strings.
struct Prepared {
  std::vector<std::string> argv_storage;
  std::vector<std::string> env_storage;
  std::vector<char*> argv;
  std::vector<char*> envp;
};

Prepared Prepare(const Command& command) {
  Prepared p;
  if (command.shell) {
    p.argv_storage = {"/bin/sh", "-c"};
    p.argv_storage.insert(p.argv_storage.end(), command.argv.begin(), command.argv.end());
  } else {
    p.argv_storage = command.argv;
  }
  std::map<std::string, std::string> env;
  for (char** e = command.clear_environment ? nullptr : environ; e && *e; ++e) {
    const std::string_view entry(*e);
    const auto eq = entry.find('=');
    if (eq != std::string_view::npos) env[std::string(entry.substr(0, eq))] = entry.substr(eq + 1);
  }
  for (const auto& [key, value] : command.env) env[key] = value;
  for (const auto& [key, value] : env) p.env_storage.push_back(key + "=" + value);
  for (auto& s : p.argv_storage) p.argv.push_back(s.data());
  p.argv.push_back(nullptr);
  for (auto& s : p.env_storage) p.envp.push_back(s.data());
  p.envp.push_back(nullptr);
  return p;
}

// Appends to the tail, trimming in large steps so appending stays cheap.
void AddToTail(std::string& tail, std::size_t bound, std::string_view data) {
  tail.append(data);
  if (tail.size() > 2 * bound) tail.erase(0, core::NextUtf8Boundary(tail, tail.size() - bound));
}

bool GroupAlive(pid_t pid) { return ::kill(-pid, 0) == 0; }

}  // namespace

std::string SignalName(int sig) {
  const char* abbrev = sigabbrev_np(sig);
  return abbrev ? std::string("SIG") + abbrev : "signal " + std::to_string(sig);
}

std::string Outcome::LastLine() const {
  std::string_view t(tail);
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.remove_suffix(1);
  const auto nl = t.rfind('\n');
  return core::CutUtf8(std::string(nl == std::string_view::npos ? t : t.substr(nl + 1)), 300);
}

core::Result<Outcome> Run(const Command& command) {
  if (command.argv.empty()) {
    return core::Unexpected(Failure(core::ErrorKind::kInvalidArgument, "no command to run", false));
  }
  const auto started = Steady::now();
  Prepared prepared = Prepare(command);
  const std::string cwd = command.cwd ? command.cwd->string() : std::string();
  const bool stdout_piped = !command.stdout_file;

  Fd out_read, out_write, err_read, err_write, exec_read, exec_write;
  if ((stdout_piped && !MakePipe(out_read, out_write)) || !MakePipe(err_read, err_write) ||
      !MakePipe(exec_read, exec_write)) {
    return core::Unexpected(Failure(core::ErrorKind::kInternal,
                                    std::string("cannot create pipes: ") + std::strerror(errno),
                                    true));
  }
  if (command.stdout_file) {
    out_write =
        Fd(::open(command.stdout_file->c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (out_write.get() < 0) {
      return core::Unexpected(Failure(
          core::ErrorKind::kIo,
          "cannot write " + command.stdout_file->string() + ": " + std::strerror(errno), false));
    }
  }

  const pid_t pid = ::fork();
  if (pid < 0) {
    return core::Unexpected(Failure(core::ErrorKind::kInternal,
                                    std::string("cannot fork: ") + std::strerror(errno), true));
  }
  if (pid == 0) {
    // Child: a process group of its own so the whole tree can be signalled.
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
          Failure(core::ErrorKind::kInvalidArgument,
                  "cannot change to folder " + cwd + ": " + std::strerror(exec_error), false));
    }
    return core::Unexpected(Failure(
        core::ErrorKind::kInvalidArgument,
        "cannot run '" + prepared.argv_storage[0] + "': " + std::strerror(exec_error), false));
  }

  Outcome outcome;
  std::optional<core::Error> sink_error;
  std::vector<char> buffer(64 * 1024);

  int status = 0;
  bool exited = false;
  std::optional<Steady::time_point> exited_at;
  std::optional<Steady::time_point> term_sent_at;
  bool kill_sent = false;
  const auto grace = command.kill_grace;

  auto signal_group = [&](int sig) { ::kill(-pid, sig); };
  auto terminate = [&](Steady::time_point now) {
    signal_group(SIGTERM);
    term_sent_at = now;
  };
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
        const std::string_view chunk(buffer.data(), static_cast<std::size_t>(n));
        if (is_out && command.on_stdout) {
          outcome.stdout_bytes += chunk.size();
          if (sink_error) continue;  // drained and dropped while the group ends
          if (auto taken = command.on_stdout(chunk); !taken) {
            sink_error = taken.error();
            if (!term_sent_at) terminate(Steady::now());
          }
          continue;
        }
        if (is_out) outcome.stdout_bytes += chunk.size();
        AddToTail(outcome.tail, command.tail_bytes, chunk);
        if (command.on_output) command.on_output(is_out ? Stream::kStdout : Stream::kStderr, chunk);
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        (is_out ? out_read : err_read).Reset();
      }
    }

    if (!exited) {
      const pid_t done = ::waitpid(pid, &status, WNOHANG);
      if (done == pid) {
        exited = true;
        exited_at = Steady::now();
      }
    }
    const auto now = Steady::now();
    const bool pipes_closed = out_read.get() < 0 && err_read.get() < 0;
    if (exited && (pipes_closed || now - *exited_at > kDrainAfterExit)) {
      if (!pipes_closed && !outcome.ended_leftovers) {
        // Processes the program left behind still hold its output open.
        outcome.ended_leftovers = true;
        if (!term_sent_at) terminate(now);
      }
      if (pipes_closed) break;
    }
    if (!exited && !term_sent_at) {
      if (command.cancelled && command.cancelled()) {
        outcome.cancelled = true;
        terminate(now);
      } else if (std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now()) >=
                 command.deadline) {
        outcome.timed_out = true;
        terminate(now);
      }
    }
    if (term_sent_at && !kill_sent && now - *term_sent_at > grace) {
      signal_group(SIGKILL);
      kill_sent = true;
    }
    if (kill_sent && exited && now - *term_sent_at > grace + kDrainAfterExit) {
      break;  // output held open by something SIGKILL could not reach
    }
  }
  // Processes the program left in its group without holding its output
  // (daemonized with their streams redirected) end with the run too.
  if (!kill_sent && GroupAlive(pid)) {
    outcome.ended_leftovers = true;
    signal_group(SIGTERM);
    const auto grace_end = Steady::now() + grace;
    while (GroupAlive(pid) && Steady::now() < grace_end) ::poll(nullptr, 0, 10);
    if (GroupAlive(pid)) signal_group(SIGKILL);
  }
  if (outcome.tail.size() > command.tail_bytes) {
    outcome.tail.erase(
        0, core::NextUtf8Boundary(outcome.tail, outcome.tail.size() - command.tail_bytes));
  }
  outcome.took = Steady::now() - started;
  if (sink_error) return core::Unexpected(std::move(*sink_error));
  if (WIFEXITED(status)) {
    outcome.exit_code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    outcome.signal = WTERMSIG(status);
  }
  return outcome;
}

}  // namespace process
