// COPY ... FROM STDIN as a stream: the fastest way to load rows into
// PostgreSQL, written as it is produced, never held whole in memory.
//
//   auto copy = conn.CopyIn("COPY sales.orders (id, note) FROM STDIN");
//   if (!copy) return core::Unexpected(copy.error());
//   std::string line;
//   for (const Order& o : orders) {
//     line.clear();
//     pg::AppendCopyRow(line, {o.id, o.note});  // text format, escaped
//     if (auto ok = copy->Write(line); !ok) return ok;
//   }
//   auto rows = copy->Finish();  // the rows the server stored
//
// Write buffers up to 64 KiB and sends each full chunk with PQputCopyData,
// waiting (about 50 ms at a time) until libpq has passed it to the socket
// before taking more, so memory stays flat however much is copied. Data is
// bytes in the COPY's format (text, csv, or binary) as PostgreSQL reads it;
// rows may be split across Writes anywhere.
//
// All or nothing: the COPY is one statement; nothing is visible until
// Finish succeeds (and, in a transaction, until it commits), and Abort, a
// failed Write, cancellation or destruction without Finish leave nothing.
// A bad row (a value that does not parse, a constraint) is reported by
// Finish: the server stops at it and discards what follows.
//
// Cancellation: Write and Finish ask the connection's `cancelled` and
// deadline while they wait; on either the COPY is ended on the server
// (CopyFail) and they return kCancelled / kTimeout, the connection usable.
//
// Threads: as the Connection, which must outlive the CopyIn and must not be
// moved while it is open; while it is open the connection takes no other
// calls (kInternal). Failure: a core::Error as in error.h; after one the
// COPY is over and later calls fail.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "core/result.h"

namespace pg {

class Connection;

class CopyIn {
 public:
  static constexpr std::size_t kChunkBytes = 64 * 1024;

  CopyIn(CopyIn&& other) noexcept;
  CopyIn& operator=(CopyIn&&) = delete;
  CopyIn(const CopyIn&) = delete;
  CopyIn& operator=(const CopyIn&) = delete;
  // Aborts a COPY that was not finished.
  ~CopyIn();

  core::Result<void> Write(std::string_view data);
  // Sends the rest, ends the COPY and returns how many rows it stored.
  core::Result<std::uint64_t> Finish();
  // Ends the COPY with nothing stored; the server's error for it carries
  // `reason`. Safe to call on a COPY that is already over.
  void Abort(std::string_view reason);

  // Started and not yet finished, aborted or failed.
  bool active() const { return conn_ != nullptr; }
  // Bytes written but not yet handed to libpq (below kChunkBytes).
  std::size_t buffered() const { return buffer_.size(); }

 private:
  friend class Connection;
  CopyIn(Connection& conn, std::string what) : conn_(&conn), what_(std::move(what)) {}
  // Hands `chunk` to libpq and waits until it is on its way.
  core::Result<void> Send(std::string_view chunk);
  // Ends the COPY on the server (CopyFail with `reason`) and drains its
  // answer; the COPY is over afterwards.
  void End(std::string_view reason);
  // Ends the COPY after `error` and returns it.
  core::Unexpected Fail(core::Error error);

  Connection* conn_;  // nullptr once over
  std::string what_;
  std::string buffer_;
};

// Appends `value` as one field of COPY's text format: NULL as \N, and
// backslash, tab, newline and carriage return escaped (\\ \t \n \r), so
// any text round-trips. Field separators and the line end are the
// caller's ('\t' between fields, '\n' after the last), or AppendCopyRow's.
// PostgreSQL text cannot hold a NUL byte: the server refuses one.
void AppendCopyText(std::string& line, std::optional<std::string_view> value);

// Appends one whole row: the fields with AppendCopyText, tab-separated, and
// a '\n'.
void AppendCopyRow(std::string& out, std::span<const std::optional<std::string_view>> values);
inline void AppendCopyRow(std::string& out,
                          std::initializer_list<std::optional<std::string_view>> values) {
  AppendCopyRow(out,
                std::span<const std::optional<std::string_view>>(values.begin(), values.size()));
}

}  // namespace pg
