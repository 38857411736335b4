#include "jobs/github_artifact/versioned_folder.h"

#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>

namespace jobs::github_artifact {
namespace {

namespace fs = std::filesystem;

struct TempFolder {
  fs::path path;
  TempFolder() {
    char name[] = "/tmp/jobsd-versions-XXXXXX";
    path = ::mkdtemp(name);
  }
  ~TempFolder() { fs::remove_all(path); }
};

void WriteFile(const fs::path& file, const std::string& text) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << text;
}

std::string Read(const fs::path& file) {
  std::ifstream in(file);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<std::string> Names(const fs::path& folder) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(folder)) {
    out.push_back(entry.path().filename().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Stages `version` holding one file and installs it.
void Put(VersionedFolder& folder, const std::string& version, const std::string& text) {
  auto staged = folder.Stage(version);
  REQUIRE(staged);
  WriteFile(*staged / "data.txt", text);
  auto installed = folder.Install(*staged, version);
  INFO((installed ? "" : installed.error().message));
  REQUIRE(installed);
}

}  // namespace

TEST_CASE("SafeFileName: one harmless file name, '..foo' kept", "[github_artifact][versions]") {
  CHECK(SafeFileName("feast-offline-store-1234") == "feast-offline-store-1234");
  CHECK(SafeFileName("aq_report.v2") == "aq_report.v2");
  CHECK(SafeFileName("..foo") == "..foo");
  CHECK(SafeFileName("..") == "__");
  CHECK(SafeFileName(".") == "_");
  CHECK(SafeFileName("...") == "___");
  CHECK(SafeFileName("../evil") == ".._evil");
  CHECK(SafeFileName("a/b\\c") == "a_b_c");
  CHECK(SafeFileName("name with spaces\n") == "name_with_spaces_");
  CHECK(SafeFileName("caf\xc3\xa9") == "caf__");
  CHECK(SafeFileName("") == "_");
  CHECK(SafeFileName(std::string(300, 'x')).size() == 100);
}

TEST_CASE("VersionedFolder: dest is a symlink to one complete version",
          "[github_artifact][versions]") {
  TempFolder tmp;
  VersionedFolder folder(tmp.path / "data" / "feast");
  CHECK(folder.versions() == tmp.path / "data" / "feast.versions");
  REQUIRE(folder.Prepare());
  CHECK_FALSE(folder.Current());

  Put(folder, "1001-feast-1", "one");
  CHECK(folder.Current() == std::optional<std::string>("1001-feast-1"));
  CHECK(fs::is_symlink(folder.dest()));
  // Relative, so dest and its versions can move together.
  CHECK(fs::read_symlink(folder.dest()) == fs::path("feast.versions/1001-feast-1"));
  CHECK(Read(folder.dest() / "data.txt") == "one");

  Put(folder, "1002-feast-2", "two");
  CHECK(folder.Current() == std::optional<std::string>("1002-feast-2"));
  CHECK(Read(folder.dest() / "data.txt") == "two");
  Put(folder, "1003-feast-3", "three");
  CHECK(Names(folder.versions()) ==
        std::vector<std::string>{"1001-feast-1", "1002-feast-2", "1003-feast-3"});

  // keep: 1 leaves the current one and the newest other one.
  auto removed = folder.Prune(1);
  REQUIRE(removed);
  CHECK(*removed == std::vector<std::string>{"1001-feast-1"});
  CHECK(Names(folder.versions()) == std::vector<std::string>{"1002-feast-2", "1003-feast-3"});
  // Ordered by the artifact id as a number, not as text.
  Put(folder, "999-feast-0", "zero");
  auto by_number = folder.Prune(1);
  REQUIRE(by_number);
  CHECK(*by_number == std::vector<std::string>{"1002-feast-2"});
  CHECK(Names(folder.versions()) == std::vector<std::string>{"1003-feast-3", "999-feast-0"});

  // A version pulled before and since replaced comes back as a new copy.
  Put(folder, "1003-feast-3", "three again");
  CHECK(Read(folder.dest() / "data.txt") == "three again");
  REQUIRE(folder.Prune(0));
  CHECK(Names(folder.versions()) == std::vector<std::string>{"1003-feast-3"});
}

TEST_CASE("VersionedFolder: leftovers of an interrupted run go, versions stay",
          "[github_artifact][versions]") {
  TempFolder tmp;
  VersionedFolder folder(tmp.path / "feast");
  REQUIRE(folder.Prepare());
  Put(folder, "7-a", "a");
  WriteFile(folder.versions() / ".staging-8-b" / "x" / "half.bin", "half");
  WriteFile(folder.DownloadPath("8-b"), "partial zip");
  fs::create_symlink("feast.versions/8-b", folder.versions() / ".link-123");
  REQUIRE(folder.Prepare());
  CHECK(Names(folder.versions()) == std::vector<std::string>{"7-a"});
  CHECK(folder.Current() == std::optional<std::string>("7-a"));
}

TEST_CASE("VersionedFolder: a plain dest folder is kept as before-jobsd",
          "[github_artifact][versions]") {
  TempFolder tmp;
  const fs::path dest = tmp.path / "feast";
  WriteFile(dest / "registry.db", "from the old script");
  VersionedFolder folder(dest);
  REQUIRE(folder.Prepare());
  CHECK_FALSE(folder.Current());  // a folder is not a version
  Put(folder, "5-new", "new");
  CHECK(folder.Current() == std::optional<std::string>("5-new"));
  CHECK(Read(folder.versions() / "before-jobsd" / "registry.db") == "from the old script");
  // Never pruned.
  Put(folder, "6-newer", "newer");
  REQUIRE(folder.Prune(0));
  CHECK(Names(folder.versions()) == std::vector<std::string>{"6-newer", "before-jobsd"});
}

TEST_CASE("VersionedFolder: refuses to replace a file, and other links are not versions",
          "[github_artifact][versions]") {
  TempFolder tmp;
  WriteFile(tmp.path / "feast", "a file");
  VersionedFolder folder(tmp.path / "feast");
  REQUIRE(folder.Prepare());
  auto staged = folder.Stage("1-a");
  REQUIRE(staged);
  auto installed = folder.Install(*staged, "1-a");
  REQUIRE_FALSE(installed);
  CHECK_THAT(installed.error().message, Catch::Contains("is a file, not a folder"));
  CHECK(Read(tmp.path / "feast") == "a file");

  // A dest symlink that points elsewhere is not a version of ours.
  fs::remove(tmp.path / "feast");
  fs::create_directories(tmp.path / "elsewhere");
  fs::create_directory_symlink(tmp.path / "elsewhere", tmp.path / "feast");
  CHECK_FALSE(folder.Current());
  // A dest relative to the working folder, with no parent in its name.
  const fs::path cwd = fs::current_path();
  fs::current_path(tmp.path);
  VersionedFolder relative("bare");
  REQUIRE(relative.Prepare());
  Put(relative, "2-b", "b");
  CHECK(fs::read_symlink(tmp.path / "bare") == fs::path("bare.versions/2-b"));
  fs::current_path(cwd);
  // "dest/" names the same folder as "dest".
  CHECK(VersionedFolder(tmp.path / "feast/").versions() == tmp.path / "feast.versions");
}

}  // namespace jobs::github_artifact
