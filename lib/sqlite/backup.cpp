#include "sqlite/backup.h"

#include <sqlite3.h>

#include <chrono>
#include <string>
#include <system_error>
#include <thread>

#include "sqlite/error.h"

namespace sqlite {

core::Result<BackupStats> BackupTo(Database& source, const std::filesystem::path& target,
                                   const BackupOptions& options) {
  const std::string what = "backup of " + source.file().string() + " to " + target.string();
  std::error_code ec;
  const bool existed = std::filesystem::exists(target, ec);
  auto remove_created = [&] {
    if (existed) return;
    for (const char* suffix : {"", "-journal", "-wal", "-shm"}) {
      std::filesystem::remove(target.string() + suffix, ec);
    }
  };

  sqlite3* dest = nullptr;
  int rc =
      sqlite3_open_v2(target.c_str(), &dest,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    core::Error error{
        core::ErrorKind::kIo,
        what + ": cannot open the target: " + (dest ? sqlite3_errmsg(dest) : sqlite3_errstr(rc)),
        false};
    sqlite3_close(dest);
    remove_created();
    return core::Unexpected(std::move(error));
  }
  sqlite3_extended_result_codes(dest, 1);
  auto fail = [&](const std::string& message, core::ErrorKind kind, bool retryable) {
    sqlite3_close(dest);
    remove_created();
    return core::Unexpected(core::Error{kind, what + ": " + message, retryable});
  };

  sqlite3_backup* backup = sqlite3_backup_init(dest, "main", source.handle(), "main");
  if (backup == nullptr) return fail(sqlite3_errmsg(dest), core::ErrorKind::kIo, false);

  BackupStats stats;
  const int chunk = options.pages_per_step > 0 ? options.pages_per_step : -1;
  int last_remaining = -1;
  constexpr int kMaxBusySteps = 500;  // of 10 ms
  int busy_steps = 0;
  for (;;) {
    const bool whole = stats.restarts >= options.max_restarts;
    rc = sqlite3_backup_step(backup, whole ? -1 : chunk);
    ++stats.steps;
    if (rc == SQLITE_DONE) break;
    if (rc == SQLITE_OK || rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
      // No progress since the last step: the source changed and SQLite
      // began again.
      const int remaining = sqlite3_backup_remaining(backup);
      if (rc == SQLITE_OK && last_remaining >= 0 && remaining >= last_remaining) ++stats.restarts;
      last_remaining = remaining;
      if (options.cancelled && options.cancelled()) {
        sqlite3_backup_finish(backup);
        return fail("cancelled", core::ErrorKind::kCancelled, false);
      }
      if (rc == SQLITE_OK) {
        busy_steps = 0;
        continue;
      }
      // A writer holds a lock the step needs: give it a moment, for about
      // as long as a busy timeout would.
      if (++busy_steps > kMaxBusySteps) {
        sqlite3_backup_finish(backup);
        return fail(sqlite3_errstr(rc), core::ErrorKind::kIo, true);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    const std::string message = sqlite3_errstr(rc);
    sqlite3_backup_finish(backup);
    return fail(message, core::ErrorKind::kIo, false);
  }
  stats.pages = sqlite3_backup_pagecount(backup);
  rc = sqlite3_backup_finish(backup);
  if (rc != SQLITE_OK) return fail(sqlite3_errmsg(dest), core::ErrorKind::kIo, false);
  rc = sqlite3_close(dest);
  if (rc != SQLITE_OK) {
    remove_created();
    return core::Unexpected(core::Error{
        core::ErrorKind::kIo, what + ": closing the target: " + sqlite3_errstr(rc), false});
  }
  return stats;
}

}  // namespace sqlite
