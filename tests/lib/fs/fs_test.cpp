#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "fs/atomic_file.h"
#include "fs/confined_path.h"
#include "fs/folder_swap.h"

namespace {

namespace stdfs = std::filesystem;

struct TempFolder {
  stdfs::path path;
  TempFolder() {
    char name[] = "/tmp/jobsd-fs-XXXXXX";
    path = ::mkdtemp(name);
  }
  ~TempFolder() { stdfs::remove_all(path); }
};

std::string Read(const stdfs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const stdfs::path& file, const std::string& text) {
  std::ofstream(file, std::ios::binary) << text;
}

// Everything in `folder`, names only.
std::vector<std::string> Names(const stdfs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : stdfs::directory_iterator(folder)) {
    names.push_back(entry.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

TEST_CASE("atomic file: the target changes only at Commit", "[fs]") {
  TempFolder dir;
  const auto target = dir.path / "export.csv";
  WriteFile(target, "old\n");

  auto writer = files::AtomicFileWriter::Create(target);
  REQUIRE(writer);
  CHECK(writer->temp_path().parent_path() == dir.path);
  REQUIRE(writer->Write("new "));
  REQUIRE(writer->Write(std::string(100000, 'x')));
  // A kill at this instant leaves the old content in place: the new bytes
  // are only in the temporary file.
  CHECK(Read(target) == "old\n");
  CHECK(Read(writer->temp_path()) == "new " + std::string(100000, 'x'));
  CHECK(writer->size() == 100004);
  const auto temp = writer->temp_path();
  REQUIRE(writer->Commit());
  CHECK(Read(target) == "new " + std::string(100000, 'x'));
  CHECK_FALSE(stdfs::exists(temp));
  CHECK(Names(dir.path) == std::vector<std::string>{"export.csv"});
  CHECK_FALSE(writer->Commit());  // once only
}

TEST_CASE("atomic file: abandoned on destruction, the temp is gone and the target kept", "[fs]") {
  TempFolder dir;
  const auto target = dir.path / "state.json";
  WriteFile(target, "{}");
  stdfs::path temp;
  {
    auto writer = files::AtomicFileWriter::Create(target);
    REQUIRE(writer);
    REQUIRE(writer->Write("{\"half\":"));
    temp = writer->temp_path();
    CHECK(stdfs::exists(temp));
  }
  CHECK_FALSE(stdfs::exists(temp));
  CHECK(Read(target) == "{}");

  auto abandoned = files::AtomicFileWriter::Create(dir.path / "new.txt");
  REQUIRE(abandoned);
  REQUIRE(abandoned->Write("x"));
  abandoned->Abandon();
  CHECK(Names(dir.path) == std::vector<std::string>{"state.json"});

  // Moved-from writers own nothing; the moved-to one commits.
  auto first = files::AtomicFileWriter::Create(dir.path / "moved.txt");
  REQUIRE(first);
  REQUIRE(first->Write("moved"));
  files::AtomicFileWriter second = std::move(*first);
  REQUIRE(second.Commit());
  CHECK(Read(dir.path / "moved.txt") == "moved");
}

TEST_CASE("atomic file: one-shot writes and errors", "[fs]") {
  TempFolder dir;
  REQUIRE(files::WriteFileAtomically(dir.path / "a.txt", "hello"));
  CHECK(Read(dir.path / "a.txt") == "hello");
  REQUIRE(files::WriteFileAtomically(dir.path / "a.txt", ""));
  CHECK(Read(dir.path / "a.txt").empty());

  const auto missing = files::WriteFileAtomically(dir.path / "no-folder" / "a.txt", "x");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().kind == core::ErrorKind::kIo);
  CHECK_THAT(missing.error().message,
             Catch::Contains("no-folder/a.txt") && Catch::Contains("No such file or directory"));

  // The target is a folder: the rename fails and no temp stays behind.
  stdfs::create_directory(dir.path / "taken");
  WriteFile(dir.path / "taken" / "inside", "x");
  CHECK_FALSE(files::WriteFileAtomically(dir.path / "taken", "x"));
  CHECK(Names(dir.path) == std::vector<std::string>{"a.txt", "taken"});

  CHECK(files::SyncFolder(dir.path));
  CHECK_FALSE(files::SyncFolder(dir.path / "nope"));
}

TEST_CASE("folder swap: dest is replaced whole, the previous kept when asked", "[fs]") {
  TempFolder dir;
  const auto dest = dir.path / "data";
  const auto staged = dir.path / "data.staged";
  const auto backup = dir.path / "data.previous";

  // No dest yet: the staged folder becomes it.
  stdfs::create_directory(staged);
  WriteFile(staged / "v", "1");
  REQUIRE(files::SwapFolder(staged, dest, backup));
  CHECK(Read(dest / "v") == "1");
  CHECK_FALSE(stdfs::exists(staged));
  CHECK_FALSE(stdfs::exists(backup));

  // Replaced, previous kept.
  stdfs::create_directory(staged);
  WriteFile(staged / "v", "2");
  REQUIRE(files::SwapFolder(staged, dest, backup));
  CHECK(Read(dest / "v") == "2");
  CHECK(Read(backup / "v") == "1");
  CHECK_FALSE(stdfs::exists(staged));

  // Again: the older backup is replaced by the newer previous.
  stdfs::create_directory(staged);
  WriteFile(staged / "v", "3");
  REQUIRE(files::SwapFolder(staged, dest, backup));
  CHECK(Read(dest / "v") == "3");
  CHECK(Read(backup / "v") == "2");

  // Without a backup name the previous tree is deleted.
  stdfs::create_directory(staged);
  WriteFile(staged / "w", "4");
  REQUIRE(files::SwapFolder(staged, dest));
  CHECK(Names(dest) == std::vector<std::string>{"w"});
  CHECK(Names(dir.path) == std::vector<std::string>{"data", "data.previous"});

  // Nothing staged: an error, dest untouched.
  const auto missing = files::SwapFolder(staged, dest, backup);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().kind == core::ErrorKind::kIo);
  CHECK(Read(dest / "w") == "4");
}

TEST_CASE("confined path: relative names from outside", "[fs]") {
  struct Case {
    std::string name;
    const char* accepted;  // relative to the root; nullptr: refused
    const char* why;
  };
  const Case cases[] = {
      {"a.txt", "a.txt", ""},
      {"dir/sub/file.bin", "dir/sub/file.bin", ""},
      {"dir/", "dir", ""},
      {"./a/./b", "a/b", ""},
      {"a/../b", "b", ""},
      {"a/b/../../c", "c", ""},
      {"..", nullptr, "'..' leads outside"},
      {"../etc/passwd", nullptr, "'..' leads outside"},
      {"a/../../b", nullptr, "'..' leads outside"},
      {"/etc/passwd", nullptr, "it is absolute"},
      {"//x", nullptr, "it is absolute"},
      {"", nullptr, "it is empty"},
      {"a//b", nullptr, "an empty component"},
      {"a/b//", nullptr, "an empty component"},
      {".", nullptr, "it names the folder itself"},
      {"a/..", nullptr, "it names the folder itself"},
      {std::string("a\0b", 3), nullptr, "it contains a NUL byte"},
      {"..\\evil", nullptr, "it contains a backslash"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const auto got = files::ConfinedPath("/srv/root", c.name);
    if (c.accepted) {
      REQUIRE(got);
      CHECK(*got == stdfs::path("/srv/root") / c.accepted);
    } else {
      REQUIRE_FALSE(got);
      CHECK(got.error().kind == core::ErrorKind::kInvalidArgument);
      CHECK_THAT(got.error().message, Catch::EndsWith(c.why));
    }
  }
}

TEST_CASE("confined path: symlinks that lead outside are refused", "[fs]") {
  TempFolder dir;
  const auto root = dir.path / "root";
  const auto outside = dir.path / "outside";
  stdfs::create_directories(root / "real" / "deep");
  stdfs::create_directory(outside);
  stdfs::create_directory_symlink(outside, root / "abs_out");
  stdfs::create_directory_symlink("../outside", root / "rel_out");
  stdfs::create_directory_symlink("real/deep", root / "in");
  stdfs::create_directory_symlink("../../real", root / "real" / "deep" / "up_in");
  stdfs::create_directory_symlink("../../..", root / "real" / "deep" / "up_out_chain");
  stdfs::create_symlink(outside / "not-yet", root / "dangling_out");
  stdfs::create_symlink("chain_b", root / "chain_a");
  stdfs::create_symlink("rel_out", root / "chain_b");
  stdfs::create_symlink("loop", root / "loop");

  struct Case {
    const char* name;
    const char* accepted;  // relative to root; nullptr: refused
  };
  const Case cases[] = {
      {"real/deep/file", "real/deep/file"},
      {"new/file", "new/file"},                                    // nothing of it exists yet
      {"in/file", "in/file"},                                      // a symlink that stays inside
      {"real/deep/up_in/deep/file", "real/deep/up_in/deep/file"},  // up and back inside
      {"abs_out/passwd", nullptr},
      {"rel_out/passwd", nullptr},
      {"abs_out", nullptr},
      {"real/deep/up_out_chain/x", nullptr},
      {"real/deep/up_out_chain/root/in/x", "real/deep/up_out_chain/root/in/x"},  // back inside
      {"dangling_out", nullptr},  // creating it would create its target
      {"chain_a/x", nullptr},
      {"loop/x", nullptr},
      // ".." is read in the name, before any symlink: the path returned has
      // none, and that path is what is checked and used.
      {"real/deep/up_out_chain/../x", "real/deep/x"},
  };
  for (const Case& c : cases) {
    INFO(c.name);
    const auto got = files::ResolveConfined(root, c.name);
    REQUIRE(got.has_value() == (c.accepted != nullptr));
    if (c.accepted) {
      CHECK(*got == root / c.accepted);
    } else {
      CHECK_THAT(got.error().message, Catch::Contains("symlink"));
    }
  }
  // The lexical check alone accepts what only the tree shows is outside.
  CHECK(files::ConfinedPath(root, "abs_out/passwd"));
  CHECK_FALSE(files::ResolveConfined(dir.path / "no-root", "a"));
}
