// The `with:` block of a `type: sql_import` job: where records come from,
// how each column is typed and validated, and which table they are upserted
// into.
//
//   with:
//     source:
//       csv: imports/sales/*.csv        # a file or a glob (relative: the config's folder);
//                                       # or {files: ..., delimiter: ";", encoding: latin-1}
//       # or http: {url: ..., headers: {...}, params: {from: "{window_start}"},
//       #           records: data.items, next: links.next, max_pages: 10000}
//     window: 1d                         # http only: the window before the run's slot
//     target: {sqlite: data/dashboard.db}   # or {postgres: "${DATABASE_URL}"} (or postgres_file:)
//     table: sales                       # may be schema-qualified on PostgreSQL
//     key: [sale_date, user_id, product_name]
//     columns:                           # in table order; `from` defaults to the name
//       sale_date: {type: date, from: date, required: true}
//       amount:    {type: decimal, min: 0}
//       region:    {type: text, in: [North America, Europe, Asia]}
//     checks: ["abs(total_amount - quantity * unit_price) < 0.01"]
//     min_rows: 1                        # fewer valid rows fail the run
//     on_invalid: skip                   # or fail: nothing lands when a record is invalid
//     upsert: update                     # or ignore: existing rows are kept as they are
//     create: false                      # true: create the table from `columns`
//     password: {column: password_hash, from: initial_password,
//                memory: 19MiB, iterations: 2, parallelism: 1}
//     keep_on_update: [password_hash]    # columns an update leaves as they are
//     dry_run: false                     # true: read, validate and report; write nothing
//     window_start: 2026-01-01           # instead of the slot's window (`--set` backfills)
//     window_end: 2026-02-01
//
// Plain values; the job reads them with JobConfig::Settings<SqlImportSettings>().
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "config/job_type.h"
#include "config/map_reader.h"
#include "core/time.h"
#include "crypto/password_hash.h"
#include "csv/csv_reader.h"
#include "jobs/sql_import/column_rule.h"

namespace jobs::sql_import {

struct CsvSource {
  std::string files;  // a path or a glob, absolute
  csv::ReaderOptions options;
};

struct HttpSource {
  std::string url;  // may hold {window_start} ... and secrets: shown through http::RedactUrl
  std::map<std::string, std::string> headers;
  std::vector<std::pair<std::string, std::string>> params;  // in order, placeholders unfilled
  std::string records;  // dot path to the array of records; empty: the answer itself
  std::string next;     // dot path to the next page's URL; empty: one page
  std::int64_t max_pages = 10000;
};

enum class OnInvalid { kSkip, kFail };
enum class Upsert { kUpdate, kIgnore };
enum class TargetKind { kSqlite, kPostgres };

struct PasswordSettings {
  std::string column;  // the target column that gets the Argon2id hash
  std::string from;    // the source field holding the clear text
  crypto::Argon2Cost cost;
};

struct SqlImportSettings {
  std::optional<CsvSource> csv;
  std::optional<HttpSource> http;
  std::optional<core::Duration> window;
  std::optional<std::string> window_start;  // as given (a date or RFC 3339)
  std::optional<std::string> window_end;

  TargetKind target = TargetKind::kSqlite;
  std::filesystem::path sqlite;  // absolute, or relative to the state folder
  std::string postgres;          // a secret: never logged (pg::RedactConninfo)
  std::string table;
  std::vector<std::string> key;
  std::vector<ColumnRule> columns;  // the password column last, when there is one
  std::vector<std::string> checks;
  std::int64_t min_rows = 0;
  OnInvalid on_invalid = OnInvalid::kSkip;
  Upsert upsert = Upsert::kUpdate;
  bool create = false;
  std::optional<PasswordSettings> password;
  std::vector<std::string> keep_on_update;
  bool dry_run = false;
};

SqlImportSettings ReadSqlImportSettings(config::MapReader& with);

config::JobTypeSpec SqlImportJobSpec();

// A column or table name as the job writes it into SQL (quoted there):
// letters, digits and '_', not starting with a digit; a table may carry one
// schema ("analytics.sales").
bool IsColumnName(std::string_view name);
bool IsTableName(std::string_view name);

}  // namespace jobs::sql_import
