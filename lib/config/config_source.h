// The config file being read: its name for diagnostics, its folder for
// relative paths, and the list that collects its problems.
//
// One ConfigSource lives for one load and is shared by every MapReader of
// that load. Single thread.
#pragma once

#include <filesystem>
#include <string>
#include <unordered_set>

#include <yaml-cpp/yaml.h>

#include "config/diagnostics.h"
#include "core/result.h"

namespace config {

// A stable identity for the node behind a YAML::Node handle. yaml-cpp shares
// one node between an anchor and its aliases and has no public identity, but
// every node owns its own scalar string (empty for lists and mappings), so the
// address of that string tells nodes apart. Used to visit shared nodes once
// and to survive cyclic aliases such as `&a [*a]`.
const void* NodeIdentity(const YAML::Node& node);

class ConfigSource {
 public:
  // `folder` should be absolute so that resolved paths survive a chdir.
  ConfigSource(std::string file, std::filesystem::path folder, Diagnostics& diagnostics)
      : file_(std::move(file)), folder_(std::move(folder)), diagnostics_(&diagnostics) {}

  const std::string& file() const { return file_; }
  const std::filesystem::path& folder() const { return folder_; }
  Diagnostics& diagnostics() const { return *diagnostics_; }

  // Records a problem at `mark` (yaml-cpp's 0-based position; a null mark
  // means "position unknown").
  void Report(const YAML::Mark& mark, std::string path, std::string message) const;

  // A value whose `${VAR}` could not be expanded was reported as such; its
  // raw text would only draw echo reports ("'${X' is no duration"), so
  // readers stay quiet about values marked here.
  void MarkUnusable(const YAML::Node& value) { unusable_.insert(NodeIdentity(value)); }
  bool IsUnusable(const YAML::Node& value) const {
    return !unusable_.empty() && unusable_.count(NodeIdentity(value)) > 0;
  }

  // `path` made absolute against the config file's folder.
  std::filesystem::path Resolve(const std::filesystem::path& path) const;

 private:
  std::string file_;
  std::filesystem::path folder_;
  Diagnostics* diagnostics_;  // not owned; outlives this
  std::unordered_set<const void*> unusable_;
};

// The key path of a child: Join("jobs.a", "with") is "jobs.a.with",
// Join("", "jobs") is "jobs".
std::string JoinPath(const std::string& parent, std::string_view key);

// How a node is named in "expected X, got Y" messages: 'text' for a scalar
// (shortened when long), "a list", "a mapping" or "nothing".
std::string Describe(const YAML::Node& node);

// The whole content of `file`, at most `max_bytes` of it. The error message
// is the reason only ("No such file or directory", "larger than 1048576
// bytes"); the caller names the file in its own terms. Blocking.
core::Result<std::string> ReadTextFile(const std::filesystem::path& file, std::size_t max_bytes);

}  // namespace config
