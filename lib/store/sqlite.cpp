#include "store/sqlite.h"

#include <mutex>

#include <sqlite3.h>

#include <utility>

namespace store {

core::Error SqliteError(sqlite3* db, std::string_view what) {
  const int code = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR;
  core::Error error;
  error.kind = core::ErrorKind::kIo;
  error.message = std::string(what) + ": " + (db ? sqlite3_errmsg(db) : "out of memory");
  // A locked database clears up when the other writer commits.
  error.retryable = (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED;
  return error;
}

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), stmt_(std::exchange(other.stmt_, nullptr)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement& Statement::Bind(int index, std::int64_t value) {
  sqlite3_bind_int64(stmt_, index, value);
  return *this;
}

Statement& Statement::Bind(int index, std::string_view value) {
  sqlite3_bind_text64(stmt_, index, value.data(), value.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
  return *this;
}

Statement& Statement::Bind(int index, std::nullopt_t) {
  sqlite3_bind_null(stmt_, index);
  return *this;
}

core::Result<bool> Statement::Step() {
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  auto error = SqliteError(db_, "SQL statement");
  sqlite3_reset(stmt_);
  return core::Unexpected(std::move(error));
}

core::Result<void> Statement::Run() {
  auto stepped = Step();
  Reset();
  if (!stepped) return core::Unexpected(stepped.error());
  return {};
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

std::optional<std::int64_t> Statement::OptionalInt(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Int(column);
}

std::string Statement::Text(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
}

core::Result<Database> Database::Open(const std::filesystem::path& file, Mode mode) {
  // SQLite's memory statistics take a process-wide mutex on every allocation
  // it makes, thousands per second for a busy recorder; jobsd never reads
  // them. Only possible before SQLite initialises, i.e. before the first open.
  static std::once_flag configured;
  std::call_once(configured, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
  sqlite3* db = nullptr;
  const int flags =
      mode == Mode::kReadOnly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
  const int rc = sqlite3_open_v2(file.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    auto error = SqliteError(db, "cannot open state file " + file.string());
    sqlite3_close(db);
    return core::Unexpected(std::move(error));
  }
  sqlite3_extended_result_codes(db, 1);
  // Another process (the daemon, `jobsd once`, `jobsd history`) may hold the
  // write lock for a moment; wait for it rather than fail.
  sqlite3_busy_timeout(db, 5000);
  return Database(db, file);
}

Database::Database(Database&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)), file_(std::move(other.file_)) {}

Database& Database::operator=(Database&& other) noexcept {
  if (this != &other) {
    sqlite3_close_v2(db_);
    db_ = std::exchange(other.db_, nullptr);
    file_ = std::move(other.file_);
  }
  return *this;
}

Database::~Database() { sqlite3_close_v2(db_); }

core::Result<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                    SQLITE_PREPARE_PERSISTENT, &stmt, nullptr);
  if (rc != SQLITE_OK) return core::Unexpected(SqliteError(db_, "preparing SQL"));
  return Statement(db_, stmt);
}

core::Result<void> Database::Execute(std::string_view sql) {
  const std::string text(sql);
  char* message = nullptr;
  const int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, &message);
  sqlite3_free(message);
  if (rc != SQLITE_OK) return core::Unexpected(SqliteError(db_, "SQL"));
  return {};
}

std::int64_t Database::LastInsertId() const { return sqlite3_last_insert_rowid(db_); }

int Database::Changes() const { return sqlite3_changes(db_); }

}  // namespace store
