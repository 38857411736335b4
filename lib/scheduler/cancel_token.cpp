#include "scheduler/cancel_token.h"

namespace scheduler {
namespace {

core::TimePoint Now() {
  return std::chrono::time_point_cast<core::Duration>(std::chrono::system_clock::now());
}

}  // namespace

void CancelToken::Cancel(Reason reason) {
  Reason expected = Reason::kNone;
  // The first reason wins: a run cancelled by shutdown stays "cancelled" even
  // if its deadline passes while it winds down.
  reason_.compare_exchange_strong(expected, reason);
  std::lock_guard lock(mutex_);
  wake_.notify_all();
}

bool CancelToken::Cancelled() const { return reason() != Reason::kNone; }

CancelToken::Reason CancelToken::reason() const {
  const Reason r = reason_.load();
  if (r != Reason::kNone) return r;
  return Now() >= deadline() ? Reason::kTimeout : Reason::kNone;
}

bool CancelToken::WaitFor(core::Duration d) const {
  const core::TimePoint until = std::min(Now() + d, deadline());
  std::unique_lock lock(mutex_);
  while (reason_.load() == Reason::kNone) {
    const core::TimePoint now = Now();
    if (now >= until) break;
    wake_.wait_for(lock, until - now);
  }
  return Cancelled();
}

}  // namespace scheduler
