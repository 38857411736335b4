#include "fs/folder_swap.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "fs/atomic_file.h"

namespace files {
namespace {

core::Error SwapError(const std::string& what, int error) {
  return core::Error{core::ErrorKind::kIo, what + ": " + std::strerror(error), false};
}

std::filesystem::path FolderOf(const std::filesystem::path& path) {
  const auto parent = path.parent_path();
  return parent.empty() ? std::filesystem::path(".") : parent;
}

core::Result<void> RemoveTree(const std::filesystem::path& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec) {
    return core::Unexpected(core::Error{
        core::ErrorKind::kIo, "cannot remove " + path.string() + ": " + ec.message(), false});
  }
  return {};
}

// `from` (the previous tree) to the backup name, or gone.
core::Result<void> PutAside(const std::filesystem::path& from,
                            const std::optional<std::filesystem::path>& backup) {
  if (!backup) return RemoveTree(from);
  if (auto removed = RemoveTree(*backup); !removed) return removed;
  if (::rename(from.c_str(), backup->c_str()) != 0) {
    return core::Unexpected(
        SwapError("cannot keep " + from.string() + " as " + backup->string(), errno));
  }
  return SyncFolder(FolderOf(*backup));
}

}  // namespace

core::Result<void> SwapFolder(const std::filesystem::path& staged,
                              const std::filesystem::path& dest,
                              const std::optional<std::filesystem::path>& keep_previous_as) {
  std::error_code ec;
  if (!std::filesystem::is_directory(staged, ec)) {
    return core::Unexpected(core::Error{
        core::ErrorKind::kIo, "cannot swap in " + staged.string() + ": not a folder", false});
  }
  const bool had_dest = std::filesystem::exists(std::filesystem::symlink_status(dest, ec));
  const std::string what = "cannot swap " + staged.string() + " into " + dest.string();
  if (!had_dest) {
    if (::rename(staged.c_str(), dest.c_str()) != 0) {
      return core::Unexpected(SwapError(what, errno));
    }
    if (auto synced = SyncFolder(FolderOf(dest)); !synced) return synced;
    return SyncFolder(FolderOf(staged));
  }

  if (::renameat2(AT_FDCWD, staged.c_str(), AT_FDCWD, dest.c_str(), RENAME_EXCHANGE) == 0) {
    // `staged` now names the previous tree.
    if (auto synced = SyncFolder(FolderOf(dest)); !synced) return synced;
    if (FolderOf(staged) != FolderOf(dest)) {
      if (auto synced = SyncFolder(FolderOf(staged)); !synced) return synced;
    }
    return PutAside(staged, keep_previous_as);
  }
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) {
    return core::Unexpected(SwapError(what, errno));
  }

  // No exchange here: two renames, with a moment without `dest`.
  std::filesystem::path aside = dest;
  aside += ".old-" + std::to_string(::getpid());
  if (auto removed = RemoveTree(aside); !removed) return removed;
  if (::rename(dest.c_str(), aside.c_str()) != 0) return core::Unexpected(SwapError(what, errno));
  if (::rename(staged.c_str(), dest.c_str()) != 0) {
    const int error = errno;
    ::rename(aside.c_str(), dest.c_str());  // put the previous tree back
    return core::Unexpected(SwapError(what, error));
  }
  if (auto synced = SyncFolder(FolderOf(dest)); !synced) return synced;
  return PutAside(aside, keep_previous_as);
}

}  // namespace files
