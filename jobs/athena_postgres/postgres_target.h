// One PostgreSQL table that an athena_postgres run upserts into, and its
// status table: what the run needs of PostgreSQL, in the order it needs it.
//
//   1. Open: connect (the run's cancellation and deadline apply to every
//      call); with `create`, the status table is made (or an existing one,
//      such as a sync's own forecast_sync_status, given the columns jobsd
//      keeps) .
//   2. Watermark: the `last_sync_timestamp` of this job's last successful
//      sync of this table, from the status table, so that a second daemon or
//      a restored database agrees with it.
//   3. Check: the result's columns against the table's, before anything is
//      written: each must exist and Athena's type must fit PostgreSQL's
//      (ColumnFits), the key must be among them and carry a unique
//      constraint (ON CONFLICT needs one). With `create`, a missing table is
//      made from the result's types, the key as its unique constraint.
//   4. Load, in one transaction: COPY the rows into a temporary table, then
//      one INSERT ... ON CONFLICT (key) DO UPDATE that touches only rows
//      whose values differ (counting inserted, updated, unchanged; of rows
//      with the same key the last one wins), then the status row with the
//      new watermark. A failure or kill -9 anywhere leaves the table and the
//      watermark as they were.
//   5. A failed load writes a `failed` status row in a transaction of its
//      own (on a short deadline of its own: the run's may be spent).
//
// The URL is a secret: errors and log lines name the target by
// pg::RedactConninfo's form only.
//
// Blocking; the run's thread. One PostgresTarget per target per run.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "aws/athena.h"
#include "core/result.h"
#include "core/time.h"
#include "jobs/athena_postgres/athena_postgres_config.h"
#include "pg/connection.h"

namespace jobs::athena_postgres {

// Whether a value of Athena's `athena_type` (ColumnInfo.Type: integer,
// varchar, decimal, timestamp, ...) can be stored in a PostgreSQL column of
// `pg_type` (format_type's spelling: integer, numeric(10,2), text,
// timestamp with time zone, ...) without loss or a failed cast. text takes
// anything.
bool ColumnFits(std::string_view athena_type, std::string_view pg_type);
// The PostgreSQL type a created table gives a column of `column`'s type.
std::string CreatedType(const aws::ResultColumn& column);

struct LoadCounts {
  std::uint64_t rows = 0;  // rows of the result (before duplicate keys collapse)
  std::uint64_t inserted = 0;
  std::uint64_t updated = 0;
  std::uint64_t unchanged = 0;
  std::uint64_t duplicate_keys = 0;  // rows whose key came again later in the result
  std::uint64_t bytes = 0;           // COPY data sent
};

class PostgresTarget {
 public:
  struct RunFacts {
    std::string job;
    std::int64_t run_id = 0;
    SyncMode mode = SyncMode::kIncremental;
    std::string incremental_column;  // empty: no watermark
  };

  PostgresTarget(PostgresTarget&&) = default;
  static core::Result<PostgresTarget> Open(const TargetSettings& config, RunFacts facts,
                                           const pg::OpenOptions& options);

  // "postgresql://host:port/db table", no credentials.
  const std::string& name() const { return name_; }

  core::Result<std::optional<core::TimePoint>> Watermark();
  core::Result<void> Check(const std::vector<aws::ResultColumn>& columns);
  // `next` yields the result's rows (false at the end). Commits or leaves
  // nothing.
  core::Result<LoadCounts> Load(const std::vector<aws::ResultColumn>& columns,
                                const std::function<core::Result<bool>(aws::ResultRow&)>& next,
                                std::optional<core::TimePoint> previous_watermark);
  // Best effort: a failed status row, whose own failure is returned for the log.
  core::Result<void> RecordFailure(const std::string& error);

 private:
  PostgresTarget(const TargetSettings& config, RunFacts facts, pg::Connection conn);
  core::Result<void> PrepareStatusTable();

  TargetSettings config_;
  RunFacts facts_;
  pg::Connection conn_;
  std::string name_;
  std::string table_sql_;   // quoted
  std::string status_sql_;  // quoted
};

}  // namespace jobs::athena_postgres
