// The period a run of an HTTP import asks its API for: `window: 1d` is the
// day before the run's slot in the job's time zone, so a nightly 02:00 run
// fetches yesterday 00:00 to today 00:00 (23 or 25 hours across a DST
// change), and a night caught up later fetches the same day.
//
//   - whole days (1d, 7d, 1w): from local midnight N days before the slot's
//     day to that day's midnight;
//   - shorter windows (1h, 15m): the last whole multiple of the window
//     since local midnight that ends at or before the slot, and the window
//     before it.
// A midnight the clocks skip (some zones change at 00:00) is the moment of
// the change.
//
// `window_start` / `window_end` in the config (or `--set`) replace the
// computed window: a date is local midnight, a time without an offset is
// wall time in the zone.
//
// Any thread; pure functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"
#include "core/time.h"

namespace date {
class time_zone;
}

namespace jobs::sql_import {

struct ImportWindow {
  core::TimePoint start{};
  core::TimePoint end{};
  // RFC 3339 with the zone's offset ("2026-03-28T00:00:00+01:00", "Z" at
  // offset 0), and the local dates ("2026-03-28"; the end is exclusive).
  std::string start_text, end_text, start_date, end_date;
};

core::Result<ImportWindow> WindowBefore(core::TimePoint slot, core::Duration length,
                                        const date::time_zone* zone);
core::Result<ImportWindow> WindowBetween(std::string_view start, std::string_view end,
                                         const date::time_zone* zone);

// `text` with {window_start}, {window_end}, {window_start_date} and
// {window_end_date} filled in.
std::string FillWindow(std::string_view text, const ImportWindow& window);
// Whether `text` names any of them.
bool UsesWindow(std::string_view text);

}  // namespace jobs::sql_import
