// The SQLite side of import_target.h.
//
// The whole import is one BEGIN IMMEDIATE transaction on the user's file
// (readers go on reading; another writer waits up to the busy timeout).
// The staging table is TEMP: SQLite keeps it in a temporary file that
// vanishes with the connection, however the process ends. Its types are
// the declared types of a created table, so checks see numbers as numbers.
// Counting: the write lock is ours, so `count(*)` before and after the
// upsert gives the inserted rows exactly; changes() gives inserted plus
// updated.
#include <algorithm>
#include <charconv>
#include <filesystem>
#include <map>
#include <set>

#include <fmt/format.h>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "jobs/sql_import/import_target.h"
#include "json/json_fields.h"
#include "pg/quote.h"
#include "sqlite/database.h"
#include "sqlite/transaction.h"

namespace jobs::sql_import {

namespace {

std::string_view DeclaredType(ColumnType type) {
  switch (type) {
    case ColumnType::kInteger:
    case ColumnType::kBoolean:
      return "INTEGER";
    case ColumnType::kDecimal:
      return "NUMERIC";
    default:
      return "TEXT";
  }
}

std::string Q(std::string_view name) { return pg::QuoteSingleIdentifier(name); }

class SqliteTarget final : public ImportTarget {
 public:
  SqliteTarget(const SqlImportSettings& settings, RunFacts facts, sqlite::Database db)
      : settings_(settings), facts_(std::move(facts)), db_(std::move(db)) {
    name_ = "sqlite " + db_.file().filename().string() + " table " + settings_.table;
  }

  const std::string& name() const override { return name_; }

  core::Result<void> Prepare(std::vector<ColumnRule>& columns) override {
    columns_ = &columns;
    auto info = db_.Prepare(
        "SELECT name, \"notnull\", dflt_value IS NOT NULL, pk, type FROM "
        "pragma_table_info(?1)");
    if (!info) return core::Unexpected(info.error());
    info->Bind(1, settings_.table);
    struct TableColumn {
      bool not_null = false;
      bool has_default = false;
      int pk = 0;
      std::string type;
    };
    std::map<std::string, TableColumn> table;
    for (;;) {
      auto row = info->Step();
      if (!row) return core::Unexpected(row.error());
      if (!*row) break;
      table[info->Text(0)] = {info->Int(1) != 0, info->Int(2) != 0, int(info->Int(3)),
                              info->Text(4)};
    }
    if (table.empty()) {
      if (!settings_.create) {
        return Mismatch("there is no such table (create: true makes it from columns)");
      }
      create_table_ = true;
      return {};
    }
    std::set<std::string> ours;
    for (const ColumnRule& column : columns) {
      ours.insert(column.name);
      if (!table.count(column.name)) {
        return Mismatch("has no column '" + column.name + "' (it has: " + List(table) + ")");
      }
    }
    int pk_columns = 0;
    for (const auto& [name, column] : table) {
      if (column.pk) ++pk_columns;
      // An INTEGER PRIMARY KEY is the rowid: SQLite fills it.
      const bool rowid = column.pk && pk_columns == 1 && column.type == "INTEGER";
      if (column.not_null && !column.has_default && !ours.count(name) && !rowid) {
        return Mismatch("column '" + name +
                        "' is NOT NULL without a default, and the import does not fill it");
      }
    }
    // The key needs a unique index (or primary key) on exactly its columns.
    const std::set<std::string> key(settings_.key.begin(), settings_.key.end());
    std::set<std::string> pk;
    for (const auto& [name, column] : table) {
      if (column.pk) pk.insert(name);
    }
    if (pk == key) return {};
    auto indexes =
        db_.Prepare("SELECT name FROM pragma_index_list(?1) WHERE \"unique\" AND NOT partial");
    if (!indexes) return core::Unexpected(indexes.error());
    indexes->Bind(1, settings_.table);
    std::vector<std::string> unique;
    for (;;) {
      auto row = indexes->Step();
      if (!row) return core::Unexpected(row.error());
      if (!*row) break;
      unique.push_back(indexes->Text(0));
    }
    for (const std::string& index : unique) {
      auto cols = db_.Prepare("SELECT name FROM pragma_index_info(?1)");
      if (!cols) return core::Unexpected(cols.error());
      cols->Bind(1, index);
      std::set<std::string> names;
      bool expression = false;
      for (;;) {
        auto row = cols->Step();
        if (!row) return core::Unexpected(row.error());
        if (!*row) break;
        if (cols->IsNull(0))
          expression = true;
        else
          names.insert(cols->Text(0));
      }
      if (!expression && names == key) return {};
    }
    return Mismatch(fmt::format(
        "has no unique index on ({0}), which the upsert needs (CREATE UNIQUE INDEX ON {1} ({0}))",
        fmt::join(settings_.key, ", "), settings_.table));
  }

  core::Result<bool> Imported(const std::string& file, const std::string& sha256) override {
    auto exists = db_.QueryInt(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = "
        "'jobsd_imported_files'");
    if (!exists) return core::Unexpected(exists.error());
    if (exists->value_or(0) == 0) return false;
    auto query = db_.Prepare(
        "SELECT count(*) FROM jobsd_imported_files WHERE job = ?1 AND target_table = ?2 AND "
        "file = ?3 AND sha256 = ?4");
    if (!query) return core::Unexpected(query.error());
    query->Bind(1, facts_.job).Bind(2, settings_.table).Bind(3, file).Bind(4, sha256);
    auto row = query->Step();
    if (!row) return core::Unexpected(row.error());
    return *row && query->Int(0) > 0;
  }

  core::Result<void> Begin() override {
    auto tx = sqlite::Transaction::Begin(db_, sqlite::Transaction::Kind::kImmediate);
    if (!tx) return core::Unexpected(tx.error());
    tx_.emplace(std::move(*tx));
    const std::vector<std::string> names = sql::Names(*columns_);
    std::string ddl;
    if (create_table_) {
      ddl += "CREATE TABLE " + Q(settings_.table) + " (";
      for (const ColumnRule& column : *columns_) {
        ddl += Q(column.name) + " " + std::string(DeclaredType(column.type)) +
               (column.required ? " NOT NULL" : "") + ", ";
      }
      ddl += "UNIQUE (" + pg::QuoteColumnList(settings_.key) + "));\n";
    }
    ddl += "CREATE TABLE IF NOT EXISTS " + Q(settings_.table + "_rejects") +
           " (id INTEGER PRIMARY KEY, job TEXT NOT NULL, run_id INTEGER, rejected_at TEXT NOT "
           "NULL, source TEXT NOT NULL, record TEXT NOT NULL, reasons TEXT NOT NULL);\n"
           "CREATE TABLE IF NOT EXISTS jobsd_imported_files (job TEXT NOT NULL, target_table "
           "TEXT NOT NULL, file TEXT NOT NULL, sha256 TEXT NOT NULL, bytes INTEGER NOT NULL, "
           "rows INTEGER NOT NULL, run_id INTEGER, imported_at TEXT NOT NULL, PRIMARY KEY (job, "
           "target_table, file, sha256));\n"
           "DROP TABLE IF EXISTS temp.jobsd_staging;\n"
           "CREATE TEMP TABLE jobsd_staging (";
    for (const ColumnRule& column : *columns_) {
      ddl += Q(column.name) + " " + std::string(DeclaredType(column.type)) + ", ";
    }
    ddl += "jobsd_source INTEGER);";
    if (auto made = db_.Execute(ddl); !made) return core::Unexpected(made.error());

    // Each check compiled once now, so a typo fails before anything is read.
    for (std::size_t i = 0; i < settings_.checks.size(); ++i) {
      if (auto check = db_.Prepare("SELECT (" + settings_.checks[i] + ") FROM jobsd_staging");
          !check) {
        return core::Unexpected(core::InvalidArgument(fmt::format(
            "{}: checks[{}] '{}': {}", name_, i, settings_.checks[i], check.error().message)));
      }
    }
    std::string insert =
        "INSERT INTO jobsd_staging (" + pg::QuoteColumnList(names) + ", jobsd_source) VALUES (";
    for (std::size_t i = 0; i <= names.size(); ++i)
      insert += (i ? ", ?" : "?") + std::to_string(i + 1);
    insert += ")";
    auto stage = db_.Prepare(insert);
    if (!stage) return core::Unexpected(stage.error());
    stage_.emplace(std::move(*stage));
    auto reject = db_.Prepare("INSERT INTO " + Q(settings_.table + "_rejects") +
                              " (job, run_id, rejected_at, source, record, reasons) VALUES (?1, "
                              "?2, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?3, ?4, ?5)");
    if (!reject) return core::Unexpected(reject.error());
    reject_.emplace(std::move(*reject));
    return {};
  }

  core::Result<void> AddRow(std::span<const std::optional<std::string>> values,
                            std::int64_t source) override {
    sqlite::Statement& stage = *stage_;
    for (std::size_t i = 0; i < values.size(); ++i) {
      const int index = int(i + 1);
      if (!values[i]) {
        stage.Bind(index, std::nullopt);
        continue;
      }
      const std::string& text = *values[i];
      switch ((*columns_)[i].type) {
        case ColumnType::kInteger: {
          std::int64_t v = 0;
          std::from_chars(text.data(), text.data() + text.size(), v);
          stage.Bind(index, v);
          break;
        }
        case ColumnType::kBoolean:
          stage.Bind(index, std::int64_t(text == "true" ? 1 : 0));
          break;
        default:
          stage.BindNoCopy(index, text);
      }
    }
    stage.Bind(int(values.size() + 1), source);
    return stage.Run();
  }

  core::Result<void> AddReject(const RejectedRecord& reject) override {
    boost::json::array reasons;
    for (const std::string& reason : reject.reasons) reasons.emplace_back(reason);
    reject_->Bind(1, facts_.job)
        .Bind(2, facts_.run_id)
        .Bind(3, reject.source)
        .Bind(4, reject.record)
        .Bind(5, boost::json::serialize(reasons));
    return reject_->Run();
  }

  core::Result<std::uint64_t> ApplyChecks(
      const std::function<std::string(std::int64_t)>& describe,
      const std::function<void(const RejectedRecord&)>& on_reject) override {
    if (settings_.checks.empty()) return 0;
    const std::vector<std::string> names = sql::Names(*columns_);
    std::string select = "SELECT " + pg::QuoteColumnList(names) + ", jobsd_source";
    for (const std::string& check : settings_.checks) select += ", coalesce((" + check + "), 1)";
    const std::string fails = sql::FailsAnyCheck(settings_.checks, "1");
    select += " FROM jobsd_staging WHERE " + fails;
    auto bad = db_.Prepare(select);
    if (!bad) return core::Unexpected(bad.error());
    std::uint64_t count = 0;
    // Collected first: SQLite would see the rejects' inserts mid-scan
    // otherwise (another table, but one statement at a time is simpler).
    std::vector<RejectedRecord> rejects;
    for (;;) {
      auto row = bad->Step();
      if (!row) return core::Unexpected(row.error());
      if (!*row) break;
      RejectedRecord reject;
      boost::json::object record;
      for (std::size_t i = 0; i < names.size(); ++i) {
        const int c = int(i);
        if (bad->IsNull(c)) {
          record[names[i]] = nullptr;
          continue;
        }
        switch ((*columns_)[i].type) {
          case ColumnType::kInteger:
            record[names[i]] = bad->Int(c);
            break;
          case ColumnType::kBoolean:
            record[names[i]] = bad->Int(c) != 0;
            break;
          case ColumnType::kJson:
            if (auto parsed = json::Parse(bad->TextView(c))) {
              record[names[i]] = std::move(*parsed);
            } else {
              record[names[i]] = bad->Text(c);
            }
            break;
          default:
            record[names[i]] = bad->Text(c);
        }
      }
      reject.source = describe(bad->Int(int(names.size())));
      reject.record = boost::json::serialize(record);
      for (std::size_t k = 0; k < settings_.checks.size(); ++k) {
        if (bad->Int(int(names.size() + 1 + k)) == 0) {
          reject.reasons.push_back("check failed: " + settings_.checks[k]);
          reject.kinds.push_back("check");
        }
      }
      rejects.push_back(std::move(reject));
      if (rejects.size() >= 1000) {
        if (auto flushed = Flush(rejects, on_reject, count); !flushed) {
          return core::Unexpected(flushed.error());
        }
      }
    }
    if (auto flushed = Flush(rejects, on_reject, count); !flushed) {
      return core::Unexpected(flushed.error());
    }
    if (count > 0) {
      if (auto deleted = db_.Execute("DELETE FROM jobsd_staging WHERE " + fails); !deleted) {
        return core::Unexpected(deleted.error());
      }
    }
    return count;
  }

  core::Result<std::uint64_t> StagedRows() override {
    auto n = db_.QueryInt("SELECT count(*) FROM jobsd_staging");
    if (!n) return core::Unexpected(n.error());
    return std::uint64_t(n->value_or(0));
  }

  core::Result<LoadCounts> Upsert(bool may_repeat_keys) override {
    LoadCounts counts;
    const std::vector<std::string> names = sql::Names(*columns_);
    const std::string all = pg::QuoteColumnList(names);
    const std::string key = pg::QuoteColumnList(settings_.key);
    const std::string table = Q(settings_.table);
    auto rows = db_.QueryInt("SELECT count(*) FROM jobsd_staging");
    if (!rows) return core::Unexpected(rows.error());
    std::int64_t distinct = rows->value_or(0);
    if (may_repeat_keys) {
      auto counted =
          db_.QueryInt("SELECT count(*) FROM (SELECT 1 FROM jobsd_staging GROUP BY " + key + ")");
      if (!counted) return core::Unexpected(counted.error());
      distinct = counted->value_or(0);
    }
    counts.duplicate_keys = std::uint64_t(rows->value_or(0) - distinct);
    auto before = db_.QueryInt("SELECT count(*) FROM " + table);
    if (!before) return core::Unexpected(before.error());

    // Of rows with the same key the last wins: SQLite takes a bare
    // column's value from the row that max() picked. (WHERE true: without
    // it SQLite would read ON CONFLICT as a join's ON.) Rowid order, not key
    // order: walking a temporary index costs more than it saves.
    const std::string source = counts.duplicate_keys == 0
                                   ? "SELECT " + all + " FROM jobsd_staging WHERE true"
                                   : "SELECT " + all + " FROM (SELECT " + all +
                                         ", max(rowid) FROM jobsd_staging GROUP BY " + key +
                                         ") WHERE true";
    std::string upsert =
        "INSERT INTO " + table + " AS t (" + all + ") " + source + " ON CONFLICT (" + key + ") ";
    const std::vector<std::string> updated = sql::UpdatedColumns(settings_);
    if (settings_.upsert == Upsert::kIgnore || updated.empty()) {
      upsert += "DO NOTHING";
    } else {
      upsert += "DO UPDATE SET ";
      std::string differs;
      for (std::size_t i = 0; i < updated.size(); ++i) {
        const std::string column = Q(updated[i]);
        upsert += (i ? ", " : "") + column + " = excluded." + column;
        differs += (i ? " OR t." : "t.") + column + " IS NOT excluded." + column;
      }
      upsert += " WHERE " + differs;
    }
    if (auto done = db_.Execute(upsert); !done) return core::Unexpected(done.error());
    const std::uint64_t changes = std::uint64_t(db_.Changes());
    auto after = db_.QueryInt("SELECT count(*) FROM " + table);
    if (!after) return core::Unexpected(after.error());
    counts.inserted = std::uint64_t(after->value_or(0) - before->value_or(0));
    counts.updated = changes - counts.inserted;
    counts.unchanged = std::uint64_t(distinct) - counts.inserted - counts.updated;
    return counts;
  }

  core::Result<void> MarkImported(const ImportedFile& file) override {
    auto mark = db_.Prepare(
        "INSERT OR REPLACE INTO jobsd_imported_files (job, target_table, file, sha256, bytes, "
        "rows, "
        "run_id, imported_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, strftime('%Y-%m-%dT%H:%M:%fZ', "
        "'now'))");
    if (!mark) return core::Unexpected(mark.error());
    mark->Bind(1, facts_.job)
        .Bind(2, settings_.table)
        .Bind(3, file.name)
        .Bind(4, file.sha256)
        .Bind(5, std::int64_t(file.bytes))
        .Bind(6, std::int64_t(file.rows))
        .Bind(7, facts_.run_id);
    return mark->Run();
  }

  core::Result<void> Commit() override {
    stage_.reset();
    reject_.reset();
    auto committed = tx_->Commit();
    if (!committed) return committed;
    tx_.reset();
    (void)db_.Execute("DROP TABLE IF EXISTS temp.jobsd_staging");
    return {};
  }

  void Rollback() override {
    stage_.reset();
    reject_.reset();
    if (tx_) tx_->Rollback();
    tx_.reset();
  }

  ~SqliteTarget() override { Rollback(); }

 private:
  core::Unexpected Mismatch(const std::string& what) const {
    return core::Unexpected(core::InvalidArgument(name_ + ": " + what));
  }

  template <typename Map>
  static std::string List(const Map& table) {
    std::string out;
    for (const auto& entry : table) out += (out.empty() ? "" : ", ") + entry.first;
    return out;
  }

  core::Result<void> Flush(std::vector<RejectedRecord>& rejects,
                           const std::function<void(const RejectedRecord&)>& on_reject,
                           std::uint64_t& count) {
    for (const RejectedRecord& reject : rejects) {
      if (auto added = AddReject(reject); !added) return added;
      on_reject(reject);
      ++count;
    }
    rejects.clear();
    return {};
  }

  const SqlImportSettings& settings_;
  RunFacts facts_;
  sqlite::Database db_;
  std::string name_;
  std::vector<ColumnRule>* columns_ = nullptr;
  bool create_table_ = false;
  std::optional<sqlite::Transaction> tx_;
  std::optional<sqlite::Statement> stage_;
  std::optional<sqlite::Statement> reject_;
};

}  // namespace

core::Result<std::unique_ptr<ImportTarget>> OpenSqliteTarget(const SqlImportSettings& settings,
                                                             RunFacts facts,
                                                             const std::filesystem::path& file) {
  std::error_code ec;
  if (settings.create && file.has_parent_path())
    std::filesystem::create_directories(file.parent_path(), ec);
  sqlite::Database::Options options;
  // Another writer of the file (the dashboard's own updates) gets its turn
  // before this gives up.
  options.busy_timeout = std::chrono::seconds(60);
  auto db = sqlite::Database::Open(file, options);
  if (!db) return core::Unexpected(db.error());
  // A page cache that holds the hot part of the table's key index during
  // the upsert (it halves the upsert's time on a million rows); 12 MiB (and 4 MiB for the staging
  // table), well within the run's memory budget.
  if (auto tuned = db->Execute("PRAGMA cache_size = -12288; PRAGMA temp.cache_size = -4096");
      !tuned) {
    return core::Unexpected(tuned.error());
  }
  return std::unique_ptr<ImportTarget>(
      std::make_unique<SqliteTarget>(settings, std::move(facts), std::move(*db)));
}

}  // namespace jobs::sql_import
