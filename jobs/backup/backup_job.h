// `type: backup`: consistent copies of SQLite files, jobsd's own state,
// PostgreSQL databases and folders, compressed, verified, kept by a
// grandfather-father-son policy, optionally uploaded to S3.
//
// A run:
//   1. Clears what an interrupted run left (dot-folders under <dest>/<job>).
//   2. Builds the backup in <dest>/<job>/.building-<time>/: each source
//      copied into the run's scratch folder (SQLite through the online
//      backup API, so a database being written is copied at one point in
//      time without stopping its writer for more than a step; PostgreSQL
//      with `pg_dump --format=custom`, the password in PGPASSWORD only),
//      then compressed into the folder, hashed as it is written; a folder
//      goes straight in as a tar.
//   3. Verifies each stored file (stored_file.h) when `verify` is on; a
//      backup that fails is removed and fails the run.
//   4. Writes MANIFEST.json, flushes, and renames the folder to its final
//      name (backup_catalog.h): only now is it a backup.
//   5. Uploads each file and the manifest to S3 when `s3:` is set.
//   6. Retention (retention_policy.h) over the local backups and those
//      under the S3 prefix: what no rule keeps is deleted, in both places.
//      Never the backup just made, and nothing at all when this run's
//      backup failed.
//
// Metrics: bytes (before compression), bytes_stored, files (sources
// stored), seconds, backups_kept, backups_deleted, uploaded_bytes.
#pragma once

#include "scheduler/job.h"

namespace jobs::backup {

scheduler::JobType Type();

}  // namespace jobs::backup
