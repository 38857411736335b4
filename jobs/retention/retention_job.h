// `type: retention`: keeps data folders from growing without end, deleting
// files older than `max_age` and, with `max_bytes`, the oldest files until a
// folder is under its limit (retention_config.h has the keys; folder_sweep.h
// how one folder is walked and what is never touched).
//
// A run:
//   1. Opens every folder first and refuses, failing the run before anything
//      is deleted (not retryable): a folder whose path is empty or resolves
//      to "/"; one that is itself a symlink (the link could be pointed
//      elsewhere between runs; symlinks above it in the path are resolved
//      once, and the resolved path is what the run reports); one that is the
//      state store's folder (JobContext::state_folder()) or holds it (found
//      by device and inode, so another name for the same folder is refused
//      too) or lies in its scratch/ folder; two folders that overlap once
//      resolved.
//   2. Sweeps each folder in turn (folder_sweep.h). A folder that does not
//      exist is nothing to do: noted in the output and the log, counted in
//      `folders_missing`, its gauges 0. Entries it may not read or delete are
//      counted in `errors` and the first few named in the output and a
//      warning; the sweep goes on and the run stays ok. A folder that
//      cannot be opened at all (not a folder, no permission) fails the run,
//      after the other folders were swept, not retryable.
//   3. Reports: one line per folder in the output (files and bytes before,
//      deleted, after; folders removed; errors), the run metrics summed over
//      folders, and each folder's size on /metrics (RunMetrics::SetFolderSize:
//      the resolved path; in a dry run the size as it is, since nothing went).
//
// With `dry_run: true` it decides the same way and deletes nothing; the
// figures are what a real run would have done.
//
// Nothing is committed together: each unlink stands alone (a kill -9 at any
// moment leaves every file either in place or gone, never half), and the
// rules hold no state between runs, so the next run simply goes on where an
// interrupted one stopped.
//
// Metrics (tallies over the folders): folders, folders_missing,
// files_before, bytes_before, files, bytes (what is left), files_deleted,
// bytes_deleted, dirs_removed, recent_kept (due, but modified within the
// last minute), mounts_skipped, errors; levels: dry_run (1 or 0), changed
// (1 when a real run deleted anything).
#pragma once

#include "jobs/retention/folder_sweep.h"
#include "scheduler/job.h"

namespace jobs::retention {

scheduler::JobType Type();

// Type() making its system calls through `calls`, which must outlive every
// run (tests: see SystemCalls).
scheduler::JobType TypeWithSystemCalls(const SystemCalls& calls);

}  // namespace jobs::retention
