// One pass of a folder's retention rules over the folder: what it holds,
// what goes, what is left.
//
// The walk never leaves the folder. It goes through directory file
// descriptors only: each sub-folder is opened relative to its parent's
// descriptor with O_NOFOLLOW | O_DIRECTORY, entries are looked at with
// fstatat(AT_SYMLINK_NOFOLLOW) and removed with unlinkat, so no path is
// ever resolved again from the top and no symlink is ever followed. A
// symlink is a file of the folder like any other, with its own mtime and
// size (the link's), and deleting it deletes the link. Sub-folders on
// another device than the folder (st_dev), or that are the root of a mount
// (statx's STATX_ATTR_MOUNT_ROOT: bind mounts of the same file system too),
// are neither entered nor counted. FIFOs, sockets and devices are left alone
// and not counted. Names are bytes: newlines and invalid UTF-8 are fine, and
// are escaped only when printed.
//
// Order: one walk deletes what `max_age` makes due as it goes and counts
// everything; then, with `max_bytes`, the oldest matching files (by mtime;
// ties by folder and name) go until the matching files' total is at most
// max_bytes, each looked at again just before it goes (a file modified or
// replaced since the walk stays); then, with `remove_empty_dirs`, sub-folders
// left empty go, deepest first (never the folder itself, nor one modified
// within kRecentGuard before the walk). Nothing modified within kRecentGuard
// of `now` is deleted by any rule. A dry run decides the same way and
// deletes nothing.
//
// Failures on the way (an entry that cannot be read, a file that cannot be
// deleted) are counted in SweepReport::errors, the first few described, and
// the sweep goes on. A file that vanishes under it (ENOENT: renamed or
// removed by someone else) is no error and is not counted at all.
//
// Blocking; any one thread.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/time.h"

namespace jobs::retention {

// The system calls a sweep makes. Tests replace one to make it fail as it
// would for another user (a test running as root cannot get EACCES from a
// chmod), to move a file in the middle of a walk, or to report a mount point
// (mounting needs privileges a test may not have). Each has the libc
// function's signature and errno convention.
struct SystemCalls {
  std::function<int(int dirfd, const char* name, int flags)> openat;
  std::function<int(int dirfd, const char* name, struct stat* st, int flags)> fstatat;
  std::function<int(int dirfd, const char* name, int flags, unsigned mask, struct statx* st)> statx;
  std::function<int(int dirfd, const char* name, int flags)> unlinkat;
};
// libc's.
const SystemCalls& RealSystemCalls();

struct SweepRules {
  std::optional<core::Duration> max_age;
  std::optional<std::uint64_t> max_bytes;
  std::string match;  // fnmatch over file names; empty: every file
  bool remove_empty_dirs = false;
  bool dry_run = false;
};

struct SweepTarget {
  // The folder, open with O_RDONLY | O_DIRECTORY | O_NOFOLLOW; the sweep
  // reads through it and leaves it open.
  int fd = -1;
  // How messages name the folder's entries: "<display>/<relative path>".
  std::string display;
  // A folder never entered if met on the way (the state store's), by
  // (st_dev, st_ino); met, it counts as an error.
  std::optional<std::pair<dev_t, ino_t>> avoid;
};

// Files are regular files and symlinks; bytes are their st_size.
struct SweepReport {
  std::uint64_t files_before = 0;
  std::uint64_t bytes_before = 0;
  // What is left (in a dry run: what would be).
  std::uint64_t files_after = 0;
  std::uint64_t bytes_after = 0;
  // What went (in a dry run: what would go).
  std::uint64_t files_deleted = 0;
  std::uint64_t bytes_deleted = 0;
  std::uint64_t dirs_removed = 0;
  // Due by a rule, kept because they were modified within kRecentGuard.
  std::uint64_t recent_kept = 0;
  std::uint64_t mounts_skipped = 0;
  std::uint64_t errors = 0;
  // The first few errors, skipped mount points and files deleted (or that
  // would be), each a line for people (paths escaped for a terminal).
  std::vector<std::string> error_samples;
  std::vector<std::string> notes;
  std::vector<std::string> examples;
  // max_bytes is still exceeded once everything that could go went.
  bool over_limit = false;
  // `cancelled` turned true and the sweep stopped early: the figures are
  // what it had counted and done by then.
  bool cancelled = false;
};

// How many error_samples and notes a report keeps.
inline constexpr std::size_t kSamples = 5;

// `cancelled` is asked every few thousand entries and deletions.
SweepReport SweepFolder(const SweepTarget& target, const SweepRules& rules, core::TimePoint now,
                        const SystemCalls& calls, const std::function<bool()>& cancelled);

}  // namespace jobs::retention
