#include "scheduler/cancel_token.h"

namespace scheduler {
namespace {

// Stateless: one constant serves every token made without a clock.
const SystemClock kSystemClock;

}  // namespace

CancelToken::CancelToken() : clock_(&kSystemClock) {}

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
  return clock_->Now() >= deadline() ? Reason::kTimeout : Reason::kNone;
}

bool CancelToken::WaitFor(core::Duration d) const {
  const core::TimePoint until = std::min(clock_->Now() + d, deadline());
  std::unique_lock lock(mutex_);
  clock_->WaitUntil(wake_, lock, until, [this] { return reason_.load() != Reason::kNone; });
  return Cancelled();
}

}  // namespace scheduler
