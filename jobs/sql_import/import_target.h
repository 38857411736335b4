// The database an import writes into, SQLite or PostgreSQL, and what a run
// needs of it, in the order it needs it:
//
//   1. Prepare: before anything is read, the table's columns are checked
//      against the import's (each must exist and fit; a NOT NULL column the
//      import does not fill must have a default; the key must carry a
//      unique constraint, which ON CONFLICT needs), or, with `create`, a
//      missing table is planned from `columns`. PostgreSQL column limits
//      (integer's range, varchar(n), numeric(p,s)) become rules of the
//      import, so a value that does not fit is a rejected record, not a
//      failed run. Nothing is written.
//   2. Begin: one transaction; the table, `<table>_rejects` and
//      `jobsd_imported_files` are created in it when missing; a temporary
//      staging table shaped like `columns` (plus the record's source).
//   3. AddRow / AddReject as the source is read, streamed (SQLite: prepared
//      inserts; PostgreSQL: COPY), so memory stays flat.
//   4. ApplyChecks: the `checks` expressions evaluated by the database on
//      the staging table; a row failing any is moved to the rejects with
//      every check it fails (SQL CHECK semantics: NULL is not a failure).
//   5. Upsert: one INSERT ... ON CONFLICT (key) from the staging table,
//      updating only rows where a value differs (and never the
//      keep_on_update columns); of rows with the same key the last wins.
//   6. MarkImported (files), then Commit. Rollback (or the destructor, or a
//      kill -9 at any moment) leaves the table, the rejects and the
//      imported files exactly as they were.
//
// Threads: the run's worker thread only; everything blocks. One target per
// run. Failure: core::Error with the target's name (never a password) and
// the database's message.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "jobs/sql_import/sql_import_config.h"
#include "scheduler/job.h"

namespace jobs::sql_import {

struct RejectedRecord {
  std::string source;  // "sales.csv line 41", "page 2 item 17"
  std::string record;  // the whole record as a JSON object, a password hidden
  std::vector<std::string> reasons;
  std::vector<std::string_view> kinds;  // the reasons' kinds (required, min, check ...)
};

struct LoadCounts {
  std::uint64_t inserted = 0;
  std::uint64_t updated = 0;
  std::uint64_t unchanged = 0;
  std::uint64_t duplicate_keys = 0;  // staged rows whose key came again later
};

struct ImportedFile {
  std::string name;  // the path
  std::string sha256;
  std::uint64_t bytes = 0;
  std::uint64_t rows = 0;  // records read
};

class ImportTarget {
 public:
  virtual ~ImportTarget() = default;

  // "sqlite dashboard.db table sales" / "postgresql://host:5432/db table
  // sales": for messages, never a credential.
  virtual const std::string& name() const = 0;

  // Step 1; may tighten `columns`' rules to the table's limits.
  virtual core::Result<void> Prepare(std::vector<ColumnRule>& columns) = 0;
  // Whether this job has imported this file with this content into this table.
  virtual core::Result<bool> Imported(const std::string& file, const std::string& sha256) = 0;
  virtual core::Result<void> Begin() = 0;
  // One value per column, in `columns` order (nullopt: NULL), and where
  // it came from as a number (staged with the row, turned back into text
  // by ApplyChecks' `describe` for a row a check rejects).
  virtual core::Result<void> AddRow(std::span<const std::optional<std::string>> values,
                                    std::int64_t source) = 0;
  virtual core::Result<void> AddReject(const RejectedRecord& reject) = 0;
  // Moves the staged rows that fail a check to the rejects; `on_reject`
  // sees each (for the metrics). Returns how many.
  virtual core::Result<std::uint64_t> ApplyChecks(
      const std::function<std::string(std::int64_t)>& describe,
      const std::function<void(const RejectedRecord&)>& on_reject) = 0;
  // Rows left in the staging table.
  virtual core::Result<std::uint64_t> StagedRows() = 0;
  // `may_repeat_keys` false: no two staged rows share a key (KeyHashes),
  // so no de-duplication pass is needed.
  virtual core::Result<LoadCounts> Upsert(bool may_repeat_keys) = 0;
  virtual core::Result<void> MarkImported(const ImportedFile& file) = 0;
  virtual core::Result<void> Commit() = 0;
  virtual void Rollback() = 0;
};

// Who writes, for the rejects and the imported files.
struct RunFacts {
  std::string job;
  std::int64_t run_id = 0;
};

// Opens the target the settings name: the SQLite file (relative to the
// state folder) or a PostgreSQL connection on the run's cancellation and
// deadline.
core::Result<std::unique_ptr<ImportTarget>> OpenTarget(const SqlImportSettings& settings,
                                                       RunFacts facts, scheduler::JobContext& ctx);

// SQL the two targets share.
namespace sql {
// The names of `columns`, in order.
std::vector<std::string> Names(const std::vector<ColumnRule>& columns);
// The columns an update sets (all but the key and keep_on_update).
std::vector<std::string> UpdatedColumns(const SqlImportSettings& settings);
// NOT (coalesce((c1), true) AND ...): the rows failing any check; `yes` is
// the dialect's true (1 or true).
std::string FailsAnyCheck(const std::vector<std::string>& checks, std::string_view yes);
}  // namespace sql

}  // namespace jobs::sql_import
