// One connection to a PostgreSQL server through libpq: the one PostgreSQL
// client of jobsd, shared by the jobs that read or write PostgreSQL (sync,
// backup, import) and the PostgreSQL state store.
//
// Every wait for the server is libpq's asynchronous API polled in slices of
// about 50 ms, so that a call notices `cancelled()` and the deadline while
// the server is busy: the statement is then cancelled on the server
// (PQcancel) and the call returns kCancelled or kTimeout, with the
// connection still usable (or, when the server does not stop within 5 s,
// closed and IsBroken()). A statement that finished before the cancel
// reached it keeps its result: the call succeeds. Cleanup ignores both
// (ROLLBACK, ending a COPY) but is bounded by 10 s. Exceptions: DNS lookups
// inside libpq and the PQcancel request itself block (the latter opens a
// second connection to a server that has just been answering on the first).
//
// Open:
//   - takes a libpq URL (postgres://user:pw@host:5432/db?sslmode=require)
//     or a key=value conninfo exactly as the user wrote it: sslmode, hosts,
//     target_session_attrs and the rest are libpq's to read, untouched;
//   - adds, unless the string sets them: application_name=jobsd (as
//     fallback_application_name, so PGAPPNAME and the string win) and
//     client_encoding=UTF8 (jobsd's text is UTF-8);
//   - OpenOptions::connect_timeout bounds the whole open (every host of a
//     multi-host string, TLS, authentication); a connect_timeout in the
//     string is not used (libpq honours it only in blocking connects).
//   - fails with a message that names the target with its password masked
//     (conninfo.h) and never holds the password: libpq's messages are
//     scrubbed of it too, since its parse errors can quote the string.
//   - not retryable: a string libpq cannot read (kInvalidArgument), wrong
//     or missing credentials, a missing role or database, pg_hba.conf's
//     refusal, and TLS failures (an sslmode the server cannot meet, a
//     certificate that does not verify). Retryable: everything else (refused,
//     unreachable, timed out, "the database system is shutting down" or
//     "starting up", too many clients). These are told apart by libpq's and
//     the server's English messages: a server with translated messages
//     (lc_messages) makes its refusals retryable, which a retry policy bounds.
//
// Statements (Exec, Query) and their errors: error.h. Transactions:
// transaction.h. COPY FROM STDIN: copy_in.h.
//
// Threads: one thread at a time (a worker thread: every call blocks, so
// never the event loop). The connection is not shared: each user (a run, the
// store) opens its own.
//
// Owns the libpq connection; closing it (destruction) ends an open
// transaction on the server, which rolls it back.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "core/time.h"
#include "pg/rows.h"

struct pg_conn;

namespace pg {

class CopyIn;

struct OpenOptions {
  std::chrono::milliseconds connect_timeout{10000};
  // Asked about every 50 ms while Open and, later, every call on the
  // connection waits for the server; true stops the call (kCancelled).
  // Usually the run's JobContext::Cancelled. Change with SetCancelled.
  std::function<bool()> cancelled;
  // Nothing on this connection waits past it (kTimeout, not retryable: the
  // run's time is up). Usually the run's deadline. Change with SetDeadline.
  core::TimePoint deadline = core::TimePoint::max();
  // The server's notices and warnings (RAISE NOTICE, "table ... does not
  // exist, skipping"), one line each ("NOTICE: ..."), on the thread of the
  // call that received them; dropped when unset (libpq would print them on
  // stderr). Must not throw.
  std::function<void(std::string_view)> on_notice;
};

// Parameters of Query, in order ($1, $2 ...), as text (PostgreSQL converts
// them to the type the statement needs); nullopt is NULL.
using Params = std::vector<std::optional<std::string>>;

class Connection {
 public:
  static core::Result<Connection> Open(std::string_view url_or_conninfo,
                                       const OpenOptions& options = {});
  Connection(Connection&&) noexcept;
  Connection& operator=(Connection&&) noexcept;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  ~Connection();

  // Runs one or more statements separated by semicolons (the simple query
  // protocol: no parameters, rows discarded). They stop at the first error;
  // outside a transaction block they run as one implicit transaction, so
  // an error undoes the ones before it. COPY is refused here (CopyIn).
  core::Result<void> Exec(std::string_view sql);
  // Runs one statement with parameters (the extended protocol: $1, $2 ...;
  // a value is never spliced into the SQL) and returns its answer. Up to
  // 65535 parameters.
  core::Result<Rows> Query(std::string_view sql, const Params& params = {});
  // Starts a `COPY table [(columns)] FROM STDIN ...` and returns the stream
  // to write its data into; see copy_in.h. Until that CopyIn is finished or
  // gone, the connection takes no other calls.
  core::Result<pg::CopyIn> CopyIn(std::string_view copy_sql);

  void SetCancelled(std::function<bool()> cancelled);
  void SetDeadline(core::TimePoint deadline);

  // The server's version as libpq reports it: 150004 for 15.4.
  int ServerVersion() const;
  // The connection is gone (lost, or closed after a cancel the server did
  // not honour): every call fails, retryable; open a new one. A loss is
  // learnt by the call that meets it, not before.
  bool IsBroken() const;
  // Inside a transaction block (BEGIN ... COMMIT), a failed one included.
  bool InTransaction() const;
  // The SQLSTATE of the last call that failed with one, "" after a call
  // that succeeded or failed without one (also pg::SqlState(error)).
  const std::string& last_sqlstate() const { return last_sqlstate_; }
  // "postgresql://host:port/db", no credentials: the prefix of error
  // messages, for logs.
  const std::string& target() const { return target_; }

 private:
  friend class Transaction;
  friend class pg::CopyIn;

  // How a wait treats `cancelled` and the deadline. kInterruptible: they
  // stop it (the statement is cancelled on the server). kBounded: they are
  // ignored, for cleanup that must happen after a cancellation (ROLLBACK,
  // ending a COPY), but the wait ends after 10 s with the connection closed.
  enum class Wait { kInterruptible, kBounded };

  explicit Connection(pg_conn* conn) : conn_(conn) {}
  void Close();
  // Refuses a call on a broken connection or during a COPY.
  std::optional<core::Error> Unusable(std::string_view what) const;
  // kCancelled / kTimeout when `cancelled` or the deadline says stop.
  std::optional<core::Error> Interrupted(std::string_view what) const;
  // Sends what is buffered and collects every result of the statement(s)
  // in flight until libpq has none left (or, with `until_copy_in`, until
  // the server asks for COPY data); returns the last result, or the first
  // error. Sets last_sqlstate_.
  core::Result<Rows> Collect(std::string_view what, Wait wait, bool until_copy_in = false);
  // Runs statements that take no parameters with Wait::kBounded: ROLLBACK.
  core::Result<void> Control(std::string_view sql);
  // Sends libpq's buffered output (nonblocking mode), waiting as `wait` says.
  core::Result<void> Flush(std::string_view what, Wait wait);
  // Waits up to `slice` for the socket to be readable (or writable, with
  // `write`); false when there is no socket.
  bool WaitSocket(bool write, std::chrono::milliseconds slice) const;
  // libpq's message about the connection, cleaned up, as a kIo error; marks
  // the connection broken when libpq says so.
  core::Error ConnectionError(std::string_view what);
  // The server's error in `result` (or libpq's, without a SQLSTATE).
  core::Error ServerError(const pg_result* result, std::string_view what) const;
  // Asks the server to cancel the statement in flight (PQcancel).
  void SendCancel();
  // Gives the connection up: closes it, so the server ends what it was doing.
  void Abandon();
  core::Error Failed(core::Error error);
  std::string Context(std::string_view what) const;

  pg_conn* conn_ = nullptr;
  // Set once in Open.
  std::string target_;
  // On the heap: libpq keeps its address, which must survive moves.
  std::unique_ptr<std::function<void(std::string_view)>> on_notice_;
  // Changed by the setters.
  std::function<bool()> cancelled_;
  core::TimePoint deadline_ = core::TimePoint::max();
  // State of the calls.
  std::string last_sqlstate_;
  bool broken_ = false;
  bool copy_open_ = false;
};

// A connection string split for PostgreSQL's command-line tools (pg_dump,
// pg_restore, psql): every parameter but the password, as a key='value'
// conninfo for their --dbname, and the password alone, for PGPASSWORD in
// their environment, so it is never on a command line (where `ps` shows
// it) or in a log. kInvalidArgument when libpq cannot read the string (the
// message masked as Open's are).
struct ToolConninfo {
  std::string conninfo;
  std::string password;  // empty: none in the string
};
core::Result<ToolConninfo> ConninfoForTools(std::string_view url_or_conninfo);

}  // namespace pg
