// A prepared SQL statement of one Database: bind parameters, step through
// rows, read columns, reset and reuse.
//
// Prepare once and reuse: a statement kept in a member costs a bind and a
// step per use, not a parse. Run() and Reset() clear the bindings, so a
// parameter not bound again is NULL.
//
// Threads: as its Database (one thread at a time). A Statement must not
// outlive its Database; the Database may be moved while statements exist.
//
// Failure: Step() and Run() return a core::Error with the file name, the
// start of the SQL and SQLite's message (sqlite/error.h). A bind that fails
// (an index out of range, a value too big) is remembered and reported by
// the next Step() or Run(), so chains of Bind() need no checks.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

struct sqlite3;
struct sqlite3_stmt;

namespace sqlite {

// A blob as read back from a column.
using Bytes = std::vector<std::byte>;

class Statement {
 public:
  Statement(Statement&&) noexcept;
  Statement& operator=(Statement&&) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement();

  // Parameters are 1-based, as in SQL text (?1, ?2 ...). Text and blobs are
  // copied unless bound with BindNoCopy.
  Statement& Bind(int index, std::int64_t value);
  Statement& Bind(int index, int value);
  Statement& Bind(int index, double value);
  Statement& Bind(int index, std::string_view text);
  Statement& Bind(int index, std::span<const std::byte> blob);
  Statement& Bind(int index, std::nullopt_t);
  template <typename T>
  Statement& Bind(int index, const std::optional<T>& value) {
    return value ? Bind(index, *value) : Bind(index, std::nullopt);
  }
  // Binds text without copying it: it must stay valid and unchanged until
  // the statement is reset (Run, Reset) or the parameter is bound again.
  // For hot paths whose text outlives the step (literals, members).
  Statement& BindNoCopy(int index, std::string_view text);

  // Advances to the next row: true with a row, false when done. After an
  // error the statement is reset (its bindings kept).
  core::Result<bool> Step();
  // Runs a statement to its end (rows, if any, are skipped over: e.g. a
  // PRAGMA that answers), then resets it and clears its bindings.
  core::Result<void> Run();
  // Ready to run again, with no parameters bound.
  void Reset();

  // Columns of the current row, 0-based. A NULL reads as 0, 0.0, "" or an
  // empty blob; the Optional* reads give nullopt for it.
  bool IsNull(int column) const;
  std::int64_t Int(int column) const;
  double Double(int column) const;
  std::string Text(int column) const;
  // The text without a copy: valid until the next Step, Reset or read of
  // the same column as another type.
  std::string_view TextView(int column) const;
  Bytes Blob(int column) const;
  std::optional<std::int64_t> OptionalInt(int column) const;
  std::optional<double> OptionalDouble(int column) const;
  std::optional<std::string> OptionalText(int column) const;
  std::optional<Bytes> OptionalBlob(int column) const;

 private:
  friend class Database;
  Statement(sqlite3* db, sqlite3_stmt* stmt) : db_(db), stmt_(stmt) {}
  void Bound(int index, int rc);
  core::Error StepError(std::string_view what) const;

  sqlite3* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  // The first failed bind since the last reset: its parameter and code.
  int bind_failed_index_ = 0;
  int bind_failed_code_ = 0;
};

}  // namespace sqlite
