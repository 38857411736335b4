// `type: github_artifact`: pulls the newest matching artifact of a
// repository's successful GitHub Actions runs into a folder.
//
// A run:
//   1. Pick: successful runs newest first (the workflow's, when `workflow`
//      is set; `branch`/`event` filters), then their artifacts; expired ones
//      are skipped, names matched against `artifact` (a glob), the newest
//      by created_at wins. Paging stops once a match is found and a page
//      ends with a run that started more than 6 hours (GitHub's limit for
//      a job) before that match was made. Listings are conditional
//      (ETags kept in the job's state), so asking again costs 304s.
//   2. Freshness: with `max_artifact_age`, an older newest match fails the
//      run (so `after: {on: changed}` jobs do not run on stale data).
//   3. Nothing new: the match is what dest holds already (by artifact id):
//      no download; the run is ok with `changed: 0`.
//   4. Download: /zip answers 302 to a signed URL on another host, fetched
//      without Authorization (the token never leaves GitHub's API host); an
//      expired signature (403) asks /zip again. The archive streams to a
//      file beside dest, capped at `max_bytes`; its sha256 is checked
//      against the listing's `digest` when there is one. A cut or corrupt
//      download is tried again, twice, then fails as retryable.
//   5. Extract (lib/archive: no path leaves the folder, no links or
//      devices, size and ratio caps) into a staging folder beside dest, then
//      check `expect`.
//   6. Swap (versioned_folder.h): dest becomes a symlink to the new
//      version in one rename; `keep` earlier versions stay for rollback.
//      Then, and only then, the pull is recorded in the job's state
//      ("pulled"): a kill -9 before that repeats the pull, never skips it.
// A failure at any step leaves dest as it was.
//
// Metrics: changed, artifact_id, workflow_run_id, artifact_age_seconds,
// bytes (downloaded), extracted_bytes, files, requests, not_modified,
// rate_limit_waits, download_attempts.
#pragma once

#include "scheduler/job.h"

namespace jobs::github_artifact {

scheduler::JobType Type();

}  // namespace jobs::github_artifact
