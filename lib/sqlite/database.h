// One connection to a SQLite file: opens it the way jobsd uses SQLite
// (extended result codes, a busy timeout, WAL for writers), prepares
// statements and runs SQL. The one SQLite wrapper of the project; the state
// store, job types' own files and backups all build on it.
//
// Threads: a Database and its Statements belong to one thread at a time
// (opened SQLITE_OPEN_NOMUTEX; sharing one connection would also share its
// transactions, which is never what a caller wants). Blocking: worker
// threads and CLI commands only, never the event loop.
//
// Owns the connection; it closes when the Database and the last of its
// Statements are gone. Several processes may open the same file: SQLite's
// locks and the busy timeout keep them apart.
//
// Failure: every call that can fail returns core::Result; the Error's
// message names the file and carries SQLite's message (sqlite/error.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string_view>

#include "core/result.h"
#include "sqlite/statement.h"

struct sqlite3;
struct sqlite3_stmt;

namespace sqlite {

class Database {
 public:
  enum class Mode { kReadWrite, kReadOnly };

  struct Options {
    // kReadWrite creates the file (not its folder) when missing.
    Mode mode = Mode::kReadWrite;
    // How long a call waits for another connection's lock before it fails
    // with a retryable error.
    std::chrono::milliseconds busy_timeout{5000};
    // Writers only: journal_mode=WAL (readers run beside the writer) and
    // synchronous=NORMAL (durable across process crashes, at most the last
    // commits lost on power loss, never consistency).
    bool wal = false;
    // With wal: checkpoint after this many WAL pages (0: SQLite's default).
    int wal_autocheckpoint_pages = 0;
  };

  // Opens the file. Errors name the file; a file that is not a SQLite
  // database fails here when `wal` is set, later otherwise.
  static core::Result<Database> Open(const std::filesystem::path& file, const Options& options);
  static core::Result<Database> Open(const std::filesystem::path& file, Mode mode);
  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;
  ~Database();

  // Prepared for reuse (SQLITE_PREPARE_PERSISTENT): keep it and run it again.
  core::Result<Statement> Prepare(std::string_view sql);
  // Runs one or more statements that return no rows (or whose rows are
  // not wanted).
  core::Result<void> Execute(std::string_view sql);
  // The integer in the first column of the first row of `sql` (e.g. a
  // PRAGMA or a COUNT); nullopt when there is no row or it is NULL.
  core::Result<std::optional<std::int64_t>> QueryInt(std::string_view sql);

  std::int64_t LastInsertId() const;
  // Rows changed by the last INSERT, UPDATE or DELETE.
  int Changes() const;
  // Whether a transaction is open on this connection.
  bool InTransaction() const;
  const std::filesystem::path& file() const { return file_; }
  // The C handle, for the parts of lib/sqlite that need the C API (backup).
  sqlite3* handle() const { return db_; }

 private:
  friend class Transaction;
  enum class Control { kBeginImmediate, kBeginDeferred, kCommit, kRollback };
  Database(sqlite3* db, std::filesystem::path file) : db_(db), file_(std::move(file)) {}
  // Runs BEGIN/COMMIT/ROLLBACK from statements prepared once per connection.
  core::Result<void> Run(Control control);
  void Close();

  sqlite3* db_ = nullptr;
  std::filesystem::path file_;
  sqlite3_stmt* control_[4] = {};
};

}  // namespace sqlite
