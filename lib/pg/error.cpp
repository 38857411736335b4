#include "pg/error.h"

namespace pg {

std::string SqlState(const core::Error& error) {
  // " (SQLSTATE 23505)": the suffix lib/pg writes, and only as a suffix, so
  // that a server message quoting the word cannot be taken for it.
  constexpr std::string_view kOpen = " (SQLSTATE ";
  constexpr std::size_t kLength = kOpen.size() + 5 + 1;
  const std::string_view message = error.message;
  if (message.size() < kLength || !message.ends_with(')')) return "";
  const std::string_view tail = message.substr(message.size() - kLength);
  if (!tail.starts_with(kOpen)) return "";
  const std::string_view code = tail.substr(kOpen.size(), 5);
  for (char c : code) {
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'))) return "";
  }
  return std::string(code);
}

bool IsRetryableSqlState(std::string_view sqlstate) {
  if (sqlstate.size() != 5) return false;
  const std::string_view klass = sqlstate.substr(0, 2);
  return klass == "08" || klass == "53" || sqlstate == "40001" || sqlstate == "40P01" ||
         sqlstate == "57P01" || sqlstate == "57P02" || sqlstate == "57P03";
}

}  // namespace pg
