// `type: sql_import`: CSV files or a paginated JSON API into a SQLite or
// PostgreSQL table, every record typed and validated, upserted on a key.
//
// A run:
//   1. The target's table is checked (or planned, with `create`) before
//      anything is read (import_target.h).
//   2. CSV: the files the glob names, in name order, each hashed; a file
//      this job already imported with the same SHA-256 is skipped. HTTP:
//      the window (import_window.h) fills the request, pages follow `next`.
//   3. Every record is converted column by column (column_rule.h); one with
//      any violation goes to `<table>_rejects` with its source (file and
//      line, or page and item), the whole record (a password hidden) and
//      every reason. Valid rows stream into the staging table; a password
//      is hashed (Argon2id) as its row is staged, and its clear text goes
//      nowhere else.
//   4. The checks run on the staging table; then, in the same transaction,
//      the upsert and the imported files are committed together. With
//      `on_invalid: fail` an invalid record, and with `min_rows` too few
//      valid rows, fail the run: only the rejects are committed. A dry run
//      rolls everything back and reports what it would have done.
// A kill -9 at any moment leaves the table, its rejects and the imported
// files as the last committed run left them; the next run does the work
// again.
//
// Metrics: read, inserted, updated, unchanged, invalid (records of a kind),
// invalid_<reason> (required, type, min, max, max_length, pattern, in,
// encoding, precision, check, columns, format, record), duplicate_keys,
// files, files_skipped, pages, bytes, dry_run, changed.
#pragma once

#include "scheduler/job.h"

namespace jobs::sql_import {

scheduler::JobType Type();

}  // namespace jobs::sql_import
