// The `with:` block of a `type: retention` job: which folders to keep small,
// and by which rule.
//
//   with:
//     folders:                            # required, at least one
//       - {path: data/raw, max_age: 7d}   # files modified more than 7 days ago go
//       - {path: data/predictions, max_age: 30d, match: "*.json"}
//       - {path: logs, max_bytes: 10GiB}  # oldest files first until under
//     remove_empty_dirs: false            # also remove sub-folders left empty
//     dry_run: false                      # delete nothing; report what would go
//
// A folder's `path` is relative to the config file's folder; it needs
// `max_age` or `max_bytes` (or both). `match` is a glob (fnmatch) over file
// names, not paths: only matching files count toward max_bytes and only they
// are deleted. Refused here: the root of the file system, a max_age under
// the one minute no file is deleted within, a `match` with a '/', and two
// folders of which one is inside the other (their rules would fight). What
// only the run can see (symlinks, the state store's folder) is refused by
// the run: see retention_job.h.
//
// Plain values; the job reads them with JobConfig::Settings<RetentionSettings>().
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "config/job_type.h"
#include "config/map_reader.h"
#include "core/time.h"

namespace jobs::retention {

// Files modified less than this long ago are never deleted, by any rule: a
// producer may still be writing them.
inline constexpr core::Duration kRecentGuard = std::chrono::minutes(1);

struct RetentionFolder {
  std::filesystem::path path;  // absolute and lexically normal, no trailing '/'
  std::optional<core::Duration> max_age;
  std::optional<std::uint64_t> max_bytes;
  std::string match;  // empty: every file
};

struct RetentionSettings {
  std::vector<RetentionFolder> folders;
  bool remove_empty_dirs = false;
  bool dry_run = false;
};

RetentionSettings ReadRetentionSettings(config::MapReader& with);

// `inner` is `outer` or somewhere below it, component by component (both
// absolute and lexically normal): "/data/raw" is within "/data", "/database" is not.
bool IsWithin(const std::filesystem::path& inner, const std::filesystem::path& outer);

config::JobTypeSpec RetentionJobSpec();

}  // namespace jobs::retention
