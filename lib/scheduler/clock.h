// Where jobsd reads the time and waits for it. The timing rules themselves
// (DST nights, misfires, clock steps) live in FirePlan, which takes the time
// as an argument, so their tests need no clock at all.
//
// Everything that waits for a time goes through the Clock it reads the time
// from, in one of two ways:
//   * a Timer, for code on an event loop (the scheduler's wake-up and its
//     shutdown grace): its callback runs on the loop;
//   * WaitUntil, for a thread of its own that blocks on a condition variable
//     (an alert channel's thread, a run's CancelToken).
// SystemClock does both with asio timers and the condition variable's own
// timed wait, at no cost on the hot path beyond a virtual call. Tests use
// ManualClock (tests/lib/scheduler/manual_clock.h), whose time moves only
// when the test steps it, so they step time instead of waiting for it.
//
// Now, WaitUntil: any thread. NewTimer: any thread; the Timer it returns is
// loop thread only. Failures: none (a Timer that is destroyed or re-armed
// simply does not call back for the earlier arming).
#pragma once

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>

#include "core/time.h"

namespace boost::asio {
class io_context;
}

namespace scheduler {

// A one-shot timer on an event loop. Arming replaces the earlier arming
// (whichever kind), and the callback given to Clock::NewTimer runs on the
// loop, once per arming that is reached. Loop thread only; destroy it on the
// loop thread, before the loop.
class Timer {
 public:
  virtual ~Timer() = default;
  // At the wall-clock instant `at` (a wall-clock step moves it).
  virtual void ArmAt(core::TimePoint at) = 0;
  // After `d` has passed on the monotonic clock (a wall-clock step does not
  // stretch or shorten it).
  virtual void ArmAfter(core::Duration d) = 0;
  virtual void Cancel() = 0;
};

class Clock {
 public:
  virtual ~Clock() = default;
  virtual core::TimePoint Now() const = 0;

  // A timer whose callback `on_fire` runs on `loop`. The clock must outlive it.
  virtual std::unique_ptr<Timer> NewTimer(boost::asio::io_context& loop,
                                          std::function<void()> on_fire) const = 0;

  // Blocks the calling thread until `done()` holds or the clock reads
  // `until` or later, like std::condition_variable::wait_until with a
  // predicate: `lock` holds `wake`'s mutex on the way in and out, `done` is
  // checked with it held, and whoever makes `done` true notifies `wake`.
  // Returns done().
  virtual bool WaitUntil(std::condition_variable& wake, std::unique_lock<std::mutex>& lock,
                         core::TimePoint until, const std::function<bool()>& done) const = 0;
};

class SystemClock final : public Clock {
 public:
  core::TimePoint Now() const override {
    return std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now());
  }
  // An asio system_timer for ArmAt and a steady_timer for ArmAfter.
  std::unique_ptr<Timer> NewTimer(boost::asio::io_context& loop,
                                  std::function<void()> on_fire) const override;
  bool WaitUntil(std::condition_variable& wake, std::unique_lock<std::mutex>& lock,
                 core::TimePoint until, const std::function<bool()>& done) const override {
    return wake.wait_until(lock, std::chrono::system_clock::time_point(until), done);
  }
};

}  // namespace scheduler
