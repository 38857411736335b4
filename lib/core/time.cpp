#include "core/time.h"

#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>

#include <date/date.h>
#include <fmt/format.h>

namespace core {
namespace {

struct Unit {
  std::string_view name;
  Duration size;
};

// Longest names first so that "ms" is not read as "m" followed by "s".
constexpr Unit kUnits[] = {
    {"us", Duration(1)},
    {"ms", std::chrono::milliseconds(1)},
    {"s", std::chrono::seconds(1)},
    {"m", std::chrono::minutes(1)},
    {"h", std::chrono::hours(1)},
    {"d", std::chrono::hours(24)},
    {"w", std::chrono::hours(24 * 7)},
};

bool ReadNumber(std::string_view& text, std::int64_t& out) {
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(begin, end, out);
  if (ec != std::errc() || ptr == begin) return false;
  text.remove_prefix(static_cast<std::size_t>(ptr - begin));
  return true;
}

}  // namespace

Result<Duration> ParseDuration(std::string_view text) {
  // Not "'" + std::string(text) + "'": GCC 12 at -O3 inlines that chain of
  // operator+ and reports a false -Wrestrict overlap in its memcpy.
  const std::string quoted = fmt::format("'{}'", text);
  if (text.empty()) return Unexpected(InvalidArgument("empty duration"));
  std::string_view rest = text;
  Duration total{0};
  while (!rest.empty()) {
    std::int64_t number = 0;
    if (rest.front() == '-' || rest.front() == '+' || !ReadNumber(rest, number)) {
      return Unexpected(InvalidArgument("bad duration " + quoted +
                                        ": expected a number with a unit, like 30s, 5m, 1h30m"));
    }
    const Unit* unit = nullptr;
    for (const Unit& candidate : kUnits) {
      if (rest.substr(0, candidate.name.size()) == candidate.name &&
          (unit == nullptr || candidate.name.size() > unit->name.size())) {
        unit = &candidate;
      }
    }
    if (unit == nullptr) {
      return Unexpected(InvalidArgument(
          fmt::format("bad duration {}: a number needs a unit ({})", quoted, kDurationUnits)));
    }
    rest.remove_prefix(unit->name.size());
    if (number > std::numeric_limits<std::int64_t>::max() / unit->size.count() ||
        total.count() > std::numeric_limits<std::int64_t>::max() - number * unit->size.count()) {
      return Unexpected(InvalidArgument("bad duration " + quoted + ": too large"));
    }
    total += number * unit->size;
  }
  return total;
}

std::string FormatDuration(Duration d) {
  if (d == Duration::zero()) return "0s";
  std::string out;
  if (d < Duration::zero()) {
    out = "-";
    d = -d;
  }
  // Largest units first; weeks are left out because "1w" reads less clearly
  // than "7d" in a schedule listing.
  for (auto it = std::rbegin(kUnits) + 1; it != std::rend(kUnits); ++it) {
    const auto count = d / it->size;
    if (count > 0) {
      out += std::to_string(count);
      out += it->name;
      d -= count * it->size;
    }
  }
  return out;
}

std::string FormatRfc3339(TimePoint t) { return date::format("%Y-%m-%dT%H:%M:%SZ", t); }

Result<TimePoint> ParseRfc3339(std::string_view text) {
  const std::string s(text);
  auto fail = [&] {
    return Unexpected(InvalidArgument("bad time '" + s +
                                      "': expected RFC 3339, like 2026-11-22T18:51:23Z or "
                                      "2026-11-22T19:51:23+01:00"));
  };
  auto digits = [&](std::size_t pos, std::size_t count, int& out) {
    if (pos + count > s.size()) return false;
    int value = 0;
    for (std::size_t i = pos; i < pos + count; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
      value = value * 10 + (s[i] - '0');
    }
    out = value;
    return true;
  };
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  if (!digits(0, 4, y) || s.size() < 10 || s[4] != '-' || !digits(5, 2, mo) || s[7] != '-' ||
      !digits(8, 2, d)) {
    return fail();
  }
  const date::year_month_day ymd{date::year(y), date::month(static_cast<unsigned>(mo)),
                                 date::day(static_cast<unsigned>(d))};
  if (!ymd.ok()) return fail();
  TimePoint result = date::sys_days(ymd);
  if (s.size() == 10) return result;
  if ((s[10] != 'T' && s[10] != 't' && s[10] != ' ') || !digits(11, 2, h) || s.size() < 19 ||
      s[13] != ':' || !digits(14, 2, mi) || s[16] != ':' || !digits(17, 2, sec) || h > 23 ||
      mi > 59 || sec > 60) {
    return fail();
  }
  // A leap second (":60") is read as the first instant of the next minute.
  result += std::chrono::hours(h) + std::chrono::minutes(mi) + std::chrono::seconds(sec);
  std::size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    std::int64_t micros = 0;
    int scale = 100000;
    const std::size_t first = pos;
    while (pos < s.size() && std::isdigit(static_cast<unsigned char>(s[pos]))) {
      micros += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == first) return fail();
    result += Duration(micros);
  }
  if (pos == s.size()) return fail();  // RFC 3339 requires Z or an offset
  if (s[pos] == 'Z' || s[pos] == 'z') {
    if (pos + 1 != s.size()) return fail();
    return result;
  }
  int oh = 0, om = 0;
  if ((s[pos] != '+' && s[pos] != '-') || !digits(pos + 1, 2, oh) || pos + 3 >= s.size() ||
      s[pos + 3] != ':' || !digits(pos + 4, 2, om) || pos + 6 != s.size() || oh > 23 || om > 59) {
    return fail();
  }
  const auto offset = std::chrono::hours(oh) + std::chrono::minutes(om);
  return s[pos] == '+' ? result - offset : result + offset;
}

}  // namespace core
