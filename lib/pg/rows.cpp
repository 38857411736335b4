#include "pg/rows.h"

#include <libpq-fe.h>

#include <cassert>
#include <charconv>

namespace pg {

void Rows::Free::operator()(pg_result* result) const { PQclear(result); }

Rows::Rows() = default;
Rows::Rows(pg_result* result) : result_(result) {}
Rows::Rows(Rows&&) noexcept = default;
Rows& Rows::operator=(Rows&&) noexcept = default;
Rows::~Rows() = default;

int Rows::row_count() const { return result_ ? PQntuples(result_.get()) : 0; }

int Rows::column_count() const { return result_ ? PQnfields(result_.get()) : 0; }

std::string_view Rows::column_name(int column) const {
  assert(column >= 0 && column < column_count());
  return PQfname(result_.get(), column);
}

Oid Rows::column_type(int column) const {
  assert(column >= 0 && column < column_count());
  return PQftype(result_.get(), column);
}

std::optional<int> Rows::ColumnIndex(std::string_view name) const {
  // Not PQfnumber: it folds unquoted names to lower case.
  for (int i = 0; i < column_count(); ++i) {
    if (column_name(i) == name) return i;
  }
  return std::nullopt;
}

bool Rows::IsNull(int row, int column) const {
  assert(row >= 0 && row < row_count() && column >= 0 && column < column_count());
  return PQgetisnull(result_.get(), row, column) == 1;
}

std::optional<std::string_view> Rows::Value(int row, int column) const {
  if (IsNull(row, column)) return std::nullopt;
  return std::string_view(PQgetvalue(result_.get(), row, column),
                          static_cast<std::size_t>(PQgetlength(result_.get(), row, column)));
}

std::string Rows::Text(int row, int column) const {
  return std::string(Value(row, column).value_or(std::string_view()));
}

std::uint64_t Rows::CommandTuples() const {
  if (!result_) return 0;
  const std::string_view text = PQcmdTuples(result_.get());
  std::uint64_t n = 0;
  std::from_chars(text.data(), text.data() + text.size(), n);
  return n;
}

std::string_view Rows::CommandStatus() const {
  if (!result_) return {};
  const char* status = PQcmdStatus(result_.get());
  return status ? status : "";
}

}  // namespace pg
