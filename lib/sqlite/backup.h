// Online backup of a SQLite database into a file, with SQLite's backup API
// (sqlite3_backup_init/step/finish): a consistent copy of the database as
// of one moment, taken while other connections and processes keep using it.
//
// The copy goes in chunks of `pages_per_step` pages; between chunks the
// source is not locked, so writers are not held up, and `cancelled` is
// asked whether to stop. When another connection writes to the source
// between chunks, SQLite starts the copy over; after `max_restarts` such
// restarts the rest is copied in one step (holding the source's read lock
// for that step, and without asking `cancelled` during it), so a busy
// source cannot starve the backup.
//
// The target is overwritten (created when missing; its folder must exist).
// On failure or cancellation the target's write is rolled back and a
// target that BackupTo created is removed, so a caller never mistakes a
// partial copy for a backup; a caller that wants the old copy kept until
// the new one is complete writes to a temporary name and renames.
//
// Blocking (worker pool); the source Database's thread. Errors name the
// source and target files with SQLite's message; cancellation returns an
// Error of kind kCancelled.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>

#include "core/result.h"
#include "sqlite/database.h"

namespace sqlite {

struct BackupOptions {
  int pages_per_step = 1024;  // 4 MiB with 4 KiB pages
  int max_restarts = 3;
  // Asked between chunks; true stops the backup.
  std::function<bool()> cancelled;
};

struct BackupStats {
  std::int64_t pages = 0;  // in the copy
  int steps = 0;
  int restarts = 0;
};

core::Result<BackupStats> BackupTo(Database& source, const std::filesystem::path& target,
                                   const BackupOptions& options = {});

}  // namespace sqlite
