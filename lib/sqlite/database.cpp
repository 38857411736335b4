#include "sqlite/database.h"

#include <sqlite3.h>

#include <mutex>
#include <string>
#include <utility>

#include "sqlite/error.h"

namespace sqlite {

core::Result<Database> Database::Open(const std::filesystem::path& file, Mode mode) {
  Options options;
  options.mode = mode;
  return Open(file, options);
}

core::Result<Database> Database::Open(const std::filesystem::path& file, const Options& options) {
  // SQLite's memory statistics take a process-wide mutex on every allocation
  // it makes, thousands per second for a busy recorder; jobsd never reads
  // them. Only possible before SQLite initialises, i.e. before the first open.
  static std::once_flag configured;
  std::call_once(configured, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  sqlite3* db = nullptr;
  const int flags = options.mode == Mode::kReadOnly ? SQLITE_OPEN_READONLY
                                                    : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  const int rc = sqlite3_open_v2(file.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    core::Error error = Error(db, rc, "cannot open");
    // A failed open may not know its file name yet: say it here.
    error.message =
        file.string() + ": cannot open: " + (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return core::Unexpected(std::move(error));
  }
  sqlite3_extended_result_codes(db, 1);
  sqlite3_busy_timeout(db, static_cast<int>(options.busy_timeout.count()));
  Database database(db, file);
  if (options.wal && options.mode == Mode::kReadWrite) {
    std::string sql = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;";
    if (options.wal_autocheckpoint_pages > 0) {
      sql += " PRAGMA wal_autocheckpoint=" + std::to_string(options.wal_autocheckpoint_pages) + ";";
    }
    if (auto ok = database.Execute(sql); !ok) return core::Unexpected(ok.error());
  }
  return database;
}

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), file_(std::move(other.file_)) {
  for (int i = 0; i < 4; ++i) control_[i] = std::exchange(other.control_[i], nullptr);
}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    Close();
    db_ = std::exchange(other.db_, nullptr);
    file_ = std::move(other.file_);
    for (int i = 0; i < 4; ++i) control_[i] = std::exchange(other.control_[i], nullptr);
  }
  return *this;
}

Database::~Database() { Close(); }

void Database::Close() {
  for (sqlite3_stmt*& stmt : control_) sqlite3_finalize(std::exchange(stmt, nullptr));
  // close_v2: Statements still alive are finalized later; the connection
  // closes with the last of them.
  sqlite3_close_v2(std::exchange(db_, nullptr));
}

core::Result<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) {
    constexpr std::size_t kShown = 60;
    std::string shown(sql.substr(0, kShown));
    if (sql.size() > kShown) shown += "...";
    return core::Unexpected(Error(db_, "preparing `" + shown + "`"));
  }
  return Statement(db_, stmt);
}

core::Result<void> Database::Execute(std::string_view sql) {
  const std::string text(sql);
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  sqlite3_free(message);
  if (rc != SQLITE_OK) return core::Unexpected(Error(db_, "SQL"));
  return {};
}

core::Result<std::optional<std::int64_t>> Database::QueryInt(std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, sql.data(), static_cast<int>(sql.size()), &raw, nullptr) !=
      SQLITE_OK) {
    return core::Unexpected(Error(db_, "preparing `" + std::string(sql) + "`"));
  }
  // Finalized before returning: a statement left stepping would, e.g.,
  // block a DROP TABLE that follows.
  Statement stmt(db_, raw);
  auto row = stmt.Step();
  if (!row) return core::Unexpected(row.error());
  if (!*row) return std::optional<std::int64_t>();
  return stmt.OptionalInt(0);
}

std::int64_t Database::LastInsertId() const { return sqlite3_last_insert_rowid(db_); }

int Database::Changes() const { return sqlite3_changes(db_); }

bool Database::InTransaction() const { return db_ && sqlite3_get_autocommit(db_) == 0; }

core::Result<void> Database::Run(Control control) {
  static constexpr const char* kSql[] = {"BEGIN IMMEDIATE", "BEGIN DEFERRED", "COMMIT", "ROLLBACK"};
  const auto i = static_cast<int>(control);
  if (control_[i] == nullptr && sqlite3_prepare_v3(db_, kSql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                                   &control_[i], nullptr) != SQLITE_OK) {
    return core::Unexpected(Error(db_, kSql[i]));
  }
  const int rc = sqlite3_step(control_[i]);
  if (rc != SQLITE_DONE) {
    auto error = Error(db_, kSql[i]);
    sqlite3_reset(control_[i]);
    return core::Unexpected(std::move(error));
  }
  sqlite3_reset(control_[i]);
  return {};
}

}  // namespace sqlite
