#include "pg/transaction.h"

#include <utility>

namespace pg {

core::Result<Transaction> Transaction::Begin(Connection& conn) { return Begin(conn, Options{}); }

core::Result<Transaction> Transaction::Begin(Connection& conn, const Options& options) {
  if (conn.InTransaction()) {
    return core::Unexpected(core::Error{
        core::ErrorKind::kInternal,
        conn.Context("BEGIN") + ": a transaction is already open (transactions do not nest)",
        false});
  }
  std::string sql = "BEGIN ISOLATION LEVEL ";
  switch (options.isolation) {
    case Isolation::kReadCommitted:
      sql += "READ COMMITTED";
      break;
    case Isolation::kRepeatableRead:
      sql += "REPEATABLE READ";
      break;
    case Isolation::kSerializable:
      sql += "SERIALIZABLE";
      break;
  }
  sql += options.read_only ? " READ ONLY" : " READ WRITE";
  if (auto ok = conn.Exec(sql); !ok) return core::Unexpected(ok.error());
  return Transaction(conn);
}

Transaction::Transaction(Transaction&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)) {}

Transaction::~Transaction() { Rollback(); }

core::Result<void> Transaction::Commit() {
  if (conn_ == nullptr) {
    return core::Unexpected(
        core::Error{core::ErrorKind::kInternal, "commit without an open transaction", false});
  }
  Connection& conn = *conn_;
  const bool broken_before = conn.IsBroken();
  auto committed = conn.Query("COMMIT");
  if (!committed) {
    core::Error error = committed.error();
    if (conn.IsBroken()) {
      conn_ = nullptr;
      if (!broken_before) {
        error.message += "; the connection was lost during COMMIT: whether it committed is unknown";
      }
    } else if (conn.InTransaction()) {
      // COMMIT never ran (cancelled before it was sent): still open.
      Rollback();
    } else {
      conn_ = nullptr;
    }
    return core::Unexpected(std::move(error));
  }
  conn_ = nullptr;
  // PostgreSQL answers COMMIT in a failed transaction with a rollback, and
  // no error.
  if (committed->CommandStatus() == "ROLLBACK") {
    return core::Unexpected(core::Error{
        core::ErrorKind::kUpstream,
        conn.Context("COMMIT") + ": the transaction was rolled back: a statement in it had failed",
        false});
  }
  return {};
}

void Transaction::Rollback() {
  if (conn_ == nullptr) return;
  Connection& conn = *std::exchange(conn_, nullptr);
  // On a broken connection the server has rolled back already.
  if (conn.IsBroken() || conn.copy_open_ || !conn.InTransaction()) return;
  (void)conn.Control("ROLLBACK").has_value();
}

}  // namespace pg
