// What the run_store_*.cpp files share: how times are stored (microseconds
// since the Unix epoch, UTC) and the condition that finds the runs not in
// run_index yet. Private to lib/store.
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string_view>

#include "core/time.h"

namespace store::detail {

// The runs not in run_index yet: every one of them started at or after the
// mark (a condition on `runs`, which runs_by_start serves).
constexpr std::string_view kUnindexed = "started_at >= (SELECT since FROM run_index_pending)";

// Below every time stored: "none" when taking the latest of several.
constexpr std::int64_t kNoTime = std::numeric_limits<std::int64_t>::min();

inline std::int64_t Micros(core::TimePoint t) { return t.time_since_epoch().count(); }
inline core::TimePoint FromMicros(std::int64_t us) { return core::TimePoint(core::Duration(us)); }
inline std::optional<core::TimePoint> FromMicros(std::optional<std::int64_t> us) {
  if (!us) return std::nullopt;
  return FromMicros(*us);
}

}  // namespace store::detail
