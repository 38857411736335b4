// A fresh folder under the system temp dir, removed afterwards; for the
// tests of lib/sqlite and the SQLite files built on it.
#pragma once

#include <filesystem>
#include <random>
#include <string>

namespace sqlite_test {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::random_device rd;
    path = std::filesystem::temp_directory_path() / ("jobsd-sqlite-test-" + std::to_string(rd()));
    std::filesystem::create_directories(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace sqlite_test
