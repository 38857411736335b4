// The `with:` block of a `type: athena_postgres` job: which Athena query to
// run and which PostgreSQL tables to upsert its rows into.
//
//   with:
//     aws: {region: us-east-2}        # credentials and endpoints: lib/aws/credentials.h
//     athena:
//       database: forecasts           # optional: the workgroup's default otherwise
//       workgroup: primary            # optional, default primary
//       output_location: s3://acme-athena-results/jobsd/   # optional if the workgroup sets one
//       catalog: AwsDataCatalog       # optional
//     query: |                        # required; {since} becomes the watermark
//       SELECT ... FROM forecast_data WHERE updated_at > {since}
//     incremental: {column: updated_at, initial: "2024-01-01T00:00:00Z"}   # optional
//     mode: incremental               # or full: the query with `initial`, everything upserted
//     postgres:                       # one target, or a list of them
//       url: ${DATABASE_URL}          # libpq URL or conninfo (or url_file:)
//       table: forecast_data          # may be schema-qualified
//       key: [restaurant_id, inventory_item_id, business_date]
//       status_table: forecast_sync_status   # default jobsd_sync_status
//       create: false                 # true: create the table and the status table if missing
//
// Plain values; the job reads them with JobConfig::Settings<AthenaPostgresSettings>().
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "aws/credentials.h"
#include "config/job_type.h"
#include "config/map_reader.h"
#include "core/time.h"

namespace jobs::athena_postgres {

struct TargetSettings {
  std::string url;  // a secret: never logged (pg::RedactConninfo)
  std::string table;
  std::vector<std::string> key;
  std::string status_table = "jobsd_sync_status";
  bool create = false;
};

enum class SyncMode { kIncremental, kFull };

struct AthenaPostgresSettings {
  aws::AwsSettings aws;
  std::string database;
  std::string workgroup = "primary";
  std::string output_location;
  std::string catalog;
  std::string query;
  // incremental: the column whose largest value is the watermark, and the
  // watermark before the first sync (and of every full sync).
  std::string incremental_column;
  core::TimePoint initial{};
  SyncMode mode = SyncMode::kIncremental;
  std::vector<TargetSettings> targets;
};

AthenaPostgresSettings ReadAthenaPostgresSettings(config::MapReader& with);

config::JobTypeSpec AthenaPostgresJobSpec();

// `{since}` in `query` replaced by Athena's literal of `since`:
// TIMESTAMP '2024-01-01 00:00:00.000' (UTC, milliseconds).
std::string QueryWithSince(const std::string& query, core::TimePoint since);

}  // namespace jobs::athena_postgres
