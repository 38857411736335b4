// The zips are made here: with libarchive's writer where it can say what the
// case needs, and with RawZip (stored entries, every header field as given)
// for what a well-behaved writer refuses to write: absolute names,
// backslashes, "..", NUL, duplicates, device and symlink modes.
#include <archive.h>
#include <archive_entry.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "archive/zip_extractor.h"
#include "tests/support/rss.h"

namespace {

namespace stdfs = std::filesystem;
using namespace std::chrono_literals;

struct TempFolder {
  stdfs::path path;
  TempFolder() {
    char name[] = "/tmp/jobsd-archive-XXXXXX";
    path = ::mkdtemp(name);
  }
  ~TempFolder() { stdfs::remove_all(path); }
};

std::string Read(const stdfs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void WriteFile(const stdfs::path& file, const std::string& bytes) {
  std::ofstream(file, std::ios::binary) << bytes;
}

// Every path under `folder`, relative, symlinks not followed.
std::vector<std::string> Tree(const stdfs::path& folder) {
  std::vector<std::string> names;
  for (const auto& entry : stdfs::recursive_directory_iterator(folder)) {
    names.push_back(entry.path().lexically_relative(folder).string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::uint64_t SizeOnDisk(const stdfs::path& folder) {
  std::uint64_t total = 0;
  for (const auto& entry : stdfs::recursive_directory_iterator(folder)) {
    if (entry.is_regular_file()) total += entry.file_size();
  }
  return total;
}

mode_t Mode(const stdfs::path& path) {
  struct stat st {};
  REQUIRE(::lstat(path.c_str(), &st) == 0);
  return st.st_mode & 07777;
}

using support::PeakRssGrowthKiB;

// --- zips written by libarchive

struct Item {
  std::string name;
  std::string data;
  mode_t mode = AE_IFREG | 0644;
  std::uint64_t repeat = 1;  // `data` written this many times (large entries)
};

void WriteZip(const stdfs::path& file, const std::vector<Item>& items, bool deflate = true) {
  struct archive* a = archive_write_new();
  REQUIRE(archive_write_set_format_zip(a) == ARCHIVE_OK);
  if (deflate) {
    REQUIRE(archive_write_zip_set_compression_deflate(a) == ARCHIVE_OK);
  } else {
    REQUIRE(archive_write_zip_set_compression_store(a) == ARCHIVE_OK);
  }
  REQUIRE(archive_write_open_filename(a, file.c_str()) == ARCHIVE_OK);
  for (const Item& item : items) {
    struct archive_entry* entry = archive_entry_new();
    archive_entry_set_pathname(entry, item.name.c_str());
    archive_entry_set_mode(entry, item.mode);
    archive_entry_set_mtime(entry, 1700000000, 0);
    if ((item.mode & AE_IFMT) == AE_IFREG) {
      archive_entry_set_size(entry, la_int64_t(item.data.size() * item.repeat));
    }
    REQUIRE(archive_write_header(a, entry) == ARCHIVE_OK);
    for (std::uint64_t i = 0; i < item.repeat && !item.data.empty(); ++i) {
      REQUIRE(archive_write_data(a, item.data.data(), item.data.size()) ==
              la_ssize_t(item.data.size()));
    }
    archive_entry_free(entry);
  }
  REQUIRE(archive_write_close(a) == ARCHIVE_OK);
  archive_write_free(a);
}

// --- zips written field by field

constexpr std::uint32_t kFileMode = 0100644;
constexpr std::uint32_t kFolderMode = 040755;

struct RawEntry {
  std::string name;
  std::string data;
  std::uint32_t mode = kFileMode;  // high half of the external attributes ("made by Unix")
  bool bad_crc = false;
};

void Put16(std::string& out, std::uint32_t v) {
  out += char(v & 0xff);
  out += char((v >> 8) & 0xff);
}
void Put32(std::string& out, std::uint32_t v) {
  Put16(out, v & 0xffff);
  Put16(out, v >> 16);
}

std::string RawZip(const std::vector<RawEntry>& entries) {
  std::string out, central;
  for (const RawEntry& e : entries) {
    std::uint32_t crc =
        std::uint32_t(crc32(0, reinterpret_cast<const Bytef*>(e.data.data()), uInt(e.data.size())));
    if (e.bad_crc) crc ^= 1;
    const std::uint32_t offset = std::uint32_t(out.size());
    // Stored, version 2.0, 1980-01-01 00:00.
    const auto common = [&](std::string& h) {
      Put16(h, 20);  // version needed
      Put16(h, 0);   // flags
      Put16(h, 0);   // stored
      Put16(h, 0);   // time
      Put16(h, 0x21);
      Put32(h, crc);
      Put32(h, std::uint32_t(e.data.size()));
      Put32(h, std::uint32_t(e.data.size()));
      Put16(h, std::uint32_t(e.name.size()));
      Put16(h, 0);  // extra
    };
    Put32(out, 0x04034b50);
    common(out);
    out += e.name;
    out += e.data;
    Put32(central, 0x02014b50);
    Put16(central, 0x0314);  // made by Unix, 2.0
    common(central);
    Put16(central, 0);  // comment
    Put16(central, 0);  // disk
    Put16(central, 0);  // internal attributes
    Put32(central, e.mode << 16 | ((e.mode & 0170000) == 040000 ? 0x10 : 0));
    Put32(central, offset);
    central += e.name;
  }
  const std::uint32_t cd_offset = std::uint32_t(out.size());
  out += central;
  Put32(out, 0x06054b50);
  Put16(out, 0);
  Put16(out, 0);
  Put16(out, std::uint32_t(entries.size()));
  Put16(out, std::uint32_t(entries.size()));
  Put32(out, std::uint32_t(central.size()));
  Put32(out, cd_offset);
  Put16(out, 0);
  return out;
}

// A zip beside an empty staging folder and a folder that must stay as it is.
struct Workspace {
  TempFolder dir;
  stdfs::path zip = dir.path / "artifact.zip";
  stdfs::path stage = dir.path / "stage";
  stdfs::path outside = dir.path / "outside";
  Workspace() {
    stdfs::create_directory(stage);
    stdfs::create_directory(outside);
    WriteFile(outside / "keep.txt", "keep");
  }
  core::Result<archives::ExtractReport> Extract(const archives::ExtractLimits& limits = {},
                                                const std::function<bool()>& cancelled = {}) {
    return archives::ExtractZip(zip, stage, limits, cancelled);
  }
  // Nothing written beside the staging folder, nor in the one outside it.
  bool OutsideUnchanged() const {
    std::vector<std::string> rest;
    for (const auto& name : Tree(dir.path)) {
      if (name != "stage" && name.rfind("stage/", 0) != 0) rest.push_back(name);
    }
    return rest == std::vector<std::string>{"artifact.zip", "outside", "outside/keep.txt"} &&
           Read(outside / "keep.txt") == "keep";
  }
};

// Incompressible, and the same every run.
std::string Noise(std::size_t size, std::uint64_t seed) {
  std::string out(size, '\0');
  for (auto& c : out) {
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    c = char(seed >> 24);
  }
  return out;
}

// The error of a failed result, for INFO before a REQUIRE that it succeeded.
template <typename T>
std::string Why(const core::Result<T>& result) {
  return result ? std::string("succeeded") : result.error().message;
}

}  // namespace

TEST_CASE("zip: nested folders, an executable, exact bytes, modes and times", "[archive]") {
  Workspace ws;
  const std::string text = "hello\nworld\n";
  WriteZip(ws.zip, {
                       {"docs/", "", AE_IFDIR | 0700},
                       {"docs/readme.txt", text},
                       {"bin/run.sh", "#!/bin/sh\necho hi\n", AE_IFREG | 0700},
                       {"deep/a/b/bytes.bin", Noise(256000, 5), AE_IFREG | 0600},
                       {"empty", ""},
                       {"..foo", "dots"},
                       {"x/..bar/y", "y"},
                   });
  const auto report = ws.Extract();
  INFO(Why(report));
  REQUIRE(report);
  CHECK(report->files == 6);
  CHECK(report->folders == 7);  // docs bin deep deep/a deep/a/b x x/..bar
  CHECK(report->bytes == text.size() + 18 + 256000 + 4 + 1);
  CHECK(report->archive_bytes == stdfs::file_size(ws.zip));
  CHECK(Tree(ws.stage) == std::vector<std::string>{"..foo", "bin", "bin/run.sh", "deep", "deep/a",
                                                   "deep/a/b", "deep/a/b/bytes.bin", "docs",
                                                   "docs/readme.txt", "empty", "x", "x/..bar",
                                                   "x/..bar/y"});
  CHECK(Read(ws.stage / "docs/readme.txt") == text);
  const std::string bytes = Noise(256000, 5);
  CHECK(Read(ws.stage / "deep/a/b/bytes.bin") == bytes);
  CHECK(Read(ws.stage / "empty").empty());
  CHECK(Read(ws.stage / "..foo") == "dots");
  CHECK(Mode(ws.stage / "bin/run.sh") == 0755);
  CHECK(Mode(ws.stage / "docs/readme.txt") == 0644);
  CHECK(Mode(ws.stage / "deep/a/b/bytes.bin") == 0644);
  CHECK(Mode(ws.stage / "docs") == 0755);
  CHECK(Mode(ws.stage / "deep/a") == 0755);
  struct stat st {};
  REQUIRE(::stat((ws.stage / "docs/readme.txt").c_str(), &st) == 0);
  CHECK(st.st_mtime == 1700000000);
  REQUIRE(::stat((ws.stage / "docs").c_str(), &st) == 0);
  CHECK(st.st_mtime == 1700000000);  // set after the files in it were made
  CHECK(ws.OutsideUnchanged());
  // The same tree as a reference extractor makes of it.
  if (::access("/usr/bin/unzip", X_OK) == 0) {
    const stdfs::path peer = ws.dir.path / "peer";
    const std::string command =
        "/usr/bin/unzip -qq " + ws.zip.string() + " -d " + peer.string() + " >/dev/null 2>&1";
    REQUIRE(std::system(command.c_str()) == 0);
    CHECK(Tree(peer) == Tree(ws.stage));
    CHECK(Read(peer / "deep/a/b/bytes.bin") == bytes);
  }
}

TEST_CASE("zip: an empty archive extracts to nothing; IsZipFile", "[archive]") {
  Workspace ws;
  WriteZip(ws.zip, {});
  CHECK(stdfs::file_size(ws.zip) == 22);  // the end record alone
  const auto report = ws.Extract();
  INFO(Why(report));
  REQUIRE(report);
  CHECK(report->files == 0);
  CHECK(report->folders == 0);
  CHECK(report->bytes == 0);
  CHECK(stdfs::is_empty(ws.stage));
  CHECK(archives::IsZipFile(ws.zip).value());

  WriteZip(ws.dir.path / "one.zip", {{"a", "b"}});
  CHECK(archives::IsZipFile(ws.dir.path / "one.zip").value());
  WriteFile(ws.dir.path / "page.html", "<!DOCTYPE html><html>");
  CHECK_FALSE(archives::IsZipFile(ws.dir.path / "page.html").value());
  WriteFile(ws.dir.path / "nothing", "");
  CHECK_FALSE(archives::IsZipFile(ws.dir.path / "nothing").value());
  const auto missing = archives::IsZipFile(ws.dir.path / "missing.zip");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().kind == core::ErrorKind::kNotFound);
}

TEST_CASE("zip: a folder entry after the files in it, and names that only look like '..'",
          "[archive]") {
  Workspace ws;
  WriteFile(ws.zip, RawZip({{"a/b", "1"},
                            {"a/", "", kFolderMode},
                            {"..foo", "2"},
                            {"a/..b", "3"},
                            {"a/./c", "4"},
                            {"a/d/../e", "5"},
                            {"caf\xc3\xa9.txt", "6"}}));
  const auto report = ws.Extract();
  INFO(Why(report));
  REQUIRE(report);
  CHECK(report->files == 6);
  CHECK(Tree(ws.stage) ==
        std::vector<std::string>{"..foo", "a", "a/..b", "a/b", "a/c", "a/e", "caf\xc3\xa9.txt"});
  CHECK(Read(ws.stage / "a/e") == "5");
  CHECK(ws.OutsideUnchanged());
}

TEST_CASE("zip: hostile entries are refused, naming the entry and the rule", "[archive]") {
  struct Case {
    const char* what;
    std::vector<RawEntry> entries;
    std::string message;  // part of the error
  };
  const std::vector<Case> cases = {
      {"absolute", {{"ok", "1"}, {"/etc/passwd", "x"}}, "entry #2 '/etc/passwd': it is absolute"},
      {"backslash", {{"a\\..\\..\\x", "x"}}, "entry #1 'a\\..\\..\\x': it contains a backslash"},
      {"dot-dot", {{"../x", "x"}}, "entry #1 '../x': '..' leads outside"},
      {"dot-dot deep", {{"a/b", "1"}, {"a/../../x", "x"}}, "entry #2 'a/../../x': '..' leads"},
      {"empty component", {{"a//b", "x"}}, "entry #1 'a//b': an empty component"},
      {"NUL",
       {{std::string("a\0/../../x", 10), "x"}},
       "entry #1 'a\\x00/../../x': it contains a NUL"},
      {"control characters",
       {{"x\x1b[2J/../../y", "x"}},
       "entry #1 'x\\x1b[2J/../../y': '..' leads"},
      {"symlink", {{"link", "/etc", 0120777}}, "entry #1 'link': it is a symlink"},
      {"character device", {{"tty", "", 020666}}, "entry #1 'tty': it is a device file"},
      {"block device", {{"sda", "", 060660}}, "entry #1 'sda': it is a device file"},
      {"FIFO", {{"fifo", "", 010644}}, "entry #1 'fifo': it is a FIFO"},
      {"socket", {{"sock", "", 0140644}}, "entry #1 'sock': it is a socket"},
      {"duplicate",
       {{"a/b", "1"}, {"a/./b", "2"}},
       "entry #2 'a/./b': the name is taken: a file of entry #1"},
      {"duplicate folder",
       {{"d/", "", kFolderMode}, {"d/", "", kFolderMode}},
       "entry #2 'd/': the name is taken"},
      {"file over folder",
       {{"a/b", "1"}, {"a", "2"}},
       "entry #2 'a': the name is taken: a folder made for entry #1"},
      {"folder over file",
       {{"a", "1"}, {"a/", "", kFolderMode}},
       "entry #2 'a/': the name is taken: a file"},
      {"path through a file",
       {{"a", "1"}, {"a/b", "2"}},
       "entry #2 'a/b': its folder 'a' is a file (entry #1)"},
      {"long component",
       {{std::string(256, 'n'), "x"}},
       "entry #1 '" + std::string(256, 'n') + "': a component is longer than 255 bytes"},
  };
  for (const Case& c : cases) {
    SECTION(c.what) {
      Workspace ws;
      WriteFile(ws.zip, RawZip(c.entries));
      const auto report = ws.Extract();
      REQUIRE_FALSE(report);
      CHECK(report.error().kind == core::ErrorKind::kInvalidArgument);
      CHECK_FALSE(report.error().retryable);
      CHECK_THAT(report.error().message, Catch::Contains("artifact.zip: " + c.message));
      CHECK(ws.OutsideUnchanged());
      CHECK_FALSE(stdfs::exists(ws.dir.path / "x"));
      CHECK_FALSE(stdfs::exists(ws.dir.path / "y"));
    }
  }
}

TEST_CASE("zip: a symlink put in the tree meanwhile is never followed", "[archive]") {
  Workspace ws;
  WriteFile(ws.zip, RawZip({{"a/", "", kFolderMode}, {"a/x", "escaped"}, {"b", "escaped"}}));
  SECTION("a folder swapped for a link to outside") {
    // The cancellation poll runs between entries: the moment to swap.
    const auto report = ws.Extract({}, [&] {
      if (stdfs::is_directory(ws.stage / "a") && !stdfs::is_symlink(ws.stage / "a")) {
        stdfs::remove(ws.stage / "a");
        stdfs::create_directory_symlink(ws.outside, ws.stage / "a");
      }
      return false;
    });
    REQUIRE_FALSE(report);
    CHECK(report.error().kind == core::ErrorKind::kIo);
    CHECK_THAT(report.error().message, Catch::Contains("entry #2 'a/x': cannot open folder"));
  }
  SECTION("a link where a file is about to be made") {
    const auto report = ws.Extract({}, [&] {
      if (stdfs::exists(ws.stage / "a/x") && !stdfs::is_symlink(ws.stage / "b")) {
        stdfs::create_symlink(ws.outside / "keep.txt", ws.stage / "b");
      }
      return false;
    });
    REQUIRE_FALSE(report);
    CHECK(report.error().kind == core::ErrorKind::kIo);
    CHECK_THAT(report.error().message, Catch::Contains("entry #3 'b': cannot create file"));
  }
  CHECK(ws.OutsideUnchanged());
}

TEST_CASE("zip: a bomb stops at max_bytes without writing the rest", "[archive]") {
  Workspace ws;
  // 200 MiB of zeros deflate to about 200 KB.
  WriteZip(ws.zip, {{"small", "x"}, {"zeros", std::string(1 << 20, '\0'), AE_IFREG | 0644, 200}});
  CHECK(stdfs::file_size(ws.zip) < 1000000);
  archives::ExtractLimits limits;
  limits.max_bytes = 10 << 20;
  limits.max_ratio = 0;
  const auto start = std::chrono::steady_clock::now();
  const auto report = ws.Extract(limits);
  const auto took = std::chrono::steady_clock::now() - start;
  REQUIRE_FALSE(report);
  CHECK(report.error().kind == core::ErrorKind::kInvalidArgument);
  CHECK_FALSE(report.error().retryable);
  CHECK_THAT(report.error().message,
             Catch::Contains("entry #2 'zeros': the extracted size would pass the limit of "
                             "10485760 bytes (max_bytes)"));
  const std::uint64_t written = SizeOnDisk(ws.stage);
  CHECK(written <= limits.max_bytes);
  CHECK(written > limits.max_bytes - (1 << 20));
  CHECK(took < 5s);  // the whole bomb decompressed would be 20 times this much work
  CHECK(ws.OutsideUnchanged());
}

TEST_CASE("zip: the ratio limit", "[archive]") {
  Workspace ws;
  WriteZip(ws.zip, {{"zeros", std::string(1 << 20, '\0'), AE_IFREG | 0644, 8}});
  const std::uint64_t size = stdfs::file_size(ws.zip);
  const auto report = ws.Extract();  // 8 MiB from about 8 KB: far over 100
  REQUIRE_FALSE(report);
  CHECK(report.error().kind == core::ErrorKind::kInvalidArgument);
  CHECK_THAT(report.error().message, Catch::Contains("entry #1 'zeros': the extracted size "
                                                     "would pass 100"));
  CHECK_THAT(report.error().message, Catch::Contains("(max_ratio)"));
  CHECK(SizeOnDisk(ws.stage) <= 100 * size);

  TempFolder again;
  stdfs::create_directory(again.path / "stage");
  archives::ExtractLimits lax;
  lax.max_ratio = 10000;
  const auto ok = archives::ExtractZip(ws.zip, again.path / "stage", lax);
  INFO(Why(ok));
  REQUIRE(ok);
  CHECK(ok->bytes == 8 << 20);
}

TEST_CASE("zip: damaged archives are retryable I/O errors", "[archive]") {
  Workspace ws;
  const std::string text = Noise(4000, 7) + std::string(100000, 'a');
  WriteZip(ws.dir.path / "good.zip", {{"dir/", "", AE_IFDIR | 0755}, {"dir/data.txt", text}});
  const std::string good = Read(ws.dir.path / "good.zip");
  stdfs::remove(ws.dir.path / "good.zip");

  SECTION("truncated") {
    WriteFile(ws.zip, good.substr(0, good.size() / 2));
    const auto report = ws.Extract();
    REQUIRE_FALSE(report);
    CHECK(report.error().kind == core::ErrorKind::kIo);
    CHECK(report.error().retryable);
    CHECK_THAT(report.error().message,
               Catch::Contains("artifact.zip: damaged zip archive (truncated download?)"));
  }
  SECTION("a flipped byte in the compressed data") {
    // The second local header: after the folder's header and name.
    const std::size_t second = good.find("PK\x03\x04", 4);
    REQUIRE(second != std::string::npos);
    const auto extra = std::size_t(std::uint8_t(good[second + 28])) |
                       std::size_t(std::uint8_t(good[second + 29])) << 8;
    std::string bad = good;
    bad[second + 30 + 12 + extra + 40] ^= 0x01;
    WriteFile(ws.zip, bad);
    const auto report = ws.Extract();
    REQUIRE_FALSE(report);
    CHECK(report.error().kind == core::ErrorKind::kIo);
    CHECK(report.error().retryable);
    CHECK_THAT(
        report.error().message,
        Catch::Contains("entry #2 'dir/data.txt': damaged zip archive (truncated download?)"));
  }
  SECTION("a bad CRC on a stored entry") {
    WriteFile(ws.zip, RawZip({{"ok", "fine"}, {"bad", "content", kFileMode, true}}));
    const auto report = ws.Extract();
    REQUIRE_FALSE(report);
    CHECK(report.error().kind == core::ErrorKind::kIo);
    CHECK(report.error().retryable);
    CHECK_THAT(report.error().message, Catch::Contains("entry #2 'bad': damaged"));
    CHECK_THAT(report.error().message, Catch::Contains("CRC"));
  }
  SECTION("a central directory that points past the file") {
    std::string bad = RawZip({{"a", "1"}});
    bad[bad.size() - 3] = '\x7f';  // the directory's offset, high byte
    WriteFile(ws.zip, bad);
    const auto report = ws.Extract();
    REQUIRE_FALSE(report);
    CHECK(report.error().kind == core::ErrorKind::kIo);
    CHECK(report.error().retryable);
    CHECK_THAT(report.error().message, Catch::Contains("bad central directory"));
  }
  CHECK(ws.OutsideUnchanged());
}

TEST_CASE("zip: bytes that are not a zip at all", "[archive]") {
  Workspace ws;
  WriteFile(ws.zip, "<!DOCTYPE html>\n<html><body>Not Found</body></html>");
  auto report = ws.Extract();
  REQUIRE_FALSE(report);
  CHECK(report.error().kind == core::ErrorKind::kInvalidArgument);
  CHECK_FALSE(report.error().retryable);
  CHECK(
      report.error().message ==
      "artifact.zip is not a zip archive: it starts with 3c 21 44 4f 43 54 59 50 45 20 68 74 6d 6c "
      "3e 0a (\"<!DOCTYPE html>.\")");
  WriteFile(ws.zip, "");
  report = ws.Extract();
  REQUIRE_FALSE(report);
  CHECK(report.error().message == "artifact.zip is not a zip archive: the file is empty");
  CHECK(stdfs::is_empty(ws.stage));

  const auto missing = archives::ExtractZip(ws.dir.path / "none.zip", ws.stage, {});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().kind == core::ErrorKind::kNotFound);
  WriteZip(ws.zip, {{"a", "b"}});
  WriteFile(ws.stage / "left", "over");
  const auto not_empty = ws.Extract();
  REQUIRE_FALSE(not_empty);
  CHECK_THAT(not_empty.error().message, Catch::Contains("is not empty"));
}

TEST_CASE("zip: cancellation stops between blocks", "[archive]") {
  Workspace ws;
  WriteZip(ws.zip, {{"a", "1"}, {"big", Noise(1 << 20, 3), AE_IFREG | 0644, 4}}, false);
  int polls = 0;
  const auto report = ws.Extract({}, [&] { return ++polls > 5; });
  REQUIRE_FALSE(report);
  CHECK(report.error().kind == core::ErrorKind::kCancelled);
  CHECK_THAT(report.error().message, Catch::Contains("artifact.zip: extraction cancelled"));
  CHECK(SizeOnDisk(ws.stage) < (4 << 20));
}

TEST_CASE("zip: a large incompressible entry extracts with flat memory", "[archive]") {
  Workspace ws;
  // 64 MiB, written as 64 pieces so the test itself never holds it whole.
  WriteZip(ws.zip, {{"large.bin", Noise(1 << 20, 11), AE_IFREG | 0644, 64}});
  core::Result<archives::ExtractReport> report =
      core::Unexpected(core::Error{core::ErrorKind::kInternal, "not run", false});
  const long growth = PeakRssGrowthKiB([&] { report = ws.Extract(); });
  INFO(Why(report));
  REQUIRE(report);
  CHECK(report->bytes == std::uint64_t(64) << 20);
  CHECK(stdfs::file_size(ws.stage / "large.bin") == std::uint64_t(64) << 20);
  CHECK(growth < 16 * 1024);  // held in memory it would be 64 MiB
  std::ifstream in(ws.stage / "large.bin", std::ios::binary);
  std::string last(1 << 20, '\0');
  in.seekg(std::streamoff(63) << 20);
  in.read(last.data(), std::streamsize(last.size()));
  CHECK(last == Noise(1 << 20, 11));
}
