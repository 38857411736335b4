// A Clock whose time moves only when the test moves it, for the scheduler's
// and the outbox's tests: they step time instead of waiting for it.
//
// AdvanceTo stops at every instant on its way that something waits for (an
// armed timer, a thread blocked in WaitUntil), so each is reached exactly:
// there it fires the timers due (on the calling thread, which must be the
// thread that runs their loop: tests run the loop on the test thread), wakes
// the blocked threads to look at their condition again, then calls the
// test's `settle` so the code under test can finish reacting to that instant
// before time moves on.
//
// A test that asserts that nothing happened must know that the code had its
// chance: Sleepers() counts the threads asleep in WaitUntil that have looked
// at their condition since time last moved, and AwaitSleepers waits for them.
//
// Now, WaitUntil: any thread. Everything else: the test thread. WaitUntil
// releases the caller's lock for a moment on the way in and out (it never
// holds it while taking the clock's own lock), so the caller must not rely
// on holding it throughout; done() is checked with it held.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <thread>
#include <vector>

#include "scheduler/clock.h"

namespace scheduler::testing {

class ManualClock final : public Clock {
 public:
  // A Monday, midnight UTC: every whole period from here is a round slot.
  static constexpr core::TimePoint kStart{std::chrono::seconds(1767571200)};  // 2026-01-05

  explicit ManualClock(core::TimePoint start = kStart) : now_(start.time_since_epoch().count()) {}
  ~ManualClock() override = default;
  ManualClock(const ManualClock&) = delete;
  ManualClock& operator=(const ManualClock&) = delete;

  core::TimePoint Now() const override { return core::TimePoint(core::Duration(now_.load())); }

  std::unique_ptr<Timer> NewTimer(boost::asio::io_context& /*loop*/,
                                  std::function<void()> on_fire) const override {
    return std::make_unique<ManualTimer>(*this, std::move(on_fire));
  }

  bool WaitUntil(std::condition_variable& wake, std::unique_lock<std::mutex>& lock,
                 core::TimePoint until, const std::function<bool()>& done) const override {
    Sleeper me{&wake, lock.mutex(), until};
    lock.unlock();
    {
      std::lock_guard guard(mutex_);
      sleepers_.push_back(&me);
    }
    lock.lock();
    while (!done()) {
      // The epoch before the time: one who saw the new epoch sees the new time.
      const std::uint64_t epoch = epoch_.load();
      if (Now() >= until) break;
      me.seen.store(epoch);
      wake.wait(lock);
    }
    me.seen.store(kAwake);
    lock.unlock();
    {
      std::lock_guard guard(mutex_);
      std::erase(sleepers_, &me);
    }
    lock.lock();
    return done();
  }

  // The earliest instant after now that a timer or a blocked thread waits
  // for (a timer armed for now or earlier counts as now).
  std::optional<core::TimePoint> NextEvent() const {
    std::lock_guard guard(mutex_);
    return NextEventLocked();
  }
  // The earliest armed timer's instant.
  std::optional<core::TimePoint> NextTimer() const {
    std::lock_guard guard(mutex_);
    std::optional<core::TimePoint> next;
    for (const ManualTimer* t : timers_) {
      if (t->at && (!next || *t->at < *next)) next = t->at;
    }
    return next;
  }

  // Moves time to `to` (never back; `to` at or before now still fires what
  // is due and wakes the sleepers), stopping at every instant on the way
  // that something waits for; `settle` runs at each stop, the last one `to`.
  void AdvanceTo(core::TimePoint to, const std::function<void()>& settle = {}) {
    for (;;) {
      core::TimePoint step = std::max(to, Now());
      {
        std::lock_guard guard(mutex_);
        if (const auto next = NextEventLocked(); next && *next < step) step = *next;
        now_.store(std::max(step, Now()).time_since_epoch().count());
        WakeSleepersLocked();
      }
      bool fired = false;
      while (ManualTimer* due = TakeDueTimer()) {
        due->on_fire();
        fired = true;
      }
      // What the timers did (a cancel) may end a sleeper's wait: every
      // sleeper looks again before it counts as asleep.
      if (fired) WakeSleepers();
      if (settle) settle();
      if (Now() >= to && !HasDueTimer()) return;
    }
  }
  void Advance(core::Duration d, const std::function<void()>& settle = {}) {
    AdvanceTo(Now() + d, settle);
  }

  // Threads asleep in WaitUntil that have looked at their condition since
  // time last moved.
  int Sleepers() const {
    std::lock_guard guard(mutex_);
    const std::uint64_t epoch = epoch_.load();
    return static_cast<int>(std::count_if(sleepers_.begin(), sleepers_.end(),
                                          [&](const Sleeper* s) { return s->seen == epoch; }));
  }
  // Waits (in real time, up to `limit`) until `n` threads are Sleepers().
  bool AwaitSleepers(int n, std::chrono::milliseconds limit = std::chrono::seconds(10)) const {
    const auto end = std::chrono::steady_clock::now() + limit;
    while (Sleepers() != n) {
      if (std::chrono::steady_clock::now() > end) return false;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    return true;
  }

 private:
  static constexpr std::uint64_t kAwake = ~std::uint64_t{0};

  struct Sleeper {
    std::condition_variable* wake;
    std::mutex* mutex;
    core::TimePoint until;
    std::atomic<std::uint64_t> seen{kAwake};
  };

  struct ManualTimer final : Timer {
    ManualTimer(const ManualClock& clock_in, std::function<void()> on_fire_in)
        : clock(clock_in), on_fire(std::move(on_fire_in)) {
      std::lock_guard guard(clock.mutex_);
      clock.timers_.push_back(this);
    }
    ~ManualTimer() override {
      std::lock_guard guard(clock.mutex_);
      std::erase(clock.timers_, this);
    }
    void ArmAt(core::TimePoint at_in) override {
      std::lock_guard guard(clock.mutex_);
      at = at_in;
      order = ++clock.armed_;
    }
    void ArmAfter(core::Duration d) override { ArmAt(clock.Now() + d); }
    void Cancel() override {
      std::lock_guard guard(clock.mutex_);
      at.reset();
    }

    const ManualClock& clock;
    const std::function<void()> on_fire;
    // Guarded by the clock's mutex.
    std::optional<core::TimePoint> at;
    std::uint64_t order = 0;  // arming order: FIFO among timers due at once
  };

  std::optional<core::TimePoint> NextEventLocked() const {
    const core::TimePoint now = Now();
    std::optional<core::TimePoint> next;
    auto consider = [&](core::TimePoint t) {
      t = std::max(t, now);
      if (!next || t < *next) next = t;
    };
    for (const ManualTimer* t : timers_) {
      if (t->at) consider(*t->at);
    }
    for (const Sleeper* s : sleepers_) {
      if (s->until > now) consider(s->until);
    }
    return next;
  }

  void WakeSleepers() {
    std::lock_guard guard(mutex_);
    WakeSleepersLocked();
  }
  void WakeSleepersLocked() {
    epoch_.fetch_add(1);
    // Under each sleeper's own lock: it is either about to look at the time
    // (and sees the new one) or waiting (and gets the notify).
    for (Sleeper* s : sleepers_) {
      std::lock_guard sleeper(*s->mutex);
      s->wake->notify_all();
    }
  }

  // Disarms and returns the earliest timer due now, if any.
  ManualTimer* TakeDueTimer() {
    std::lock_guard guard(mutex_);
    ManualTimer* due = nullptr;
    for (ManualTimer* t : timers_) {
      if (!t->at || *t->at > Now()) continue;
      if (!due || *t->at < *due->at || (*t->at == *due->at && t->order < due->order)) due = t;
    }
    if (due) due->at.reset();
    return due;
  }
  bool HasDueTimer() const {
    std::lock_guard guard(mutex_);
    return std::any_of(timers_.begin(), timers_.end(),
                       [&](const ManualTimer* t) { return t->at && *t->at <= Now(); });
  }

  std::atomic<core::Duration::rep> now_;
  std::atomic<std::uint64_t> epoch_{0};  // bumped whenever the sleepers are woken
  mutable std::mutex mutex_;
  // Guarded by mutex_.
  mutable std::vector<Sleeper*> sleepers_;
  mutable std::vector<ManualTimer*> timers_;
  mutable std::uint64_t armed_ = 0;
};

}  // namespace scheduler::testing
