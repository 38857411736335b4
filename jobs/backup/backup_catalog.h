// Backups on disk, and the folders themselves as the catalogue.
//
// One folder per backup: <dest>/<job>/<UTC time>/ (2026-12-03T030000Z; a
// second backup within the same second gets -2, -3 ...), holding each
// source's stored file and MANIFEST.json:
//
//   {"format": 1, "job": "nightly-backup", "taken_at": "2026-12-03T03:00:00.123456Z",
//    "jobsd": "0.9.0", "codec": "zstd", "verified": true,
//    "tools": {"sqlite": "3.40.1", "pg_dump": "pg_dump (PostgreSQL) 15.18"},
//    "files": [{"source": "dashboard", "kind": "sqlite", "file": "dashboard.db.zst",
//               "bytes": 2147483648, "stored_bytes": 402653184, "sha256": "..."}],
//    "s3": "s3://acme-backups/jobsd/nightly-backup/2026-12-03T030000Z/"}
//
// A backup is built in a folder whose name starts with '.', and renamed to
// its final name only once every file and the manifest are written and
// flushed (and verified, when asked): a crash leaves a dot-folder, which
// listings ignore and the next run removes, never something that looks
// like a good backup. So `jobsd backups` and `jobsd restore` work from the
// folder alone, after restoring jobsd's own state for instance.
//
// Blocking file I/O; any thread.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "core/time.h"

namespace jobs::backup {

struct StoredFile {
  std::string source;              // the source's name
  std::string kind;                // sqlite, state, postgres, files
  std::string file;                // the stored file's name in the folder
  std::uint64_t bytes = 0;         // before compression
  std::uint64_t stored_bytes = 0;  // the stored file
  std::string sha256;              // of the stored file
};

struct Manifest {
  std::string job;
  core::TimePoint taken_at{};
  std::string jobsd_version;
  std::string codec;
  bool verified = false;
  std::map<std::string, std::string> tools;
  std::vector<StoredFile> files;
  std::string s3;  // where it was uploaded too; empty: local only

  std::uint64_t bytes() const;
  std::uint64_t stored_bytes() const;
};

inline constexpr const char* kManifestFile = "MANIFEST.json";

std::string ManifestJson(const Manifest& manifest);
core::Result<Manifest> ParseManifest(std::string_view text);

// "2026-12-03T030000Z".
std::string FolderName(core::TimePoint t);
// The time a folder name says ("2026-12-03T030000Z", or with a "-2" of a
// second backup within the same second); nullopt for any other name.
std::optional<core::TimePoint> ParseFolderName(std::string_view name);

struct BackupFolder {
  std::filesystem::path folder;
  Manifest manifest;
};

// The backups of one job (<dest>/<job>), oldest first. Dot-folders (being
// built, or left by a crash) are not backups; a folder whose manifest is
// missing or unreadable is reported in `problems` and left out.
struct Listing {
  std::vector<BackupFolder> backups;
  std::vector<std::string> problems;
};
core::Result<Listing> ListBackups(const std::filesystem::path& job_folder);

// The backup taken at `at` (a time as `jobsd backups` prints it, or its
// folder name), or the newest at or before it; "latest" or empty: the newest.
core::Result<BackupFolder> FindBackup(const Listing& listing, std::string_view at);

}  // namespace jobs::backup
