// Where the scheduler reads the time. The timing rules themselves (DST
// nights, misfires, clock steps) live in FirePlan, which takes the time as
// an argument, so their tests need no clock at all.
// Any thread may call Now().
#pragma once

#include "core/time.h"

namespace scheduler {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual core::TimePoint Now() const = 0;
};

class SystemClock final : public Clock {
 public:
  core::TimePoint Now() const override {
    return std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now());
  }
};

}  // namespace scheduler
