#include "jobs/athena_postgres/postgres_target.h"

#include <algorithm>
#include <map>

#include <fmt/format.h>

#include "core/utf8.h"
#include "pg/catalog.h"
#include "pg/conninfo.h"
#include "pg/copy_in.h"
#include "pg/quote.h"
#include "pg/transaction.h"

namespace jobs::athena_postgres {
namespace {

// "decimal(10,2)" -> "decimal"; "timestamp(3) with time zone" -> "timestamp with time zone".
std::string BaseType(std::string_view type) {
  std::string out;
  bool in_parens = false;
  for (char c : type) {
    if (c == '(') in_parens = true;
    if (!in_parens) out += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (c == ')') in_parens = false;
  }
  while (!out.empty() && out.back() == ' ') out.pop_back();
  std::string collapsed;
  for (char c : out) {
    if (c == ' ' && !collapsed.empty() && collapsed.back() == ' ') continue;
    collapsed += c;
  }
  return collapsed;
}

core::Error Mismatch(std::string message) {
  return core::Error{core::ErrorKind::kInvalidArgument, std::move(message), false};
}

// The catalog name of a possibly qualified table (the last part), for
// naming an index after it.
std::string LastPart(const std::string& table) {
  const std::size_t dot = table.rfind('.');
  return dot == std::string::npos ? table : table.substr(dot + 1);
}

// What jobsd keeps in a status table; a table that has other columns (a
// sync's own) is given these.
constexpr const char* kStatusColumns[][2] = {
    {"job", "text"},
    {"target_table", "text"},
    {"sync_type", "text"},
    {"last_sync_timestamp", "timestamp with time zone"},
    {"last_sync_date", "timestamp with time zone"},
    {"records_synced", "bigint"},
    {"status", "text"},
    {"error_message", "text"},
    {"run_id", "bigint"},
    {"inserted", "bigint"},
    {"updated", "bigint"},
    {"unchanged", "bigint"},
};

std::string_view SyncType(SyncMode mode) {
  return mode == SyncMode::kFull ? "full" : "incremental";
}

}  // namespace

bool ColumnFits(std::string_view athena_type, std::string_view pg_type) {
  const std::string from = BaseType(athena_type);
  const std::string to = BaseType(pg_type);
  if (to == "text") return true;
  auto one_of = [&](std::initializer_list<std::string_view> types) {
    return std::find(types.begin(), types.end(), to) != types.end();
  };
  if (from == "boolean") return one_of({"boolean"});
  if (from == "tinyint" || from == "smallint") {
    return one_of({"smallint", "integer", "bigint", "numeric", "real", "double precision"});
  }
  if (from == "integer" || from == "int") {
    return one_of({"integer", "bigint", "numeric", "double precision"});
  }
  if (from == "bigint") return one_of({"bigint", "numeric"});
  if (from == "real" || from == "float") return one_of({"real", "double precision", "numeric"});
  if (from == "double") return one_of({"double precision", "numeric"});
  if (from == "decimal") return one_of({"numeric"});
  if (from == "varchar" || from == "char" || from == "string") {
    return one_of({"character varying", "character", "json", "jsonb", "uuid", "citext"});
  }
  if (from == "date")
    return one_of({"date", "timestamp without time zone", "timestamp with time zone"});
  if (from == "timestamp")
    return one_of({"timestamp without time zone", "timestamp with time zone"});
  if (from == "timestamp with time zone") return one_of({"timestamp with time zone"});
  if (from == "json") return one_of({"json", "jsonb"});
  return false;  // arrays, maps, rows, varbinary, intervals: into text only
}

std::string CreatedType(const aws::ResultColumn& column) {
  const std::string base = BaseType(column.type);
  if (base == "boolean") return "boolean";
  if (base == "tinyint" || base == "smallint") return "smallint";
  if (base == "integer" || base == "int") return "integer";
  if (base == "bigint") return "bigint";
  if (base == "real" || base == "float") return "real";
  if (base == "double") return "double precision";
  if (base == "decimal") {
    if (column.precision > 0 && column.precision <= 1000) {
      return fmt::format("numeric({},{})", column.precision,
                         std::clamp(column.scale, 0, column.precision));
    }
    return "numeric";
  }
  if (base == "date") return "date";
  if (base == "timestamp") return "timestamp without time zone";
  if (base == "timestamp with time zone") return "timestamp with time zone";
  if (base == "json") return "jsonb";
  return "text";
}

PostgresTarget::PostgresTarget(const TargetSettings& config, RunFacts facts, pg::Connection conn)
    : config_(config), facts_(std::move(facts)), conn_(std::move(conn)) {
  // The config reader accepted only plain (schema.)names, which quote.
  auto quoted = [](const std::string& name) {
    auto q = pg::QuoteIdentifier(name);
    return q ? *q : pg::QuoteSingleIdentifier(name);
  };
  table_sql_ = quoted(config_.table);
  status_sql_ = quoted(config_.status_table);
  name_ = conn_.target() + " table " + config_.table;
}

core::Result<PostgresTarget> PostgresTarget::Open(const TargetSettings& config, RunFacts facts,
                                                  const pg::OpenOptions& options) {
  auto conn = pg::Connection::Open(config.url, options);
  if (!conn) return core::Unexpected(conn.error());
  PostgresTarget target(config, std::move(facts), std::move(*conn));
  if (auto prepared = target.PrepareStatusTable(); !prepared) {
    return core::Unexpected(prepared.error());
  }
  return target;
}

core::Result<void> PostgresTarget::PrepareStatusTable() {
  auto present = conn_.Query(
      "SELECT a.attname FROM pg_attribute a WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 "
      "AND NOT a.attisdropped",
      {status_sql_});
  if (!present) return core::Unexpected(present.error());
  std::vector<std::string> have;
  for (int row = 0; row < present->row_count(); ++row) have.push_back(present->Text(row, 0));
  std::vector<std::string> missing;
  for (const auto& column : kStatusColumns) {
    if (std::find(have.begin(), have.end(), column[0]) == have.end()) missing.push_back(column[0]);
  }
  if (missing.empty()) return {};
  if (!config_.create) {
    if (have.empty()) {
      return core::Unexpected(
          Mismatch(fmt::format("{}: the status table {} does not exist (create: true makes it)",
                               conn_.target(), config_.status_table)));
    }
    return core::Unexpected(Mismatch(
        fmt::format("{}: the status table {} lacks the columns {} (create: true adds them)",
                    conn_.target(), config_.status_table, fmt::join(missing, ", "))));
  }
  std::string sql;
  if (have.empty()) {
    sql = "CREATE TABLE IF NOT EXISTS " + status_sql_ + " (id bigserial PRIMARY KEY";
    for (const auto& column : kStatusColumns) sql += fmt::format(", {} {}", column[0], column[1]);
    sql += fmt::format("); CREATE INDEX IF NOT EXISTS {} ON {} (job, target_table, status)",
                       pg::QuoteSingleIdentifier(LastPart(config_.status_table) + "_by_job"),
                       status_sql_);
  } else {
    // A sync's own status table (forecast_sync_status): given the columns
    // jobsd keeps, its rows left as they are.
    for (const auto& column : kStatusColumns) {
      if (std::find(missing.begin(), missing.end(), column[0]) == missing.end()) continue;
      sql += fmt::format("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} {}; ", status_sql_, column[0],
                         column[1]);
    }
  }
  return conn_.Exec(sql);
}

core::Result<std::optional<core::TimePoint>> PostgresTarget::Watermark() {
  auto rows = conn_.Query(
      "SELECT to_char(last_sync_timestamp AT TIME ZONE 'UTC', "
      "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM " +
          status_sql_ +
          " WHERE job = $1 AND target_table = $2 AND status = 'success' "
          "AND last_sync_timestamp IS NOT NULL ORDER BY id DESC LIMIT 1",
      {facts_.job, config_.table});
  if (!rows) return core::Unexpected(rows.error());
  if (rows->row_count() == 0) return std::optional<core::TimePoint>();
  auto t = core::ParseRfc3339(rows->Text(0, 0));
  if (!t) return core::Unexpected(t.error());
  return std::optional<core::TimePoint>(*t);
}

core::Result<void> PostgresTarget::Check(const std::vector<aws::ResultColumn>& columns) {
  auto existing = conn_.Query(
      "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
      "WHERE a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped "
      "ORDER BY a.attnum",
      {table_sql_});
  if (!existing) return core::Unexpected(existing.error());
  std::map<std::string, std::string, std::less<>> types;
  for (int row = 0; row < existing->row_count(); ++row) {
    types.emplace(existing->Text(row, 0), existing->Text(row, 1));
  }
  for (const std::string& key : config_.key) {
    const bool in_result = std::any_of(columns.begin(), columns.end(),
                                       [&](const aws::ResultColumn& c) { return c.name == key; });
    if (!in_result) {
      return core::Unexpected(Mismatch(
          fmt::format("{}: key column '{}' is not a column of the query's result", name_, key)));
    }
  }
  if (types.empty()) {
    if (!config_.create) {
      return core::Unexpected(Mismatch(fmt::format(
          "{}: the table does not exist (create: true makes it from the query's columns)", name_)));
    }
    std::string sql = "CREATE TABLE IF NOT EXISTS " + table_sql_ + " (";
    for (const aws::ResultColumn& column : columns) {
      sql += pg::QuoteSingleIdentifier(column.name) + " " + CreatedType(column) + ", ";
    }
    sql += "UNIQUE (" + pg::QuoteColumnList(config_.key) + "))";
    if (auto created = conn_.Exec(sql); !created) return created;
    return {};
  }
  for (const aws::ResultColumn& column : columns) {
    const auto it = types.find(column.name);
    if (it == types.end()) {
      return core::Unexpected(Mismatch(fmt::format(
          "{}: the query's column '{}' is not a column of the table", name_, column.name)));
    }
    if (!ColumnFits(column.type, it->second)) {
      return core::Unexpected(
          Mismatch(fmt::format("{}: column '{}': Athena's {} does not fit the table's {}", name_,
                               column.name, column.type, it->second)));
    }
  }
  auto unique = pg::HasUniqueIndexOn(conn_, table_sql_, config_.key);
  if (!unique) return core::Unexpected(unique.error());
  if (!*unique) {
    return core::Unexpected(Mismatch(fmt::format(
        "{}: no unique constraint or index on ({}), which ON CONFLICT needs (ALTER TABLE {} ADD "
        "UNIQUE ({}))",
        name_, fmt::join(config_.key, ", "), config_.table, fmt::join(config_.key, ", "))));
  }
  return {};
}

core::Result<LoadCounts> PostgresTarget::Load(
    const std::vector<aws::ResultColumn>& columns,
    const std::function<core::Result<bool>(aws::ResultRow&)>& next,
    std::optional<core::TimePoint> previous_watermark) {
  LoadCounts counts;
  std::vector<std::string> names;
  std::vector<std::string> others;  // the columns that are not the key
  for (const aws::ResultColumn& column : columns) {
    names.push_back(column.name);
    if (std::find(config_.key.begin(), config_.key.end(), column.name) == config_.key.end()) {
      others.push_back(column.name);
    }
  }
  const std::string all = pg::QuoteColumnList(names);
  const std::string key = pg::QuoteColumnList(config_.key);

  auto tx = pg::Transaction::Begin(conn_);
  if (!tx) return core::Unexpected(tx.error());
  // Athena's timestamps carry no zone: they are UTC.
  if (auto set = conn_.Exec("SET LOCAL TimeZone = 'UTC'; CREATE TEMP TABLE jobsd_load ON COMMIT "
                            "DROP AS SELECT " +
                            all + " FROM " + table_sql_ + " WITH NO DATA");
      !set) {
    return core::Unexpected(set.error());
  }
  {
    auto copy = conn_.CopyIn("COPY jobsd_load (" + all + ") FROM STDIN");
    if (!copy) return core::Unexpected(copy.error());
    std::string line;
    aws::ResultRow row;
    for (;;) {
      auto more = next(row);
      if (!more) {
        copy->Abort(more.error().message);
        return core::Unexpected(more.error());
      }
      if (!*more) break;
      line.clear();
      for (std::size_t i = 0; i < row.size(); ++i) {
        if (i > 0) line += '\t';
        pg::AppendCopyText(line, row[i] ? std::optional<std::string_view>(*row[i]) : std::nullopt);
      }
      line += '\n';
      if (auto written = copy->Write(line); !written) return core::Unexpected(written.error());
      ++counts.rows;
      counts.bytes += line.size();
    }
    auto copied = copy->Finish();
    if (!copied) return core::Unexpected(copied.error());
  }

  // Of rows with the same key the last wins (ON CONFLICT cannot touch a row
  // twice); an update happens only where a value differs.
  std::string upsert = "WITH src AS MATERIALIZED (SELECT DISTINCT ON (" + key + ") " + all +
                       " FROM jobsd_load ORDER BY " + key + ", ctid DESC), up AS (INSERT INTO " +
                       table_sql_ + " AS t (" + all + ") SELECT " + all +
                       " FROM src ON CONFLICT (" + key + ") ";
  if (others.empty()) {
    upsert += "DO NOTHING RETURNING true AS inserted)";
  } else {
    upsert += "DO UPDATE SET ";
    for (std::size_t i = 0; i < others.size(); ++i) {
      const std::string column = pg::QuoteSingleIdentifier(others[i]);
      upsert += (i ? ", " : "") + column + " = EXCLUDED." + column;
    }
    upsert += " WHERE (" + pg::QuoteColumnList(others, "t.") + ") IS DISTINCT FROM (" +
              pg::QuoteColumnList(others, "EXCLUDED.") + ") RETURNING (xmax = 0) AS inserted)";
  }
  upsert +=
      " SELECT (SELECT count(*) FROM src), count(*) FILTER (WHERE inserted), "
      "count(*) FILTER (WHERE NOT inserted) FROM up";
  auto result = conn_.Query(upsert);
  if (!result) return core::Unexpected(result.error());
  const std::uint64_t distinct = std::stoull(result->Text(0, 0));
  counts.inserted = std::stoull(result->Text(0, 1));
  counts.updated = std::stoull(result->Text(0, 2));
  counts.unchanged = distinct - counts.inserted - counts.updated;
  counts.duplicate_keys = counts.rows - distinct;

  // The watermark moves in the transaction that writes the rows it covers.
  std::optional<core::TimePoint> watermark = previous_watermark;
  if (!facts_.incremental_column.empty()) {
    auto newest = conn_.Query(
        "SELECT to_char(max(" + pg::QuoteSingleIdentifier(facts_.incremental_column) +
        ")::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') FROM jobsd_load");
    if (!newest) return core::Unexpected(newest.error());
    if (!newest->IsNull(0, 0)) {
      auto t = core::ParseRfc3339(newest->Text(0, 0));
      if (!t) return core::Unexpected(t.error());
      if (!watermark || *t > *watermark) watermark = *t;
    }
  }
  auto status = conn_.Query(
      "INSERT INTO " + status_sql_ +
          " (job, target_table, sync_type, last_sync_timestamp, last_sync_date, records_synced, "
          "status, error_message, run_id, inserted, updated, unchanged) VALUES ($1, $2, $3, "
          "$4::timestamptz, now(), $5, 'success', NULL, $6, $7, $8, $9)",
      {facts_.job, config_.table, std::string(SyncType(facts_.mode)),
       watermark ? std::optional<std::string>(core::FormatRfc3339(*watermark)) : std::nullopt,
       std::to_string(distinct), std::to_string(facts_.run_id), std::to_string(counts.inserted),
       std::to_string(counts.updated), std::to_string(counts.unchanged)});
  if (!status) return core::Unexpected(status.error());
  if (auto committed = tx->Commit(); !committed) return core::Unexpected(committed.error());
  return counts;
}

core::Result<void> PostgresTarget::RecordFailure(const std::string& error) {
  // The run's cancellation and deadline may be what failed it: this row
  // gets 10 s of its own.
  const auto deadline =
      std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now()) +
      std::chrono::seconds(10);
  if (conn_.IsBroken()) {
    pg::OpenOptions options;
    options.connect_timeout = std::chrono::seconds(5);
    options.deadline = deadline;
    auto reopened = pg::Connection::Open(config_.url, options);
    if (!reopened) return core::Unexpected(reopened.error());
    conn_ = std::move(*reopened);
  }
  conn_.SetCancelled({});
  conn_.SetDeadline(deadline);
  auto status =
      conn_.Query("INSERT INTO " + status_sql_ +
                      " (job, target_table, sync_type, last_sync_date, records_synced, status, "
                      "error_message, run_id) VALUES ($1, $2, $3, now(), 0, 'failed', $4, $5)",
                  {facts_.job, config_.table, std::string(SyncType(facts_.mode)),
                   core::CutUtf8(core::ToValidUtf8(error), 4000), std::to_string(facts_.run_id)});
  if (!status) return core::Unexpected(status.error());
  return {};
}

}  // namespace jobs::athena_postgres
