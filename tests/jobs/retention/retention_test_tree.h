// Trees of files with chosen ages for the retention tests, in a temporary
// folder that goes with the object.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace jobs::retention::testing {

namespace fs = std::filesystem;
using Seconds = std::chrono::seconds;

constexpr Seconds kDay{24 * 3600};

class TestTree {
 public:
  TestTree() {
    char name[] = "/tmp/jobsd-retention-XXXXXX";
    REQUIRE(::mkdtemp(name) != nullptr);
    root_ = fs::canonical(name);
  }
  ~TestTree() {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  TestTree(const TestTree&) = delete;
  TestTree& operator=(const TestTree&) = delete;

  const fs::path& root() const { return root_; }
  fs::path operator/(const std::string& relative) const { return root_ / relative; }

  // A file of `size` bytes last modified `age` ago (its folders made as needed).
  fs::path File(const std::string& relative, std::size_t size, Seconds age) const {
    const fs::path path = root_ / relative;
    fs::create_directories(path.parent_path());
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << std::string(size, 'x');
      REQUIRE(out.good());
    }
    Age(path, age);
    return path;
  }
  // A symlink (its own mtime `age` ago: lutimes) to `target`.
  fs::path Link(const std::string& relative, const fs::path& target, Seconds age) const {
    const fs::path path = root_ / relative;
    fs::create_directories(path.parent_path());
    fs::create_symlink(target, path);
    Age(path, age);
    return path;
  }
  fs::path Dir(const std::string& relative, Seconds age) const {
    const fs::path path = root_ / relative;
    fs::create_directories(path);
    Age(path, age);
    return path;
  }

  // Every folder in the tree (not the root) last modified `age` ago: making
  // files in a folder makes it recent, which keeps it from remove_empty_dirs.
  void AgeFolders(Seconds age) const {
    for (auto it = fs::recursive_directory_iterator(root_);
         it != fs::recursive_directory_iterator(); ++it) {
      if (it->is_directory() && !it->is_symlink()) Age(it->path(), age);
    }
  }

  // Sets the mtime (not following a symlink) to `age` before now.
  static void Age(const fs::path& path, Seconds age) {
    const auto when = std::chrono::system_clock::now() - age;
    const auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count();
    struct timespec times[2];
    times[0].tv_sec = times[1].tv_sec = ns / 1'000'000'000;
    times[0].tv_nsec = times[1].tv_nsec = ns % 1'000'000'000;
    REQUIRE(::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) == 0);
  }

  // Every entry under `folder`, relative, sorted; folders end in '/'.
  // Symlinks are listed, never followed.
  static std::vector<std::string> List(const fs::path& folder) {
    std::vector<std::string> out;
    for (auto it = fs::recursive_directory_iterator(folder);
         it != fs::recursive_directory_iterator(); ++it) {
      std::string name = it->path().lexically_relative(folder).native();
      if (it->is_directory() && !it->is_symlink()) name += '/';
      out.push_back(std::move(name));
    }
    std::sort(out.begin(), out.end());
    return out;
  }

 private:
  fs::path root_;
};

}  // namespace jobs::retention::testing
