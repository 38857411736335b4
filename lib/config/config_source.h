// The config file being read: its name for diagnostics, its folder for
// relative paths, and the list that collects its problems.
//
// One ConfigSource lives for one load and is shared by every MapReader of
// that load. Single thread.
#pragma once

#include <filesystem>
#include <set>
#include <string>
#include <string_view>

#include <yaml-cpp/mark.h>

#include "config/diagnostics.h"
#include "config/yaml_tree.h"
#include "core/result.h"

namespace config {

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

  // `path` made absolute against the config file's folder.
  std::filesystem::path Resolve(const std::filesystem::path& path) const;

  // Remembers a value read as a secret (MapReader::Secret), so that alerts
  // and logs can mask it later (Config::secrets).
  void NoteSecret(const std::string& value) const;
  const std::set<std::string>& secrets() const { return secrets_; }

 private:
  std::string file_;
  std::filesystem::path folder_;
  Diagnostics* diagnostics_;  // not owned; outlives this
  mutable std::set<std::string> secrets_;
};

// The key path of a child: Join("jobs.a", "with") is "jobs.a.with",
// Join("", "jobs") is "jobs".
std::string JoinPath(const std::string& parent, std::string_view key);

// How a node is named in "expected X, got Y" messages: 'text' for a scalar
// (shortened when long), "a list", "a mapping" or "nothing".
std::string Describe(const YamlNode& node);

// The whole content of `file`, at most `max_bytes` of it. The error message
// is the reason only ("No such file or directory", "larger than 1048576
// bytes"); the caller names the file in its own terms. Blocking.
core::Result<std::string> ReadTextFile(const std::filesystem::path& file, std::size_t max_bytes);

}  // namespace config
