#include "jobs/sql_import/column_rule.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>

#include <date/date.h>
#include <date/tz.h>
#include <boost/json/serialize.hpp>

#include "core/utf8.h"
#include "json/json_fields.h"

namespace jobs::sql_import {
namespace {

// The value as shown in a message: cut and escaped (it is untrusted text).
std::string Shown(std::string_view text) {
  return "'" + core::EscapeForTerminal(core::CutUtf8(std::string(text), 60)) + "'";
}

bool Digit(char c) { return c >= '0' && c <= '9'; }

std::optional<std::int64_t> ParseInteger(std::string_view text) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  if (text.empty()) return std::nullopt;
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// YYYY-MM-DD, a real calendar day.
bool IsDate(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return false;
  for (std::size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (!Digit(text[i])) return false;
  }
  const int y =
      (text[0] - '0') * 1000 + (text[1] - '0') * 100 + (text[2] - '0') * 10 + (text[3] - '0');
  const unsigned m = unsigned((text[5] - '0') * 10 + (text[6] - '0'));
  const unsigned d = unsigned((text[8] - '0') * 10 + (text[9] - '0'));
  return date::year_month_day(date::year(y), date::month(m), date::day(d)).ok();
}

std::optional<bool> ParseBoolean(std::string_view text) {
  std::string lower(text);
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](char c) { return char(c >= 'A' && c <= 'Z' ? c + 32 : c); });
  if (lower == "true" || lower == "t" || lower == "yes" || lower == "y" || lower == "1")
    return true;
  if (lower == "false" || lower == "f" || lower == "no" || lower == "n" || lower == "0") {
    return false;
  }
  return std::nullopt;
}

std::size_t CodePoints(std::string_view text) {
  return std::size_t(std::count_if(text.begin(), text.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

bool Fail(Violation& why, std::string_view reason, std::string message) {
  why.reason = reason;
  why.message = std::move(message);
  return false;
}

}  // namespace

std::string_view TypeName(ColumnType type) {
  switch (type) {
    case ColumnType::kText:
      return "text";
    case ColumnType::kInteger:
      return "integer";
    case ColumnType::kDecimal:
      return "decimal";
    case ColumnType::kBoolean:
      return "boolean";
    case ColumnType::kDate:
      return "date";
    case ColumnType::kTimestamp:
      return "timestamp";
    case ColumnType::kJson:
      return "json";
  }
  return "text";
}

namespace {

bool AllZeros(std::string_view digits) {
  return digits.find_first_not_of('0') == std::string_view::npos;
}

// The integer digits without leading zeros and the fraction without
// trailing ones: two decimals are equal when both parts are.
std::pair<std::string_view, std::string_view> Parts(const Decimal& d) {
  std::string_view digits = d.digits;
  const std::size_t int_len =
      digits.size() > std::size_t(d.scale) ? digits.size() - std::size_t(d.scale) : 0;
  std::string_view integer = digits.substr(0, int_len);
  std::string_view fraction = digits.substr(int_len);
  while (!integer.empty() && integer.front() == '0') integer.remove_prefix(1);
  while (!fraction.empty() && fraction.back() == '0') fraction.remove_suffix(1);
  // Fewer digits than the scale: the missing ones are leading zeros of the fraction.
  return {integer, fraction};
}

}  // namespace

int Decimal::Compare(const Decimal& other) const {
  const bool zero = AllZeros(digits);
  const bool other_zero = AllZeros(other.digits);
  if (zero && other_zero) return 0;
  const bool neg = negative && !zero;
  const bool other_neg = other.negative && !other_zero;
  if (neg != other_neg) return neg ? -1 : 1;
  auto [integer, fraction] = Parts(*this);
  auto [other_integer, other_fraction] = Parts(other);
  std::string padded, other_padded;  // fractions with their leading zeros back
  padded.assign(std::size_t(scale) > digits.size() ? std::size_t(scale) - digits.size() : 0, '0');
  padded += fraction;
  other_padded.assign(std::size_t(other.scale) > other.digits.size()
                          ? std::size_t(other.scale) - other.digits.size()
                          : 0,
                      '0');
  other_padded += other_fraction;
  int magnitude = 0;
  if (integer.size() != other_integer.size()) {
    magnitude = integer.size() < other_integer.size() ? -1 : 1;
  } else if (int c = integer.compare(other_integer); c != 0) {
    magnitude = c < 0 ? -1 : 1;
  } else if (int f = std::string_view(padded).compare(other_padded); f != 0) {
    magnitude = f < 0 ? -1 : 1;
  }
  return neg ? -magnitude : magnitude;
}

std::string Decimal::ToString() const {
  std::string out;
  if (negative && !AllZeros(digits)) out += '-';
  if (scale == 0) return out + digits;
  if (int(digits.size()) <= scale) {
    out += "0.";
    out.append(std::size_t(scale) - digits.size(), '0');
    return out + digits;
  }
  const std::size_t point = digits.size() - std::size_t(scale);
  out.append(digits, 0, point);
  out += '.';
  out.append(digits, point);
  return out;
}

int Decimal::SignificantDigits() const {
  const std::size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) return 0;
  const std::size_t last = digits.find_last_not_of('0');
  return int(last - first + 1);
}

std::optional<Decimal> ParseDecimal(std::string_view text) {
  Decimal out;
  std::size_t i = 0;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) out.negative = text[i++] == '-';
  std::string digits;
  int scale = 0;
  bool any = false;
  for (; i < text.size() && Digit(text[i]); ++i, any = true) digits += text[i];
  if (i < text.size() && text[i] == '.') {
    for (++i; i < text.size() && Digit(text[i]); ++i, any = true, ++scale) digits += text[i];
  }
  if (!any) return std::nullopt;
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    ++i;
    std::string_view exponent_text = text.substr(i);
    if (!exponent_text.empty() && exponent_text.front() == '+') exponent_text.remove_prefix(1);
    int exponent = 0;
    const auto [end, ec] = std::from_chars(exponent_text.data(),
                                           exponent_text.data() + exponent_text.size(), exponent);
    if (ec != std::errc() || end != exponent_text.data() + exponent_text.size() ||
        exponent_text.empty() || std::abs(exponent) > 1000) {
      return std::nullopt;
    }
    scale -= exponent;
    i = text.size();
    if (scale < 0) {
      digits.append(std::size_t(-scale), '0');
      scale = 0;
    }
  }
  if (i != text.size()) return std::nullopt;
  // Leading zeros of the integer part go; the digits after the point stay.
  const std::size_t int_len =
      digits.size() > std::size_t(scale) ? digits.size() - std::size_t(scale) : 0;
  std::size_t drop = 0;
  while (drop < int_len && digits[drop] == '0') ++drop;
  digits.erase(0, drop);
  if (digits.empty()) digits = "0";
  out.digits = std::move(digits);
  out.scale = scale;
  if (AllZeros(out.digits)) out.negative = false;
  return out;
}

core::Result<core::TimePoint> ParseTimestamp(std::string_view text, const date::time_zone* zone) {
  auto bad = [&](std::string_view why) {
    return core::Unexpected(core::InvalidArgument(std::string(why)));
  };
  if (text.size() < 10 || !IsDate(text.substr(0, 10))) {
    return bad("expected a timestamp like 2026-01-31T12:00:00Z");
  }
  auto number = [&](std::size_t at, std::size_t n) {
    int v = 0;
    for (std::size_t k = 0; k < n; ++k) v = v * 10 + (text[at + k] - '0');
    return v;
  };
  const int year = number(0, 4);
  const unsigned month = unsigned(number(5, 2));
  const unsigned day = unsigned(number(8, 2));
  int hour = 0, minute = 0, second = 0;
  std::int64_t micros = 0;
  std::size_t i = 10;
  if (i < text.size()) {
    if (text[i] != 'T' && text[i] != 't' && text[i] != ' ') {
      return bad("expected a timestamp like 2026-01-31T12:00:00Z");
    }
    ++i;
    if (i + 5 > text.size() || !Digit(text[i]) || !Digit(text[i + 1]) || text[i + 2] != ':' ||
        !Digit(text[i + 3]) || !Digit(text[i + 4])) {
      return bad("expected a time of day like 12:00:00 after the date");
    }
    hour = number(i, 2);
    minute = number(i + 3, 2);
    i += 5;
    if (i < text.size() && text[i] == ':') {
      if (i + 3 > text.size() || !Digit(text[i + 1]) || !Digit(text[i + 2])) {
        return bad("expected seconds after the minutes");
      }
      second = number(i + 1, 2);
      i += 3;
      if (i < text.size() && (text[i] == '.' || text[i] == ',')) {
        ++i;
        int places = 0;
        for (; i < text.size() && Digit(text[i]); ++i, ++places) {
          if (places < 6) micros = micros * 10 + (text[i] - '0');
        }
        if (places == 0) return bad("expected digits after the decimal point of the seconds");
        for (; places < 6; ++places) micros *= 10;
      }
    }
    if (hour > 23 || minute > 59 || second > 59) return bad("the time of day is out of range");
  }
  using namespace std::chrono;
  const auto days =
      date::sys_days(date::year_month_day(date::year(year), date::month(month), date::day(day)));
  const auto since_midnight =
      hours(hour) + minutes(minute) + seconds(second) + microseconds(micros);
  if (i == text.size()) {
    // Naive: wall time in the zone.
    if (zone == nullptr) return core::TimePoint(days.time_since_epoch() + since_midnight);
    const date::local_time<microseconds> local(days.time_since_epoch() + since_midnight);
    const date::local_info info = zone->get_info(date::floor<seconds>(local));
    if (info.result == date::local_info::nonexistent) {
      return bad("does not exist in " + std::string(zone->name()) + " (the clocks skip that hour)");
    }
    return core::TimePoint(local.time_since_epoch() - info.first.offset);
  }
  int offset_minutes = 0;
  if (text[i] == 'Z' || text[i] == 'z') {
    ++i;
  } else if (text[i] == '+' || text[i] == '-') {
    const int sign = text[i] == '-' ? -1 : 1;
    ++i;
    if (i + 2 > text.size() || !Digit(text[i]) || !Digit(text[i + 1])) {
      return bad("expected an offset like +01:00");
    }
    int oh = number(i, 2), om = 0;
    i += 2;
    if (i < text.size() && text[i] == ':') ++i;
    if (i + 2 <= text.size() && Digit(text[i]) && Digit(text[i + 1])) {
      om = number(i, 2);
      i += 2;
    }
    if (oh > 23 || om > 59) return bad("the offset is out of range");
    offset_minutes = sign * (oh * 60 + om);
  }
  if (i != text.size()) return bad("unexpected text after the timestamp");
  return core::TimePoint(days.time_since_epoch() + since_midnight - minutes(offset_minutes));
}

ColumnRule ColumnRule::Read(std::string name, config::MapReader& spec) {
  ColumnRule rule;
  rule.name = std::move(name);
  rule.type = spec.Enum<ColumnType>("type",
                                    {{"text", ColumnType::kText},
                                     {"integer", ColumnType::kInteger},
                                     {"decimal", ColumnType::kDecimal},
                                     {"boolean", ColumnType::kBoolean},
                                     {"date", ColumnType::kDate},
                                     {"timestamp", ColumnType::kTimestamp},
                                     {"json", ColumnType::kJson}},
                                    config::Need::kRequired)
                  .value_or(ColumnType::kText);
  rule.from = spec.String("from").value_or(rule.name);
  if (rule.from.empty()) spec.Report("from", "is empty");
  rule.required = spec.Bool("required").value_or(false);

  const std::string_view type = TypeName(rule.type);
  for (const char* bound : {"min", "max"}) {
    const std::optional<std::string> text = spec.String(bound);
    if (!text) continue;
    const bool is_min = bound[1] == 'i';
    switch (rule.type) {
      case ColumnType::kInteger:
        if (auto v = ParseInteger(*text)) {
          (is_min ? rule.min_integer : rule.max_integer) = *v;
        } else {
          spec.Report(bound, "expected a whole number for an integer column, got '" + *text + "'");
        }
        break;
      case ColumnType::kDecimal:
        if (auto v = ParseDecimal(*text)) {
          (is_min ? rule.min_decimal : rule.max_decimal) = *v;
        } else {
          spec.Report(bound, "expected a number, got '" + *text + "'");
        }
        break;
      case ColumnType::kDate:
        if (IsDate(*text)) {
          (is_min ? rule.min_text : rule.max_text) = *text;
        } else {
          spec.Report(bound, "expected a date like 2026-01-31, got '" + *text + "'");
        }
        break;
      case ColumnType::kTimestamp:
        if (auto t = core::ParseRfc3339(*text); t && text->size() > 10) {
          (is_min ? rule.min_time : rule.max_time) = *t;
        } else {
          spec.Report(bound, "expected a time with an offset like 2026-01-31T00:00:00Z, got '" +
                                 *text + "'");
        }
        break;
      default:
        spec.Report(bound, "applies to integer, decimal, date and timestamp columns, not " +
                               std::string(type) + " (text has max_length)");
    }
  }
  if (rule.min_integer && rule.max_integer && *rule.min_integer > *rule.max_integer) {
    spec.Report("max", "is below min");
  }
  if (rule.min_decimal && rule.max_decimal && rule.min_decimal->Compare(*rule.max_decimal) > 0) {
    spec.Report("max", "is below min");
  }
  if (auto length = spec.Int("max_length", 1, std::int64_t(1) << 30)) {
    if (rule.type != ColumnType::kText) {
      spec.Report("max_length", "applies to text columns only");
    }
    rule.max_length = std::size_t(*length);
  }
  if (auto pattern = spec.String("pattern")) {
    if (rule.type != ColumnType::kText) spec.Report("pattern", "applies to text columns only");
    try {
      rule.pattern.emplace(*pattern, std::regex::ECMAScript | std::regex::optimize);
      rule.pattern_text = *pattern;
    } catch (const std::regex_error& e) {
      spec.Report("pattern", "is not a regular expression (" + std::string(e.what()) + ")");
    }
  }
  if (auto in = spec.StringList("in")) {
    if (in->empty()) spec.Report("in", "expected at least one value");
    if (rule.type == ColumnType::kTimestamp || rule.type == ColumnType::kJson) {
      spec.Report("in", "applies to text, integer, decimal, boolean and date columns");
    }
    // Each allowed value in its canonical form, so "1.50" allows 1.5.
    ColumnRule plain;
    plain.name = rule.name;
    plain.type = rule.type;
    for (const std::string& value : *in) {
      std::optional<std::string> canonical;
      Violation why;
      SourceValue source{SourceValue::Kind::kText, value, nullptr};
      if (!plain.Convert(source, {}, canonical, why) || !canonical) {
        spec.Report("in", "'" + value + "' is not a " + std::string(type) + " value");
        continue;
      }
      rule.in.push_back(*canonical);
    }
    std::sort(rule.in.begin(), rule.in.end());
    rule.in.erase(std::unique(rule.in.begin(), rule.in.end()), rule.in.end());
  }
  return rule;
}

bool ColumnRule::Convert(const SourceValue& value, const ConvertContext& context,
                         std::optional<std::string>& out, Violation& why) const {
  // Text of the value when it came as text (CSV, a JSON string), else null.
  std::optional<std::string_view> text;
  const boost::json::value* json = nullptr;
  if (value.kind == SourceValue::Kind::kText) {
    if (!value.text.empty()) text = value.text;
  } else if (value.kind == SourceValue::Kind::kJson && value.json && !value.json->is_null()) {
    if (value.json->is_string()) {
      const boost::json::string& s = value.json->get_string();
      if (!s.empty()) text = std::string_view(s.data(), s.size());
    } else {
      json = value.json;
    }
  }
  if (!text && json == nullptr) {
    out.reset();
    if (required) return Fail(why, "required", name + ": missing");
    return true;
  }
  auto wrong = [&](std::string_view expected) {
    return Fail(why, "type",
                name + ": expected " + std::string(expected) + ", got " +
                    (text ? Shown(*text) : std::string(json::KindName(*json))));
  };

  switch (type) {
    case ColumnType::kText: {
      if (json) {
        if (json->is_object() || json->is_array()) return wrong("text");
        out = boost::json::serialize(*json);
        break;
      }
      if (!core::IsValidUtf8(*text)) {
        return Fail(why, "encoding",
                    name + ": not valid UTF-8 (is the file latin-1? set encoding)");
      }
      if (max_length && text->size() > *max_length && CodePoints(*text) > *max_length) {
        return Fail(why, "max_length",
                    name + ": " + std::to_string(CodePoints(*text)) + " characters, at most " +
                        std::to_string(*max_length) + " allowed");
      }
      if (pattern && !std::regex_match(text->begin(), text->end(), *pattern)) {
        return Fail(why, "pattern", name + ": " + Shown(*text) + " does not match " + pattern_text);
      }
      out.emplace(*text);
      break;
    }
    case ColumnType::kInteger: {
      std::optional<std::int64_t> v;
      if (text) {
        v = ParseInteger(*text);
      } else if (json->is_int64()) {
        v = json->get_int64();
      } else if (json->is_uint64() && json->get_uint64() <= std::uint64_t(INT64_MAX)) {
        v = std::int64_t(json->get_uint64());
      } else if (json->is_double() && std::trunc(json->get_double()) == json->get_double() &&
                 std::fabs(json->get_double()) <= 9007199254740992.0) {
        v = std::int64_t(json->get_double());
      }
      if (!v) return wrong("an integer");
      if (min_integer && *v < *min_integer) {
        return Fail(why, "min",
                    name + ": " + std::to_string(*v) + " is below the minimum " +
                        std::to_string(*min_integer));
      }
      if (max_integer && *v > *max_integer) {
        return Fail(why, "max",
                    name + ": " + std::to_string(*v) + " is above the maximum " +
                        std::to_string(*max_integer));
      }
      out = std::to_string(*v);
      break;
    }
    case ColumnType::kDecimal: {
      std::optional<Decimal> v;
      if (text) {
        v = ParseDecimal(*text);
      } else if (json->is_int64()) {
        v = ParseDecimal(std::to_string(json->get_int64()));
      } else if (json->is_uint64()) {
        v = ParseDecimal(std::to_string(json->get_uint64()));
      } else if (json->is_double()) {
        // The parser has made the number a double already: its shortest
        // text is the literal sent as long as that had at most 15
        // significant digits; longer ones cannot be trusted.
        char buffer[32];
        const auto [end, ec] = std::to_chars(buffer, buffer + sizeof buffer, json->get_double());
        if (ec == std::errc())
          v = ParseDecimal(std::string_view(buffer, std::size_t(end - buffer)));
        if (v && v->SignificantDigits() > 15) {
          return Fail(why, "precision",
                      name +
                          ": a JSON number with more than 15 significant digits cannot be read "
                          "exactly (send it as a string)");
        }
      }
      if (!v) return wrong("a decimal number");
      if (context.decimal_as_double && v->SignificantDigits() > 15) {
        return Fail(why, "precision",
                    name + ": " + v->ToString() +
                        " has more than 15 significant digits, which SQLite cannot keep exactly");
      }
      if (numeric_limit) {
        const auto [precision, scale] = *numeric_limit;
        const int integer_digits =
            int(v->digits.size()) > v->scale ? int(v->digits.size()) - v->scale : 0;
        const bool zero_integer =
            integer_digits == 0 ||
            AllZeros(std::string_view(v->digits).substr(0, std::size_t(integer_digits)));
        int significant_scale = v->scale;  // 12.50 fits numeric(4,1)
        for (std::size_t i = v->digits.size();
             significant_scale > 0 && i > 0 && v->digits[i - 1] == '0'; --i) {
          --significant_scale;
        }
        if (significant_scale > scale || (!zero_integer && integer_digits > precision - scale)) {
          return Fail(why, "precision",
                      name + ": " + v->ToString() + " does not fit the column's numeric(" +
                          std::to_string(precision) + "," + std::to_string(scale) + ")");
        }
      }
      if (min_decimal && v->Compare(*min_decimal) < 0) {
        return Fail(
            why, "min",
            name + ": " + v->ToString() + " is below the minimum " + min_decimal->ToString());
      }
      if (max_decimal && v->Compare(*max_decimal) > 0) {
        return Fail(
            why, "max",
            name + ": " + v->ToString() + " is above the maximum " + max_decimal->ToString());
      }
      out = v->ToString();
      break;
    }
    case ColumnType::kBoolean: {
      std::optional<bool> v;
      if (text) {
        v = ParseBoolean(*text);
      } else if (json->is_bool()) {
        v = json->get_bool();
      } else if (json->is_int64() && (json->get_int64() == 0 || json->get_int64() == 1)) {
        v = json->get_int64() == 1;
      }
      if (!v) return wrong("a boolean (true or false)");
      out = *v ? "true" : "false";
      break;
    }
    case ColumnType::kDate: {
      if (!text || !IsDate(*text)) return wrong("a date like 2026-01-31");
      if (min_text && *text < *min_text) {
        return Fail(why, "min",
                    name + ": " + std::string(*text) + " is before the minimum " + *min_text);
      }
      if (max_text && *text > *max_text) {
        return Fail(why, "max",
                    name + ": " + std::string(*text) + " is after the maximum " + *max_text);
      }
      out.emplace(*text);
      break;
    }
    case ColumnType::kTimestamp: {
      if (!text) return wrong("a timestamp like 2026-01-31T12:00:00Z");
      auto t = ParseTimestamp(*text, context.zone);
      if (!t) return Fail(why, "type", name + ": " + Shown(*text) + " " + t.error().message);
      if (min_time && *t < *min_time) {
        return Fail(why, "min",
                    name + ": " + core::FormatRfc3339(*t) + " is before the minimum " +
                        core::FormatRfc3339(*min_time));
      }
      if (max_time && *t > *max_time) {
        return Fail(why, "max",
                    name + ": " + core::FormatRfc3339(*t) + " is after the maximum " +
                        core::FormatRfc3339(*max_time));
      }
      out = core::FormatRfc3339(*t);
      break;
    }
    case ColumnType::kJson: {
      if (json) {
        out = boost::json::serialize(*json);
        break;
      }
      if (value.kind == SourceValue::Kind::kJson) {
        // A JSON string is a JSON value of its own.
        out = boost::json::serialize(*value.json);
        break;
      }
      auto parsed = json::Parse(*text);
      if (!parsed) return wrong("JSON");
      out = boost::json::serialize(*parsed);
      break;
    }
  }
  if (!in.empty() && !std::binary_search(in.begin(), in.end(), *out)) {
    std::string allowed;
    for (const std::string& v : in) allowed += (allowed.empty() ? "" : ", ") + v;
    return Fail(why, "in", name + ": " + Shown(*out) + " is not one of " + allowed);
  }
  return true;
}

}  // namespace jobs::sql_import
