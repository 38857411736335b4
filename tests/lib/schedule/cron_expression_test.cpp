#include "schedule/cron_expression.h"

#include <catch2/catch.hpp>

#include "core/time.h"

namespace {

using schedules::CronExpression;

date::local_seconds Local(const char* text) {
  // Reuse the RFC 3339 reader for naive wall times written with a Z.
  const auto t = core::ParseRfc3339(text);
  REQUIRE(t.has_value());
  return date::local_seconds{date::floor<std::chrono::seconds>(t->time_since_epoch())};
}

std::string Next(const char* expression, const char* after) {
  const auto expr = CronExpression::Parse(expression);
  REQUIRE(expr.has_value());
  const auto next = expr->NextMatch(Local(after));
  if (!next) return "never";
  return date::format("%Y-%m-%dT%H:%M:%S", *next);
}

}  // namespace

TEST_CASE("cron next match: fixed cases", "[schedule]") {
  struct Case {
    const char* expression;
    const char* after;
    const char* expected;
  };
  const Case cases[] = {
      {"* * * * *", "2026-01-01T00:00:00Z", "2026-01-01T00:01:00"},
      {"*/15 * * * *", "2026-01-01T00:14:59Z", "2026-01-01T00:15:00"},
      {"0 0 29 2 *", "2025-03-01T00:00:00Z", "2028-02-29T00:00:00"},
      {"0 0 31 * *", "2026-04-01T00:00:00Z", "2026-05-31T00:00:00"},
      {"@yearly", "2026-12-31T23:59:59Z", "2027-01-01T00:00:00"},
      {"@annually", "2027-01-01T00:00:00Z", "2028-01-01T00:00:00"},
      {"@monthly", "2026-02-15T00:00:00Z", "2026-03-01T00:00:00"},
      {"@weekly", "2026-11-22T00:00:00Z", "2026-11-29T00:00:00"},  // Sundays
      {"@daily", "2026-11-22T00:00:00Z", "2026-11-23T00:00:00"},
      {"@hourly", "2026-11-22T10:00:00Z", "2026-11-22T11:00:00"},
      {"0 9 * JAN-mar mon-FRI", "2026-03-31T09:00:00Z", "2027-01-01T09:00:00"},
      {"0 9 * * 7", "2026-11-22T09:00:00Z", "2026-11-29T09:00:00"},  // 7 is Sunday
      {"30 15 10 * *", "2026-11-22T00:00:00Z", "2026-12-10T15:30:00"},
      // Both day fields restricted: either matches (Vixie OR).
      {"0 0 13 * 5", "2026-11-01T00:00:00Z", "2026-11-06T00:00:00"},
      // A day field starting with '*' makes the two fields combine with AND.
      {"0 0 */2 * 1", "2026-11-01T00:00:00Z", "2026-11-09T00:00:00"},
      {"0 0 L * *", "2028-02-01T00:00:00Z", "2028-02-29T00:00:00"},
      {"0 0 L-2 * *", "2026-02-01T00:00:00Z", "2026-02-26T00:00:00"},
      {"0 0 15W * *", "2026-11-01T00:00:00Z", "2026-11-16T00:00:00"},  // 15th is a Sunday
      {"0 0 1W * *", "2026-07-31T00:00:00Z", "2026-08-03T00:00:00"},   // 1st is a Saturday
      {"0 0 LW * *", "2026-05-01T00:00:00Z", "2026-05-29T00:00:00"},   // 31st is a Sunday
      {"0 0 * * 5L", "2026-11-01T00:00:00Z", "2026-11-27T00:00:00"},
      {"0 0 * * MON#2", "2026-11-01T00:00:00Z", "2026-11-09T00:00:00"},
      {"0 0 * * 1#5", "2026-11-01T00:00:00Z", "2026-11-30T00:00:00"},
      {"*/10 * * * * *", "2026-01-01T00:00:05Z", "2026-01-01T00:00:10"},
      {"5 0 0 1 1 *", "2026-01-01T00:00:05Z", "2027-01-01T00:00:05"},
      {"0 12 5/10 * *", "2026-01-06T00:00:00Z", "2026-01-15T12:00:00"},
      {"0 0-23/6 * * *", "2026-01-01T13:00:00Z", "2026-01-01T18:00:00"},
      {"59 23 31 12 *", "2026-12-31T23:59:00Z", "2027-12-31T23:59:00"},
  };
  for (const Case& c : cases) {
    INFO(c.expression << " after " << c.after);
    CHECK(Next(c.expression, c.after) == c.expected);
  }
}

TEST_CASE("cron parse errors name the field and the text", "[schedule]") {
  struct Case {
    const char* expression;
    const char* message;
  };
  const Case cases[] = {
      {"",
       "cron '': expected 5 fields (minute hour day-of-month month day-of-week) or 6 "
       "(second first), got 0"},
      {"* * * *", "cron '* * * *': expected 5 fields"},
      {"60 * * * *", "cron '60 * * * *': minute field '60': 60 is out of range 0-59"},
      {"* 24 * * *", "hour field '24': 24 is out of range 0-23"},
      {"* * 0 * *", "day-of-month field '0': 0 is out of range 1-31"},
      {"* * * 13 *", "month field '13': 13 is out of range 1-12"},
      {"* * * FOO *", "month field 'FOO': 'FOO' is not a valid name or number"},
      {"* * * * 8", "day-of-week field '8': 8 is out of range 0-7"},
      {"5-2 * * * *", "minute field '5-2': range 5-2 runs backwards"},
      {"*/0 * * * *", "minute field '*/0': step 0 is out of range 1-59"},
      {"*/x * * * *", "minute field '*/x': bad step 'x'"},
      {"1,,2 * * * *", "minute field '1,,2': missing a value"},
      {"0 0 30 2 *", "never fires"},
      {"0 0 31 4,6,9,11 *", "never fires"},
      {"@reboot", "@reboot is not a schedule"},
      {"@fortnightly", "unknown macro"},
      {"? * * * *", "'?' is only allowed in day-of-month and day-of-week"},
      {"* * * * MON#6", "'#6' must be #1 to #5"},
      {"* * L-31 * *", "L-31: the offset must be 1 to 30"},
      {"-1 * * * *", "minute field '-1': missing a value"},
  };
  for (const Case& c : cases) {
    INFO(c.expression);
    const auto expr = CronExpression::Parse(c.expression);
    REQUIRE_FALSE(expr.has_value());
    CHECK_THAT(expr.error().message, Catch::Contains(c.message));
  }
}

TEST_CASE("cron hour coverage decides the DST treatment", "[schedule]") {
  CHECK(CronExpression::Parse("0 * * * *")->CoversAllHours());
  CHECK(CronExpression::Parse("*/5 0-23 * * *")->CoversAllHours());
  CHECK_FALSE(CronExpression::Parse("0 */2 * * *")->CoversAllHours());
  CHECK_FALSE(CronExpression::Parse("@daily")->CoversAllHours());
  CHECK(CronExpression::Parse("@daily")->text() == "@daily");
}

TEST_CASE("cron matches", "[schedule]") {
  const auto expr = CronExpression::Parse("30 2 * * MON");
  REQUIRE(expr);
  CHECK(expr->Matches(Local("2026-11-23T02:30:00Z")));
  CHECK_FALSE(expr->Matches(Local("2026-11-24T02:30:00Z")));
  CHECK_FALSE(expr->Matches(Local("2026-11-23T02:30:01Z")));
}
