// An open transaction on a Connection, rolled back when it goes out of
// scope without Commit(): an early return or an error in between leaves
// nothing half written.
//
//   auto tx = pg::Transaction::Begin(conn);
//   if (!tx) return core::Unexpected(tx.error());
//   ... statements ...
//   return tx->Commit();
//
// Rollback (explicit or by the destructor) runs even after the run was
// cancelled or its deadline passed: it waits up to 10 s, then closes the
// connection, which rolls back on the server just as well. On a broken
// connection there is nothing to roll back: the server did.
//
// Threads: as its Connection, which must outlive the Transaction and must
// not be moved while it is open. Transactions do not nest (Begin on a
// connection already in one fails, kInternal).
//
// Failure: Begin and Commit return the server's error (error.h). Unlike
// SQLite, a failed Commit ends the transaction (PostgreSQL rolls it back):
// retry the whole transaction when the error is retryable (40001, 40P01).
// A COMMIT in a transaction that an earlier statement failed rolls back and
// is an error here (kUpstream, not retryable), never a silent success.
// When the connection is lost during COMMIT the outcome is unknown, and the
// error says so.
#pragma once

#include "core/result.h"
#include "pg/connection.h"

namespace pg {

class Transaction {
 public:
  enum class Isolation { kReadCommitted, kRepeatableRead, kSerializable };
  struct Options {
    Isolation isolation = Isolation::kReadCommitted;
    bool read_only = false;
  };

  static core::Result<Transaction> Begin(Connection& conn);
  static core::Result<Transaction> Begin(Connection& conn, const Options& options);
  Transaction(Transaction&& other) noexcept;
  Transaction& operator=(Transaction&&) = delete;
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;
  ~Transaction();

  core::Result<void> Commit();
  // Rolls back now (what the destructor would do).
  void Rollback();
  // Begun and not yet committed or rolled back.
  bool active() const { return conn_ != nullptr; }

 private:
  explicit Transaction(Connection& conn) : conn_(&conn) {}
  Connection* conn_;  // nullptr once committed or rolled back
};

}  // namespace pg
