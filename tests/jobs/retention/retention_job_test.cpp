// The retention job on real trees in a temporary folder: which files stay,
// what the run reports, what it refuses. Faults the tests cannot cause for
// real (EACCES as root, a mount point, a file moving mid-walk) go through the
// SystemCalls seam, here and in folder_sweep_test.cpp; the daemon, a real
// mount and a real non-root user are tests/integration/retention_test.py.
#include "jobs/retention/retention_job.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <cstring>

#include "core/utf8.h"
#include "jobs/retention/retention_config.h"
#include "tests/jobs/retention/retention_test_tree.h"
#include "tests/support/job_run.h"

namespace jobs::retention {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using testing::kDay;
using testing::TestTree;
using Names = std::vector<std::string>;

RetentionFolder Folder(const fs::path& path, std::optional<core::Duration> max_age,
                       std::optional<std::uint64_t> max_bytes = std::nullopt,
                       std::string match = {}) {
  return RetentionFolder{path, max_age, max_bytes, std::move(match)};
}

constexpr core::Duration k7Days = std::chrono::duration_cast<core::Duration>(7 * 24h);

struct Runner {
  fs::path state_folder;
  const SystemCalls* calls = nullptr;
  bool cancelled = false;

  support::JobRun Run(const RetentionSettings& settings) const {
    config::JobConfig job;
    job.name = "data-retention";
    job.type = "retention";
    job.settings = settings;
    scheduler::CancelToken cancel;
    if (cancelled) cancel.Cancel(scheduler::CancelToken::Reason::kManual);
    static http::Client http;
    return support::RunJob(calls ? TypeWithSystemCalls(*calls) : Type(), job, cancel, http,
                           [&](scheduler::JobContext& ctx) {
                             if (!state_folder.empty()) ctx.set_state_folder(state_folder);
                           });
  }
};

support::JobRun Run(const RetentionSettings& settings) { return Runner{}.Run(settings); }

std::optional<store::RunMetrics::FolderSize> Gauge(const support::JobRun& run,
                                                   const fs::path& folder) {
  const auto& sizes = run.metrics.folder_sizes();
  const auto it = sizes.find(folder.native());
  if (it == sizes.end()) return std::nullopt;
  return it->second;
}

}  // namespace

TEST_CASE("retention: max_age deletes what is older, everywhere in the folder", "[retention]") {
  TestTree tree;
  tree.File("raw/old.bin", 100, 8 * kDay);
  tree.File("raw/2026/01/old.parquet", 1000, 30 * kDay);
  tree.File("raw/2026/01/new.parquet", 10, 6 * kDay);
  tree.File("raw/fresh.bin", 1, 0s);
  tree.File("other/old.bin", 5, 30 * kDay);  // not a configured folder

  RetentionSettings settings;
  settings.folders = {Folder(tree / "raw", k7Days)};
  const auto run = Run(settings);
  REQUIRE(run);
  CHECK(TestTree::List(tree / "raw") ==
        Names{"2026/", "2026/01/", "2026/01/new.parquet", "fresh.bin"});
  CHECK(TestTree::List(tree / "other") == Names{"old.bin"});
  CHECK(run.Metric("folders") == 1);
  CHECK(run.Metric("files_before") == 4);
  CHECK(run.Metric("bytes_before") == 1111);
  CHECK(run.Metric("files_deleted") == 2);
  CHECK(run.Metric("bytes_deleted") == 1100);
  CHECK(run.Metric("files") == 2);
  CHECK(run.Metric("bytes") == 11);
  CHECK(run.Metric("errors") == 0);
  CHECK(run.Metric("dry_run") == 0);
  CHECK(run.Metric("changed") == 1);
  CHECK(run.Metric("dirs_removed") == 0);
  const auto gauge = Gauge(run, tree / "raw");
  REQUIRE(gauge);
  CHECK(gauge->files == 2);
  CHECK(gauge->bytes == 11);
  INFO(run.output);
  CHECK_THAT(run.output, Catch::Contains((tree / "raw").native() +
                                         " (max_age 7d): 4 files (1.1 KiB) before, 2 files (1.1 "
                                         "KiB) deleted, 2 files (11 B) left"));
  CHECK_THAT(run.output, Catch::Contains("raw/old.bin"));

  // Nothing left to do: the run says so.
  const auto again = Run(settings);
  REQUIRE(again);
  CHECK(again.Metric("files_deleted") == 0);
  CHECK(again.Metric("changed") == 0);
  CHECK(again.Metric("files") == 2);
}

TEST_CASE("retention: match limits the rules to files whose name matches", "[retention]") {
  TestTree tree;
  tree.File("pred/a.json", 10, 40 * kDay);
  tree.File("pred/sub/b.json", 10, 40 * kDay);
  tree.File("pred/c.csv", 10, 40 * kDay);
  tree.File("pred/json", 10, 40 * kDay);
  tree.File("pred/d.json", 10, 20 * kDay);
  tree.File("pred/.hidden.json", 10, 40 * kDay);

  RetentionSettings settings;
  settings.folders = {Folder(tree / "pred", std::chrono::duration_cast<core::Duration>(30 * 24h),
                             std::nullopt, "*.json")};
  const auto run = Run(settings);
  REQUIRE(run);
  // fnmatch without FNM_PERIOD: '*' matches a leading dot too.
  CHECK(TestTree::List(tree / "pred") == Names{"c.csv", "d.json", "json", "sub/"});
  CHECK(run.Metric("files_before") == 6);
  CHECK(run.Metric("files_deleted") == 3);
  CHECK(run.Metric("files") == 3);
}

TEST_CASE("retention: max_bytes deletes the oldest files until the folder is under",
          "[retention]") {
  TestTree tree;
  // Ten files of 100 bytes, a day apart: f0 the newest, f9 the oldest.
  for (int i = 0; i < 10; ++i) {
    tree.File((i % 2 ? "logs/a/f" : "logs/f") + std::to_string(i), 100, (i + 1) * kDay);
  }
  RetentionSettings settings;
  settings.folders = {Folder(tree / "logs", std::nullopt, 550)};
  const auto run = Run(settings);
  REQUIRE(run);
  // 1000 bytes, at most 550: the five oldest go (500 left), not one more.
  CHECK(TestTree::List(tree / "logs") == Names{"a/", "a/f1", "a/f3", "f0", "f2", "f4"});
  CHECK(run.Metric("files_deleted") == 5);
  CHECK(run.Metric("bytes_deleted") == 500);
  CHECK(run.Metric("bytes") == 500);
  CHECK(run.Metric("recent_kept") == 0);
  CHECK_THAT(run.output, !Catch::Contains("still over"));

  // Exactly at the limit is under it.
  settings.folders[0].max_bytes = 500;
  const auto at_limit = Run(settings);
  REQUIRE(at_limit);
  CHECK(at_limit.Metric("files_deleted") == 0);

  // With max_age too: age first, then size.
  settings.folders[0] =
      Folder(tree / "logs", std::chrono::duration_cast<core::Duration>(4 * 24h + 1h), 150);
  const auto both = Run(settings);
  REQUIRE(both);
  CHECK(TestTree::List(tree / "logs") == Names{"a/", "f0"});
}

TEST_CASE("retention: max_bytes with match counts and deletes matching files only", "[retention]") {
  TestTree tree;
  tree.File("logs/app.log.3", 100, 3 * kDay);
  tree.File("logs/app.log.2", 100, 2 * kDay);
  tree.File("logs/app.log.1", 100, 1 * kDay);
  tree.File("logs/core.dump", 10000, 9 * kDay);  // the biggest and oldest, but not a log
  RetentionSettings settings;
  settings.folders = {Folder(tree / "logs", std::nullopt, 200, "*.log.*")};
  const auto run = Run(settings);
  REQUIRE(run);
  CHECK(TestTree::List(tree / "logs") == Names{"app.log.1", "app.log.2", "core.dump"});
  CHECK(run.Metric("files_deleted") == 1);
  // The folder's figures count every file.
  CHECK(run.Metric("bytes_before") == 10300);
  CHECK(run.Metric("bytes") == 10200);
}

TEST_CASE("retention: nothing modified within the last minute is deleted", "[retention]") {
  TestTree tree;
  tree.File("d/now", 100, 0s);
  tree.File("d/55s", 100, 55s);
  tree.File("d/2m", 100, 120s);
  tree.File("d/future", 100, -3600s);  // a clock that was ahead
  RetentionSettings settings;
  // max_bytes 0 asks for everything to go; max_age 1m for all but the new ones.
  settings.folders = {Folder(tree / "d", std::nullopt, 0)};
  const auto run = Run(settings);
  REQUIRE(run);
  CHECK(TestTree::List(tree / "d") == Names{"55s", "future", "now"});
  CHECK(run.Metric("files_deleted") == 1);
  CHECK(run.Metric("recent_kept") == 3);
  CHECK_THAT(run.output, Catch::Contains("still over max_bytes 0 B"));

  tree.File("d/2m", 100, 120s);
  settings.folders = {Folder(tree / "d", 1min)};
  const auto by_age = Run(settings);
  REQUIRE(by_age);
  CHECK(TestTree::List(tree / "d") == Names{"55s", "future", "now"});
  CHECK(by_age.Metric("files_deleted") == 1);
}

TEST_CASE("retention: dry_run deletes nothing and reports what a run would do", "[retention]") {
  TestTree tree;
  auto make = [&](const std::string& top) {
    tree.File(top + "/old/a", 100, 10 * kDay);
    tree.File(top + "/old/b", 200, 9 * kDay);
    tree.File(top + "/keep/c", 300, 1 * kDay);
    tree.File(top + "/d", 400, 2 * kDay);
    tree.File(top + "/e", 500, 3 * kDay);
    tree.AgeFolders(kDay);
  };
  make("dry");
  make("real");
  const Names before = TestTree::List(tree / "dry");

  RetentionSettings settings;
  settings.remove_empty_dirs = true;
  settings.dry_run = true;
  settings.folders = {Folder(tree / "dry", k7Days, 1000)};
  const auto dry = Run(settings);
  REQUIRE(dry);
  CHECK(TestTree::List(tree / "dry") == before);

  settings.dry_run = false;
  settings.folders = {Folder(tree / "real", k7Days, 1000)};
  const auto real = Run(settings);
  REQUIRE(real);
  CHECK(TestTree::List(tree / "real") == Names{"d", "keep/", "keep/c"});

  for (const char* name : {"files_before", "bytes_before", "files_deleted", "bytes_deleted",
                           "files", "bytes", "dirs_removed", "errors"}) {
    INFO(name);
    CHECK(dry.Metric(name) == real.Metric(name));
  }
  CHECK(real.Metric("files_deleted") == 3);
  CHECK(real.Metric("dirs_removed") == 1);
  CHECK(dry.Metric("dry_run") == 1);
  CHECK(dry.Metric("changed") == 0);
  CHECK(real.Metric("changed") == 1);
  // The gauges show the folder as it is: untouched by the dry run.
  CHECK(Gauge(dry, tree / "dry")->bytes == 1500);
  CHECK(Gauge(real, tree / "real")->bytes == 700);
  INFO(dry.output);
  CHECK_THAT(dry.output, Catch::StartsWith("dry run: nothing is deleted"));
  CHECK_THAT(dry.output,
             Catch::Contains("3 files (800 B) would be deleted, 2 files (700 B) would be left"));
  CHECK_THAT(dry.output, Catch::Contains("1 empty folder would be removed"));
  CHECK_THAT(dry.output, Catch::Contains("would delete:"));
  CHECK_THAT(dry.output, Catch::Contains((tree / "dry/old/a").native()));
}

TEST_CASE("retention: remove_empty_dirs removes folders left empty, never the folder itself",
          "[retention]") {
  TestTree tree;
  tree.File("data/a/b/c/old", 1, 10 * kDay);
  tree.File("data/a/keep", 1, 1 * kDay);
  tree.File("data/x/y/old", 1, 10 * kDay);
  tree.Dir("data/empty-before", 0s);
  tree.Dir("data/z", 0s);
  tree.AgeFolders(2 * kDay);
  // Made just now, as a producer would before writing into it: not removed.
  tree.Dir("data/just-made", 0s);
  tree.File("only/old", 1, 10 * kDay);
  TestTree::Age(tree / "only", 2 * kDay);

  RetentionSettings settings;
  settings.folders = {Folder(tree / "data", k7Days), Folder(tree / "only", k7Days)};
  SECTION("off: the folders stay") {
    const auto run = Run(settings);
    REQUIRE(run);
    CHECK(TestTree::List(tree / "data") == Names{"a/", "a/b/", "a/b/c/", "a/keep", "empty-before/",
                                                 "just-made/", "x/", "x/y/", "z/"});
  }
  SECTION("on") {
    settings.remove_empty_dirs = true;
    const auto run = Run(settings);
    REQUIRE(run);
    CHECK(TestTree::List(tree / "data") == Names{"a/", "a/keep", "just-made/"});
    CHECK(fs::is_directory(tree / "only"));
    CHECK(TestTree::List(tree / "only").empty());
    // a/b/c, a/b, x/y, x, empty-before, z.
    CHECK(run.Metric("dirs_removed") == 6);
    CHECK_THAT(run.output, Catch::Contains("6 empty folders removed"));
  }
}

TEST_CASE("retention: a symlink is a file of the folder and what it points to is never touched",
          "[retention]") {
  TestTree tree;
  const fs::path outside_dir = tree.Dir("outside", 0s);
  const fs::path outside_old = tree.File("outside/precious.bin", 1000, 100 * kDay);
  tree.File("outside/sub/deep.bin", 1000, 100 * kDay);
  tree.File("data/real.bin", 10, 1 * kDay);
  // Old links, to a folder and to a file outside: deleted as links.
  tree.Link("data/old-dir-link", outside_dir, 10 * kDay);
  tree.Link("data/old-file-link", outside_old, 10 * kDay);
  // New links to old things: kept, and never followed into.
  tree.Link("data/new-dir-link", outside_dir, 1 * kDay);
  tree.Link("data/new-file-link", outside_old, 1 * kDay);
  tree.Link("data/dangling", tree / "nowhere", 10 * kDay);

  RetentionSettings settings;
  settings.remove_empty_dirs = true;
  settings.folders = {Folder(tree / "data", k7Days)};
  const auto run = Run(settings);
  REQUIRE(run);
  CHECK(TestTree::List(tree / "data") == Names{"new-dir-link", "new-file-link", "real.bin"});
  CHECK(TestTree::List(outside_dir) == Names{"precious.bin", "sub/", "sub/deep.bin"});
  CHECK(fs::file_size(outside_old) == 1000);
  // Six entries: the file and five links (each counted at its own size,
  // the length of the path it holds), none of what they point to.
  CHECK(run.Metric("files_before") == 6);
  CHECK(run.Metric("files_deleted") == 3);
  CHECK(run.Metric("bytes_before") == 10 + 2 * double(outside_dir.native().size()) +
                                          2 * double(outside_old.native().size()) +
                                          double((tree / "nowhere").native().size()));

  // max_bytes goes by the link's size too, never the target's: the links
  // are older than the file, and go first.
  tree.Link("data/old-dir-link", outside_dir, 10 * kDay);
  TestTree::Age(tree / "data/real.bin", 12h);
  settings.folders = {Folder(tree / "data", std::nullopt, 10)};
  const auto by_size = Run(settings);
  REQUIRE(by_size);
  CHECK(TestTree::List(tree / "data") == Names{"real.bin"});
  CHECK(TestTree::List(outside_dir) == Names{"precious.bin", "sub/", "sub/deep.bin"});
}

TEST_CASE("retention: a folder that is itself a symlink is refused but links above it are resolved",
          "[retention]") {
  TestTree tree;
  tree.File("real/old.bin", 1, 10 * kDay);
  tree.File("other/old.bin", 1, 10 * kDay);
  fs::create_directory_symlink(tree / "real", tree / "link");
  RetentionSettings settings;
  settings.folders = {Folder(tree / "other", k7Days), Folder(tree / "link", k7Days)};
  const auto run = Run(settings);
  REQUIRE_FALSE(run);
  CHECK_THAT(run.error().message, Catch::Contains((tree / "link").native() + " is a symlink (to " +
                                                  (tree / "real").native() + ")"));
  CHECK_THAT(run.error().message, Catch::StartsWith("nothing deleted"));
  CHECK_FALSE(run.error().retryable);
  // Refused before anything was deleted, in any folder.
  CHECK(fs::exists(tree / "real/old.bin"));
  CHECK(fs::exists(tree / "other/old.bin"));

  // A symlink above the folder is the operator's layout: followed, and the
  // run reports the folder by its resolved path.
  tree.Dir("real/sub", 0s);
  tree.File("real/sub/old.bin", 1, 10 * kDay);
  settings.folders = {Folder(tree / "link/sub", k7Days)};
  const auto through = Run(settings);
  REQUIRE(through);
  CHECK_FALSE(fs::exists(tree / "real/sub/old.bin"));
  CHECK(fs::exists(tree / "real/old.bin"));
  CHECK(Gauge(through, tree / "real/sub"));
  CHECK_THAT(through.output, Catch::StartsWith((tree / "real/sub").native()));

  // Two folders that are one once links are resolved.
  settings.folders = {Folder(tree / "real", k7Days), Folder(tree / "link/sub", k7Days)};
  const auto overlap = Run(settings);
  REQUIRE_FALSE(overlap);
  CHECK_THAT(overlap.error().message, Catch::Contains("overlap once symlinks are resolved"));
  CHECK(fs::exists(tree / "real/old.bin"));
}

TEST_CASE("retention: refuses /, an empty path and the state store's folder", "[retention]") {
  TestTree tree;
  tree.File("state/jobsd.db", 10, 30 * kDay);
  tree.File("state/scratch/run-7/part", 10, 30 * kDay);
  tree.File("state/openaq-export/location-1.jsonl", 10, 30 * kDay);
  tree.File("data/old.bin", 10, 30 * kDay);
  fs::create_directory_symlink(tree.root(), tree / "alias");
  Runner runner{tree / "state"};

  struct Case {
    fs::path folder;
    std::string error;
  };
  const std::vector<Case> cases = {
      {"/", "/ is the root of the file system"},
      {tree / "../../..", "is the root of the file system"},
      {"", "a folder's path is empty"},
      {tree / "state", " is the state store's folder"},
      {tree.root(), " holds the state store's folder (" + (tree / "state").native() + ")"},
      // Another name for the same folders: caught by device and inode.
      {tree / "alias/state", " is the state store's folder"},
      {tree / "state/scratch", "is in the state store's scratch folder"},
      {tree / "state/scratch/run-7", "is in the state store's scratch folder"},
  };
  for (const Case& c : cases) {
    INFO(c.folder);
    RetentionSettings settings;
    settings.folders = {Folder(tree / "data", k7Days), Folder(c.folder, k7Days)};
    const auto run = runner.Run(settings);
    REQUIRE_FALSE(run);
    CHECK_THAT(run.error().message, Catch::Contains(c.error));
    CHECK(run.error().kind == core::ErrorKind::kInvalidArgument);
    CHECK(fs::exists(tree / "data/old.bin"));
    CHECK(fs::exists(tree / "state/jobsd.db"));
    CHECK(fs::exists(tree / "state/scratch/run-7/part"));
  }

  // A folder of its own inside the state folder (an export) is fine.
  RetentionSettings settings;
  settings.folders = {Folder(tree / "state/openaq-export", k7Days)};
  const auto run = runner.Run(settings);
  REQUIRE(run);
  CHECK(run.Metric("files_deleted") == 1);
  CHECK(fs::exists(tree / "state/jobsd.db"));
}

TEST_CASE("retention: names are bytes: newlines and invalid UTF-8", "[retention]") {
  TestTree tree;
  const std::vector<std::string> odd = {"old\nline", "old\xff\xfe.bin", "old\xc3\xa9t\xc3\xa9",
                                        "old\x1b[31mred"};
  for (const std::string& name : odd) tree.File("d/" + name, 7, 10 * kDay);
  tree.File("d/new\nline", 7, 1 * kDay);
  tree.File("d/sub\xff/old", 7, 10 * kDay);
  tree.File("d/sub\xff/new\n", 7, 1 * kDay);
  RetentionSettings settings;
  settings.folders = {Folder(tree / "d", k7Days)};
  const auto run = Run(settings);
  REQUIRE(run);
  CHECK(TestTree::List(tree / "d") == Names{"new\nline", "sub\xff/", "sub\xff/new\n"});
  CHECK(run.Metric("files_deleted") == 5);  // all of them among the examples printed
  INFO(run.output);
  // Printed escaped: one line per entry, no raw control bytes or bad UTF-8.
  CHECK(core::IsValidUtf8(run.output));
  CHECK(run.output.find('\x1b') == std::string::npos);
  CHECK_THAT(run.output, Catch::Contains("/old\\nline\n"));
  CHECK_THAT(run.output, Catch::Contains("/old\\xff\\xfe.bin\n"));
  CHECK_THAT(run.output, Catch::Contains("/old\xc3\xa9t\xc3\xa9\n"));
}

TEST_CASE("retention: a missing folder is nothing to do but a file is no folder", "[retention]") {
  TestTree tree;
  tree.File("data/old", 1, 10 * kDay);
  tree.File("a-file", 1, 10 * kDay);
  RetentionSettings settings;
  settings.folders = {Folder(tree / "not-yet", k7Days), Folder(tree / "data", k7Days)};
  const auto run = Run(settings);
  REQUIRE(run);
  CHECK(run.Metric("folders") == 2);
  CHECK(run.Metric("folders_missing") == 1);
  CHECK(run.Metric("files_deleted") == 1);
  CHECK_THAT(run.output, Catch::Contains((tree / "not-yet").native() + ": does not exist"));
  const auto gauge = Gauge(run, tree / "not-yet");
  REQUIRE(gauge);
  CHECK(gauge->files == 0);

  tree.File("data/old", 1, 10 * kDay);
  settings.folders = {Folder(tree / "a-file", k7Days), Folder(tree / "data", k7Days)};
  const auto not_folder = Run(settings);
  REQUIRE_FALSE(not_folder);
  CHECK_THAT(not_folder.error().message,
             Catch::Contains("could not sweep 1 of 2 folders: " + (tree / "a-file").native() +
                             " is not a folder"));
  // The other folder was swept all the same.
  CHECK_FALSE(fs::exists(tree / "data/old"));
  CHECK(not_folder.Metric("files_deleted") == 1);
  CHECK(fs::exists(tree / "a-file"));
}

TEST_CASE("retention: FIFOs and other special files are left alone", "[retention]") {
  TestTree tree;
  tree.Dir("d", 0s);
  REQUIRE(::mkfifo((tree / "d/pipe").c_str(), 0600) == 0);
  TestTree::Age(tree / "d/pipe", 10 * kDay);
  tree.File("d/old", 1, 10 * kDay);
  RetentionSettings settings;
  settings.folders = {Folder(tree / "d", k7Days, 0)};
  const auto run = Run(settings);
  REQUIRE(run);
  CHECK(TestTree::List(tree / "d") == Names{"pipe"});
  CHECK(run.Metric("files_before") == 1);
}

TEST_CASE("retention: permission problems are counted and named and the run goes on",
          "[retention]") {
  // As root a chmod stops nothing, so EACCES comes from the seam: the calls
  // return what they return for a user without the permission.
  // tests/integration/retention_test.py does it for real as `nobody`.
  TestTree tree;
  tree.File("d/locked/old", 1, 10 * kDay);
  tree.File("d/stuck", 1, 10 * kDay);
  tree.File("d/bad\nname", 1, 10 * kDay);
  tree.File("d/free", 1, 10 * kDay);
  tree.File("other/old", 1, 10 * kDay);
  SystemCalls calls = RealSystemCalls();
  calls.openat = [](int dirfd, const char* name, int flags) {
    if (std::strcmp(name, "locked") == 0) {
      errno = EACCES;
      return -1;
    }
    return ::openat(dirfd, name, flags);
  };
  calls.unlinkat = [](int dirfd, const char* name, int flags) {
    if (std::strcmp(name, "stuck") == 0 || std::strchr(name, '\n') != nullptr) {
      errno = EPERM;
      return -1;
    }
    return ::unlinkat(dirfd, name, flags);
  };
  Runner runner{{}, &calls};
  RetentionSettings settings;
  settings.folders = {Folder(tree / "d", k7Days), Folder(tree / "other", k7Days)};
  const auto run = runner.Run(settings);
  REQUIRE(run);
  CHECK(TestTree::List(tree / "d") == Names{"bad\nname", "locked/", "locked/old", "stuck"});
  CHECK(TestTree::List(tree / "other").empty());
  CHECK(run.Metric("errors") == 3);
  CHECK(run.Metric("files_deleted") == 2);
  INFO(run.output);
  CHECK_THAT(run.output, Catch::Contains("3 errors:"));
  CHECK_THAT(run.output, Catch::Contains("cannot open " + (tree / "d/locked").native() +
                                         ": Permission denied"));
  CHECK_THAT(run.output, Catch::Contains("cannot delete " + (tree / "d/stuck").native() +
                                         ": Operation not permitted"));
  CHECK_THAT(run.output, Catch::Contains("cannot delete " + (tree / "d/bad\\nname").native()));

  // A folder it cannot open at all fails the run, after the others.
  tree.File("other/old", 1, 10 * kDay);
  calls.openat = [root = (tree / "d").native()](int dirfd, const char* name, int flags) {
    if (name == root) {
      errno = EACCES;
      return -1;
    }
    return ::openat(dirfd, name, flags);
  };
  const auto closed = runner.Run(settings);
  REQUIRE_FALSE(closed);
  CHECK_THAT(closed.error().message,
             Catch::Contains("could not sweep 1 of 2 folders: cannot open " +
                             (tree / "d").native() + ": Permission denied"));
  CHECK_FALSE(closed.error().retryable);
  CHECK(TestTree::List(tree / "other").empty());
  CHECK_FALSE(Gauge(closed, tree / "d"));
  CHECK(Gauge(closed, tree / "other"));
}

TEST_CASE("retention: a cancelled run stops and says so", "[retention]") {
  TestTree tree;
  for (int i = 0; i < 5000; ++i) tree.File("d/f" + std::to_string(i), 1, 10 * kDay);
  Runner runner;
  runner.cancelled = true;
  RetentionSettings settings;
  settings.folders = {Folder(tree / "d", k7Days)};
  const auto run = runner.Run(settings);
  REQUIRE_FALSE(run);
  CHECK_THAT(run.error().message, Catch::Contains("cancelled"));
  // It stopped at the first check, a few thousand entries in, and reported what it did.
  CHECK(run.Metric("files_deleted") > 0);
  CHECK(run.Metric("files_deleted") < 5000);
  CHECK(double(TestTree::List(tree / "d").size()) == 5000 - run.Metric("files_deleted"));
  CHECK_THAT(run.output, Catch::Contains("stopped: the run was cancelled"));
}

}  // namespace jobs::retention
