// The answer to one statement (Connection::Query): its columns, its rows as
// text, and how many rows it affected. Owns libpq's result; the whole
// answer is in memory, so a statement that can return millions of rows
// belongs in pages (LIMIT, a keyset) or a COPY, not here.
//
// Values are text (PostgreSQL's text output: 't'/'f' for booleans, ISO
// dates, numbers as digits) and NULL is nullopt. String views point into
// the Rows and live as long as it does.
//
// Threads: a Rows is a plain value, independent of its Connection: it may
// be read on any one thread at a time, and outlive the connection.
// Reading out of range (row or column) is a bug: asserted, not reported.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

struct pg_result;

namespace pg {

// A column's type as PostgreSQL's OID (pg_type.oid): 16 bool, 20 int8,
// 23 int4, 25 text, 1043 varchar, 1700 numeric, 1184 timestamptz ...
using Oid = std::uint32_t;

class Rows {
 public:
  Rows();  // no columns, no rows
  Rows(Rows&&) noexcept;
  Rows& operator=(Rows&&) noexcept;
  Rows(const Rows&) = delete;
  Rows& operator=(const Rows&) = delete;
  ~Rows();

  int row_count() const;
  int column_count() const;
  std::string_view column_name(int column) const;
  Oid column_type(int column) const;
  // The index of the column called `name` (exact spelling), if any.
  std::optional<int> ColumnIndex(std::string_view name) const;

  bool IsNull(int row, int column) const;
  // nullopt for NULL.
  std::optional<std::string_view> Value(int row, int column) const;
  // "" for NULL.
  std::string Text(int row, int column) const;

  // Rows affected by an INSERT, UPDATE, DELETE, MERGE, COPY, or returned by
  // a SELECT (PQcmdTuples); 0 for other statements.
  std::uint64_t CommandTuples() const;
  // The command tag, e.g. "INSERT 0 3", "CREATE TABLE".
  std::string_view CommandStatus() const;

 private:
  friend class Connection;
  friend class CopyIn;
  explicit Rows(pg_result* result);
  struct Free {
    void operator()(pg_result* result) const;
  };
  std::unique_ptr<pg_result, Free> result_;
};

}  // namespace pg
