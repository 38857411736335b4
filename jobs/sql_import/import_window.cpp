#include "jobs/sql_import/import_window.h"

#include <date/date.h>
#include <date/tz.h>

#include "jobs/sql_import/column_rule.h"

namespace jobs::sql_import {
namespace {

using std::chrono::seconds;

const date::time_zone& ZoneOr(const date::time_zone* zone) {
  return zone ? *zone : *date::locate_zone("UTC");
}

// The instant of local midnight of `day`; a skipped midnight is the moment
// the clocks jumped.
core::TimePoint Midnight(date::local_days day, const date::time_zone& zone) {
  const date::local_seconds local(day.time_since_epoch());
  const date::local_info info = zone.get_info(local);
  if (info.result == date::local_info::nonexistent) {
    return std::chrono::time_point_cast<core::Duration>(info.first.end);
  }
  return std::chrono::time_point_cast<core::Duration>(
      date::sys_seconds(local.time_since_epoch() - info.first.offset));
}

ImportWindow Texts(core::TimePoint start, core::TimePoint end, const date::time_zone& zone) {
  ImportWindow window;
  window.start = start;
  window.end = end;
  auto text = [&](core::TimePoint t, std::string& rfc3339, std::string& day) {
    const auto local = date::make_zoned(&zone, date::floor<seconds>(t));
    day = date::format("%F", local);
    rfc3339 = date::format("%FT%T%Ez", local);
    // RFC 3339 spells offset 0 as Z, which is what APIs expect of UTC.
    if (rfc3339.ends_with("+00:00")) rfc3339.replace(rfc3339.size() - 6, 6, "Z");
  };
  text(start, window.start_text, window.start_date);
  text(end, window.end_text, window.end_date);
  return window;
}

}  // namespace

core::Result<ImportWindow> WindowBefore(core::TimePoint slot, core::Duration length,
                                        const date::time_zone* zone_or_null) {
  if (length <= core::Duration::zero()) {
    return core::Unexpected(core::InvalidArgument("the window must be longer than 0s"));
  }
  const date::time_zone& zone = ZoneOr(zone_or_null);
  const auto info = zone.get_info(date::floor<seconds>(slot));
  const auto local_day = date::floor<date::days>(
      date::local_seconds((date::floor<seconds>(slot) + info.offset).time_since_epoch()));
  const auto day = std::chrono::duration_cast<core::Duration>(date::days(1));
  if (length % day == core::Duration::zero()) {
    const auto n = date::days(length / day);
    return Texts(Midnight(local_day - n, zone), Midnight(local_day, zone), zone);
  }
  const core::TimePoint midnight = Midnight(local_day, zone);
  const core::TimePoint end = midnight + ((slot - midnight) / length) * length;
  return Texts(end - length, end, zone);
}

core::Result<ImportWindow> WindowBetween(std::string_view start_text, std::string_view end_text,
                                         const date::time_zone* zone_or_null) {
  const date::time_zone& zone = ZoneOr(zone_or_null);
  auto start = ParseTimestamp(start_text, &zone);
  if (!start) {
    return core::Unexpected(core::InvalidArgument("window_start '" + std::string(start_text) +
                                                  "': " + start.error().message));
  }
  auto end = ParseTimestamp(end_text, &zone);
  if (!end) {
    return core::Unexpected(core::InvalidArgument("window_end '" + std::string(end_text) +
                                                  "': " + end.error().message));
  }
  if (*end <= *start) {
    return core::Unexpected(core::InvalidArgument("window_end " + std::string(end_text) +
                                                  " is not after window_start " +
                                                  std::string(start_text)));
  }
  return Texts(*start, *end, zone);
}

std::string FillWindow(std::string_view text, const ImportWindow& window) {
  static constexpr std::pair<std::string_view, std::string ImportWindow::*> kNames[] = {
      {"{window_start}", &ImportWindow::start_text},
      {"{window_end}", &ImportWindow::end_text},
      {"{window_start_date}", &ImportWindow::start_date},
      {"{window_end_date}", &ImportWindow::end_date},
  };
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    bool replaced = false;
    if (text[i] == '{') {
      for (const auto& [name, member] : kNames) {
        if (text.substr(i, name.size()) == name) {
          out += window.*member;
          i += name.size();
          replaced = true;
          break;
        }
      }
    }
    if (!replaced) out += text[i++];
  }
  return out;
}

bool UsesWindow(std::string_view text) { return text.find("{window_") != std::string_view::npos; }

}  // namespace jobs::sql_import
