// A thin RAII layer over the SQLite C API: a connection and its prepared
// statements, with errors as Result values that carry SQLite's own message.
//
// Not thread-safe: a Database and its Statements belong to one thread at a
// time (SQLite is built serialized, but sharing one connection would also
// share its transactions, which is never what a caller wants).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace store {

class Statement {
 public:
  Statement(Statement&&) noexcept;
  Statement& operator=(Statement&&) noexcept;
  ~Statement();

  // Parameters are 1-based, as in SQL text (?1, ?2 ...).
  Statement& Bind(int index, std::int64_t value);
  Statement& Bind(int index, std::string_view value);
  Statement& Bind(int index, std::nullopt_t);
  template <typename T>
  Statement& Bind(int index, const std::optional<T>& value) {
    return value ? Bind(index, *value) : Bind(index, std::nullopt);
  }

  // Advances to the next row: true with a row, false when done.
  core::Result<bool> Step();
  // Runs a statement that returns no rows, then resets it for reuse.
  core::Result<void> Run();
  void Reset();

  bool IsNull(int column) const;
  std::int64_t Int(int column) const;
  std::optional<std::int64_t> OptionalInt(int column) const;
  std::string Text(int column) const;

 private:
  friend class Database;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
};

class Database {
 public:
  enum class Mode { kReadWrite, kReadOnly };

  // Opens (creating when kReadWrite) the file; errors name the file.
  static core::Result<Database> Open(const std::filesystem::path& file, Mode mode);
  Database(Database&&) noexcept;
  Database& operator=(Database&&) noexcept;
  ~Database();

  core::Result<Statement> Prepare(std::string_view sql);
  // Runs one or more statements that return no rows.
  core::Result<void> Execute(std::string_view sql);
  std::int64_t LastInsertId() const;
  int Changes() const;
  const std::filesystem::path& file() const { return file_; }

 private:
  Database(sqlite3* db, std::filesystem::path file) : db_(db), file_(std::move(file)) {}
  sqlite3* db_ = nullptr;
  std::filesystem::path file_;
};

// The error for a failed SQLite call, with the connection's message.
core::Error SqliteError(sqlite3* db, std::string_view what);

}  // namespace store
