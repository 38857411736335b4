// One stored file of a backup, checked and restored: what `verify: true`
// does after a backup, and what `jobsd restore` does before it says ok.
//
// The checks, by source kind:
//   every file    its SHA-256 against the manifest (a changed or damaged file);
//   sqlite/state  decompressed into the scratch folder, opened, and
//                 `PRAGMA integrity_check` answers ok;
//   postgres      decompressed, and `pg_restore --list` reads the dump;
//   files         the tar read through to its end.
//
// Blocking; any thread. Errors name the backup folder and the file.
#pragma once

#include <filesystem>
#include <functional>

#include "core/result.h"
#include "jobs/backup/backup_catalog.h"

namespace jobs::backup {

using Cancelled = std::function<bool()>;

core::Result<void> VerifyStoredFile(const std::filesystem::path& folder, const StoredFile& file,
                                    const std::filesystem::path& scratch,
                                    const Cancelled& cancelled = {});

// Writes the source back to `to`: a SQLite file, a custom-format dump that
// pg_restore takes, or a folder. Checked as above before it is renamed to
// `to`; an existing `to` is replaced only with `force` (a folder is
// replaced whole).
core::Result<void> RestoreStoredFile(const std::filesystem::path& folder, const StoredFile& file,
                                     const std::filesystem::path& to, bool force);

}  // namespace jobs::backup
