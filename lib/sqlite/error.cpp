#include "sqlite/error.h"

#include <sqlite3.h>

namespace sqlite {

std::string FileName(sqlite3* db) {
  const char* name = db ? sqlite3_db_filename(db, "main") : nullptr;
  if (name == nullptr || *name == '\0') return ":memory:";
  return name;
}

core::Error Error(sqlite3* db, std::string_view what) {
  return Error(db, db ? sqlite3_extended_errcode(db) : SQLITE_NOMEM, what);
}

core::Error Error(sqlite3* db, int code, std::string_view what) {
  core::Error error;
  error.kind = core::ErrorKind::kIo;
  const char* message = db ? sqlite3_errmsg(db) : sqlite3_errstr(code);
  error.message = FileName(db) + ": " + std::string(what) + ": " + message;
  // A locked database clears up when the other writer commits.
  error.retryable = (code & 0xff) == SQLITE_BUSY || (code & 0xff) == SQLITE_LOCKED;
  return error;
}

}  // namespace sqlite
