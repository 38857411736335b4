// When each job fires next: the scheduler's timetable, with no I/O and no
// timers of its own, so tests drive it with any clock they like.
//
// Entries sit in one min-heap ordered by due time: O(log n) per firing, no
// scan over all jobs. TakeDue(now) pops what is due and applies the misfire
// policy where slots were missed (daemon down, the wall clock jumped forward,
// the machine was suspended):
//   * one slot due and at most misfire_grace late: it fires (trigger schedule);
//   * several slots passed: `run_once` fires one run for the latest of them
//     (trigger catchup) when that one is within misfire_grace, `skip` fires
//     none of them;
//   * a slot later than misfire_grace is not run.
// Either way the job's next slot is the first after `now`: missed slots never
// burst. When the wall clock steps back, ClockSteppedBack reschedules every
// job from the new time, except that fixed-time cron jobs do not repeat slots
// they already ran.
//
// Jobs sit in a vector of slots found by name only when the plan changes;
// heap entries name their job by slot, so taking a firing hashes no name.
// A slot is reused after its job is removed; the generation in each heap
// entry tells a stale entry from a live one.
//
// Loop thread only (no locks).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <queue>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "core/time.h"
#include "schedule/schedule.h"
#include "store/run_store.h"

namespace scheduler {

// No FirePlan slot (see FirePlan::Set).
constexpr std::uint32_t kNoSlot = 0xffffffff;

struct Firing {
  std::string job;
  store::Trigger trigger = store::Trigger::kSchedule;
  std::optional<core::TimePoint> scheduled_at;  // the slot; none for manual runs
  int attempt = 1;
  // The job's slot in the FirePlan that fired it; kNoSlot for a firing
  // that did not come from a plan.
  std::uint32_t slot = kNoSlot;
};

struct MissedSlots {
  std::string job;
  std::uint64_t count = 0;  // slots that will not run
  core::TimePoint latest;   // the latest of them
};

class FirePlan {
 public:
  struct JobTiming {
    std::optional<schedules::Schedule> schedule;  // none: runs only when triggered
    config::Misfire misfire = config::Misfire::kRunOnce;
    core::Duration misfire_grace = std::chrono::hours(1);
  };

  // Adds a job, or replaces its timing. Every job the scheduler runs is
  // added, scheduled or not, so that its retries are kept while it exists. `last_slot` is the last
  // slot it ran for before this process started (from the run history): slots after it that are
  // already past are missed, and the misfire policy decides about one catch-up run. Without it the
  // job starts with its first slot after now.
  // Returns the job's slot: a small number that stays the job's until it is
  // removed (then it may go to another job), carried by its firings, so the
  // caller can keep its own data for the job by slot instead of by name.
  std::uint32_t Set(const std::string& job, JobTiming timing,
                    std::optional<core::TimePoint> last_slot, core::TimePoint now);
  void Remove(const std::string& job);
  bool Has(const std::string& job) const { return index_.count(job) > 0; }

  // A retry (or any one-off firing) at `at`; dropped if the job is removed.
  void Add(Firing firing, core::TimePoint at);

  // The earliest due time, if anything is planned.
  std::optional<core::TimePoint> NextWake();
  // The job's next regular slot.
  std::optional<core::TimePoint> NextSlot(const std::string& job) const;

  // Pops everything due at `now`, appending it to `due`. Slots that will not
  // run are appended to `missed` when given.
  void TakeDue(core::TimePoint now, std::vector<Firing>& due,
               std::vector<MissedSlots>* missed = nullptr);
  std::vector<Firing> TakeDue(core::TimePoint now, std::vector<MissedSlots>* missed = nullptr) {
    std::vector<Firing> due;
    TakeDue(now, due, missed);
    return due;
  }

  // The wall clock moved back (NTP step): plan every job again from `now`.
  void ClockSteppedBack(core::TimePoint now);

  std::size_t size() const { return index_.size(); }

 private:
  struct JobEntry {
    std::string name;  // empty while the slot is free
    JobTiming timing;
    std::optional<core::TimePoint> next_slot;
    std::optional<core::TimePoint> last_fired_slot;
    std::uint64_t generation = 0;  // bumped when re-planned; older heap entries are stale
  };
  // Small, because the heap holds one per job (100,000 and more) and moves
  // entries around on every push and pop: a one-off firing lives behind a
  // pointer.
  struct HeapEntry {
    core::TimePoint due;
    std::uint64_t order;       // FIFO among equal due times
    std::uint64_t generation;  // 0 for one-off firings
    std::uint32_t slot;        // unused for one-off firings
    std::unique_ptr<Firing> one_off;
    bool operator>(const HeapEntry& other) const {
      return due != other.due ? due > other.due : order > other.order;
    }
  };

  void PlanNext(std::uint32_t slot, core::TimePoint after);
  bool Live(const HeapEntry& entry) const;
  void DropStale();

  std::vector<JobEntry> slots_;
  std::vector<std::uint32_t> free_slots_;
  std::unordered_map<std::string, std::uint32_t> index_;  // job name -> slot
  std::priority_queue<HeapEntry, std::vector<HeapEntry>, std::greater<>> heap_;
  std::uint64_t order_ = 0;
  std::uint64_t generations_ = 0;
};

}  // namespace scheduler
