// How lib/sqlite reports a failed SQLite call: a core::Error whose message
// names the file, what was being done and SQLite's own message, e.g.
//   "/var/lib/jobsd/jobsd.db: running `UPDATE runs SET ...`: disk I/O error"
// SQLITE_BUSY and SQLITE_LOCKED are retryable (the other writer commits and
// the lock clears); everything else is not.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

struct sqlite3;

namespace sqlite {

// The error of the last failed call on `db` (nullptr: out of memory).
core::Error Error(sqlite3* db, std::string_view what);
// Same for a result code with no connection to ask (e.g. a failed open).
core::Error Error(sqlite3* db, int code, std::string_view what);
// The file `db` has open as "main" (":memory:" for an in-memory database).
std::string FileName(sqlite3* db);

}  // namespace sqlite
