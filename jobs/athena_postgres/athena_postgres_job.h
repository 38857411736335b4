// `type: athena_postgres`: runs an Athena query and upserts its rows into
// one or more PostgreSQL tables, incrementally by a watermark.
//
// A run:
//   1. Credentials and region (lib/aws/credentials.h), then a connection to
//      each target, its status table made with `create: true`.
//   2. The watermark: each target's `last_sync_timestamp` of this job's last
//      successful sync (postgres_target.h), else `incremental.initial`; with
//      several targets the oldest, so each gets at least what it lacks (the
//      others see those rows unchanged). `mode: full` (or `--set mode=full`)
//      uses `initial`. `{since}` in the query becomes its literal.
//   3. The query (aws::AthenaClient::RunQuery): the token is derived from the
//      job, the run and the query text, so a start whose answer was lost
//      and is sent again never starts a second query; retryable FAILED is
//      resubmitted; cancelling or timing out the run stops the query.
//   4. The columns (GetQueryResults' ColumnInfo) are checked against every
//      target before anything is written (postgres_target.h).
//   5. The result: Athena's CSV at OutputLocation streamed from S3 into the
//      run's scratch folder; when that object cannot be read, GetQueryResults
//      pages are written there in the same format instead.
//   6. Each target loads it in a transaction of its own (COPY, upsert,
//      status row). A target that fails gets a `failed` status row and fails
//      the run without undoing the others.
//
// Metrics: rows (of the result), inserted, updated, unchanged (summed over
// the targets), duplicate_keys, bytes_scanned (Athena's DataScannedInBytes),
// cost_usd (at $5 per TB scanned), query_seconds, fetch_seconds (the result
// into the scratch folder), load_seconds, result_bytes, athena_throttled,
// changed.
#pragma once

#include "scheduler/job.h"

namespace jobs::athena_postgres {

scheduler::JobType Type();

}  // namespace jobs::athena_postgres
