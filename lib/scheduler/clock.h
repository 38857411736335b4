// Where the scheduler reads the time. Tests use a FakeClock so that DST
// nights, misfires and retries run in milliseconds.
// Any thread may call Now().
#pragma once

#include <atomic>

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

// A clock that moves only when told to.
class FakeClock final : public Clock {
 public:
  explicit FakeClock(core::TimePoint start) : now_(start.time_since_epoch().count()) {}
  core::TimePoint Now() const override { return core::TimePoint(core::Duration(now_.load())); }
  void Set(core::TimePoint t) { now_.store(t.time_since_epoch().count()); }
  void Advance(core::Duration d) { now_.fetch_add(d.count()); }

 private:
  std::atomic<core::Duration::rep> now_;
};

}  // namespace scheduler
