#include "schedule/schedule.h"

#include <catch2/catch.hpp>

namespace {

using core::FormatRfc3339;
using core::TimePoint;
using schedules::Schedule;

TimePoint At(const char* text) {
  const auto t = core::ParseRfc3339(text);
  REQUIRE(t.has_value());
  return *t;
}

// The next `count` fire times after `from`, in UTC.
std::vector<std::string> Fires(const Schedule& s, const char* from, int count) {
  std::vector<std::string> out;
  TimePoint t = At(from);
  for (int i = 0; i < count; ++i) {
    const auto next = s.NextAfter(t);
    if (!next) break;
    out.push_back(FormatRfc3339(*next));
    t = *next;
  }
  return out;
}

Schedule CronIn(const char* expression, const char* zone) {
  auto expr = schedules::CronExpression::Parse(expression);
  REQUIRE(expr);
  auto tz = schedules::LocateZone(zone);
  REQUIRE(tz);
  return Schedule::Cron(*expr, *tz);
}

using V = std::vector<std::string>;

}  // namespace

TEST_CASE("fixed-time job in a spring-forward gap fires once as the gap ends", "[schedule]") {
  // Europe/Berlin 2026-03-29: 02:00 CET becomes 03:00 CEST (01:00 UTC).
  CHECK(Fires(CronIn("30 2 * * *", "Europe/Berlin"), "2026-03-28T12:00:00Z", 3) ==
        V{"2026-03-29T01:00:00.000000Z", "2026-03-30T00:30:00.000000Z",
          "2026-03-31T00:30:00.000000Z"});
  // Several wall times inside the gap still fire once.
  CHECK(Fires(CronIn("*/20 2 * * *", "Europe/Berlin"), "2026-03-29T00:00:00Z", 2) ==
        V{"2026-03-29T01:00:00.000000Z", "2026-03-30T00:00:00.000000Z"});
}

TEST_CASE("fixed-time job in a fall-back hour fires once, first occurrence", "[schedule]") {
  // Europe/Berlin 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice.
  CHECK(Fires(CronIn("30 2 * * *", "Europe/Berlin"), "2026-10-24T12:00:00Z", 2) ==
        V{"2026-10-25T00:30:00.000000Z", "2026-10-26T01:30:00.000000Z"});
  // Asked from between the two occurrences: the second one is not a fire.
  CHECK(Fires(CronIn("30 2 * * *", "Europe/Berlin"), "2026-10-25T00:45:00Z", 1) ==
        V{"2026-10-26T01:30:00.000000Z"});
}

TEST_CASE("all-hours job fires at every existing wall time", "[schedule]") {
  CHECK(Fires(CronIn("30 * * * *", "Europe/Berlin"), "2026-10-24T23:00:00Z", 4) ==
        V{"2026-10-24T23:30:00.000000Z", "2026-10-25T00:30:00.000000Z",
          "2026-10-25T01:30:00.000000Z", "2026-10-25T02:30:00.000000Z"});
  // Spring forward: local 02:30 does not exist and is skipped.
  CHECK(Fires(CronIn("30 * * * *", "Europe/Berlin"), "2026-03-28T23:45:00Z", 2) ==
        V{"2026-03-29T00:30:00.000000Z", "2026-03-29T01:30:00.000000Z"});
}

TEST_CASE("half-hour DST of Lord Howe", "[schedule]") {
  // Australia/Lord_Howe 2026-10-04: 02:00 +10:30 becomes 02:30 +11 (15:30 UTC on the 3rd).
  CHECK(Fires(CronIn("15 2 * * *", "Australia/Lord_Howe"), "2026-10-03T00:00:00Z", 2) ==
        V{"2026-10-03T15:30:00.000000Z", "2026-10-04T15:15:00.000000Z"});
  // 2026-04-05: 02:00 +11 becomes 01:30 +10:30; 01:45 happens twice, fires once.
  CHECK(Fires(CronIn("45 1 * * *", "Australia/Lord_Howe"), "2026-04-04T00:00:00Z", 2) ==
        V{"2026-04-04T14:45:00.000000Z", "2026-04-05T15:15:00.000000Z"});
}

TEST_CASE("interval schedules align to the epoch", "[schedule]") {
  const Schedule every2h = Schedule::Every(std::chrono::hours(2));
  CHECK(Fires(every2h, "2026-11-22T13:10:00Z", 2) ==
        V{"2026-11-22T14:00:00.000000Z", "2026-11-22T16:00:00.000000Z"});
  const Schedule shifted = Schedule::Every(std::chrono::minutes(5), std::chrono::seconds(42));
  CHECK(Fires(shifted, "2026-11-22T13:00:42Z", 1) == V{"2026-11-22T13:05:42.000000Z"});
  CHECK(Fires(shifted, "2026-11-22T13:00:41.5Z", 1) == V{"2026-11-22T13:00:42.000000Z"});
  CHECK(every2h.Describe() == "every 2h");
  CHECK(shifted.Describe() == "every 5m +42s");
}

TEST_CASE("jitter is stable per job and inside its window", "[schedule]") {
  const auto a = schedules::JitterOffset("openaq", std::chrono::minutes(5));
  CHECK(a == schedules::JitterOffset("openaq", std::chrono::minutes(5)));
  CHECK(a >= core::Duration::zero());
  CHECK(a < std::chrono::minutes(5));
  CHECK(a % std::chrono::seconds(1) == core::Duration::zero());
  CHECK(schedules::JitterOffset("x", core::Duration::zero()) == core::Duration::zero());
  // Different names spread out.
  CHECK(schedules::JitterOffset("a", std::chrono::hours(1)) !=
        schedules::JitterOffset("b", std::chrono::hours(1)));
}

TEST_CASE("cron with jitter and unknown zones", "[schedule]") {
  auto expr = schedules::CronExpression::Parse("0 * * * *");
  REQUIRE(expr);
  const Schedule s = Schedule::Cron(*expr, nullptr, std::chrono::seconds(90));
  CHECK(Fires(s, "2026-11-22T13:00:00Z", 2) ==
        V{"2026-11-22T13:01:30.000000Z", "2026-11-22T14:01:30.000000Z"});
  CHECK(s.Describe() == "cron 0 * * * * +1m30s");
  const auto bad = schedules::LocateZone("Mars/Olympus_Mons");
  REQUIRE_FALSE(bad);
  CHECK_THAT(bad.error().message, Catch::Contains("unknown time zone 'Mars/Olympus_Mons'"));
}

TEST_CASE("a gap fire is found when asked from the second before the change", "[schedule]") {
  // Found by the oracle test: the interval after the change starts at the
  // first instant searched, so the gap's wall times must be looked at there.
  CHECK(Fires(CronIn("30 2 * * *", "Europe/Berlin"), "2026-03-29T00:59:59Z", 1) ==
        V{"2026-03-29T01:00:00.000000Z"});
  CHECK(Fires(CronIn("59 59 1,2 * * *", "Europe/Berlin"), "2026-03-29T00:00:00Z", 3) ==
        V{"2026-03-29T00:59:59.000000Z", "2026-03-29T01:00:00.000000Z",
          "2026-03-29T23:59:59.000000Z"});
  CHECK(Fires(CronIn("0 0 * * *", "America/Santiago"), "2026-09-06T03:59:59Z", 1) ==
        V{"2026-09-06T04:00:00.000000Z"});
}
