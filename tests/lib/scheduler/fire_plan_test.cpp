#include "scheduler/fire_plan.h"

#include <catch2/catch.hpp>

namespace {

using namespace std::chrono_literals;
using scheduler::FirePlan;
using scheduler::Firing;
using store::Trigger;

core::TimePoint At(const char* text) {
  auto t = core::ParseRfc3339(text);
  REQUIRE(t);
  return *t;
}

FirePlan::JobTiming Every(core::Duration period,
                          config::Misfire misfire = config::Misfire::kRunOnce,
                          core::Duration grace = 1h) {
  return FirePlan::JobTiming{schedules::Schedule::Every(period), misfire, grace};
}

FirePlan::JobTiming Cron(const char* expression, const char* zone,
                         config::Misfire misfire = config::Misfire::kRunOnce,
                         core::Duration grace = 1h) {
  auto expr = schedules::CronExpression::Parse(expression);
  REQUIRE(expr);
  auto tz = schedules::LocateZone(zone);
  REQUIRE(tz);
  return FirePlan::JobTiming{schedules::Schedule::Cron(*expr, *tz), misfire, grace};
}

std::string Describe(const Firing& f) {
  return f.job + " " + std::string(store::ToString(f.trigger)) + " " +
         (f.scheduled_at ? core::FormatRfc3339(*f.scheduled_at) : "-") + " #" +
         std::to_string(f.attempt);
}

std::vector<std::string> Take(FirePlan& plan, core::TimePoint now,
                              std::vector<scheduler::MissedSlots>* missed = nullptr) {
  std::vector<std::string> out;
  for (const Firing& f : plan.TakeDue(now, missed)) out.push_back(Describe(f));
  return out;
}

using V = std::vector<std::string>;

}  // namespace

TEST_CASE("fire plan fires each slot once, in time order", "[scheduler]") {
  FirePlan plan;
  const auto t0 = At("2026-11-22T10:00:00.5Z");
  plan.Set("a", Every(1s), std::nullopt, t0);
  plan.Set("b", Every(2s), std::nullopt, t0);
  CHECK(plan.NextWake() == At("2026-11-22T10:00:01Z"));
  CHECK(Take(plan, At("2026-11-22T10:00:00.9Z")).empty());
  CHECK(Take(plan, At("2026-11-22T10:00:01.001Z")) ==
        V{"a schedule 2026-11-22T10:00:01.000000Z #1"});
  auto both = Take(plan, At("2026-11-22T10:00:02.002Z"));
  std::sort(both.begin(), both.end());
  CHECK(both == V{"a schedule 2026-11-22T10:00:02.000000Z #1",
                  "b schedule 2026-11-22T10:00:02.000000Z #1"});
  CHECK(plan.NextSlot("b") == At("2026-11-22T10:00:04Z"));
}

TEST_CASE("slots missed while running late coalesce into one catch-up run", "[scheduler]") {
  FirePlan plan;
  const auto t0 = At("2026-11-22T10:00:00Z");
  plan.Set("once", Every(1min), std::nullopt, t0);
  plan.Set("skip", Every(1min, config::Misfire::kSkip), std::nullopt, t0);
  std::vector<scheduler::MissedSlots> missed;
  // The wall clock jumps 10 minutes (suspend/resume): no burst of 10 runs.
  CHECK(Take(plan, At("2026-11-22T10:10:30Z"), &missed) ==
        V{"once catchup 2026-11-22T10:10:00.000000Z #1"});
  REQUIRE(missed.size() == 2);
  CHECK(missed[0].job == "once");
  CHECK(missed[0].count == 9);
  CHECK(missed[1].job == "skip");
  CHECK(missed[1].count == 10);
  // Both resume with the first slot after now.
  CHECK(plan.NextSlot("once") == At("2026-11-22T10:11:00Z"));
  CHECK(plan.NextSlot("skip") == At("2026-11-22T10:11:00Z"));
}

TEST_CASE("a slot later than misfire_grace does not run", "[scheduler]") {
  FirePlan plan;
  plan.Set("j", Every(1h, config::Misfire::kRunOnce, 5min), std::nullopt,
           At("2026-11-22T10:30:00Z"));
  std::vector<scheduler::MissedSlots> missed;
  CHECK(Take(plan, At("2026-11-22T11:06:00Z"), &missed).empty());
  REQUIRE(missed.size() == 1);
  CHECK(missed[0].latest == At("2026-11-22T11:00:00Z"));
  CHECK(Take(plan, At("2026-11-22T11:03:00Z")).empty());
  CHECK(plan.NextSlot("j") == At("2026-11-22T12:00:00Z"));
}

TEST_CASE("downtime: run_once catches up once, skip does not", "[scheduler]") {
  const auto last = At("2026-11-22T07:00:00Z");  // last slot that ran before the stop
  const auto now = At("2026-11-22T10:20:00Z");
  FirePlan plan;
  plan.Set("once", Cron("0 * * * *", "UTC"), last, now);
  plan.Set("skip", Cron("0 * * * *", "UTC", config::Misfire::kSkip), last, now);
  plan.Set("stale", Cron("0 * * * *", "UTC", config::Misfire::kRunOnce, 10min), last, now);
  plan.Set("fresh", Cron("0 * * * *", "UTC"), std::nullopt, now);
  CHECK(Take(plan, now) == V{"once catchup 2026-11-22T10:00:00.000000Z #1"});
  CHECK(plan.NextSlot("skip") == At("2026-11-22T11:00:00Z"));
  CHECK(Take(plan, At("2026-11-22T11:00:00Z")).size() == 4);
}

TEST_CASE("a DST night in Berlin with a fake clock", "[scheduler]") {
  FirePlan plan;
  plan.Set("fixed", Cron("30 2 * * *", "Europe/Berlin"), std::nullopt, At("2026-10-24T12:00:00Z"));
  plan.Set("hourly", Cron("30 * * * *", "Europe/Berlin"), std::nullopt, At("2026-10-24T23:45:00Z"));
  std::vector<std::string> fired;
  // Walk the night minute by minute, as a steady daemon would wake.
  for (auto t = At("2026-10-24T23:45:00Z"); t <= At("2026-10-25T03:00:00Z"); t += 1min) {
    for (auto& f : Take(plan, t)) fired.push_back(f);
  }
  CHECK(fired == V{"fixed schedule 2026-10-25T00:30:00.000000Z #1",
                   "hourly schedule 2026-10-25T00:30:00.000000Z #1",
                   "hourly schedule 2026-10-25T01:30:00.000000Z #1",
                   "hourly schedule 2026-10-25T02:30:00.000000Z #1"});
}

TEST_CASE("one-off firings (retries) and removal", "[scheduler]") {
  FirePlan plan;
  const auto t0 = At("2026-11-22T10:00:00Z");
  plan.Set("j", Every(1h), std::nullopt, t0);
  plan.Add(Firing{"j", Trigger::kRetry, t0, 2}, t0 + 30s);
  plan.Add(Firing{"gone", Trigger::kRetry, t0, 2}, t0 + 10s);  // no such job
  CHECK(plan.NextWake() == t0 + 30s);
  CHECK(Take(plan, t0 + 31s) == V{"j retry 2026-11-22T10:00:00.000000Z #2"});
  plan.Remove("j");
  CHECK_FALSE(plan.NextWake().has_value());
  CHECK(Take(plan, t0 + 2h).empty());
}

TEST_CASE("a changed job is planned anew; stale entries never fire", "[scheduler]") {
  FirePlan plan;
  const auto t0 = At("2026-11-22T10:00:00Z");
  plan.Set("j", Every(1min), std::nullopt, t0);
  plan.Set("j", Every(1h), std::nullopt, t0);
  CHECK(Take(plan, t0 + 2min).empty());
  CHECK(Take(plan, t0 + 1h) == V{"j schedule 2026-11-22T11:00:00.000000Z #1"});
}

TEST_CASE("a removed job's place goes to the next job added, without its old slots",
          "[scheduler]") {
  FirePlan plan;
  const auto t0 = At("2026-11-22T10:00:00Z");
  plan.Set("old", Every(1min), std::nullopt, t0);
  plan.Set("kept", Every(1h), std::nullopt, t0);
  plan.Add(Firing{"old", Trigger::kRetry, t0, 2}, t0 + 10s);
  plan.Remove("old");
  const std::uint32_t slot = plan.Set("new", Every(2min), std::nullopt, t0);
  CHECK_FALSE(plan.Has("old"));
  CHECK(plan.size() == 2);
  // Neither the old job's slot at 10:01 nor its retry fires, as either job.
  CHECK(Take(plan, t0 + 90s).empty());
  const auto due = plan.TakeDue(t0 + 2min);
  REQUIRE(due.size() == 1);
  CHECK(Describe(due[0]) == "new schedule 2026-11-22T10:02:00.000000Z #1");
  CHECK(due[0].slot == slot);
  // A job added again under the old name starts afresh; its retries carry its slot too.
  const std::uint32_t again = plan.Set("old", Every(1min), std::nullopt, t0 + 2min);
  CHECK(again != slot);
  plan.Add(Firing{"old", Trigger::kRetry, t0, 2}, t0 + 150s);
  const auto next = plan.TakeDue(t0 + 3min);
  REQUIRE(next.size() == 2);
  CHECK(Describe(next[0]) == "old retry 2026-11-22T10:00:00.000000Z #2");
  CHECK(Describe(next[1]) == "old schedule 2026-11-22T10:03:00.000000Z #1");
  CHECK((next[0].slot == again && next[1].slot == again));
  CHECK(plan.NextSlot("kept") == At("2026-11-22T11:00:00Z"));
}

TEST_CASE("the wall clock stepping back neither stalls nor repeats fixed slots", "[scheduler]") {
  FirePlan plan;
  const auto t0 = At("2026-11-22T09:59:30Z");
  plan.Set("every", Every(1min), std::nullopt, t0);
  plan.Set("daily", Cron("0 10 * * *", "UTC"), std::nullopt, At("2026-11-22T09:59:00Z"));
  CHECK(Take(plan, At("2026-11-22T10:00:01Z")).size() == 2);
  // NTP steps the clock back by an hour.
  plan.ClockSteppedBack(At("2026-11-22T09:00:30Z"));
  CHECK(Take(plan, At("2026-11-22T09:01:00Z")) ==
        V{"every schedule 2026-11-22T09:01:00.000000Z #1"});
  // The daily job does not run its 10:00 slot a second time.
  std::vector<std::string> fired;
  for (auto t = At("2026-11-22T09:02:00Z"); t <= At("2026-11-22T10:00:00Z"); t += 1min) {
    for (auto& f : Take(plan, t)) {
      if (f.rfind("daily", 0) == 0) fired.push_back(f);
    }
  }
  CHECK(fired.empty());
  CHECK(plan.NextSlot("daily") == At("2026-11-23T10:00:00Z"));
}

TEST_CASE("jobs without a schedule keep their retries", "[scheduler]") {
  FirePlan plan;
  const auto t0 = At("2026-11-22T10:00:00Z");
  plan.Set("chained", FirePlan::JobTiming{}, std::nullopt, t0);
  CHECK_FALSE(plan.NextSlot("chained"));
  plan.Add(Firing{"chained", Trigger::kRetry, std::nullopt, 2}, t0 + 1s);
  CHECK(Take(plan, t0 + 1s) == V{"chained retry - #2"});
}

TEST_CASE("many jobs at the same instant all fire", "[scheduler]") {
  FirePlan plan;
  const auto t0 = At("2026-11-22T10:00:00.5Z");
  for (int i = 0; i < 10000; ++i) plan.Set("j" + std::to_string(i), Every(1s), std::nullopt, t0);
  CHECK(plan.TakeDue(At("2026-11-22T10:00:01.001Z")).size() == 10000);
  CHECK(plan.TakeDue(At("2026-11-22T10:00:02.001Z")).size() == 10000);
}
