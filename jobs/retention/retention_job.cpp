#include "jobs/retention/retention_job.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <memory>
#include <system_error>

#include "core/utf8.h"
#include "jobs/retention/retention_config.h"

namespace jobs::retention {
namespace {

namespace fs = std::filesystem;

constexpr int kOpenDir = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

std::string ErrnoText(int error) {
  return std::error_code(error, std::generic_category()).message();
}

std::string Shown(const fs::path& path) { return core::EscapeForTerminal(path.native()); }

// "312 B", "48.0 KiB", "1.5 GiB".
std::string SizeText(std::uint64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  static constexpr std::array<const char*, 5> kUnits = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double value = double(bytes) / 1024;
  std::size_t unit = 0;
  for (; value >= 1024 && unit + 1 < kUnits.size(); ++unit) value /= 1024;
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", value, kUnits[unit]);
  return text;
}

std::string Files(std::uint64_t files, std::uint64_t bytes) {
  return std::to_string(files) + (files == 1 ? " file (" : " files (") + SizeText(bytes) + ")";
}

std::string Rules(const RetentionFolder& folder) {
  std::string out;
  if (folder.max_age) out += "max_age " + core::FormatDuration(*folder.max_age);
  if (folder.max_bytes)
    out += (out.empty() ? "" : ", ") + ("max_bytes " + SizeText(*folder.max_bytes));
  if (!folder.match.empty()) out += ", match " + core::EscapeForTerminal(folder.match);
  return out;
}

struct DevIno {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const DevIno&) const = default;
};

// What no folder may be: the state store's folder or one above it (by
// device and inode, so that another name for it is caught too), nor lie in
// its scratch folder.
struct StateGuard {
  std::vector<std::pair<fs::path, DevIno>> chain;  // the folder first, then each parent up to "/"
  fs::path scratch;
};

StateGuard GuardOf(const fs::path& state_folder) {
  StateGuard guard;
  if (state_folder.empty()) return guard;
  std::error_code ec;
  fs::path folder = fs::weakly_canonical(state_folder, ec);
  if (ec) folder = state_folder.lexically_normal();
  guard.scratch = folder / "scratch";
  for (fs::path p = folder;; p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0) guard.chain.push_back({p, DevIno{st.st_dev, st.st_ino}});
    if (p == p.root_path() || !p.has_relative_path()) break;
  }
  return guard;
}

// One configured folder, opened (or why not).
struct Folder {
  const RetentionFolder* config = nullptr;
  fs::path resolved;  // the path with every symlink above the folder resolved
  int fd = -1;
  DevIno id;
  bool missing = false;
  std::string refusal;  // fails the run before anything is deleted
  std::string error;    // fails the run once the other folders were swept

  Folder() = default;
  Folder(const Folder&) = delete;
  Folder& operator=(const Folder&) = delete;
  ~Folder() {
    if (fd >= 0) ::close(fd);
  }
};

class RetentionJob final : public scheduler::Job {
 public:
  RetentionJob(RetentionSettings settings, const SystemCalls& calls)
      : settings_(std::move(settings)), calls_(calls) {}

  core::Result<void> Run(scheduler::JobContext& ctx) override {
    const StateGuard guard = GuardOf(ctx.state_folder());
    std::vector<std::unique_ptr<Folder>> folders;
    for (const RetentionFolder& config : settings_.folders) {
      folders.push_back(Open(config, guard));
    }
    const std::string refusals = Refusals(folders);
    if (!refusals.empty()) {
      return core::Unexpected(core::InvalidArgument("nothing deleted: " + refusals));
    }

    store::RunMetrics& metrics = ctx.metrics();
    metrics.Set("dry_run", settings_.dry_run ? 1 : 0);
    std::string output;
    if (settings_.dry_run)
      output = "dry run: nothing is deleted; figures are what a run would do\n";
    std::string failures;
    std::size_t failed = 0;
    bool changed = false;
    for (const auto& folder : folders) {
      metrics.Add("folders", 1);
      if (folder->missing) {
        metrics.Add("folders_missing", 1);
        metrics.SetFolderSize(folder->resolved.native(), 0, 0);
        const std::string line = Shown(folder->resolved) + ": does not exist; nothing to do";
        ctx.Warn(line);
        output += line + "\n";
        continue;
      }
      if (!folder->error.empty()) {
        ++failed;
        metrics.Add("errors", 1);
        failures += (failures.empty() ? "" : "; ") + folder->error;
        ctx.Error(folder->error);
        output += folder->error + "\n";
        continue;
      }
      std::optional<std::pair<dev_t, ino_t>> avoid;
      if (!guard.chain.empty())
        avoid = {guard.chain.front().second.dev, guard.chain.front().second.ino};
      const SweepTarget target{folder->fd, folder->resolved.native(), avoid};
      const SweepRules rules{folder->config->max_age, folder->config->max_bytes,
                             folder->config->match, settings_.remove_empty_dirs, settings_.dry_run};
      const SweepReport report = SweepFolder(target, rules, ctx.Now(), calls_,
                                             [&ctx] { return ctx.cancel().Cancelled(); });
      Count(metrics, report);
      changed = changed || (!settings_.dry_run && (report.files_deleted + report.dirs_removed) > 0);
      const std::string text = Describe(*folder, report);
      output += text;
      Log(ctx, text.substr(0, text.find('\n')), report);
      if (report.cancelled) {
        metrics.SetChanged(changed);
        ctx.set_output(std::move(output));
        return core::Unexpected(ctx.CancelledError("sweeping " + Shown(folder->resolved)));
      }
      metrics.SetFolderSize(folder->resolved.native(),
                            double(settings_.dry_run ? report.files_before : report.files_after),
                            double(settings_.dry_run ? report.bytes_before : report.bytes_after));
    }
    metrics.SetChanged(changed);
    ctx.set_output(std::move(output));
    if (failed > 0) {
      return core::Unexpected(core::Error{
          core::ErrorKind::kIo,
          "could not sweep " + std::to_string(failed) + " of " + std::to_string(folders.size()) +
              (folders.size() == 1 ? " folder: " : " folders: ") + failures,
          false});
    }
    return {};
  }

 private:
  // Every reason not to run, "; "-separated; empty when there is none.
  static std::string Refusals(const std::vector<std::unique_ptr<Folder>>& folders) {
    std::string out;
    auto add = [&out](const std::string& refusal) { out += (out.empty() ? "" : "; ") + refusal; };
    for (std::size_t i = 0; i < folders.size(); ++i) {
      const Folder& a = *folders[i];
      if (!a.refusal.empty()) add(a.refusal);
      if (a.fd < 0) continue;
      for (std::size_t j = 0; j < i; ++j) {
        const Folder& b = *folders[j];
        if (b.fd >= 0 && (IsWithin(a.resolved, b.resolved) || IsWithin(b.resolved, a.resolved))) {
          add(Shown(a.config->path) + " and " + Shown(b.config->path) +
              " overlap once symlinks are resolved (" + Shown(a.resolved) + ", " +
              Shown(b.resolved) + ")");
        }
      }
    }
    return out;
  }

  std::unique_ptr<Folder> Open(const RetentionFolder& config, const StateGuard& guard) const {
    auto folder = std::make_unique<Folder>();
    folder->config = &config;
    folder->resolved = config.path;
    const std::string shown = Shown(config.path);
    if (config.path.empty()) {
      folder->refusal = "a folder's path is empty";
      return folder;
    }
    struct stat st {};
    if (::lstat(config.path.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) {
        folder->missing = true;
        std::error_code ec;
        const fs::path resolved = fs::weakly_canonical(config.path, ec);
        if (!ec) folder->resolved = resolved;
      } else {
        folder->error = "cannot read " + shown + ": " + ErrnoText(errno);
      }
      return folder;
    }
    if (S_ISLNK(st.st_mode)) {
      std::error_code ec;
      const fs::path target = fs::read_symlink(config.path, ec);
      folder->refusal = shown + " is a symlink" + (ec ? "" : " (to " + Shown(target) + ")") +
                        ", and retention never follows one: name the folder itself";
      return folder;
    }
    if (!S_ISDIR(st.st_mode)) {
      folder->error = shown + " is not a folder";
      return folder;
    }
    std::error_code ec;
    folder->resolved = fs::canonical(config.path, ec);
    if (ec) {
      folder->error = "cannot resolve " + shown + ": " + ec.message();
      return folder;
    }
    if (folder->resolved == folder->resolved.root_path()) {
      folder->refusal = shown + " is the root of the file system";
      return folder;
    }
    folder->fd = calls_.openat(AT_FDCWD, folder->resolved.c_str(), kOpenDir);
    if (folder->fd < 0) {
      if (errno == ELOOP) {
        folder->refusal = shown + " became a symlink, and retention never follows one";
      } else if (errno == ENOENT) {
        folder->missing = true;
      } else {
        folder->error = "cannot open " + Shown(folder->resolved) + ": " + ErrnoText(errno);
      }
      return folder;
    }
    if (calls_.fstatat(folder->fd, "", &st, AT_EMPTY_PATH) != 0) {
      folder->error = "cannot read " + Shown(folder->resolved) + ": " + ErrnoText(errno);
      return folder;
    }
    folder->id = DevIno{st.st_dev, st.st_ino};
    for (std::size_t i = 0; i < guard.chain.size(); ++i) {
      if (guard.chain[i].second != folder->id) continue;
      folder->refusal = shown + (i == 0 ? " is the state store's folder"
                                        : " holds the state store's folder (" +
                                              Shown(guard.chain.front().first) + ")");
      break;
    }
    if (folder->refusal.empty() && !guard.scratch.empty() &&
        IsWithin(folder->resolved, guard.scratch)) {
      folder->refusal = shown + " is in the state store's scratch folder, which runs use";
    }
    if (!folder->refusal.empty()) {
      ::close(folder->fd);
      folder->fd = -1;
    }
    return folder;
  }

  // One line per folder: a warning when something went wrong.
  static void Log(const scheduler::JobContext& ctx, const std::string& summary,
                  const SweepReport& r) {
    if (r.errors == 0 && !r.over_limit) {
      ctx.Info(summary);
      return;
    }
    std::string line = summary;
    if (r.over_limit) line += "; still over max_bytes";
    if (r.errors > 0) {
      line += "; " + std::to_string(r.errors) + (r.errors == 1 ? " error" : " errors");
      for (std::size_t i = 0; i < r.error_samples.size(); ++i) {
        line += (i == 0 ? ": " : "; ") + r.error_samples[i];
      }
    }
    ctx.Warn(line);
  }

  static void Count(store::RunMetrics& metrics, const SweepReport& r) {
    metrics.Add("files_before", double(r.files_before));
    metrics.Add("bytes_before", double(r.bytes_before));
    metrics.Add("files", double(r.files_after));
    metrics.Add("bytes", double(r.bytes_after));
    metrics.Add("files_deleted", double(r.files_deleted));
    metrics.Add("bytes_deleted", double(r.bytes_deleted));
    metrics.Add("dirs_removed", double(r.dirs_removed));
    metrics.Add("recent_kept", double(r.recent_kept));
    metrics.Add("mounts_skipped", double(r.mounts_skipped));
    metrics.Add("errors", double(r.errors));
  }

  // The folder's lines in the output; logged as they are.
  std::string Describe(const Folder& folder, const SweepReport& r) const {
    const bool dry = settings_.dry_run;
    std::string line = Shown(folder.resolved) + " (" + Rules(*folder.config) +
                       "): " + Files(r.files_before, r.bytes_before) + " before, " +
                       Files(r.files_deleted, r.bytes_deleted) +
                       (dry ? " would be deleted, " : " deleted, ") +
                       Files(r.files_after, r.bytes_after) + (dry ? " would be left" : " left");
    if (settings_.remove_empty_dirs) {
      line += "; " + std::to_string(r.dirs_removed) +
              (r.dirs_removed == 1 ? " empty folder" : " empty folders") +
              (dry ? " would be removed" : " removed");
    }
    if (r.recent_kept > 0) {
      line +=
          "; " + std::to_string(r.recent_kept) + " due but kept (modified within the last minute)";
    }
    if (r.cancelled) line += "; stopped: the run was cancelled";
    std::string out = line + "\n";
    if (r.over_limit) {
      out += "  still over max_bytes " + SizeText(*folder.config->max_bytes) +
             ": files modified within the last minute, or that could not be deleted, stay\n";
    }
    if (!r.examples.empty()) {
      const bool all = r.files_deleted <= r.examples.size();
      out +=
          std::string(dry ? "  would delete" : "  deleted") + (all ? ":\n" : ", among others:\n");
      for (const std::string& example : r.examples) out += "    " + example + "\n";
    }
    for (const std::string& note : r.notes) out += "  " + note + "\n";
    if (r.errors > 0) {
      out += "  " + std::to_string(r.errors) + (r.errors == 1 ? " error" : " errors") +
             (r.errors > r.error_samples.size() ? ", the first few:" : ":") + "\n";
      for (const std::string& sample : r.error_samples) out += "    " + sample + "\n";
    }
    return out;
  }

  RetentionSettings settings_;
  const SystemCalls& calls_;
};

}  // namespace

scheduler::JobType TypeWithSystemCalls(const SystemCalls& calls) {
  return scheduler::JobType{RetentionJobSpec(), [&calls](const config::JobConfig& job) {
                              const auto* settings = job.Settings<RetentionSettings>();
                              return std::make_unique<RetentionJob>(
                                  settings ? *settings : RetentionSettings{}, calls);
                            }};
}

scheduler::JobType Type() { return TypeWithSystemCalls(RealSystemCalls()); }

}  // namespace jobs::retention
