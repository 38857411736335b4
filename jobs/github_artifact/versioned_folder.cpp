#include "jobs/github_artifact/versioned_folder.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "fs/atomic_file.h"

namespace jobs::github_artifact {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kBeforeJobsd = "before-jobsd";

core::Error IoError(const std::string& what, const fs::path& path, int error) {
  return core::Error{core::ErrorKind::kIo, what + " " + path.string() + ": " + std::strerror(error),
                     false};
}

core::Error IoError(const std::string& what, const fs::path& path, const std::error_code& ec) {
  return core::Error{core::ErrorKind::kIo, what + " " + path.string() + ": " + ec.message(), false};
}

// The artifact id a version name starts with; nullopt for other names.
std::optional<unsigned long long> VersionNumber(std::string_view name) {
  std::size_t digits = 0;
  while (digits < name.size() && name[digits] >= '0' && name[digits] <= '9') ++digits;
  if (digits == 0 || digits > 19) return std::nullopt;
  return std::stoull(std::string(name.substr(0, digits)));
}

// renameat2(RENAME_EXCHANGE): both names stay, their files swap at once.
// glibc 2.36 has a wrapper, but the syscall keeps older libcs building.
int ExchangeNames(const fs::path& a, const fs::path& b) {
  return static_cast<int>(
      ::syscall(SYS_renameat2, AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), RENAME_EXCHANGE));
}

core::Result<void> FlushFileSystem(const fs::path& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return core::Unexpected(IoError("cannot open", folder, errno));
  const int flushed = ::syncfs(fd);
  const int error = errno;
  ::close(fd);
  if (flushed != 0)
    return core::Unexpected(IoError("cannot flush the file system of", folder, error));
  return {};
}

}  // namespace

std::string SafeFileName(std::string_view name) {
  std::string out;
  for (const char c : name.substr(0, 100)) {
    const bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                      c == '-' || c == '_' || c == '.';
    out += keep ? c : '_';
  }
  if (std::all_of(out.begin(), out.end(), [](char c) { return c == '.'; })) {
    std::fill(out.begin(), out.end(), '_');
  }
  if (out.empty()) out = "_";
  return out;
}

VersionedFolder::VersionedFolder(fs::path dest)
    // Absolute, so that a dest relative to the working folder ("data", from
    // a config read as "jobsd.yaml") still has a parent folder to sync.
    : dest_(std::filesystem::absolute(dest).lexically_normal()),
      versions_(dest_.string() + ".versions") {
  if (dest_.filename().empty()) {  // "data/feast/" normalizes to "data/feast/"
    dest_ = dest_.parent_path();
    versions_ = dest_.string() + ".versions";
  }
}

core::Result<void> VersionedFolder::Prepare() {
  std::error_code ec;
  fs::create_directories(versions_, ec);
  if (ec) return core::Unexpected(IoError("cannot create", versions_, ec));
  for (const fs::directory_entry& entry : fs::directory_iterator(versions_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.empty() || name[0] != '.') continue;
    fs::remove_all(entry.path(), ec);
    if (ec) return core::Unexpected(IoError("cannot remove the leftover", entry.path(), ec));
  }
  if (ec) return core::Unexpected(IoError("cannot list", versions_, ec));
  return {};
}

core::Result<fs::path> VersionedFolder::Stage(std::string_view version) {
  const fs::path staged = versions_ / (".staging-" + std::string(version));
  std::error_code ec;
  fs::remove_all(staged, ec);
  if (::mkdir(staged.c_str(), 0755) != 0) {
    return core::Unexpected(IoError("cannot create", staged, errno));
  }
  return staged;
}

fs::path VersionedFolder::DownloadPath(std::string_view version) const {
  return versions_ / (".download-" + std::string(version));
}

std::optional<std::string> VersionedFolder::Current() const {
  std::error_code ec;
  if (!fs::is_symlink(fs::symlink_status(dest_, ec))) return std::nullopt;
  const fs::path target = fs::read_symlink(dest_, ec);
  if (ec) return std::nullopt;
  auto it = target.begin();
  if (it == target.end() || *it != versions_.filename()) return std::nullopt;
  ++it;
  if (it == target.end()) return std::nullopt;
  const std::string version = it->string();
  if (++it != target.end() || version.empty() || version[0] == '.') return std::nullopt;
  if (!fs::is_directory(versions_ / version, ec)) return std::nullopt;
  return version;
}

core::Result<void> VersionedFolder::Install(const fs::path& staged, const std::string& version) {
  std::error_code ec;
  const fs::path final_path = versions_ / version;
  if (Current() != version && fs::exists(fs::symlink_status(final_path, ec))) {
    // A version pulled before and since replaced (or left by a run that
    // died before recording it): the new copy takes its place.
    fs::remove_all(final_path, ec);
    if (ec) return core::Unexpected(IoError("cannot remove", final_path, ec));
  }
  // The new tree's file contents reach the disk before anything points at
  // them: after a power cut dest names a complete version, never one of
  // empty files. One syncfs(2) flushes them all (fsync per file would cost a
  // round trip to the disk for each of 100,000 small files).
  if (auto flushed = FlushFileSystem(versions_); !flushed) return flushed;
  if (::rename(staged.c_str(), final_path.c_str()) != 0) {
    return core::Unexpected(IoError("cannot move the new version to", final_path, errno));
  }
  if (auto synced = files::SyncFolder(versions_); !synced) return synced;

  // The link's text is relative to dest's folder, so the pair can be moved.
  const fs::path link = versions_ / (".link-" + std::to_string(::getpid()));
  const fs::path target = versions_.filename() / version;
  fs::remove(link, ec);
  if (::symlink(target.c_str(), link.c_str()) != 0) {
    return core::Unexpected(IoError("cannot create the symlink", link, errno));
  }
  const fs::file_status status = fs::symlink_status(dest_, ec);
  if (fs::is_directory(status)) {
    // dest is a plain folder (data from before jobsd): swap it with the
    // link in one step, then keep it among the versions.
    fs::path kept = versions_ / std::string(kBeforeJobsd);
    for (int n = 2; fs::exists(fs::symlink_status(kept, ec)); ++n) {
      kept = versions_ / (std::string(kBeforeJobsd) + "-" + std::to_string(n));
    }
    if (ExchangeNames(link, dest_) == 0) {
      if (::rename(link.c_str(), kept.c_str()) != 0) {
        return core::Unexpected(IoError("cannot keep the earlier folder as", kept, errno));
      }
    } else if (errno == EINVAL || errno == ENOSYS) {
      // No RENAME_EXCHANGE on this file system: dest is missing for a moment.
      if (::rename(dest_.c_str(), kept.c_str()) != 0) {
        return core::Unexpected(IoError("cannot move the earlier folder to", kept, errno));
      }
      if (::rename(link.c_str(), dest_.c_str()) != 0) {
        return core::Unexpected(IoError("cannot point", dest_, errno));
      }
    } else {
      return core::Unexpected(IoError("cannot replace", dest_, errno));
    }
  } else if (fs::exists(status) && !fs::is_symlink(status)) {
    fs::remove(link, ec);
    return core::Unexpected(
        core::Error{core::ErrorKind::kIo,
                    dest_.string() + " is a file, not a folder: not replacing it", false});
  } else if (::rename(link.c_str(), dest_.c_str()) != 0) {
    return core::Unexpected(IoError("cannot point", dest_, errno));
  }
  if (auto synced = files::SyncFolder(dest_.parent_path()); !synced) return synced;
  return files::SyncFolder(versions_);
}

core::Result<std::vector<std::string>> VersionedFolder::Prune(int keep) {
  const std::optional<std::string> current = Current();
  std::vector<std::pair<unsigned long long, std::string>> others;
  std::error_code ec;
  for (const fs::directory_entry& entry : fs::directory_iterator(versions_, ec)) {
    const std::string name = entry.path().filename().string();
    if (name == current) continue;
    if (auto number = VersionNumber(name)) others.emplace_back(*number, name);
  }
  if (ec) return core::Unexpected(IoError("cannot list", versions_, ec));
  std::sort(others.begin(), others.end(), std::greater<>());
  std::vector<std::string> removed;
  for (std::size_t i = static_cast<std::size_t>(std::max(keep, 0)); i < others.size(); ++i) {
    fs::remove_all(versions_ / others[i].second, ec);
    if (ec) return core::Unexpected(IoError("cannot remove", versions_ / others[i].second, ec));
    removed.push_back(others[i].second);
  }
  return removed;
}

}  // namespace jobs::github_artifact
