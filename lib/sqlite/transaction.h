// An open transaction on a Database, rolled back when it goes out of scope
// without Commit(): an early return or an error in between leaves nothing
// half written.
//
//   auto tx = sqlite::Transaction::Begin(db);
//   if (!tx) return core::Unexpected(tx.error());
//   ... statements ...
//   return tx->Commit();
//
// Writers begin IMMEDIATE: the write lock is taken (or waited for, up to the
// busy timeout) at Begin, so a transaction never fails half-way because
// another connection wrote first. kDeferred is for read-only snapshots.
//
// Threads: as its Database. The Database must outlive the Transaction and
// must not be moved while it is open. Transactions do not nest.
//
// Failure: Begin and Commit return SQLite's error with the file name. A
// failed Commit (e.g. SQLITE_BUSY) leaves the transaction open; Commit may
// be retried, otherwise the destructor rolls back.
#pragma once

#include "core/result.h"
#include "sqlite/database.h"

namespace sqlite {

class Transaction {
 public:
  enum class Kind { kImmediate, kDeferred };

  static core::Result<Transaction> Begin(Database& db, Kind kind = Kind::kImmediate);
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  core::Result<void> Commit();
  // Rolls back now (what the destructor would do).
  void Rollback();
  // Begun and not yet committed or rolled back.
  bool active() const { return db_ != nullptr; }

 private:
  explicit Transaction(Database& db) : db_(&db) {}
  Database* db_;  // nullptr once committed or rolled back
};

}  // namespace sqlite
