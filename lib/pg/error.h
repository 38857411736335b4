// How lib/pg reports failures: a core::Error whose message says where
// (the server, without credentials), what was being done (the start of the
// SQL, never a parameter's value) and the server's own words, ending with
// the SQLSTATE when the server gave one:
//   postgresql://127.0.0.1:5432/app: running `INSERT INTO orders ...`:
//   duplicate key value violates unique constraint "orders_pkey";
//   detail: Key (id)=(7) already exists. (SQLSTATE 23505)
// Detail and hint come from the server and can quote the row's data (as
// this detail does), never the SQL's parameters or a password.
//
// Kinds: kUpstream for an error the server answered; kIo for a connection
// that could not be made or was lost; kCancelled and kTimeout for a call
// that `cancelled` or the deadline stopped (connection.h); kInvalidArgument
// for a connection string libpq cannot read, SQL or a parameter holding a
// NUL byte; kInternal for a call the object's state does not allow (a
// query while a COPY is open).
//
// Retryable: the SQLSTATEs of IsRetryableSqlState, and a connection that
// was lost or could not be made for a reason other than credentials,
// configuration or TLS (connection.h lists them). A statement that was
// running when its connection was lost may or may not have taken effect;
// retry whole transactions, or statements that are idempotent.
//
// Pure functions; any thread.
#pragma once

#include <string>
#include <string_view>

#include "core/result.h"

namespace pg {

// The SQLSTATE that `error` (from lib/pg) ends with, e.g. "23505"; "" when
// it has none (a lost connection, a cancelled call, an error from
// elsewhere). Reads the " (SQLSTATE xxxxx)" suffix: callers that add
// context should prefix it, as the style guide says, not append.
std::string SqlState(const core::Error& error);

// Class 08 (connection exception), 40001 (serialization failure), 40P01
// (deadlock), class 53 (insufficient resources: disk full, out of memory,
// too many connections), 57P01/57P02/57P03 (admin or crash shutdown,
// cannot connect now). Not: 42 (syntax, undefined table), 23 (constraint),
// 22 (data), 28 (authentication) and everything else.
bool IsRetryableSqlState(std::string_view sqlstate);

// Some SQLSTATEs by name, for callers that handle one.
inline constexpr std::string_view kUniqueViolation = "23505";
inline constexpr std::string_view kSerializationFailure = "40001";
inline constexpr std::string_view kDeadlockDetected = "40P01";
inline constexpr std::string_view kQueryCanceled = "57014";
inline constexpr std::string_view kUndefinedTable = "42P01";
inline constexpr std::string_view kSyntaxError = "42601";

}  // namespace pg
