// The backup job's pieces: GFS retention over a simulated year, the
// manifest, packing round trips and damage, the config; and whole runs on
// SQLite sources (one of them written to during its backup), verify
// catching a damaged file, and restore.
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <iterator>
#include <random>
#include <thread>

#include "archive/packing.h"
#include "config/config_loader.h"
#include "crypto/sha256.h"
#include "jobs/backup/backup_catalog.h"
#include "jobs/backup/backup_config.h"
#include "jobs/backup/backup_job.h"
#include "jobs/backup/retention_policy.h"
#include "jobs/backup/stored_file.h"
#include "sqlite/database.h"
#include "sqlite/statement.h"
#include "tests/lib/config/config_test_support.h"
#include "tests/support/job_run.h"

namespace jobs::backup {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using config::testing::TempDir;

core::TimePoint At(const char* text) {
  auto t = core::ParseRfc3339(text);
  REQUIRE(t);
  return *t;
}

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void Write(const fs::path& p, const std::string& text) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << text;
}

// What restic's forget keeps, worked out by hand from its rules.
std::set<std::string> Kept(const std::vector<std::string>& times, const KeepPolicy& policy) {
  std::vector<core::TimePoint> points;
  for (const auto& t : times) points.push_back(At(t.c_str()));
  std::set<std::string> out;
  for (std::size_t i : BackupsToKeep(points, policy)) out.insert(times[i]);
  return out;
}

}  // namespace

TEST_CASE("retention: each rule on its own, a backup kept by any stays", "[backup]") {
  const std::vector<std::string> times = {
      "2026-01-01T03:00:00Z", "2026-01-01T15:00:00Z",  // two on one day
      "2026-01-02T03:00:00Z", "2026-01-05T03:00:00Z",  // Monday: a new ISO week
      "2026-01-11T03:00:00Z",                          // Sunday: the same week
      "2026-02-01T03:00:00Z", "2026-02-02T03:00:00Z"};
  CHECK(Kept(times, {2, 0, 0, 0}) ==
        std::set<std::string>{"2026-02-01T03:00:00Z", "2026-02-02T03:00:00Z"});
  // The newest of each of the last 4 days that have backups.
  CHECK(Kept(times, {0, 4, 0, 0}) ==
        std::set<std::string>{"2026-01-05T03:00:00Z", "2026-01-11T03:00:00Z",
                              "2026-02-01T03:00:00Z", "2026-02-02T03:00:00Z"});
  // ISO weeks: Feb 2 (Mon) starts a week; Feb 1 (Sun) ends the week of Jan 26.
  CHECK(Kept(times, {0, 0, 3, 0}) == std::set<std::string>{"2026-01-11T03:00:00Z",
                                                           "2026-02-01T03:00:00Z",
                                                           "2026-02-02T03:00:00Z"});
  CHECK(Kept(times, {0, 0, 0, 2}) ==
        std::set<std::string>{"2026-01-11T03:00:00Z", "2026-02-02T03:00:00Z"});
  // The newest of a day wins over the older one of the same day.
  CHECK(Kept(times, {0, 10, 0, 0}).count("2026-01-01T03:00:00Z") == 0);
  CHECK(Kept(times, {0, 10, 0, 0}).count("2026-01-01T15:00:00Z") == 1);
  // Nothing asked for: everything stays.
  CHECK(Kept(times, {}).size() == times.size());
}

TEST_CASE("retention: a simulated year of nightly backups keeps exactly the GFS set", "[backup]") {
  // Nightly at 03:00 from 2025-01-01 to 2025-12-31, keep 3 last, 7 daily,
  // 4 weekly, 12 monthly.
  std::vector<core::TimePoint> times;
  const auto first = At("2025-01-01T03:00:00Z");
  for (int day = 0; day < 365; ++day) times.push_back(first + std::chrono::hours(24 * day));
  std::shuffle(times.begin(), times.end(), std::mt19937(7));
  const auto keep = BackupsToKeep(times, {3, 7, 4, 12});
  std::set<std::string> kept;
  for (std::size_t i : keep) kept.insert(core::FormatRfc3339(times[i]).substr(0, 10));
  std::set<std::string> expected;
  for (int d = 25; d <= 31; ++d)
    expected.insert("2025-12-" + std::to_string(d));  // daily (and last)
  // Weekly: the Sundays ending the last 4 ISO weeks, the newest week is the
  // one holding Dec 29-31 (Mon-Wed), whose newest is Dec 31.
  expected.insert({"2025-12-28", "2025-12-21", "2025-12-14"});
  // Monthly: the last day of each month.
  for (const char* d :
       {"2025-01-31", "2025-02-28", "2025-03-31", "2025-04-30", "2025-05-31", "2025-06-30",
        "2025-07-31", "2025-08-31", "2025-09-30", "2025-10-31", "2025-11-30"}) {
    expected.insert(d);
  }
  CHECK(kept == expected);
}

TEST_CASE("manifest: round trip, and names that leave the folder are refused", "[backup]") {
  Manifest m;
  m.job = "nightly";
  m.taken_at = At("2026-12-03T03:00:00.25Z");
  m.jobsd_version = "0.1.0";
  m.codec = "zstd";
  m.verified = true;
  m.tools["sqlite"] = "3.40.1";
  m.files.push_back({"dash", "sqlite", "dash.db.zst", 8192, 120, std::string(64, 'a')});
  m.s3 = "s3://b/p/nightly/2026-12-03T030000Z/";
  auto back = ParseManifest(ManifestJson(m));
  REQUIRE(back);
  CHECK(back->job == "nightly");
  CHECK(back->taken_at == m.taken_at);
  CHECK(back->verified);
  CHECK(back->tools.at("sqlite") == "3.40.1");
  REQUIRE(back->files.size() == 1);
  CHECK(back->files[0].file == "dash.db.zst");
  CHECK(back->files[0].bytes == 8192);
  CHECK(back->s3 == m.s3);
  CHECK(FolderName(At("2026-12-03T03:00:00.25Z")) == "2026-12-03T030000Z");
  CHECK(ParseFolderName("2026-12-03T030000Z") == At("2026-12-03T03:00:00Z"));
  CHECK(ParseFolderName("2026-12-03T030000Z-2") == At("2026-12-03T03:00:00Z"));
  for (const char* garbage : {"", "latest", "2026-12-03T03:00:00Z", "2026-12-03T030000Zx",
                              "2026-13-03T030000Z", "2026-12-03T256000Z"}) {
    CHECK_FALSE(ParseFolderName(garbage));
  }

  std::string evil = ManifestJson(m);
  evil.replace(evil.find("dash.db.zst"), 11, "../../etc/x");
  auto refused = ParseManifest(evil);
  REQUIRE_FALSE(refused);
  CHECK_THAT(refused.error().message, Catch::Contains("not a file name"));
  CHECK_FALSE(ParseManifest("{\"job\": 1}"));
  CHECK_FALSE(ParseManifest(ManifestJson(m).substr(0, 40)));
}

TEST_CASE("packing: files and folders round trip with each codec; damage is caught", "[backup]") {
  TempDir dir;
  std::string data;
  std::mt19937 random(3);
  for (int i = 0; i < 300000; ++i) data += static_cast<char>(i % 7 == 0 ? random() : 'a' + i % 5);
  Write(dir.path() / "in.bin", data);
  for (auto codec : {archives::Codec::kNone, archives::Codec::kGzip, archives::Codec::kZstd}) {
    INFO(archives::CodecName(codec));
    const fs::path packed =
        dir.path() / ("packed.bin" + std::string(archives::CodecExtension(codec)));
    auto p = archives::CompressFile(dir.path() / "in.bin", packed, codec, 3);
    REQUIRE(p);
    CHECK(p->bytes_in == data.size());
    CHECK(p->bytes_out == fs::file_size(packed));
    CHECK(p->sha256 == *crypto::Sha256OfFile(packed));
    if (codec == archives::Codec::kNone) CHECK(Read(packed) == data);  // no padding
    if (codec != archives::Codec::kNone) CHECK(p->bytes_out < data.size());
    REQUIRE(archives::DecompressFile(packed, dir.path() / "out.bin"));
    CHECK(Read(dir.path() / "out.bin") == data);
  }
  // A zstd stream cut short or changed is an error, and leaves no output.
  const fs::path zst = dir.path() / "packed.bin.zst";
  std::string bytes = Read(zst);
  Write(dir.path() / "cut.zst", bytes.substr(0, bytes.size() / 2));
  CHECK_FALSE(archives::DecompressFile(dir.path() / "cut.zst", dir.path() / "cut.out"));
  CHECK_FALSE(fs::exists(dir.path() / "cut.out"));
  // A changed byte inside a zstd frame need not stop decompression (the
  // frames carry no content checksum): the stored file's SHA-256, which
  // verify and restore check first, is what catches it.
  const std::string sha = *crypto::Sha256OfFile(zst);
  bytes[bytes.size() / 2] ^= 0x55;
  Write(dir.path() / "flip.zst", bytes);
  CHECK(*crypto::Sha256OfFile(dir.path() / "flip.zst") != sha);

  // A folder with a nested file, a link (kept as a link) and an odd name.
  const fs::path tree = dir.path() / "tree";
  Write(tree / "a.txt", "alpha");
  Write(tree / "sub" / "b.bin", data);
  Write(tree / "sub" / "line\nbreak", "n");
  fs::create_symlink("../a.txt", tree / "sub" / "link");
  fs::create_symlink("/etc/passwd", tree / "outside");
  auto tar = archives::TarFolder(tree, dir.path() / "tree.tar.zst", archives::Codec::kZstd, 3);
  REQUIRE(tar);
  CHECK(tar->files == 6);  // a.txt, sub, b.bin, line\nbreak, link, outside
  CHECK(*archives::ReadTarThrough(dir.path() / "tree.tar.zst") == 6);
  const fs::path back = dir.path() / "back";
  fs::create_directories(back);
  REQUIRE(archives::ExtractTar(dir.path() / "tree.tar.zst", back));
  CHECK(Read(back / "a.txt") == "alpha");
  CHECK(Read(back / "sub" / "b.bin") == data);
  CHECK(Read(back / "sub" / "line\nbreak") == "n");
  CHECK(fs::read_symlink(back / "sub" / "link") == "../a.txt");
  CHECK(fs::read_symlink(back / "outside") == "/etc/passwd");  // stored, not followed
  std::string tar_bytes = Read(dir.path() / "tree.tar.zst");
  Write(dir.path() / "cut.tar.zst", tar_bytes.substr(0, tar_bytes.size() - 40));
  CHECK_FALSE(archives::ReadTarThrough(dir.path() / "cut.tar.zst"));
}

namespace {

config::LoadResult LoadBackup(const std::string& with, const fs::path& folder) {
  config::LoadOptions options;
  options.job_types = {BackupJobSpec()};
  options.folder = folder;
  options.env = [](const std::string& name) -> std::optional<std::string> {
    if (name == "DATABASE_URL") return "postgres://u:pw@db/app";
    return std::nullopt;
  };
  return config::LoadConfigText("jobs:\n  - name: nightly\n    type: backup\n    with:\n" + with,
                                "cfg.yaml", options);
}

}  // namespace

TEST_CASE("backup config: the issue's job, and mistakes", "[backup]") {
  auto loaded = LoadBackup(
      "      sources:\n"
      "        - {sqlite: data/dashboard.db}\n"
      "        - {state: true}\n"
      "        - {postgres: \"${DATABASE_URL}\"}\n"
      "        - {files: data/features}\n"
      "      dest: backups\n"
      "      compress: {codec: zstd, level: 3}\n"
      "      keep: {last: 3, daily: 7, weekly: 4, monthly: 12}\n"
      "      verify: true\n"
      "      s3: {bucket: acme-backups, prefix: jobsd, region: eu-central-1}\n",
      "/srv/jobsd");
  INFO(loaded.ErrorText());
  REQUIRE(loaded.ok());
  const auto* s = loaded.config->jobs[0].Settings<BackupSettings>();
  REQUIRE(s->sources.size() == 4);
  CHECK(s->sources[0].path == "/srv/jobsd/data/dashboard.db");
  CHECK(s->sources[0].name == "dashboard.db");
  CHECK(s->sources[1].kind == SourceKind::kState);
  CHECK(s->sources[2].url == "postgres://u:pw@db/app");
  CHECK(s->sources[3].name == "features");
  CHECK(s->dest == "/srv/jobsd/backups");
  CHECK(s->keep.daily == 7);
  REQUIRE(s->s3);
  CHECK(s->s3->prefix == "jobsd/");
  CHECK(s->s3->aws.region == "eu-central-1");

  auto errors = [](const std::string& with) {
    auto r = LoadBackup(with, "/srv");
    REQUIRE_FALSE(r.ok());
    return r.ErrorText();
  };
  CHECK_THAT(errors("      sources: [{sqlite: a.db, files: x}]\n      dest: b\n"),
             Catch::Contains("exactly one of"));
  CHECK_THAT(errors("      sources: [{sqlite: a/x.db}, {sqlite: b/x.db}]\n      dest: b\n"),
             Catch::Contains("give one a name"));
  CHECK_THAT(
      errors("      sources: [{sqlite: a.db}]\n      dest: b\n      compress: {codec: lz4}\n"),
      Catch::Contains("codec"));
  CHECK_THAT(errors("      sources: [{sqlite: a.db}]\n      dest: /\n"), Catch::Contains("root"));
  CHECK_THAT(errors("      sources: []\n      dest: b\n"), Catch::Contains("at least one"));
  CHECK_THAT(errors("      sources: [{sqlite: a.db}]\n      dest: b\n      keep: {hourly: 3}\n"),
             Catch::Contains("hourly"));
}

namespace {

// A job config made from `with`, for support::RunJob.
struct BackupRun {
  TempDir dir;
  std::optional<config::Config> config;

  explicit BackupRun(const std::string& with) {
    auto loaded = LoadBackup(with, dir.path());
    INFO(loaded.ErrorText());
    REQUIRE(loaded.ok());
    config = std::move(*loaded.config);
  }

  support::JobRun Run() {
    const auto type = Type();
    scheduler::CancelToken cancel;
    http::Client http;
    const fs::path state = dir.path() / "state.db";
    return support::RunJob(type, config->jobs[0], cancel, http,
                           [&](scheduler::JobContext& ctx) { ctx.set_state_file(state); });
  }
};

void MakeDatabase(const fs::path& file, int rows) {
  auto db = sqlite::Database::Open(file, sqlite::Database::Mode::kReadWrite);
  REQUIRE(db);
  REQUIRE(
      db->Execute("PRAGMA journal_mode=WAL; CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY "
                  "KEY, v TEXT)"));
  for (int i = 0; i < rows; ++i) {
    REQUIRE(db->Execute("INSERT INTO t (v) VALUES (printf('%0500d', " + std::to_string(i) + "))"));
  }
}

}  // namespace

TEST_CASE("backup run: a database written during its backup restores whole", "[backup]") {
  BackupRun run("      sources: [{sqlite: live.db}]\n      dest: backups\n");
  MakeDatabase(run.dir.path() / "live.db", 20000);
  // Another process keeps writing while the backup copies.
  const pid_t writer = ::fork();
  REQUIRE(writer >= 0);
  if (writer == 0) {
    auto db =
        sqlite::Database::Open(run.dir.path() / "live.db", sqlite::Database::Mode::kReadWrite);
    for (int i = 0; db && i < 100000; ++i) {
      (void)db->Execute("INSERT INTO t (v) VALUES ('written during the backup')");
    }
    ::_exit(0);
  }
  auto result = run.Run();
  ::kill(writer, SIGKILL);
  ::waitpid(writer, nullptr, 0);
  INFO((result ? "" : result.error().message));
  REQUIRE(result);
  auto listing = ListBackups(run.dir.path() / "backups" / "nightly");
  REQUIRE(listing);
  REQUIRE(listing->backups.size() == 1);
  const BackupFolder& b = listing->backups[0];
  CHECK(b.manifest.verified);
  const fs::path restored = run.dir.path() / "restored.db";
  REQUIRE(RestoreStoredFile(b.folder, b.manifest.files[0], restored, false));
  auto db = sqlite::Database::Open(restored, sqlite::Database::Mode::kReadOnly);
  REQUIRE(db);
  auto count = db->QueryInt("SELECT count(*) FROM t");
  REQUIRE(count);
  // A prefix of the writes: all 20,000 from before, and some of the others.
  CHECK(**count >= 20000);
  auto first = db->QueryInt("SELECT count(*) FROM t WHERE id <= 20000");
  CHECK(**first == 20000);
  // Restoring over an existing file needs --force.
  auto again = RestoreStoredFile(b.folder, b.manifest.files[0], restored, false);
  REQUIRE_FALSE(again);
  CHECK_THAT(again.error().message, Catch::Contains("--force"));
  CHECK(RestoreStoredFile(b.folder, b.manifest.files[0], restored, true));
}

TEST_CASE("backup run: a damaged stored file is caught by verify and by restore", "[backup]") {
  BackupRun run("      sources: [{sqlite: a.db}, {files: tree}]\n      dest: backups\n");
  MakeDatabase(run.dir.path() / "a.db", 100);
  Write(run.dir.path() / "tree" / "x.txt", "x");
  auto result = run.Run();
  INFO((result ? "" : result.error().message));
  REQUIRE(result);
  auto listing = ListBackups(run.dir.path() / "backups" / "nightly");
  REQUIRE(listing->backups.size() == 1);
  const BackupFolder& b = listing->backups[0];
  for (const StoredFile& f : b.manifest.files) {
    std::string bytes = Read(b.folder / f.file);
    bytes[bytes.size() / 2] ^= 1;
    Write(b.folder / f.file, bytes);
    auto verified = VerifyStoredFile(b.folder, f, run.dir.path());
    REQUIRE_FALSE(verified);
    CHECK_THAT(verified.error().message, Catch::Contains("SHA-256"));
    auto restored = RestoreStoredFile(b.folder, f, run.dir.path() / ("r-" + f.source), false);
    REQUIRE_FALSE(restored);
    CHECK_FALSE(fs::exists(run.dir.path() / ("r-" + f.source)));
  }
}

TEST_CASE("backup run: keep rules delete old backups, never the new one, nothing on failure",
          "[backup]") {
  BackupRun run("      sources: [{sqlite: a.db}]\n      dest: backups\n      keep: {last: 2}\n");
  MakeDatabase(run.dir.path() / "a.db", 10);
  for (int i = 0; i < 4; ++i) REQUIRE(run.Run());
  auto listing = ListBackups(run.dir.path() / "backups" / "nightly");
  CHECK(listing->backups.size() == 2);
  // restore --at: the newest, a folder name, a time; garbage and too early are said.
  CHECK(FindBackup(*listing, "latest")->folder == listing->backups.back().folder);
  const std::string first = listing->backups.front().folder.filename().string();
  CHECK(FindBackup(*listing, first)->folder == listing->backups.front().folder);
  auto garbage = FindBackup(*listing, "yesterday");
  REQUIRE_FALSE(garbage);
  CHECK_THAT(garbage.error().message, Catch::Contains("--at: expected latest"));
  auto early = FindBackup(*listing, "2000-01-01T00:00:00Z");
  REQUIRE_FALSE(early);
  CHECK_THAT(early.error().message, Catch::Contains("no backup was taken at or before"));
  CHECK_FALSE(FindBackup(Listing{}, "latest"));
  // A source that is gone fails the run, and nothing is deleted.
  fs::remove(run.dir.path() / "a.db");
  auto failed = run.Run();
  CHECK_FALSE(failed);
  auto after = ListBackups(run.dir.path() / "backups" / "nightly");
  CHECK(after->backups.size() == 2);
  // No half backup left behind either.
  for (const auto& e : fs::directory_iterator(run.dir.path() / "backups" / "nightly")) {
    CHECK(e.path().filename().string()[0] != '.');
  }
}

}  // namespace jobs::backup
