// Time types shared by every layer, and their text forms.
//
// Instants are UTC with microsecond resolution, which is what run records and
// the RFC 3339 output of the CLI and API carry. Durations in the config are
// strings with units ("30s", "1h30m", "500ms") parsed once by ParseDuration.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace core {

using Duration = std::chrono::microseconds;
using TimePoint = std::chrono::time_point<std::chrono::system_clock, Duration>;

// "500ms", "30s", "5m", "2h", "1d", "1h30m", "1d12h". Units: us ms s m h d w.
// A bare number is refused: a duration always carries its unit.
Result<Duration> ParseDuration(std::string_view text);
// The units ParseDuration reads, for error messages.
inline constexpr std::string_view kDurationUnits = "us ms s m h d w";

// The shortest text that ParseDuration reads back to the same value ("1h30m").
std::string FormatDuration(Duration d);

// RFC 3339 in UTC with microseconds: 2026-11-22T18:51:23.123456Z
std::string FormatRfc3339(TimePoint t);

// Reads RFC 3339 ("2026-11-22T18:51:23Z", "2026-11-22T19:51:23.5+01:00", a
// space instead of the T) and a bare date ("2026-11-22", midnight UTC).
Result<TimePoint> ParseRfc3339(std::string_view text);

}  // namespace core
