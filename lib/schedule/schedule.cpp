#include "schedule/schedule.h"

#include <cstdint>
#include <stdexcept>

#include <date/tz.h>

namespace schedules {
namespace {

using std::chrono::seconds;

date::local_seconds ToLocal(date::sys_seconds t, seconds offset) {
  return date::local_seconds{t.time_since_epoch() + offset};
}

date::sys_seconds ToSys(date::local_seconds t, seconds offset) {
  return date::sys_seconds{t.time_since_epoch() - offset};
}

// Transitions are months apart, so this bounds a search of several centuries.
constexpr int kMaxIntervals = 2000;

}  // namespace

std::optional<date::sys_seconds> NextCronFire(const CronExpression& expression,
                                              const date::time_zone* zone, date::sys_seconds t) {
  if (zone == nullptr) {
    const auto next = expression.NextMatch(ToLocal(t, seconds(0)));
    if (!next) return std::nullopt;
    return ToSys(*next, seconds(0));
  }
  const bool fixed_time = !expression.CoversAllHours();

  // Walk the zone's intervals of constant UTC offset, starting with the one
  // holding the first candidate instant. Inside an interval local time and
  // UTC map one to one; the DST rules only matter at its edges.
  date::sys_seconds lowest = t + seconds(1);  // the earliest instant we may return
  // The last NextMatch answer and the bound it was asked for: reused while the
  // bound only grows, so a sparse expression costs one search, not one per
  // interval it skips.
  std::optional<date::local_seconds> match;
  std::optional<date::local_seconds> match_bound;

  for (int i = 0; i < kMaxIntervals; ++i) {
    const date::sys_info info = zone->get_info(lowest);
    date::local_seconds bound = ToLocal(lowest, info.offset);
    if (fixed_time && info.begin > date::sys_seconds::min()) {
      // After a fall-back the first local hour of this interval repeats one
      // the previous interval already had; a fixed-time job fired there.
      const date::sys_info previous = zone->get_info(info.begin - seconds(1));
      if (previous.offset > info.offset) {
        bound = std::max(bound, ToLocal(info.begin, previous.offset));
      } else if (previous.offset < info.offset && lowest == info.begin) {
        // We start exactly as a spring-forward gap ends: wall times inside
        // the gap fire now, the instant it ends.
        const auto in_gap = expression.NextMatch(ToLocal(info.begin, previous.offset) - seconds(1));
        if (in_gap && *in_gap < ToLocal(info.begin, info.offset)) return info.begin;
      }
    }
    const bool open_ended = info.end == date::sys_seconds::max();
    const date::local_seconds local_end =
        open_ended ? date::local_seconds::max() : ToLocal(info.end, info.offset);

    if (bound < local_end) {
      if (!match_bound || bound < *match_bound || (match && *match < bound)) {
        match = expression.NextMatch(bound - seconds(1));
        match_bound = bound;
      }
      if (!match) return std::nullopt;
      if (*match < local_end) return ToSys(*match, info.offset);
    }
    if (open_ended) return std::nullopt;

    const date::sys_info next = zone->get_info(info.end);
    if (fixed_time && next.offset > info.offset && match &&
        *match < ToLocal(info.end, next.offset)) {
      // The wall time falls in the spring-forward gap: fire once, as the gap ends.
      return info.end;
    }
    lowest = info.end;
  }
  return std::nullopt;
}

Schedule Schedule::Cron(CronExpression expression, const date::time_zone* zone,
                        core::Duration offset) {
  Schedule s;
  s.expression_ = std::move(expression);
  s.zone_ = zone;
  s.offset_ = offset;
  return s;
}

Schedule Schedule::Every(core::Duration period, core::Duration offset) {
  Schedule s;
  s.period_ = period;
  s.offset_ = offset;
  return s;
}

std::optional<core::TimePoint> Schedule::NextAfter(core::TimePoint t) const {
  const core::TimePoint base = t - offset_;
  if (expression_) {
    // Fires are whole seconds, so the next one after floor(base) is also the
    // next one after base.
    const auto fire = NextCronFire(*expression_, zone_, date::floor<seconds>(base));
    if (!fire) return std::nullopt;
    return core::TimePoint(*fire) + offset_;
  }
  const auto ticks = base.time_since_epoch().count();
  const auto period = period_.count();
  // Floor division, so instants before the epoch land on the same grid.
  const auto index = ticks / period - ((ticks % period < 0) ? 1 : 0);
  return core::TimePoint(core::Duration((index + 1) * period)) + offset_;
}

std::string Schedule::Describe() const {
  std::string text =
      expression_ ? "cron " + expression_->text() : "every " + core::FormatDuration(period_);
  if (offset_ != core::Duration::zero()) text += " +" + core::FormatDuration(offset_);
  return text;
}

core::Duration JitterOffset(std::string_view job_name, core::Duration jitter) {
  if (jitter <= core::Duration::zero()) return core::Duration::zero();
  // FNV-1a: stable across builds and platforms, unlike std::hash.
  std::uint64_t hash = 14695981039346656037ull;
  for (const char c : job_name) {
    hash ^= static_cast<unsigned char>(c);
    hash *= 1099511628211ull;
  }
  // Whole seconds when the window allows it, so listed times stay readable.
  const core::Duration unit = jitter >= seconds(1) ? core::Duration(seconds(1)) : core::Duration(1);
  const auto slots = static_cast<std::uint64_t>(jitter / unit);
  return unit * static_cast<core::Duration::rep>(hash % slots);
}

core::Result<const date::time_zone*> LocateZone(std::string_view name) {
  try {
    return date::locate_zone(name);
  } catch (const std::exception&) {
    return core::Unexpected(
        core::InvalidArgument("unknown time zone '" + std::string(name) +
                              "' (an IANA name like Europe/Berlin, America/New_York or UTC)"));
  }
}

}  // namespace schedules
