#include "sqlite/transaction.h"

#include <utility>

namespace sqlite {

core::Result<Transaction> Transaction::Begin(Database& db, Kind kind) {
  if (auto ok = db.Run(kind == Kind::kImmediate ? Database::Control::kBeginImmediate
                                                : Database::Control::kBeginDeferred);
      !ok) {
    return core::Unexpected(ok.error());
  }
  return Transaction(db);
}

Transaction::Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}

Transaction::~Transaction() { Rollback(); }

core::Result<void> Transaction::Commit() {
  if (db_ == nullptr) {
    return core::Unexpected(
        core::Error{core::ErrorKind::kInternal, "commit without an open transaction", false});
  }
  if (auto ok = db_->Run(Database::Control::kCommit); !ok) return ok;
  db_ = nullptr;
  return {};
}

void Transaction::Rollback() {
  if (db_ == nullptr) return;
  // SQLite may have rolled back already (after some I/O errors or a full
  // disk): only roll back what is still open.
  if (db_->InTransaction()) (void)db_->Run(Database::Control::kRollback).has_value();
  db_ = nullptr;
}

}  // namespace sqlite
