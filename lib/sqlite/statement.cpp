#include "sqlite/statement.h"

#include <sqlite3.h>

#include <utility>

#include "sqlite/error.h"

namespace sqlite {

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)),
      bind_failed_index_(std::exchange(other.bind_failed_index_, 0)),
      bind_failed_code_(std::exchange(other.bind_failed_code_, 0)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
    bind_failed_index_ = std::exchange(other.bind_failed_index_, 0);
    bind_failed_code_ = std::exchange(other.bind_failed_code_, 0);
  }
  return *this;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::Bound(int index, int rc) {
  if (rc != SQLITE_OK && bind_failed_code_ == 0) {
    bind_failed_index_ = index;
    bind_failed_code_ = rc;
  }
}

Statement& Statement::Bind(int index, std::int64_t value) {
  Bound(index, sqlite3_bind_int64(stmt_, index, value));
  return *this;
}

Statement& Statement::Bind(int index, int value) {
  Bound(index, sqlite3_bind_int(stmt_, index, value));
  return *this;
}

Statement& Statement::Bind(int index, double value) {
  Bound(index, sqlite3_bind_double(stmt_, index, value));
  return *this;
}

Statement& Statement::Bind(int index, std::string_view text) {
  Bound(index,
        sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  return *this;
}

Statement& Statement::BindNoCopy(int index, std::string_view text) {
  Bound(index,
        sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8));
  return *this;
}

Statement& Statement::Bind(int index, std::span<const std::byte> blob) {
  // A null pointer would bind NULL, not an empty blob.
  static const std::byte kEmpty{};
  const void* data = blob.empty() ? &kEmpty : blob.data();
  Bound(index, sqlite3_bind_blob64(stmt_, index, data, blob.size(), SQLITE_TRANSIENT));
  return *this;
}

Statement& Statement::Bind(int index, std::nullopt_t) {
  Bound(index, sqlite3_bind_null(stmt_, index));
  return *this;
}

core::Error Statement::StepError(std::string_view what) const {
  // The start of the SQL says which statement failed without flooding a log line.
  constexpr std::size_t kShown = 60;
  std::string_view sql = sqlite3_sql(stmt_) ? sqlite3_sql(stmt_) : "";
  std::string shown(sql.substr(0, kShown));
  if (sql.size() > kShown) shown += "...";
  return Error(db_, std::string(what) + " `" + shown + "`");
}

core::Result<bool> Statement::Step() {
  if (bind_failed_code_ != 0) {
    core::Error error = Error(db_, bind_failed_code_, "");
    error.message = FileName(db_) + ": binding parameter " + std::to_string(bind_failed_index_) +
                    ": " + sqlite3_errstr(bind_failed_code_);
    return core::Unexpected(std::move(error));
  }
  const int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  auto error = StepError("running");
  sqlite3_reset(stmt_);
  return core::Unexpected(std::move(error));
}

core::Result<void> Statement::Run() {
  for (;;) {
    auto stepped = Step();
    if (!stepped) {
      Reset();
      return core::Unexpected(stepped.error());
    }
    if (!*stepped) break;
  }
  Reset();
  return {};
}

void Statement::Reset() {
  sqlite3_reset(stmt_);
  sqlite3_clear_bindings(stmt_);
  bind_failed_index_ = 0;
  bind_failed_code_ = 0;
}

bool Statement::IsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

std::int64_t Statement::Int(int column) const { return sqlite3_column_int64(stmt_, column); }

double Statement::Double(int column) const { return sqlite3_column_double(stmt_, column); }

std::string_view Statement::TextView(int column) const {
  const auto* text = sqlite3_column_text(stmt_, column);
  if (text == nullptr) return {};
  return std::string_view(reinterpret_cast<const char*>(text),
                          static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)));
}

std::string Statement::Text(int column) const { return std::string(TextView(column)); }

Bytes Statement::Blob(int column) const {
  const auto* data = static_cast<const std::byte*>(sqlite3_column_blob(stmt_, column));
  if (data == nullptr) return {};
  return Bytes(data, data + sqlite3_column_bytes(stmt_, column));
}

std::optional<std::int64_t> Statement::OptionalInt(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Int(column);
}

std::optional<double> Statement::OptionalDouble(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Double(column);
}

std::optional<std::string> Statement::OptionalText(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Text(column);
}

std::optional<Bytes> Statement::OptionalBlob(int column) const {
  if (IsNull(column)) return std::nullopt;
  return Blob(column);
}

}  // namespace sqlite
