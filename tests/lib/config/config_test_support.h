// Shared by the config and job-type tests: loads config text with the
// command and sleep job types, a fake environment and a fixed folder, so no
// test depends on the real environment or working directory.
#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <string>

#include "config/config_loader.h"
#include "jobs/command/command_config.h"
#include "jobs/sleep/sleep_config.h"

namespace config::testing {

// Relative paths in test configs resolve here.
inline const std::filesystem::path kFolder = "/srv/jobsd";

inline LoadOptions Options(std::map<std::string, std::string> env = {}) {
  LoadOptions options;
  options.job_types = {jobs::command::CommandJobType(), jobs::sleep::SleepJobType()};
  options.folder = kFolder;
  options.env = [env = std::move(env)](const std::string& name) -> std::optional<std::string> {
    const auto found = env.find(name);
    if (found == env.end()) return std::nullopt;
    return found->second;
  };
  return options;
}

inline LoadResult Load(const std::string& yaml, std::map<std::string, std::string> env = {}) {
  return LoadConfigText(yaml, "cfg.yaml", Options(std::move(env)));
}

// Every diagnostic, one per line; "" for a valid config.
inline std::string Problems(const std::string& yaml, std::map<std::string, std::string> env = {}) {
  return Load(yaml, std::move(env)).ErrorText();
}

// A fresh directory under the system temp folder, removed at scope exit.
class TempDir {
 public:
  TempDir() {
    std::random_device seed;
    path_ = std::filesystem::temp_directory_path() /
            ("jobsd-config-test-" + std::to_string(seed()) + std::to_string(seed()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

  std::filesystem::path Write(const std::string& name, const std::string& content) const {
    const std::filesystem::path file = path_ / name;
    std::filesystem::create_directories(file.parent_path());
    std::ofstream(file, std::ios::binary) << content;
    return file;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace config::testing
