// When a job fires: a cron expression in a time zone, or a fixed interval.
//
// Cron in a time zone follows cronie's DST rules:
//   * A job at fixed times (its hour field does not cover all 24 hours): a
//     wall time inside a spring-forward gap fires once, at the instant the gap
//     ends; a wall time that occurs twice in a fall-back hour fires once, at
//     its first occurrence.
//   * A job whose hour field covers all 24 hours ("0 * * * *", "*/5 * * * *")
//     fires at every matching wall time that exists: both occurrences of a
//     repeated time fire and times inside a gap are skipped, so it keeps
//     firing once per real hour.
// An interval (`every:`) fires at multiples of its period counted from the
// Unix epoch, so `every: 2h` fires at even UTC hours and restarts keep the
// same slots.
// Both kinds can be shifted by a fixed offset (the job's deterministic jitter).
//
// Immutable after construction; any thread may call NextAfter.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/time.h"
#include "schedule/cron_expression.h"

namespace date {
class time_zone;
}

// Not `schedule`: a namespace of that name at global scope breaks Asio, whose
// customization points look up an unqualified `schedule(...)`.
namespace schedules {

class Schedule {
 public:
  // `zone` null means UTC.
  static Schedule Cron(CronExpression expression, const date::time_zone* zone,
                       core::Duration offset = core::Duration::zero());
  static Schedule Every(core::Duration period, core::Duration offset = core::Duration::zero());

  // The first fire time strictly after `t`, or nullopt if the schedule never
  // fires again.
  std::optional<core::TimePoint> NextAfter(core::TimePoint t) const;

  // "cron 0 */2 * * *" or "every 2h", plus " +30s" when shifted.
  std::string Describe() const;

  bool is_cron() const { return expression_.has_value(); }
  // The interval of an `every:` schedule; zero for cron.
  core::Duration period() const { return period_; }
  // A cron job at fixed times (its hours do not cover the whole day): after
  // the wall clock steps back, its slots that already ran must not repeat.
  bool IsFixedTime() const { return expression_ && !expression_->CoversAllHours(); }
  const date::time_zone* zone() const { return zone_; }

 private:
  Schedule() = default;
  std::optional<core::TimePoint> NextCronAfter(core::TimePoint t) const;

  std::optional<CronExpression> expression_;
  const date::time_zone* zone_ = nullptr;
  core::Duration period_{};
  core::Duration offset_{};
};

// A stable offset in [0, jitter) derived from the job name, so a job's slots
// are spread out but do not move across restarts.
core::Duration JitterOffset(std::string_view job_name, core::Duration jitter);

// The zone for an IANA name ("Europe/Berlin", "UTC"), or an error naming it.
core::Result<const date::time_zone*> LocateZone(std::string_view name);

// The next wall-time fire of a cron expression in `zone` strictly after `t`
// (whole seconds). Exposed for the oracle test and the benchmark.
std::optional<date::sys_seconds> NextCronFire(const CronExpression& expression,
                                              const date::time_zone* zone, date::sys_seconds t);

}  // namespace schedules
