// One column of an import: its type, where its value comes from, and the
// rules a value must meet. Convert turns a source value (a CSV field or a
// JSON value) into the column's canonical text, or says why it cannot.
//
// Canonical forms, the same for SQLite and PostgreSQL:
//   text       the text itself (well-formed UTF-8)
//   integer    -123 (64-bit)
//   decimal    -123.450: exact, never through a double; leading zeros and a
//              '+' dropped, the digits after the point kept; "1.5e2" is 150
//   boolean    true / false (from true/false, t/f, yes/no, y/n, 1/0)
//   date       2026-01-31
//   timestamp  2026-01-31T12:00:00.000000Z (UTC); a value without an offset
//              is wall time in the job's time zone (the earlier of a repeated
//              hour; a time the clocks skip is invalid)
//   json       compact JSON
// An empty field, a JSON null and an absent field are NULL.
//
// Violations carry a reason (required, type, min, max, max_length, pattern,
// in, encoding, precision) for the invalid_<reason> metrics and a message
// naming the column: "quantity: expected an integer, got 'abc'".
//
// Any thread; a rule is immutable once read.
#pragma once

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/value.hpp>

#include "config/map_reader.h"
#include "core/time.h"

namespace date {
class time_zone;
}

namespace jobs::sql_import {

enum class ColumnType { kText, kInteger, kDecimal, kBoolean, kDate, kTimestamp, kJson };

std::string_view TypeName(ColumnType type);

// A decimal number held exactly: digits without leading zeros ("0" for
// zero) and how many of them follow the point.
struct Decimal {
  bool negative = false;
  std::string digits = "0";
  int scale = 0;
  // -1, 0, 1 by value (1.50 == 1.5).
  int Compare(const Decimal& other) const;
  std::string ToString() const;
  // Digits from the first to the last non-zero one (what a double keeps).
  int SignificantDigits() const;
};
std::optional<Decimal> ParseDecimal(std::string_view text);

// A source value before conversion.
struct SourceValue {
  enum class Kind { kMissing, kText, kJson };
  Kind kind = Kind::kMissing;
  std::string_view text;                     // kText
  const boost::json::value* json = nullptr;  // kJson
};

struct Violation {
  std::string_view reason;  // "type", "min" ...
  std::string message;
};

// What a conversion depends on beyond the rule.
struct ConvertContext {
  const date::time_zone* zone = nullptr;  // naive timestamps; null: UTC
  // SQLite keeps a decimal as a double: more than 15 significant digits
  // would not come back as they went in, so they are refused.
  bool decimal_as_double = false;
};

struct ColumnRule {
  std::string name;
  ColumnType type = ColumnType::kText;
  std::string from;  // a CSV header, or a dot path into a JSON record
  bool required = false;
  std::optional<std::int64_t> min_integer, max_integer;
  std::optional<Decimal> min_decimal, max_decimal;
  std::optional<std::string> min_text, max_text;  // dates: compared as text
  std::optional<core::TimePoint> min_time, max_time;
  std::optional<std::size_t> max_length;  // text: characters (code points)
  std::optional<std::regex> pattern;      // text: must match whole
  std::string pattern_text;
  // A PostgreSQL numeric(precision, scale) column: more digits would be
  // rounded or refused by the server, so they are a violation here.
  std::optional<std::pair<int, int>> numeric_limit;
  std::vector<std::string> in;  // canonical values
  bool password = false;        // filled by the password settings, not converted

  // Reads `columns.<name>` of the config; problems are reported there.
  static ColumnRule Read(std::string name, config::MapReader& spec);

  // The canonical text of `value` into `out` (nullopt: NULL). On a
  // violation returns false and fills `why`; `out` is then unspecified.
  bool Convert(const SourceValue& value, const ConvertContext& context,
               std::optional<std::string>& out, Violation& why) const;
};

// "2026-01-31T12:00:00", "2026-01-31 12:00", "...Z", "...+01:00", a date
// alone (midnight): the instant, with naive values in `zone` (UTC when
// null). An error says what is wrong.
core::Result<core::TimePoint> ParseTimestamp(std::string_view text, const date::time_zone* zone);

}  // namespace jobs::sql_import
