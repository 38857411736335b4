// The PostgreSQL side of import_target.h.
//
// One transaction from Begin to Commit; the staging table is TEMP ... ON
// COMMIT DROP, so it goes with the transaction (or with the session when
// the process dies). Rows reach it through COPY; a COPY cannot share the
// connection with other statements, so rejects wait in memory (up to a
// thousand) and go in with a COPY of their own between two of the rows'.
// The staging columns have the import's types; the upsert's assignment
// casts them to the table's, whose limits Prepare made rules of.
#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include <fmt/format.h>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "jobs/sql_import/import_target.h"
#include "pg/catalog.h"
#include "pg/connection.h"
#include "pg/conninfo.h"
#include "pg/copy_in.h"
#include "pg/quote.h"
#include "pg/transaction.h"

namespace jobs::sql_import {

namespace {

std::string_view CreatedType(ColumnType type) {
  switch (type) {
    case ColumnType::kText:
      return "text";
    case ColumnType::kInteger:
      return "bigint";
    case ColumnType::kDecimal:
      return "numeric";
    case ColumnType::kBoolean:
      return "boolean";
    case ColumnType::kDate:
      return "date";
    case ColumnType::kTimestamp:
      return "timestamptz";
    case ColumnType::kJson:
      return "jsonb";
  }
  return "text";
}

bool StartsWith(std::string_view text, std::string_view prefix) {
  return text.substr(0, prefix.size()) == prefix;
}

// Whether a value of `type` can be stored in a column of `pg_type`
// (format_type's spelling) without a failed cast.
bool Fits(ColumnType type, std::string_view pg_type) {
  const bool text = pg_type == "text" || StartsWith(pg_type, "character") || pg_type == "citext";
  switch (type) {
    case ColumnType::kText:
      return text;
    case ColumnType::kInteger:
      return text || pg_type == "bigint" || pg_type == "integer" || pg_type == "smallint" ||
             StartsWith(pg_type, "numeric") || pg_type == "real" || pg_type == "double precision";
    case ColumnType::kDecimal:
      return text || StartsWith(pg_type, "numeric") || pg_type == "real" ||
             pg_type == "double precision";
    case ColumnType::kBoolean:
      return text || pg_type == "boolean";
    case ColumnType::kDate:
      return text || pg_type == "date" || StartsWith(pg_type, "timestamp");
    case ColumnType::kTimestamp:
      return text || StartsWith(pg_type, "timestamp");
    case ColumnType::kJson:
      return text || pg_type == "json" || pg_type == "jsonb";
  }
  return false;
}

// "(200)" in "character varying(200)", "(10,2)" in "numeric(10,2)".
std::vector<int> Modifiers(std::string_view pg_type) {
  std::vector<int> out;
  const std::size_t open = pg_type.find('(');
  if (open == std::string_view::npos) return out;
  const char* p = pg_type.data() + open + 1;
  const char* end = pg_type.data() + pg_type.size();
  while (p < end) {
    int v = 0;
    auto [next, ec] = std::from_chars(p, end, v);
    if (ec != std::errc()) break;
    out.push_back(v);
    p = next;
    if (p < end && *p == ',')
      ++p;
    else
      break;
  }
  return out;
}

// The table's limits as rules of the column.
void TightenTo(ColumnRule& rule, std::string_view pg_type) {
  auto bound = [&](std::int64_t low, std::int64_t high) {
    rule.min_integer = std::max(rule.min_integer.value_or(low), low);
    rule.max_integer = std::min(rule.max_integer.value_or(high), high);
  };
  if (rule.type == ColumnType::kInteger && pg_type == "integer") bound(INT32_MIN, INT32_MAX);
  if (rule.type == ColumnType::kInteger && pg_type == "smallint") bound(INT16_MIN, INT16_MAX);
  const std::vector<int> mods = Modifiers(pg_type);
  if (rule.type == ColumnType::kText && StartsWith(pg_type, "character") && mods.size() == 1) {
    rule.max_length =
        std::min<std::size_t>(rule.max_length.value_or(std::size_t(mods[0])), std::size_t(mods[0]));
  }
  if ((rule.type == ColumnType::kDecimal || rule.type == ColumnType::kInteger) &&
      StartsWith(pg_type, "numeric") && !mods.empty()) {
    if (rule.type == ColumnType::kDecimal) {
      rule.numeric_limit = std::pair<int, int>(mods[0], mods.size() > 1 ? mods[1] : 0);
    }
  }
}

class PostgresTarget final : public ImportTarget {
 public:
  PostgresTarget(const SqlImportSettings& settings, RunFacts facts, pg::Connection conn,
                 std::string table_sql, std::string rejects_sql)
      : settings_(settings),
        facts_(std::move(facts)),
        conn_(std::move(conn)),
        table_sql_(std::move(table_sql)),
        rejects_sql_(std::move(rejects_sql)) {
    name_ = conn_.target() + " table " + settings_.table;
  }

  const std::string& name() const override { return name_; }

  core::Result<void> Prepare(std::vector<ColumnRule>& columns) override {
    columns_ = &columns;
    auto info = conn_.Query(
        "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, "
        "a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '' FROM pg_attribute a WHERE "
        "a.attrelid = to_regclass($1) AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum",
        {table_sql_});
    if (!info) return core::Unexpected(Context(info.error()));
    if (info->row_count() == 0) {
      if (!settings_.create) {
        return Mismatch("there is no such table (create: true makes it from columns)");
      }
      create_table_ = true;
      return {};
    }
    std::map<std::string, std::string> types;
    std::set<std::string> ours;
    for (const ColumnRule& column : columns) ours.insert(column.name);
    for (int r = 0; r < info->row_count(); ++r) {
      const std::string column = info->Text(r, 0);
      types[column] = info->Text(r, 1);
      if (info->Text(r, 2) == "t" && info->Text(r, 3) == "f" && !ours.count(column)) {
        return Mismatch("column '" + column +
                        "' is NOT NULL without a default, and the import does not fill it");
      }
    }
    for (ColumnRule& column : columns) {
      auto it = types.find(column.name);
      if (it == types.end()) {
        std::string all;
        for (const auto& [name, type] : types) all += (all.empty() ? "" : ", ") + name;
        return Mismatch("has no column '" + column.name + "' (it has: " + all + ")");
      }
      const ColumnType type = column.password ? ColumnType::kText : column.type;
      if (!Fits(type, it->second)) {
        return Mismatch(fmt::format("column '{}' is {}, which cannot hold the import's {}",
                                    column.name, it->second, TypeName(type)));
      }
      TightenTo(column, it->second);
      staging_types_.push_back(it->second);
    }
    auto unique = pg::HasUniqueIndexOn(conn_, table_sql_, settings_.key);
    if (!unique) return core::Unexpected(Context(unique.error()));
    if (!*unique) {
      return Mismatch(fmt::format(
          "has no unique constraint or index on ({0}), which the upsert needs (ALTER TABLE {1} "
          "ADD UNIQUE ({0}))",
          fmt::join(settings_.key, ", "), settings_.table));
    }
    return {};
  }

  core::Result<bool> Imported(const std::string& file, const std::string& sha256) override {
    auto found = conn_.Query(
        "SELECT CASE WHEN to_regclass('jobsd_imported_files') IS NULL THEN 0 ELSE 1 END");
    if (!found) return core::Unexpected(Context(found.error()));
    if (found->Text(0, 0) == "0") return false;
    auto query = conn_.Query(
        "SELECT count(*) FROM jobsd_imported_files WHERE job = $1 AND target_table = $2 AND "
        "file = $3 AND sha256 = $4",
        {facts_.job, settings_.table, file, sha256});
    if (!query) return core::Unexpected(Context(query.error()));
    return query->Text(0, 0) != "0";
  }

  core::Result<void> Begin() override {
    auto tx = pg::Transaction::Begin(conn_);
    if (!tx) return core::Unexpected(Context(tx.error()));
    tx_.emplace(std::move(*tx));
    std::string ddl = "SET LOCAL TimeZone = 'UTC';\n";
    if (create_table_) {
      ddl += "CREATE TABLE " + table_sql_ + " (";
      for (const ColumnRule& column : *columns_) {
        ddl += pg::QuoteSingleIdentifier(column.name) + " " +
               std::string(CreatedType(column.password ? ColumnType::kText : column.type)) +
               (column.required ? " NOT NULL" : "") + ", ";
      }
      ddl += "UNIQUE (" + pg::QuoteColumnList(settings_.key) + "));\n";
    }
    ddl += "CREATE TABLE IF NOT EXISTS " + rejects_sql_ +
           " (id bigserial PRIMARY KEY, job text NOT NULL, run_id bigint, rejected_at timestamptz "
           "NOT NULL DEFAULT now(), source text NOT NULL, record jsonb NOT NULL, reasons jsonb NOT "
           "NULL);\n"
           "CREATE TABLE IF NOT EXISTS jobsd_imported_files (job text NOT NULL, target_table text "
           "NOT NULL, file text NOT NULL, sha256 text NOT NULL, bytes bigint NOT NULL, rows bigint "
           "NOT NULL, run_id bigint, imported_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY "
           "(job, target_table, file, sha256));\n"
           "CREATE TEMP TABLE jobsd_staging (";
    // Typed like the table, so the upsert copies values without casting
    // each (the rules already made every value fit those types).
    for (std::size_t i = 0; i < columns_->size(); ++i) {
      const ColumnRule& column = (*columns_)[i];
      ddl += pg::QuoteSingleIdentifier(column.name) + " " +
             (i < staging_types_.size()
                  ? staging_types_[i]
                  : std::string(CreatedType(column.password ? ColumnType::kText : column.type))) +
             ", ";
    }
    ddl += "jobsd_n bigint, jobsd_source bigint) ON COMMIT DROP";
    if (auto made = conn_.Exec(ddl); !made) return core::Unexpected(Context(made.error()));
    for (std::size_t i = 0; i < settings_.checks.size(); ++i) {
      if (auto check = conn_.Exec("SELECT (" + settings_.checks[i] +
                                  ")::boolean FROM jobsd_staging s WHERE false");
          !check) {
        return core::Unexpected(core::InvalidArgument(fmt::format(
            "{}: checks[{}] '{}': {}", name_, i, settings_.checks[i], check.error().message)));
      }
    }
    return {};
  }

  core::Result<void> AddRow(std::span<const std::optional<std::string>> values,
                            std::int64_t source) override {
    if (!copy_) {
      auto copy = conn_.CopyIn("COPY jobsd_staging (" + pg::QuoteColumnList(sql::Names(*columns_)) +
                               ", jobsd_n, jobsd_source) FROM STDIN");
      if (!copy) return core::Unexpected(Context(copy.error()));
      copy_.emplace(std::move(*copy));
    }
    line_.clear();
    for (const std::optional<std::string>& value : values) {
      pg::AppendCopyText(line_, value ? std::optional<std::string_view>(*value) : std::nullopt);
      line_ += '\t';
    }
    line_ += std::to_string(++staged_);
    line_ += '\t';
    line_ += std::to_string(source);
    line_ += '\n';
    if (auto written = copy_->Write(line_); !written)
      return core::Unexpected(Context(written.error()));
    return {};
  }

  core::Result<void> AddReject(const RejectedRecord& reject) override {
    pending_rejects_.push_back(reject);
    if (pending_rejects_.size() >= 1000) return FlushRejects();
    return {};
  }

  core::Result<std::uint64_t> ApplyChecks(
      const std::function<std::string(std::int64_t)>& describe,
      const std::function<void(const RejectedRecord&)>& on_reject) override {
    if (auto flushed = FlushRejects(); !flushed) return core::Unexpected(flushed.error());
    if (settings_.checks.empty()) return 0;
    std::string select =
        "DECLARE jobsd_bad NO SCROLL CURSOR FOR SELECT jobsd_source, "
        "(to_jsonb(s) - 'jobsd_n' - 'jobsd_source')::text";
    for (const std::string& check : settings_.checks) {
      select += ", coalesce((" + check + ")::boolean, true)";
    }
    const std::string fails = sql::FailsAnyCheck(settings_.checks, "true");
    select += " FROM jobsd_staging s WHERE " + fails;
    if (auto declared = conn_.Exec(select); !declared)
      return core::Unexpected(Context(declared.error()));
    std::uint64_t count = 0;
    for (;;) {
      auto rows = conn_.Query("FETCH 1000 FROM jobsd_bad");
      if (!rows) return core::Unexpected(Context(rows.error()));
      if (rows->row_count() == 0) break;
      for (int r = 0; r < rows->row_count(); ++r) {
        RejectedRecord reject;
        reject.source = describe(std::stoll(rows->Text(r, 0)));
        reject.record = rows->Text(r, 1);
        for (std::size_t k = 0; k < settings_.checks.size(); ++k) {
          if (rows->Text(r, int(2 + k)) == "f") {
            reject.reasons.push_back("check failed: " + settings_.checks[k]);
            reject.kinds.push_back("check");
          }
        }
        on_reject(reject);
        pending_rejects_.push_back(std::move(reject));
        ++count;
      }
      // A COPY may run while the cursor stays open.
      if (auto flushed = FlushRejects(); !flushed) return core::Unexpected(flushed.error());
    }
    if (auto closed = conn_.Exec("CLOSE jobsd_bad"); !closed)
      return core::Unexpected(Context(closed.error()));
    if (auto flushed = FlushRejects(); !flushed) return core::Unexpected(flushed.error());
    if (count > 0) {
      if (auto deleted = conn_.Exec("DELETE FROM jobsd_staging s WHERE " + fails); !deleted) {
        return core::Unexpected(Context(deleted.error()));
      }
    }
    return count;
  }

  core::Result<std::uint64_t> StagedRows() override {
    if (auto flushed = FlushRejects(); !flushed) return core::Unexpected(flushed.error());
    auto n = conn_.Query("SELECT count(*) FROM jobsd_staging");
    if (!n) return core::Unexpected(Context(n.error()));
    return std::stoull(n->Text(0, 0));
  }

  core::Result<LoadCounts> Upsert(bool may_repeat_keys) override {
    if (auto flushed = FlushRejects(); !flushed) return core::Unexpected(flushed.error());
    LoadCounts counts;
    const std::string all = pg::QuoteColumnList(sql::Names(*columns_));
    const std::string key = pg::QuoteColumnList(settings_.key);
    const std::vector<std::string> updated = sql::UpdatedColumns(settings_);
    // Of rows with the same key the last wins (ON CONFLICT cannot touch a
    // row twice); an update happens only where a value differs.
    // Without repeated keys the staging table is the source as it is: the
    // sort DISTINCT ON needs costs about as much as the upsert.
    if (may_repeat_keys) {
      if (auto memory = conn_.Exec("SET LOCAL work_mem = '64MB'"); !memory) {
        return core::Unexpected(Context(memory.error()));
      }
    }
    std::string upsert = may_repeat_keys
                             ? "WITH src AS MATERIALIZED (SELECT DISTINCT ON (" + key + ") " + all +
                                   " FROM jobsd_staging ORDER BY " + key + ", jobsd_n DESC), "
                             : "WITH src AS (SELECT " + all + " FROM jobsd_staging), ";
    upsert += "up AS (INSERT INTO " + table_sql_ + " AS t (" + all + ") SELECT " + all +
              " FROM src ON CONFLICT (" + key + ") ";
    if (settings_.upsert == Upsert::kIgnore || updated.empty()) {
      upsert += "DO NOTHING RETURNING true AS inserted)";
    } else {
      upsert += "DO UPDATE SET ";
      for (std::size_t i = 0; i < updated.size(); ++i) {
        const std::string column = pg::QuoteSingleIdentifier(updated[i]);
        upsert += (i ? ", " : "") + column + " = EXCLUDED." + column;
      }
      upsert += " WHERE (" + pg::QuoteColumnList(updated, "t.") + ") IS DISTINCT FROM (" +
                pg::QuoteColumnList(updated, "EXCLUDED.") + ") RETURNING (xmax = 0) AS inserted)";
    }
    upsert +=
        " SELECT (SELECT count(*) FROM jobsd_staging), (SELECT count(*) FROM src), count(*) FILTER "
        "(WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up";
    auto result = conn_.Query(upsert);
    if (!result) return core::Unexpected(Context(result.error()));
    const std::uint64_t rows = std::stoull(result->Text(0, 0));
    const std::uint64_t distinct = std::stoull(result->Text(0, 1));
    counts.inserted = std::stoull(result->Text(0, 2));
    counts.updated = std::stoull(result->Text(0, 3));
    counts.unchanged = distinct - counts.inserted - counts.updated;
    counts.duplicate_keys = rows - distinct;
    return counts;
  }

  core::Result<void> MarkImported(const ImportedFile& file) override {
    if (auto flushed = FlushRejects(); !flushed) return flushed;
    auto marked = conn_.Query(
        "INSERT INTO jobsd_imported_files (job, target_table, file, sha256, bytes, rows, run_id) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (job, target_table, file, sha256) DO "
        "UPDATE SET bytes = EXCLUDED.bytes, rows = EXCLUDED.rows, run_id = EXCLUDED.run_id, "
        "imported_at = now()",
        {facts_.job, settings_.table, file.name, file.sha256, std::to_string(file.bytes),
         std::to_string(file.rows), std::to_string(facts_.run_id)});
    if (!marked) return core::Unexpected(Context(marked.error()));
    return {};
  }

  core::Result<void> Commit() override {
    if (auto flushed = FlushRejects(); !flushed) return flushed;
    auto committed = tx_->Commit();
    tx_.reset();
    if (!committed) return core::Unexpected(Context(committed.error()));
    return {};
  }

  void Rollback() override {
    if (copy_) copy_->Abort("the import was rolled back");
    copy_.reset();
    pending_rejects_.clear();
    if (tx_) tx_->Rollback();
    tx_.reset();
  }

  ~PostgresTarget() override { Rollback(); }

 private:
  core::Error Context(core::Error error) const {
    error.message = settings_.table + ": " + error.message;
    return error;
  }

  core::Unexpected Mismatch(const std::string& what) const {
    return core::Unexpected(core::InvalidArgument(name_ + ": " + what));
  }

  // Ends the rows' COPY (the next row starts another) and copies the
  // waiting rejects.
  core::Result<void> FinishRows() {
    if (!copy_) return {};
    auto done = copy_->Finish();
    copy_.reset();
    if (!done) return core::Unexpected(Context(done.error()));
    return {};
  }

  core::Result<void> FlushRejects() {
    if (auto finished = FinishRows(); !finished) return finished;
    if (pending_rejects_.empty()) return {};
    auto copy =
        conn_.CopyIn("COPY " + rejects_sql_ + " (job, run_id, source, record, reasons) FROM STDIN");
    if (!copy) return core::Unexpected(Context(copy.error()));
    std::string line;
    const std::string run_id = std::to_string(facts_.run_id);
    for (const RejectedRecord& reject : pending_rejects_) {
      boost::json::array reasons;
      for (const std::string& reason : reject.reasons) reasons.emplace_back(reason);
      const std::string reasons_text = boost::json::serialize(reasons);
      line.clear();
      pg::AppendCopyRow(line, {facts_.job, run_id, reject.source, reject.record, reasons_text});
      if (auto written = copy->Write(line); !written)
        return core::Unexpected(Context(written.error()));
    }
    pending_rejects_.clear();
    auto done = copy->Finish();
    if (!done) return core::Unexpected(Context(done.error()));
    return {};
  }

  const SqlImportSettings& settings_;
  RunFacts facts_;
  pg::Connection conn_;
  std::string table_sql_;
  std::string rejects_sql_;
  std::string name_;
  std::vector<ColumnRule>* columns_ = nullptr;
  bool create_table_ = false;
  std::vector<std::string> staging_types_;  // the table's, by column (format_type)
  std::optional<pg::Transaction> tx_;
  std::optional<pg::CopyIn> copy_;
  std::string line_;
  std::uint64_t staged_ = 0;
  std::vector<RejectedRecord> pending_rejects_;
};

}  // namespace

core::Result<std::unique_ptr<ImportTarget>> OpenPostgresTarget(const SqlImportSettings& settings,
                                                               RunFacts facts,
                                                               scheduler::JobContext& ctx) {
  auto table_sql = pg::QuoteIdentifier(settings.table);
  if (!table_sql) return core::Unexpected(table_sql.error());
  auto rejects_sql = pg::QuoteIdentifier(settings.table + "_rejects");
  if (!rejects_sql) return core::Unexpected(rejects_sql.error());
  pg::OpenOptions options;
  options.cancelled = [&ctx] { return ctx.cancel().Cancelled(); };
  options.deadline = ctx.cancel().deadline();
  auto conn = pg::Connection::Open(settings.postgres, options);
  if (!conn) return core::Unexpected(conn.error());
  return std::unique_ptr<ImportTarget>(
      std::make_unique<PostgresTarget>(settings, std::move(facts), std::move(*conn),
                                       std::move(*table_sql), std::move(*rejects_sql)));
}

}  // namespace jobs::sql_import
