// A run's cancellation signal and deadline, shared by the scheduler (which
// cancels on shutdown) and the job (which checks it at I/O boundaries).
//
// Any thread may call any method. The deadline is part of the token so a job
// notices a timeout by itself, without the loop having to wake it. The
// deadline is read and waited for on the token's Clock (the system clock
// unless one is given), so a test on a manual clock steps a run's timeout.
#pragma once

#include <atomic>
#include <condition_variable>
#include <limits>
#include <mutex>

#include "core/time.h"
#include "scheduler/clock.h"

namespace scheduler {

class CancelToken {
 public:
  enum class Reason { kNone, kTimeout, kShutdown, kManual };

  // No deadline until SetDeadline: a run's timeout counts from its start,
  // not from when it was queued.
  CancelToken();
  // `clock` must outlive the token.
  explicit CancelToken(const Clock& clock) : clock_(&clock) {}
  // `deadline` is on the token's clock (the wall clock, like every time in jobsd).
  void SetDeadline(core::TimePoint deadline) {
    deadline_.store(deadline.time_since_epoch().count());
  }

  void Cancel(Reason reason);
  // True once cancelled or past the deadline.
  bool Cancelled() const;
  // Why the run was stopped: kTimeout when the deadline passed.
  Reason reason() const;
  core::TimePoint deadline() const { return core::TimePoint(core::Duration(deadline_.load())); }

  // Sleeps for `d`, waking early when cancelled or at the deadline. Returns
  // true when the sleep was cut short by either.
  bool WaitFor(core::Duration d) const;

 private:
  const Clock* clock_;
  std::atomic<core::Duration::rep> deadline_{std::numeric_limits<core::Duration::rep>::max()};
  std::atomic<Reason> reason_{Reason::kNone};
  mutable std::mutex mutex_;
  mutable std::condition_variable wake_;
};

}  // namespace scheduler
