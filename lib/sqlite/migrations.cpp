#include "sqlite/migrations.h"

#include <string>

#include "sqlite/transaction.h"

namespace sqlite {
namespace {

core::Error TooNew(const Database& db, int version, int latest) {
  return core::Error{core::ErrorKind::kInvalidArgument,
                     db.file().string() + " has schema version " + std::to_string(version) +
                         ", newer than this jobsd knows (" + std::to_string(latest) +
                         "): downgrades are not supported",
                     false};
}

}  // namespace

core::Result<int> SchemaVersion(Database& db) {
  auto version = db.QueryInt("PRAGMA user_version");
  if (!version) return core::Unexpected(version.error());
  return static_cast<int>(version->value_or(0));
}

core::Result<MigrationOutcome> Migrate(Database& db, Migrations steps) {
  const int latest = static_cast<int>(steps.size());
  MigrationOutcome outcome;
  outcome.to_version = latest;
  // A file already current costs one read and no write lock.
  auto first = SchemaVersion(db);
  if (!first) return core::Unexpected(first.error());
  outcome.from_version = *first;
  if (*first > latest) return core::Unexpected(TooNew(db, *first, latest));
  if (*first == latest) return outcome;

  for (;;) {
    auto tx = Transaction::Begin(db);
    if (!tx) return core::Unexpected(tx.error());
    // Again under the write lock: another process may have migrated since.
    auto version = SchemaVersion(db);
    if (!version) return core::Unexpected(version.error());
    if (*version > latest) return core::Unexpected(TooNew(db, *version, latest));
    if (*version == latest) return outcome;  // the destructor ends the empty transaction
    const int next = *version + 1;
    auto failed = [&](const core::Error& error) {
      // SQLite's error names the file already; say it once, up front.
      std::string_view cause = error.message;
      const std::string prefix = db.file().string() + ": ";
      if (cause.starts_with(prefix)) cause.remove_prefix(prefix.size());
      return core::Error{core::ErrorKind::kIo,
                         prefix + "schema migration " + std::to_string(next) + " of " +
                             std::to_string(latest) + " failed: " + std::string(cause),
                         error.retryable};
    };
    if (auto ok = db.Execute(steps[static_cast<std::size_t>(*version)]); !ok) {
      return core::Unexpected(failed(ok.error()));
    }
    if (auto ok = db.Execute("PRAGMA user_version=" + std::to_string(next)); !ok) {
      return core::Unexpected(failed(ok.error()));
    }
    if (auto ok = tx->Commit(); !ok) return core::Unexpected(failed(ok.error()));
  }
}

}  // namespace sqlite
