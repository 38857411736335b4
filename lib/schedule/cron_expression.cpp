#include "schedule/cron_expression.h"

#include <bit>
#include <cctype>
#include <charconv>
#include <vector>

namespace schedules {
namespace {

using core::Unexpected;

// One cron field's rules: its name for messages, its range and its names.
struct FieldSpec {
  const char* name;
  int min;
  int max;
  const char* const* names;  // names[i] is value min+i (months) or i (weekdays)
  int name_count;
};

constexpr const char* kMonthNames[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN",
                                       "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
constexpr const char* kWeekdayNames[] = {"SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"};

constexpr FieldSpec kSecond{"second", 0, 59, nullptr, 0};
constexpr FieldSpec kMinute{"minute", 0, 59, nullptr, 0};
constexpr FieldSpec kHour{"hour", 0, 23, nullptr, 0};
constexpr FieldSpec kDayOfMonth{"day-of-month", 1, 31, nullptr, 0};
constexpr FieldSpec kMonth{"month", 1, 12, kMonthNames, 12};
// 7 is accepted as Sunday and folded onto 0 when the bits are set.
constexpr FieldSpec kDayOfWeek{"day-of-week", 0, 7, kWeekdayNames, 7};

struct Macro {
  std::string_view name;
  std::string_view expansion;
};
constexpr Macro kMacros[] = {
    {"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"}, {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

// Index of the lowest set bit at or above `from`, or -1.
int NextBit(std::uint64_t mask, int from) {
  if (from >= 64) return -1;
  const std::uint64_t rest = mask & (~std::uint64_t{0} << from);
  return rest == 0 ? -1 : std::countr_zero(rest);
}

std::string Upper(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

std::vector<std::string_view> Split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    const std::size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

// Parses one field; collects the error text in `error` (empty on success).
class FieldParser {
 public:
  FieldParser(const FieldSpec& spec, std::string_view text) : spec_(spec), text_(text) {}

  const std::string& error() const { return error_; }

  // A number or a name; false (with error_ set) when it is neither or out of range.
  bool Value(std::string_view token, int& out) {
    if (token.empty()) return Fail("missing a value");
    if (std::isdigit(static_cast<unsigned char>(token.front()))) {
      auto [ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), out);
      if (ec != std::errc() || ptr != token.data() + token.size()) {
        return Fail("'" + std::string(token) + "' is not a number");
      }
    } else {
      const std::string upper = Upper(token);
      int found = -1;
      for (int i = 0; i < spec_.name_count; ++i) {
        if (upper == spec_.names[i]) found = i;
      }
      if (found < 0) {
        return Fail("'" + std::string(token) + "' is not a " +
                    (spec_.names ? "valid name or number" : "number"));
      }
      out = spec_.names == kMonthNames ? found + 1 : found;
    }
    if (out < spec_.min || out > spec_.max) {
      return Fail(std::to_string(out) + " is out of range " + std::to_string(spec_.min) + "-" +
                  std::to_string(spec_.max));
    }
    return true;
  }

  // "*", "a", "a-b", each with an optional "/step"; "a/step" runs to the maximum.
  bool Range(std::string_view item, std::uint64_t& bits) {
    std::string_view base = item;
    int step = 1;
    if (const auto slash = item.find('/'); slash != std::string_view::npos) {
      base = item.substr(0, slash);
      const std::string_view step_text = item.substr(slash + 1);
      auto [ptr, ec] = std::from_chars(step_text.data(), step_text.data() + step_text.size(), step);
      if (step_text.empty() || ec != std::errc() || ptr != step_text.data() + step_text.size()) {
        return Fail("bad step '" + std::string(step_text) + "'");
      }
      if (step < 1 || step > spec_.max) {
        return Fail("step " + std::to_string(step) + " is out of range 1-" +
                    std::to_string(spec_.max));
      }
    }
    int low = spec_.min;
    int high = spec_.max;
    if (base == "*" || base == "?") {
      if (&spec_ == &kDayOfWeek) high = 6;  // "*" is every day once, not Sunday twice
    } else if (const auto dash = base.find('-'); dash != std::string_view::npos) {
      if (!Value(base.substr(0, dash), low) || !Value(base.substr(dash + 1), high)) return false;
      if (low > high) {
        return Fail("range " + std::string(base) + " runs backwards (write it as two ranges)");
      }
    } else {
      if (!Value(base, low)) return false;
      if (base.size() == item.size()) high = low;  // a single value unless a step follows
    }
    for (int v = low; v <= high; v += step) {
      bits |= std::uint64_t{1} << (&spec_ == &kDayOfWeek ? v % 7 : v);
    }
    return true;
  }

  bool Fail(std::string message) {
    error_ = std::string(spec_.name) + " field '" + std::string(text_) + "': " + message;
    return false;
  }

 private:
  const FieldSpec& spec_;
  std::string_view text_;
  std::string error_;
};

bool IsUnrestricted(std::string_view field) {
  return !field.empty() && (field.front() == '*' || field.front() == '?');
}

}  // namespace

core::Result<CronExpression> CronExpression::Parse(std::string_view text) {
  const std::string original(text);
  auto fail = [&](const std::string& message) {
    return Unexpected(core::InvalidArgument("cron '" + original + "': " + message));
  };

  std::vector<std::string_view> fields;
  std::string expanded;
  {
    std::size_t i = 0;
    while (i < text.size()) {
      while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i]))) ++i;
      const std::size_t start = i;
      while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) ++i;
      if (i > start) fields.push_back(text.substr(start, i - start));
    }
  }
  if (fields.size() == 1 && fields[0].front() == '@') {
    const std::string name = Upper(fields[0]);
    for (const Macro& macro : kMacros) {
      if (Upper(macro.name) == name) expanded = macro.expansion;
    }
    if (expanded.empty()) {
      if (name == "@REBOOT") {
        return fail(
            "@reboot is not a schedule; leave out cron and every and start the job "
            "with `jobsd once` or after another job");
      }
      return fail(
          "unknown macro (known: @yearly @annually @monthly @weekly @daily @midnight @hourly)");
    }
    fields = Split(expanded, ' ');
  }
  if (fields.size() != 5 && fields.size() != 6) {
    return fail(
        "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (second "
        "first), got " +
        std::to_string(fields.size()));
  }

  CronExpression expr;
  expr.text_ = original;
  const bool has_seconds = fields.size() == 6;
  const std::size_t first = has_seconds ? 1 : 0;

  auto parse_plain = [&](const FieldSpec& spec, std::string_view field,
                         std::uint64_t& bits) -> std::string {
    FieldParser parser(spec, field);
    for (std::string_view item : Split(field, ',')) {
      if ((item == "?" && &spec != &kDayOfMonth && &spec != &kDayOfWeek)) {
        parser.Fail("'?' is only allowed in day-of-month and day-of-week");
        return parser.error();
      }
      if (!parser.Range(item, bits)) return parser.error();
    }
    return {};
  };

  std::uint64_t bits = 0;
  if (has_seconds) {
    if (auto error = parse_plain(kSecond, fields[0], bits); !error.empty()) return fail(error);
    expr.seconds_ = bits;
  }
  bits = 0;
  if (auto error = parse_plain(kMinute, fields[first], bits); !error.empty()) return fail(error);
  expr.minutes_ = bits;
  bits = 0;
  if (auto error = parse_plain(kHour, fields[first + 1], bits); !error.empty()) return fail(error);
  expr.hours_ = static_cast<std::uint32_t>(bits);
  bits = 0;
  if (auto error = parse_plain(kMonth, fields[first + 3], bits); !error.empty()) return fail(error);
  expr.months_ = static_cast<std::uint16_t>(bits);

  // Day of month: plain items plus L, L-n, nW, LW.
  const std::string_view dom_field = fields[first + 2];
  {
    FieldParser parser(kDayOfMonth, dom_field);
    std::uint64_t dom_bits = 0;
    for (std::string_view item : Split(dom_field, ',')) {
      const std::string upper = Upper(item);
      if (upper == "L") {
        expr.dom_last_ = true;
      } else if (upper == "LW") {
        expr.dom_last_weekday_ = true;
      } else if (upper.size() > 2 && upper.compare(0, 2, "L-") == 0) {
        int n = 0;
        if (!parser.Value(item.substr(2), n)) return fail(parser.error());
        if (n > 30) {
          parser.Fail("L-" + std::to_string(n) + ": the offset must be 1 to 30");
          return fail(parser.error());
        }
        expr.dom_last_offsets_ |= 1u << n;
      } else if (upper.size() > 1 && upper.back() == 'W') {
        int n = 0;
        if (!parser.Value(item.substr(0, item.size() - 1), n)) return fail(parser.error());
        expr.dom_nearest_weekday_ |= 1u << n;
      } else if (!parser.Range(item, dom_bits)) {
        return fail(parser.error());
      }
    }
    expr.dom_ = static_cast<std::uint32_t>(dom_bits);
  }

  // Day of week: plain items plus nL and n#k.
  const std::string_view dow_field = fields[first + 4];
  {
    FieldParser parser(kDayOfWeek, dow_field);
    std::uint64_t dow_bits = 0;
    for (std::string_view item : Split(dow_field, ',')) {
      if (const auto hash = item.find('#'); hash != std::string_view::npos) {
        int weekday = 0;
        int nth = 0;
        if (!parser.Value(item.substr(0, hash), weekday)) return fail(parser.error());
        const std::string_view nth_text = item.substr(hash + 1);
        auto [ptr, ec] = std::from_chars(nth_text.data(), nth_text.data() + nth_text.size(), nth);
        if (nth_text.empty() || ec != std::errc() || ptr != nth_text.data() + nth_text.size() ||
            nth < 1 || nth > 5) {
          parser.Fail("'#" + std::string(nth_text) + "' must be #1 to #5");
          return fail(parser.error());
        }
        expr.dow_nth_[static_cast<std::size_t>(weekday % 7)] |=
            static_cast<std::uint8_t>(1u << nth);
      } else if (item.size() > 1 && (item.back() == 'L' || item.back() == 'l')) {
        int weekday = 0;
        if (!parser.Value(item.substr(0, item.size() - 1), weekday)) return fail(parser.error());
        expr.dow_last_ |= static_cast<std::uint8_t>(1u << (weekday % 7));
      } else if (!parser.Range(item, dow_bits)) {
        return fail(parser.error());
      }
    }
    expr.dow_ = static_cast<std::uint8_t>(dow_bits);
  }

  expr.dom_restricted_ = !IsUnrestricted(dom_field);
  expr.dow_restricted_ = !IsUnrestricted(dow_field);

  // An expression that can never fire ("0 0 30 2 *") is a mistake worth
  // reporting at load time rather than a job that silently never runs.
  if (!expr.NextMatch(date::local_days(date::year(2000) / 1 / 1))) {
    return fail("never fires (no day matches: check day-of-month against month)");
  }
  return expr;
}

std::uint32_t CronExpression::DayMask(date::year_month ym) const {
  const unsigned last = static_cast<unsigned>((ym / date::last).day());
  const auto month_days =
      static_cast<std::uint32_t>(((std::uint64_t{1} << (last + 1)) - 1) & ~std::uint64_t{1});
  // c_encoding: Sunday is 0, like cron.
  const unsigned first_weekday = date::weekday(date::sys_days(ym / 1)).c_encoding();
  const unsigned last_weekday = (first_weekday + last - 1) % 7;

  std::uint32_t dom = dom_;
  if (dom_last_) dom |= 1u << last;
  for (std::uint32_t offsets = dom_last_offsets_; offsets != 0; offsets &= offsets - 1) {
    const unsigned n = static_cast<unsigned>(std::countr_zero(offsets));
    if (n < last) dom |= 1u << (last - n);
  }
  auto weekday_of = [&](unsigned day) { return (first_weekday + day - 1) % 7; };
  // Nearest weekday to day n without leaving the month.
  for (std::uint32_t days = dom_nearest_weekday_; days != 0; days &= days - 1) {
    unsigned n = static_cast<unsigned>(std::countr_zero(days));
    if (n > last) continue;
    const unsigned wd = weekday_of(n);
    if (wd == 6)
      n = n > 1 ? n - 1 : n + 2;
    else if (wd == 0)
      n = n < last ? n + 1 : n - 2;
    dom |= 1u << n;
  }
  if (dom_last_weekday_) {
    dom |= 1u << (last_weekday == 6 ? last - 1 : last_weekday == 0 ? last - 2 : last);
  }

  std::uint32_t dow = 0;
  for (unsigned day = 1; day <= 7 && day <= last; ++day) {
    if (dow_ & (1u << weekday_of(day))) {
      for (unsigned d = day; d <= last; d += 7) dow |= 1u << d;
    }
  }
  for (unsigned wd = 0; wd < 7; ++wd) {
    if (dow_last_ & (1u << wd)) dow |= 1u << (last - (last_weekday + 7 - wd) % 7);
    const unsigned first_day = 1 + (wd + 7 - first_weekday) % 7;
    for (unsigned nth = 1; nth <= 5; ++nth) {
      const unsigned day = first_day + 7 * (nth - 1);
      if ((dow_nth_[wd] & (1u << nth)) && day <= last) dow |= 1u << day;
    }
  }

  dom &= month_days;
  dow &= month_days;
  if (dom_restricted_ && dow_restricted_) return dom | dow;
  return dom & dow;
}

std::optional<date::local_seconds> CronExpression::NextMatch(date::local_seconds after) const {
  using std::chrono::seconds;
  const date::local_seconds start = after + seconds(1);
  const date::local_days start_day = date::floor<date::days>(start);
  int second_of_day = static_cast<int>((start - start_day).count());

  const date::year_month_day ymd{start_day};
  int year = static_cast<int>(ymd.year());
  unsigned month = static_cast<unsigned>(ymd.month());
  unsigned day = static_cast<unsigned>(ymd.day());
  const int last_year = year + 400;

  while (year <= last_year) {
    if (!(months_ & (1u << month))) {
      const int next = NextBit(months_, static_cast<int>(month) + 1);
      if (next < 0) {
        ++year;
        month = static_cast<unsigned>(NextBit(months_, 1));
      } else {
        month = static_cast<unsigned>(next);
      }
      day = 1;
      second_of_day = 0;
      continue;
    }
    const date::year_month ym{date::year(year), date::month(month)};
    const int next_day = NextBit(DayMask(ym), static_cast<int>(day));
    if (next_day < 0) {
      if (++month > 12) {
        month = 1;
        ++year;
      }
      day = 1;
      second_of_day = 0;
      continue;
    }
    if (static_cast<unsigned>(next_day) != day) {
      day = static_cast<unsigned>(next_day);
      second_of_day = 0;
    }
    // The first matching time of day at or after second_of_day.
    const int h0 = second_of_day / 3600;
    const int m0 = second_of_day / 60 % 60;
    const int s0 = second_of_day % 60;
    for (int h = NextBit(hours_, h0); h >= 0; h = NextBit(hours_, h + 1)) {
      for (int m = NextBit(minutes_, h == h0 ? m0 : 0); m >= 0; m = NextBit(minutes_, m + 1)) {
        const int s = NextBit(seconds_, h == h0 && m == m0 ? s0 : 0);
        if (s >= 0) {
          return date::local_days(ym / date::day(day)) + std::chrono::hours(h) +
                 std::chrono::minutes(m) + seconds(s);
        }
      }
    }
    // Nothing left today: the next day, from midnight (the day mask may move
    // us into the next month, handled at the top of the loop).
    ++day;
    second_of_day = 0;
    if (day > static_cast<unsigned>((ym / date::last).day())) {
      day = 1;
      if (++month > 12) {
        month = 1;
        ++year;
      }
    }
  }
  return std::nullopt;
}

bool CronExpression::Matches(date::local_seconds t) const {
  const auto next = NextMatch(t - std::chrono::seconds(1));
  return next && *next == t;
}

}  // namespace schedules
