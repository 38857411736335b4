#include "pg/connection.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cctype>
#include <utility>

#include "pg/conninfo.h"
#include "pg/copy_in.h"
#include "pg/error.h"

namespace pg {
namespace {

using Steady = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kSlice{50};
// How long a statement may take to stop once cancelled, and how long
// cleanup that ignores cancellation (ROLLBACK, ending a COPY) may wait,
// before the connection is closed instead: closing ends both on the server.
constexpr std::chrono::seconds kCancelGrace{5};
constexpr std::chrono::seconds kCleanupLimit{10};

bool Past(core::TimePoint deadline) {
  // Compared in core::TimePoint's microseconds: TimePoint::max() in the
  // clock's nanoseconds would overflow.
  return deadline != core::TimePoint::max() &&
         std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now()) >= deadline;
}

// libpq's messages end with a newline and go on over "\n\t" lines; the
// server's put two spaces after "FATAL:". One line with single spaces.
std::string OneLine(std::string_view text) {
  std::string out;
  bool space = false;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string Running(std::string_view sql) {
  constexpr std::size_t kShown = 60;
  std::string flat = OneLine(sql.substr(0, 4 * kShown));
  if (flat.size() > kShown) {
    std::size_t cut = kShown;
    while (cut > 0 && (static_cast<unsigned char>(flat[cut]) & 0xC0) == 0x80) --cut;
    flat = flat.substr(0, cut) + " ...";
  }
  return "running `" + flat + "`";
}

bool IsConnectionString(std::string_view text) {
  return text.starts_with("postgresql://") || text.starts_with("postgres://") ||
         text.find('=') != std::string_view::npos;
}

// Failures to connect that a retry cannot fix: credentials, a missing role
// or database, pg_hba.conf, TLS, bad parameters. libpq reports them only as
// text (its English, and the server's in the server's lc_messages).
bool IsPermanentConnectFailure(PGconn* conn, std::string_view message) {
  if (PQconnectionNeedsPassword(conn)) return true;
  std::string lower(message);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static constexpr std::string_view kPermanent[] = {
      "authentication failed",  // password, scram, ident, peer, gss, ...
      "no pg_hba.conf entry",
      "pg_hba.conf rejects",
      "does not exist",  // role, database
      "no password supplied",
      "is not permitted to log in",
      "permission denied for database",
      "ssl was required",
      "does not support ssl",
      "ssl error",
      "certificate",
      "channel binding",
      "invalid sslmode",
      "invalid port number",
      "invalid integer value",
      "unsupported frontend protocol",
      "server does not support",
  };
  return std::any_of(std::begin(kPermanent), std::end(kPermanent),
                     [&](std::string_view p) { return lower.find(p) != std::string::npos; });
}

void OnNotice(void* handler, const char* message) {
  if (handler == nullptr) return;
  try {
    (*static_cast<std::function<void(std::string_view)>*>(handler))(OneLine(message));
  } catch (...) {
    // Never through libpq's C frames.
  }
}

std::string_view Field(const PGresult* result, int code) {
  const char* value = PQresultErrorField(result, code);
  return value ? value : "";
}

}  // namespace

core::Result<Connection> Connection::Open(std::string_view url_or_conninfo,
                                          const OpenOptions& options) {
  const std::vector<std::string> secrets = ConninfoSecrets(url_or_conninfo);
  const std::string shown =
      url_or_conninfo.empty() ? "PostgreSQL (libpq defaults)" : RedactConninfo(url_or_conninfo);
  auto fail = [&](core::ErrorKind kind, std::string_view message, bool retryable) {
    return core::Unexpected(core::Error{
        kind, MaskSecrets("connecting to " + shown + ": " + std::string(message), secrets),
        retryable});
  };
  const std::string conninfo(url_or_conninfo);
  if (conninfo.find('\0') != std::string::npos) {
    return fail(core::ErrorKind::kInvalidArgument, "the connection string holds a NUL byte", false);
  }
  // Parsed first, so that a string libpq cannot read is the user's to fix,
  // not a retryable connection failure.
  if (IsConnectionString(conninfo)) {
    char* error = nullptr;
    PQconninfoOption* parsed = PQconninfoParse(conninfo.c_str(), &error);
    if (parsed == nullptr) {
      const std::string message = error ? OneLine(error) : "out of memory";
      PQfreemem(error);
      return fail(core::ErrorKind::kInvalidArgument, message, false);
    }
    PQconninfoFree(parsed);
  }

  // Defaults first: with expand_dbname the string's own values come later
  // and win.
  const char* const keywords[] = {"fallback_application_name", "client_encoding", "dbname",
                                  nullptr};
  const char* const values[] = {"jobsd", "UTF8", conninfo.c_str(), nullptr};
  PGconn* raw = PQconnectStartParams(keywords, values, 1);
  if (raw == nullptr) return fail(core::ErrorKind::kInternal, "out of memory", false);
  Connection conn(raw);  // closes it on every return below but the last
  conn.cancelled_ = options.cancelled;
  conn.deadline_ = options.deadline;
  if (options.on_notice) {
    conn.on_notice_ = std::make_unique<std::function<void(std::string_view)>>(options.on_notice);
  }
  PQsetNoticeProcessor(raw, &OnNotice, conn.on_notice_.get());

  const auto give_up_at = Steady::now() + options.connect_timeout;
  PostgresPollingStatusType polled =
      PQstatus(raw) == CONNECTION_BAD ? PGRES_POLLING_FAILED : PGRES_POLLING_WRITING;
  while (polled != PGRES_POLLING_OK) {
    if (polled == PGRES_POLLING_FAILED) {
      const std::string message = OneLine(PQerrorMessage(raw));
      const bool answered = message.find("FATAL:") != std::string::npos;
      return fail(answered ? core::ErrorKind::kUpstream : core::ErrorKind::kIo, message,
                  !IsPermanentConnectFailure(raw, message));
    }
    if (conn.cancelled_ && conn.cancelled_()) {
      return fail(core::ErrorKind::kCancelled, "cancelled", false);
    }
    if (Past(conn.deadline_)) return fail(core::ErrorKind::kTimeout, "deadline passed", false);
    const auto now = Steady::now();
    if (now >= give_up_at) {
      return fail(core::ErrorKind::kTimeout,
                  "no connection within " + core::FormatDuration(options.connect_timeout), true);
    }
    const int fd = PQsocket(raw);
    if (fd < 0) {
      polled = PQconnectPoll(raw);
      continue;
    }
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(give_up_at - now);
    pollfd wanted{fd, static_cast<short>(polled == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
    // Errors and hang-ups count as ready: PQconnectPoll reports them.
    if (::poll(&wanted, 1, static_cast<int>(std::min(left, kSlice).count())) > 0) {
      polled = PQconnectPoll(raw);
    }
  }
  // Nonblocking from here on: sends never block, so every wait is ours.
  if (PQsetnonblocking(raw, 1) != 0) {
    return fail(core::ErrorKind::kIo, OneLine(PQerrorMessage(raw)), true);
  }
  std::string host = PQhost(raw) ? PQhost(raw) : "";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  conn.target_ = "postgresql://" + host + ":" + (PQport(raw) ? PQport(raw) : "") + "/" +
                 (PQdb(raw) ? PQdb(raw) : "");
  return conn;
}

Connection::Connection(Connection&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)),
      target_(std::move(other.target_)),
      on_notice_(std::move(other.on_notice_)),
      cancelled_(std::move(other.cancelled_)),
      deadline_(other.deadline_),
      last_sqlstate_(std::move(other.last_sqlstate_)),
      broken_(other.broken_),
      copy_open_(other.copy_open_) {}

Connection& Connection::operator=(Connection&& other) noexcept {
  if (this != &other) {
    Close();
    conn_ = std::exchange(other.conn_, nullptr);
    target_ = std::move(other.target_);
    on_notice_ = std::move(other.on_notice_);
    cancelled_ = std::move(other.cancelled_);
    deadline_ = other.deadline_;
    last_sqlstate_ = std::move(other.last_sqlstate_);
    broken_ = other.broken_;
    copy_open_ = other.copy_open_;
  }
  return *this;
}

Connection::~Connection() { Close(); }

void Connection::Close() {
  if (conn_ != nullptr) PQfinish(std::exchange(conn_, nullptr));
}

void Connection::Abandon() {
  Close();
  broken_ = true;
}

void Connection::SetCancelled(std::function<bool()> cancelled) {
  cancelled_ = std::move(cancelled);
}

void Connection::SetDeadline(core::TimePoint deadline) { deadline_ = deadline; }

int Connection::ServerVersion() const { return conn_ ? PQserverVersion(conn_) : 0; }

bool Connection::IsBroken() const {
  return broken_ || conn_ == nullptr || PQstatus(conn_) == CONNECTION_BAD;
}

bool Connection::InTransaction() const {
  if (conn_ == nullptr) return false;
  const PGTransactionStatusType status = PQtransactionStatus(conn_);
  return status == PQTRANS_INTRANS || status == PQTRANS_INERROR;
}

std::string Connection::Context(std::string_view what) const {
  return target_ + ": " + std::string(what);
}

core::Error Connection::Failed(core::Error error) {
  last_sqlstate_ = SqlState(error);
  return error;
}

std::optional<core::Error> Connection::Unusable(std::string_view what) const {
  if (IsBroken()) {
    return core::Error{core::ErrorKind::kIo,
                       Context(what) + ": the connection is broken (lost earlier); open a new one",
                       true};
  }
  if (copy_open_) {
    return core::Error{core::ErrorKind::kInternal,
                       Context(what) + ": a COPY is in progress on this connection", false};
  }
  return std::nullopt;
}

std::optional<core::Error> Connection::Interrupted(std::string_view what) const {
  if (cancelled_ && cancelled_()) {
    return core::Error{core::ErrorKind::kCancelled, Context(what) + ": cancelled", false};
  }
  if (Past(deadline_)) {
    return core::Error{core::ErrorKind::kTimeout, Context(what) + ": deadline passed", false};
  }
  return std::nullopt;
}

core::Error Connection::ConnectionError(std::string_view what) {
  std::string message = conn_ ? OneLine(PQerrorMessage(conn_)) : "";
  if (message.empty()) message = "connection lost";
  if (conn_ == nullptr || PQstatus(conn_) == CONNECTION_BAD) broken_ = true;
  return core::Error{core::ErrorKind::kIo, Context(what) + ": " + message, broken_};
}

bool Connection::WaitSocket(bool write, std::chrono::milliseconds slice) const {
  const int fd = conn_ ? PQsocket(conn_) : -1;
  if (fd < 0) return false;
  pollfd wanted{fd, static_cast<short>(POLLIN | (write ? POLLOUT : 0)), 0};
  (void)::poll(&wanted, 1, static_cast<int>(slice.count()));  // EINTR: just look again
  return true;
}

core::Result<void> Connection::Flush(std::string_view what, Wait wait) {
  const auto limit = Steady::now() + kCleanupLimit;
  while (true) {
    const int flushed = PQflush(conn_);
    if (flushed == 0) return {};
    if (flushed < 0) return core::Unexpected(Failed(ConnectionError(what)));
    if (wait == Wait::kInterruptible) {
      if (auto stop = Interrupted(what)) return core::Unexpected(Failed(std::move(*stop)));
    } else if (Steady::now() >= limit) {
      core::Error error{core::ErrorKind::kIo,
                        Context(what) + ": the server took nothing for 10 s; connection closed",
                        true};
      Abandon();
      return core::Unexpected(Failed(std::move(error)));
    }
    if (!WaitSocket(true, kSlice)) return core::Unexpected(Failed(ConnectionError(what)));
    // Reading while the server does not read keeps both sides from waiting
    // on each other (libpq's own send does the same).
    if (PQconsumeInput(conn_) == 0) return core::Unexpected(Failed(ConnectionError(what)));
  }
}

core::Result<void> Connection::Exec(std::string_view sql) {
  const std::string what = Running(sql);
  if (auto unusable = Unusable(what)) return core::Unexpected(Failed(std::move(*unusable)));
  if (sql.find('\0') != std::string_view::npos) {
    return core::Unexpected(
        Failed(core::InvalidArgument(Context(what) + ": the SQL holds a NUL byte")));
  }
  if (auto stop = Interrupted(what)) return core::Unexpected(Failed(std::move(*stop)));
  const std::string text(sql);
  if (PQsendQuery(conn_, text.c_str()) == 0) {
    return core::Unexpected(Failed(ConnectionError(what)));
  }
  auto rows = Collect(what, Wait::kInterruptible);
  if (!rows) return core::Unexpected(rows.error());
  return {};
}

core::Result<Rows> Connection::Query(std::string_view sql, const Params& params) {
  const std::string what = Running(sql);
  if (auto unusable = Unusable(what)) return core::Unexpected(Failed(std::move(*unusable)));
  if (sql.find('\0') != std::string_view::npos) {
    return core::Unexpected(
        Failed(core::InvalidArgument(Context(what) + ": the SQL holds a NUL byte")));
  }
  if (params.size() > 65535) {
    return core::Unexpected(Failed(core::InvalidArgument(
        Context(what) + ": " + std::to_string(params.size()) + " parameters (at most 65535)")));
  }
  std::vector<const char*> values;
  values.reserve(params.size());
  for (std::size_t i = 0; i < params.size(); ++i) {
    if (params[i] && params[i]->find('\0') != std::string::npos) {
      // libpq takes text parameters as C strings: it would cut the value.
      return core::Unexpected(Failed(core::InvalidArgument(
          Context(what) + ": parameter $" + std::to_string(i + 1) + " holds a NUL byte")));
    }
    values.push_back(params[i] ? params[i]->c_str() : nullptr);
  }
  if (auto stop = Interrupted(what)) return core::Unexpected(Failed(std::move(*stop)));
  const std::string text(sql);
  if (PQsendQueryParams(conn_, text.c_str(), static_cast<int>(values.size()), nullptr,
                        values.data(), nullptr, nullptr, 0) == 0) {
    return core::Unexpected(Failed(ConnectionError(what)));
  }
  return Collect(what, Wait::kInterruptible);
}

core::Result<pg::CopyIn> Connection::CopyIn(std::string_view copy_sql) {
  const std::string what = Running(copy_sql);
  if (auto unusable = Unusable(what)) return core::Unexpected(Failed(std::move(*unusable)));
  if (copy_sql.find('\0') != std::string_view::npos) {
    return core::Unexpected(
        Failed(core::InvalidArgument(Context(what) + ": the SQL holds a NUL byte")));
  }
  if (auto stop = Interrupted(what)) return core::Unexpected(Failed(std::move(*stop)));
  const std::string text(copy_sql);
  // The extended protocol takes one statement only: nothing runs before or
  // after the COPY.
  if (PQsendQueryParams(conn_, text.c_str(), 0, nullptr, nullptr, nullptr, nullptr, 0) == 0) {
    return core::Unexpected(Failed(ConnectionError(what)));
  }
  auto started = Collect(what, Wait::kInterruptible, /*until_copy_in=*/true);
  if (!started) return core::Unexpected(started.error());
  copy_open_ = true;
  return pg::CopyIn(*this, what);
}

core::Result<void> Connection::Control(std::string_view sql) {
  const std::string what = Running(sql);
  if (auto unusable = Unusable(what)) return core::Unexpected(Failed(std::move(*unusable)));
  const std::string text(sql);
  if (PQsendQuery(conn_, text.c_str()) == 0) {
    return core::Unexpected(Failed(ConnectionError(what)));
  }
  auto rows = Collect(what, Wait::kBounded);
  if (!rows) return core::Unexpected(rows.error());
  return {};
}

core::Error Connection::ServerError(const pg_result* result, std::string_view what) const {
  const std::string_view primary = Field(result, PG_DIAG_MESSAGE_PRIMARY);
  const std::string_view sqlstate = Field(result, PG_DIAG_SQLSTATE);
  std::string message = Context(what) + ": ";
  if (!primary.empty()) {
    message += OneLine(primary);
  } else {
    // An error libpq made itself (a lost connection): no fields, only text.
    std::string text = OneLine(PQresultErrorMessage(result));
    if (text.empty() && conn_) text = OneLine(PQerrorMessage(conn_));
    message += text.empty() ? "unknown error" : text;
  }
  if (const std::string_view detail = Field(result, PG_DIAG_MESSAGE_DETAIL); !detail.empty()) {
    message += "; detail: " + OneLine(detail);
  }
  if (const std::string_view hint = Field(result, PG_DIAG_MESSAGE_HINT); !hint.empty()) {
    message += "; hint: " + OneLine(hint);
  }
  if (sqlstate.size() == 5) message += " (SQLSTATE " + std::string(sqlstate) + ")";
  return core::Error{sqlstate.empty() ? core::ErrorKind::kIo : core::ErrorKind::kUpstream,
                     std::move(message), IsRetryableSqlState(sqlstate)};
}

void Connection::SendCancel() {
  PGcancel* cancel = PQgetCancel(conn_);
  if (cancel == nullptr) return;
  char error[256];
  // When it fails the statement runs on, and the grace period closes the
  // connection instead.
  (void)PQcancel(cancel, error, sizeof error);
  PQfreeCancel(cancel);
}

core::Result<Rows> Connection::Collect(std::string_view what, Wait wait, bool until_copy_in) {
  auto limit = wait == Wait::kBounded ? Steady::now() + kCleanupLimit : Steady::time_point::max();
  std::optional<core::Error> interrupt;  // set once a cancel has been sent
  std::optional<core::Error> error;      // the first one
  Rows last;
  bool copy_out = false;
  bool lost = false;  // libpq gave up on the socket
  while (true) {
    const int flushed = PQflush(conn_);
    if (flushed < 0) {
      lost = true;
      break;
    }
    bool waiting = flushed == 1;
    if (!waiting && copy_out) {
      char* data = nullptr;
      const int got = PQgetCopyData(conn_, &data, /*async=*/1);
      if (data != nullptr) PQfreemem(data);
      if (got > 0) continue;
      if (got == 0) {
        waiting = true;
      } else {
        copy_out = false;  // done (or failed): the results follow
      }
    }
    if (!waiting && !copy_out && PQisBusy(conn_)) waiting = true;
    if (waiting) {
      if (wait == Wait::kInterruptible && !interrupt) {
        interrupt = Interrupted(what);
        if (interrupt) {
          SendCancel();
          limit = Steady::now() + kCancelGrace;
        }
      }
      if (Steady::now() >= limit) {
        core::Error stopped = interrupt
                                  ? *interrupt
                                  : core::Error{core::ErrorKind::kIo,
                                                Context(what) + ": no answer within 10 s", true};
        stopped.message += "; the server did not stop, so the connection was closed";
        Abandon();
        return core::Unexpected(Failed(std::move(stopped)));
      }
      if (!WaitSocket(flushed == 1, kSlice)) {
        lost = true;
        break;
      }
      // A failure here (the server closed the connection) leaves libpq
      // with an error result for PQgetResult, which the loop collects.
      (void)PQconsumeInput(conn_);
      continue;
    }
    PGresult* result = PQgetResult(conn_);
    if (result == nullptr) break;
    Rows rows(result);
    switch (PQresultStatus(result)) {
      case PGRES_COPY_IN: {
        if (until_copy_in && !error && !interrupt) {
          last_sqlstate_.clear();
          return rows;
        }
        // Ended at once; the server answers with its error (57014), which
        // after a cancel of ours becomes that cancel's error.
        if (!error && !interrupt) {
          error =
              core::Error{core::ErrorKind::kInvalidArgument,
                          Context(what) + ": COPY FROM STDIN runs with Connection::CopyIn", false};
        }
        const char* reason = interrupt ? "cancelled" : "not a COPY started with CopyIn";
        int ended;
        while ((ended = PQputCopyEnd(conn_, reason)) == 0) {
          if (auto ok = Flush(what, Wait::kBounded); !ok) return core::Unexpected(ok.error());
        }
        if (ended < 0) return core::Unexpected(Failed(ConnectionError(what)));
        break;
      }
      case PGRES_COPY_OUT:
        if (!error) {
          error = core::Error{core::ErrorKind::kInvalidArgument,
                              Context(what) + ": COPY TO STDOUT is not supported by lib/pg", false};
        }
        copy_out = true;
        break;
      case PGRES_COPY_BOTH: {
        core::Error refused{core::ErrorKind::kInvalidArgument,
                            Context(what) + ": replication (COPY BOTH) is not supported", false};
        Abandon();
        return core::Unexpected(Failed(std::move(refused)));
      }
      case PGRES_BAD_RESPONSE:
      case PGRES_NONFATAL_ERROR:
      case PGRES_FATAL_ERROR:
        if (!error) error = ServerError(result, what);
        break;
      default:
        if (until_copy_in && !error) {
          error = core::Error{core::ErrorKind::kInvalidArgument,
                              Context(what) + ": not a COPY ... FROM STDIN", false};
        }
        last = std::move(rows);
        break;
    }
  }
  if (lost) {
    // The server's last words (a FATAL error) beat libpq's "server closed
    // the connection unexpectedly".
    if (!error) error = ConnectionError(what);
    broken_ = true;
  }
  if (PQstatus(conn_) == CONNECTION_BAD) broken_ = true;
  if (error) {
    if (broken_) {
      // Whatever the server said last, a new connection may well succeed.
      error->kind = core::ErrorKind::kIo;
      error->retryable = true;
    }
    if (interrupt && SqlState(*error) == kQueryCanceled) {
      return core::Unexpected(Failed(std::move(*interrupt)));
    }
    return core::Unexpected(Failed(std::move(*error)));
  }
  // Cancelled too late: the statement had finished, and its result stands.
  last_sqlstate_.clear();
  return last;
}

core::Result<ToolConninfo> ConninfoForTools(std::string_view url_or_conninfo) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(std::string(url_or_conninfo).c_str(), &error);
  if (options == nullptr) {
    std::string message = error ? error : "out of memory";
    PQfreemem(error);
    while (!message.empty() && (message.back() == '\n' || message.back() == ' '))
      message.pop_back();
    return core::Unexpected(core::InvalidArgument(
        "cannot read the connection string " + RedactConninfo(url_or_conninfo) + ": " +
        MaskSecrets(message, ConninfoSecrets(url_or_conninfo))));
  }
  ToolConninfo out;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr || *o->val == '\0') continue;
    const std::string_view key = o->keyword;
    if (key == "password") {
      out.password = o->val;
      continue;
    }
    if (!out.conninfo.empty()) out.conninfo += ' ';
    out.conninfo += std::string(key) + "='";
    for (const char* c = o->val; *c; ++c) {
      if (*c == '\'' || *c == '\\') out.conninfo += '\\';
      out.conninfo += *c;
    }
    out.conninfo += '\'';
  }
  PQconninfoFree(options);
  return out;
}

}  // namespace pg
