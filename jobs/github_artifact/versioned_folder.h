// The destination of pulled artifacts: `dest` is a symlink to one complete
// version, `<dest>.versions/<version>`, and moving to a new version is one
// rename(2) of a new symlink over `dest`. A reader of dest sees the old tree
// or the new one, never a mix; a kill -9 at any moment leaves dest pointing
// at one complete version. Everything in progress lives in the versions
// folder under a name starting with '.' (a download, a staging folder, a
// symlink about to replace dest), and Prepare() removes such leftovers.
//
// Version names start with the artifact id ("2209876543-aq-report"), and
// Prune() keeps the newest by that number. A dest that was a plain folder
// before jobsd managed it (the data a script pulled) is kept as
// `<dest>.versions/before-jobsd` the first time, and never pruned.
//
// Blocking (file system); the run's own thread. Failure: kIo naming the
// path and the system's reason.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace jobs::github_artifact {

// `name` as one file name: bytes other than letters, digits, '-', '_' and
// '.' become '_', a name of only dots ("..") becomes underscores, and at
// most 100 bytes are kept. "..foo" stays "..foo".
std::string SafeFileName(std::string_view name);

class VersionedFolder {
 public:
  explicit VersionedFolder(std::filesystem::path dest);

  const std::filesystem::path& dest() const { return dest_; }
  const std::filesystem::path& versions() const { return versions_; }

  // Makes dest's parent and the versions folder, and removes what an
  // interrupted run left in the latter.
  core::Result<void> Prepare();
  // A new, empty folder to build `version` in (inside the versions folder,
  // so on dest's file system).
  core::Result<std::filesystem::path> Stage(std::string_view version);
  // Where to download `version`'s archive to.
  std::filesystem::path DownloadPath(std::string_view version) const;

  // The version dest points at; nullopt when dest is missing or is not a
  // symlink into the versions folder.
  std::optional<std::string> Current() const;
  // Moves `staged` to versions/<version> and points dest at it, durably.
  core::Result<void> Install(const std::filesystem::path& staged, const std::string& version);
  // Removes all versions but the current one and the `keep` newest others;
  // returns the names removed.
  core::Result<std::vector<std::string>> Prune(int keep);

 private:
  std::filesystem::path dest_;
  std::filesystem::path versions_;
};

}  // namespace jobs::github_artifact
