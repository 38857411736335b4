// SweepFolder's answers to a tree that changes under it, and to what a test
// cannot set up for real without privileges. Every fault here is injected
// through SystemCalls, which wraps the real calls: the rest of the walk runs
// against a real tree. A real mount point (in a private mount namespace) and
// a real non-root user are in tests/integration/retention_test.py.
#include "jobs/retention/folder_sweep.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "tests/jobs/retention/retention_test_tree.h"

namespace jobs::retention {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using testing::kDay;
using testing::TestTree;
using Names = std::vector<std::string>;

constexpr core::Duration k7Days = std::chrono::duration_cast<core::Duration>(7 * 24h);

core::TimePoint Now() {
  return std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now());
}

class OpenFolder {
 public:
  explicit OpenFolder(const fs::path& path)
      : fd_(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) {
    REQUIRE(fd_ >= 0);
    target_.fd = fd_;
    target_.display = path.native();
  }
  ~OpenFolder() { ::close(fd_); }
  SweepTarget& target() { return target_; }

 private:
  int fd_;
  SweepTarget target_;
};

SweepReport Sweep(const fs::path& folder, const SweepRules& rules, const SystemCalls& calls,
                  std::optional<std::pair<dev_t, ino_t>> avoid = std::nullopt) {
  OpenFolder open(folder);
  open.target().avoid = avoid;
  return SweepFolder(open.target(), rules, Now(), calls, [] { return false; });
}

SweepRules ByAge() {
  SweepRules rules;
  rules.max_age = k7Days;
  return rules;
}

}  // namespace

TEST_CASE("retention sweep: the real calls sweep a plain tree", "[retention][sweep]") {
  // The baseline the faults below differ from: the same tree, no seam.
  TestTree tree;
  tree.File("d/mnt/old", 1, 10 * kDay);
  tree.File("d/old", 1, 10 * kDay);
  const SweepReport report = Sweep(tree / "d", ByAge(), RealSystemCalls());
  CHECK(report.files_deleted == 2);
  CHECK(report.mounts_skipped == 0);
  CHECK(report.errors == 0);
  CHECK(TestTree::List(tree / "d") == Names{"mnt/"});
}

TEST_CASE("retention sweep: a file renamed away during the walk is no error",
          "[retention][sweep]") {
  TestTree tree;
  tree.File("d/moving", 10, 10 * kDay);
  tree.File("d/old", 10, 10 * kDay);
  tree.Dir("elsewhere", 0s);
  SystemCalls calls = RealSystemCalls();
  // Someone renames the file between the walk's look at it and its unlink.
  const fs::path away = tree / "elsewhere/moved";
  calls.unlinkat = [&](int dirfd, const char* name, int flags) {
    if (std::strcmp(name, "moving") == 0)
      REQUIRE(::renameat(dirfd, name, AT_FDCWD, away.c_str()) == 0);
    return ::unlinkat(dirfd, name, flags);
  };
  const SweepReport report = Sweep(tree / "d", ByAge(), calls);
  CHECK(report.errors == 0);
  CHECK(report.files_deleted == 1);
  // It left the folder before the walk could act: not counted at all.
  CHECK(report.files_before == 1);
  CHECK(report.bytes_before == 10);
  CHECK(report.files_after == 0);
  CHECK(fs::exists(away));
  CHECK(TestTree::List(tree / "d").empty());
}

TEST_CASE("retention sweep: a file removed between listing and looking is no error",
          "[retention][sweep]") {
  TestTree tree;
  tree.File("d/gone", 10, 10 * kDay);
  tree.File("d/new", 10, 1 * kDay);
  SystemCalls calls = RealSystemCalls();
  calls.fstatat = [](int dirfd, const char* name, struct stat* st, int flags) {
    if (std::strcmp(name, "gone") == 0) ::unlinkat(dirfd, name, 0);
    return ::fstatat(dirfd, name, st, flags);
  };
  const SweepReport report = Sweep(tree / "d", ByAge(), calls);
  CHECK(report.errors == 0);
  CHECK(report.files_before == 1);
  CHECK(report.files_deleted == 0);
  CHECK(report.files_after == 1);
}

TEST_CASE("retention sweep: max_bytes looks again before deleting: a file written since stays",
          "[retention][sweep]") {
  TestTree tree;
  tree.File("d/oldest", 100, 10 * kDay);
  tree.File("d/older", 100, 9 * kDay);
  tree.File("d/new", 100, 1 * kDay);
  SystemCalls calls = RealSystemCalls();
  int looks = 0;
  // The second look at "oldest" (the one just before its unlink) finds it
  // written to since the walk.
  calls.fstatat = [&](int dirfd, const char* name, struct stat* st, int flags) {
    if (std::strcmp(name, "oldest") == 0 && ++looks == 2) {
      REQUIRE(::utimensat(dirfd, name, nullptr, 0) == 0);
    }
    return ::fstatat(dirfd, name, st, flags);
  };
  SweepRules rules;
  rules.max_bytes = 200;
  const SweepReport report = Sweep(tree / "d", rules, calls);
  CHECK(looks == 2);
  CHECK(report.errors == 0);
  // "oldest" stayed; the next batch took "older", and the folder is under.
  CHECK(TestTree::List(tree / "d") == Names{"new", "oldest"});
  CHECK(report.files_deleted == 1);
  CHECK(report.bytes_after == 200);
  CHECK_FALSE(report.over_limit);
}

TEST_CASE("retention sweep: a file that vanishes before max_bytes deletes it is no error",
          "[retention][sweep]") {
  TestTree tree;
  tree.File("d/a", 100, 10 * kDay);
  tree.File("d/b", 100, 9 * kDay);
  SystemCalls calls = RealSystemCalls();
  calls.unlinkat = [](int dirfd, const char* name, int flags) {
    if (std::strcmp(name, "a") == 0) ::unlinkat(dirfd, name, flags);  // someone else was first
    return ::unlinkat(dirfd, name, flags);
  };
  SweepRules rules;
  rules.max_bytes = 100;
  const SweepReport report = Sweep(tree / "d", rules, calls);
  CHECK(report.errors == 0);
  CHECK(report.files_deleted == 0);
  CHECK(report.files_before == 1);
  CHECK(report.files_after == 1);
  CHECK(TestTree::List(tree / "d") == Names{"b"});
}

TEST_CASE("retention sweep: a sub-folder on another device is not entered", "[retention][sweep]") {
  // Mounting needs privileges this test may not have: the seam reports
  // "mnt" on another device, as fstatat does for a mount point.
  TestTree tree;
  tree.File("d/mnt/old", 1, 10 * kDay);
  tree.File("d/mnt/sub/old", 1, 10 * kDay);
  tree.File("d/old", 1, 10 * kDay);
  SystemCalls calls = RealSystemCalls();
  calls.fstatat = [](int dirfd, const char* name, struct stat* st, int flags) {
    const int result = ::fstatat(dirfd, name, st, flags);
    if (result == 0 && std::strcmp(name, "mnt") == 0) st->st_dev += 1;
    return result;
  };
  SweepRules rules = ByAge();
  rules.remove_empty_dirs = true;
  const SweepReport report = Sweep(tree / "d", rules, calls);
  CHECK(report.mounts_skipped == 1);
  CHECK(report.files_before == 1);
  CHECK(report.files_deleted == 1);
  CHECK(TestTree::List(tree / "d") == Names{"mnt/", "mnt/old", "mnt/sub/", "mnt/sub/old"});
  REQUIRE(report.notes.size() == 1);
  CHECK(report.notes[0] == "not crossing the mount point " + (tree / "d/mnt").native());
}

TEST_CASE("retention sweep: the root of a mount on the same device is not entered either",
          "[retention][sweep]") {
  // A bind mount keeps st_dev; statx's STATX_ATTR_MOUNT_ROOT tells it. The
  // seam sets that attribute for "bind".
  TestTree tree;
  tree.File("d/bind/old", 1, 10 * kDay);
  tree.File("d/old", 1, 10 * kDay);
  SystemCalls calls = RealSystemCalls();
  calls.statx = [](int dirfd, const char* name, int flags, unsigned mask, struct statx* st) {
    const int result = ::statx(dirfd, name, flags, mask, st);
    if (result == 0 && std::strcmp(name, "bind") == 0) {
      st->stx_attributes_mask |= STATX_ATTR_MOUNT_ROOT;
      st->stx_attributes |= STATX_ATTR_MOUNT_ROOT;
    }
    return result;
  };
  const SweepReport report = Sweep(tree / "d", ByAge(), calls);
  CHECK(report.mounts_skipped == 1);
  CHECK(TestTree::List(tree / "d") == Names{"bind/", "bind/old"});
}

TEST_CASE("retention sweep: the folder to avoid is not entered if met", "[retention][sweep]") {
  TestTree tree;
  tree.File("d/state/jobsd.db", 1, 10 * kDay);
  tree.File("d/old", 1, 10 * kDay);
  struct stat st {};
  REQUIRE(::stat((tree / "d/state").c_str(), &st) == 0);
  const SweepReport report =
      Sweep(tree / "d", ByAge(), RealSystemCalls(), std::pair(st.st_dev, st.st_ino));
  CHECK(fs::exists(tree / "d/state/jobsd.db"));
  CHECK(report.files_deleted == 1);
  CHECK(report.errors == 1);
  REQUIRE(report.error_samples.size() == 1);
  CHECK(report.error_samples[0] ==
        "not entering " + (tree / "d/state").native() + ": it is the state store's folder");
}

TEST_CASE("retention sweep: errors are counted past the few it describes", "[retention][sweep]") {
  TestTree tree;
  for (int i = 0; i < 12; ++i) tree.File("d/f" + std::to_string(i), 1, 10 * kDay);
  SystemCalls calls = RealSystemCalls();
  calls.unlinkat = [](int, const char*, int) {
    errno = EROFS;
    return -1;
  };
  SweepRules rules = ByAge();
  rules.max_bytes = 0;  // tried once only: a file max_age could not delete is not tried again
  const SweepReport report = Sweep(tree / "d", rules, calls);
  CHECK(report.errors == 12);
  CHECK(report.error_samples.size() == kSamples);
  CHECK_THAT(report.error_samples[0], Catch::EndsWith(": Read-only file system"));
  CHECK(report.files_deleted == 0);
  CHECK(report.files_after == 12);
  CHECK(report.over_limit);
}

TEST_CASE("retention sweep: the folder itself unreadable is one error", "[retention][sweep]") {
  TestTree tree;
  tree.File("d/old", 1, 10 * kDay);
  SystemCalls calls = RealSystemCalls();
  calls.openat = [](int, const char*, int) {
    errno = EACCES;
    return -1;
  };
  const SweepReport report = Sweep(tree / "d", ByAge(), calls);
  CHECK(report.errors == 1);
  CHECK(report.error_samples[0] == "cannot list " + (tree / "d").native() + ": Permission denied");
  CHECK(fs::exists(tree / "d/old"));
}

}  // namespace jobs::retention
