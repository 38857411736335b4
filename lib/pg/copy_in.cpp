#include "pg/copy_in.h"

#include <libpq-fe.h>

#include <algorithm>
#include <utility>

#include "pg/connection.h"
#include "pg/error.h"

namespace pg {

CopyIn::CopyIn(CopyIn&& other) noexcept
    : conn_(std::exchange(other.conn_, nullptr)),
      what_(std::move(other.what_)),
      buffer_(std::move(other.buffer_)) {}

CopyIn::~CopyIn() { Abort("the COPY was abandoned before it finished"); }

core::Result<void> CopyIn::Write(std::string_view data) {
  if (conn_ == nullptr) {
    return core::Unexpected(
        core::Error{core::ErrorKind::kInternal, what_ + ": the COPY is over", false});
  }
  // Top the buffer up to a chunk; whole chunks of a large write go straight
  // from `data`, without a copy.
  if (!buffer_.empty() || data.size() < kChunkBytes) {
    const std::size_t take = std::min(data.size(), kChunkBytes - buffer_.size());
    buffer_.append(data.substr(0, take));
    data.remove_prefix(take);
    if (buffer_.size() < kChunkBytes) return {};
    if (auto ok = Send(buffer_); !ok) return ok;
    buffer_.clear();
  }
  while (data.size() >= kChunkBytes) {
    if (auto ok = Send(data.substr(0, kChunkBytes)); !ok) return ok;
    data.remove_prefix(kChunkBytes);
  }
  buffer_.append(data);
  return {};
}

core::Result<void> CopyIn::Send(std::string_view chunk) {
  while (true) {
    if (auto stop = conn_->Interrupted(what_)) return Fail(std::move(*stop));
    const int put = PQputCopyData(conn_->conn_, chunk.data(), static_cast<int>(chunk.size()));
    if (put == 1) break;
    if (put < 0) return Fail(conn_->ConnectionError(what_));
    // libpq's buffer is full: let the socket take some first.
    if (auto ok = conn_->Flush(what_, Connection::Wait::kInterruptible); !ok) {
      return Fail(ok.error());
    }
  }
  // Not one more chunk before this one is on its way: memory stays at about
  // a chunk whatever the server's pace.
  if (auto ok = conn_->Flush(what_, Connection::Wait::kInterruptible); !ok) {
    return Fail(ok.error());
  }
  return {};
}

core::Result<std::uint64_t> CopyIn::Finish() {
  if (conn_ == nullptr) {
    return core::Unexpected(core::Error{core::ErrorKind::kInternal,
                                        what_ + ": the COPY is over (finished, aborted or failed)",
                                        false});
  }
  if (!buffer_.empty()) {
    if (auto ok = Send(buffer_); !ok) return core::Unexpected(ok.error());
    buffer_.clear();
  }
  if (auto stop = conn_->Interrupted(what_)) return Fail(std::move(*stop));
  Connection* conn = conn_;
  int ended;
  while ((ended = PQputCopyEnd(conn->conn_, nullptr)) == 0) {
    if (auto ok = conn->Flush(what_, Connection::Wait::kInterruptible); !ok) {
      return Fail(ok.error());
    }
  }
  if (ended < 0) return Fail(conn->ConnectionError(what_));
  conn_ = nullptr;
  conn->copy_open_ = false;
  // The server checks the last rows and commits the COPY: interruptible, as
  // any statement.
  auto rows = conn->Collect(what_, Connection::Wait::kInterruptible);
  if (!rows) return core::Unexpected(rows.error());
  return rows->CommandTuples();
}

void CopyIn::Abort(std::string_view reason) {
  Connection* conn = conn_;
  End(reason);
  if (conn != nullptr) conn->last_sqlstate_.clear();
}

void CopyIn::End(std::string_view reason) {
  if (conn_ == nullptr) return;
  Connection* conn = std::exchange(conn_, nullptr);
  buffer_.clear();
  conn->copy_open_ = false;
  if (conn->IsBroken()) return;
  const std::string text(reason.substr(0, reason.find('\0')));
  int ended;
  while ((ended = PQputCopyEnd(conn->conn_, text.c_str())) == 0) {
    if (!conn->Flush(what_, Connection::Wait::kBounded)) return;
  }
  if (ended < 0) {
    (void)conn->ConnectionError(what_);
    return;
  }
  // The server's answer is its error "COPY from stdin failed: <reason>".
  (void)conn->Collect(what_, Connection::Wait::kBounded);
}

core::Unexpected CopyIn::Fail(core::Error error) {
  Connection* conn = conn_;
  End(error.kind == core::ErrorKind::kCancelled ? "cancelled"
      : error.kind == core::ErrorKind::kTimeout ? "deadline passed"
                                                : "stopped by the client after an error");
  if (conn != nullptr) conn->last_sqlstate_ = SqlState(error);
  return core::Unexpected(std::move(error));
}

void AppendCopyText(std::string& line, std::optional<std::string_view> value) {
  if (!value) {
    line += "\\N";
    return;
  }
  for (char c : *value) {
    switch (c) {
      case '\\':
        line += "\\\\";
        break;
      case '\t':
        line += "\\t";
        break;
      case '\n':
        line += "\\n";
        break;
      case '\r':
        line += "\\r";
        break;
      default:
        line += c;
    }
  }
}

void AppendCopyRow(std::string& out, std::span<const std::optional<std::string_view>> values) {
  bool first = true;
  for (const auto& value : values) {
    if (!first) out += '\t';
    first = false;
    AppendCopyText(out, value);
  }
  out += '\n';
}

}  // namespace pg
