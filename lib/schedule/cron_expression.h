// A parsed cron expression: which wall-clock times match, with no time zone.
//
// Grammar (Vixie cron, plus the usual extensions):
//   [second] minute hour day-of-month month day-of-week
//   fields: *  ?  n  a-b  */s  a-b/s  a/s  lists "a,b-c/s"
//   month names JAN..DEC, weekday names SUN..SAT (case-insensitive), Sunday 0 or 7
//   day-of-month: L (last day), L-n (n days before the last), nW (nearest
//   weekday to n, within the month), LW (last weekday)
//   day-of-week: nL (last such weekday of the month), n#k (k-th such weekday)
//   macros: @yearly @annually @monthly @weekly @daily @midnight @hourly
// Day-of-month and day-of-week combine as in Vixie cron: when both fields are
// restricted (neither starts with '*'), a day matches if either matches;
// otherwise both must.
//
// Immutable after Parse, so any thread may use it. Failure is reported by
// Parse as an InvalidArgument error naming the field and the offending text.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <date/date.h>

#include "core/result.h"

namespace schedules {

class CronExpression {
 public:
  static core::Result<CronExpression> Parse(std::string_view text);

  // The first wall time strictly after `after` that matches, or nullopt when
  // none does within the next 400 years. (Parse refuses expressions that never
  // match, like "0 0 30 2 *", so this only ends near the end of time.)
  std::optional<date::local_seconds> NextMatch(date::local_seconds after) const;

  bool Matches(date::local_seconds t) const;

  // True when the hour field admits all 24 hours ("0 * * * *"); such jobs are
  // not given the special DST treatment of fixed-time jobs.
  bool CoversAllHours() const { return hours_ == kAllHours; }

  // The expression as written (macros kept as written, e.g. "@daily").
  const std::string& text() const { return text_; }

 private:
  static constexpr std::uint32_t kAllHours = (1u << 24) - 1;

  // Days of the given month (bit d for day d, 1-based) that match both day
  // fields under the Vixie OR/AND rule.
  std::uint32_t DayMask(date::year_month ym) const;

  std::string text_;
  std::uint64_t seconds_ = 1;  // bit n: second n matches
  std::uint64_t minutes_ = 0;
  std::uint32_t hours_ = 0;
  std::uint16_t months_ = 0;               // bit m (1..12)
  std::uint32_t dom_ = 0;                  // bit d (1..31)
  std::uint8_t dow_ = 0;                   // bit w (0..6, Sunday 0)
  bool dom_last_ = false;                  // L
  std::uint32_t dom_last_offsets_ = 0;     // bit n: L-n
  std::uint32_t dom_nearest_weekday_ = 0;  // bit n: nW
  bool dom_last_weekday_ = false;          // LW
  std::uint8_t dow_last_ = 0;              // bit w: wL
  std::array<std::uint8_t, 7> dow_nth_{};  // [w] bit k (1..5): w#k
  bool dom_restricted_ = false;            // field does not start with '*' or '?'
  bool dow_restricted_ = false;
};

}  // namespace schedules
