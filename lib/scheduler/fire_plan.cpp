#include "scheduler/fire_plan.h"

namespace scheduler {
namespace {

// The slots of `s` in [from, now]: how many, and the latest. Interval
// schedules are counted directly; cron ones are walked, which `from` bounds.
struct SlotSpan {
  std::uint64_t count = 0;
  core::TimePoint latest;
};

SlotSpan SlotsBetween(const schedules::Schedule& s, core::TimePoint from, core::TimePoint now) {
  SlotSpan span;
  if (!s.is_cron()) {
    // `from` is itself a slot when called for an interval schedule's pending slot.
    const auto next = s.NextAfter(from - core::Duration(1));
    if (!next || *next > now) return span;
    const auto steps = (now - *next) / s.period();
    span.count = static_cast<std::uint64_t>(steps) + 1;
    span.latest = *next + steps * s.period();
    return span;
  }
  for (auto next = s.NextAfter(from - core::Duration(1)); next && *next <= now;
       next = s.NextAfter(*next)) {
    ++span.count;
    span.latest = *next;
  }
  return span;
}

}  // namespace

void FirePlan::Set(const std::string& job, JobTiming timing,
                   std::optional<core::TimePoint> last_slot, core::TimePoint now) {
  JobEntry& entry = jobs_[job];
  entry.timing = std::move(timing);
  entry.last_fired_slot = last_slot;
  if (last_slot && entry.timing.schedule) {
    const auto first_missed = entry.timing.schedule->NextAfter(*last_slot);
    if (first_missed && *first_missed <= now && entry.timing.misfire == config::Misfire::kRunOnce) {
      const core::TimePoint window = std::max(*first_missed, now - entry.timing.misfire_grace);
      const SlotSpan recent = SlotsBetween(*entry.timing.schedule, window, now);
      if (recent.count > 0) {
        Add(Firing{job, store::Trigger::kCatchup, recent.latest, 1}, now);
        entry.last_fired_slot = recent.latest;
      }
    }
  }
  PlanNext(job, entry, now);
}

void FirePlan::Remove(const std::string& job) { jobs_.erase(job); }

void FirePlan::Add(Firing firing, core::TimePoint at) {
  std::string job = firing.job;
  heap_.push(
      HeapEntry{at, order_++, std::move(job), 0, std::make_unique<Firing>(std::move(firing))});
}

void FirePlan::PlanNext(const std::string& job, JobEntry& entry, core::TimePoint after) {
  entry.generation = ++generations_;
  entry.next_slot.reset();
  if (entry.timing.schedule) entry.next_slot = entry.timing.schedule->NextAfter(after);
  if (entry.next_slot) {
    heap_.push(HeapEntry{*entry.next_slot, order_++, job, entry.generation, nullptr});
  }
}

void FirePlan::DropStale() {
  while (!heap_.empty()) {
    const HeapEntry& top = heap_.top();
    const auto it = jobs_.find(top.job);
    const bool live = it != jobs_.end() && (top.one_off || it->second.generation == top.generation);
    if (live) return;
    heap_.pop();
  }
}

std::optional<core::TimePoint> FirePlan::NextWake() {
  DropStale();
  if (heap_.empty()) return std::nullopt;
  return heap_.top().due;
}

std::optional<core::TimePoint> FirePlan::NextSlot(const std::string& job) const {
  const auto it = jobs_.find(job);
  if (it == jobs_.end()) return std::nullopt;
  return it->second.next_slot;
}

std::vector<Firing> FirePlan::TakeDue(core::TimePoint now, std::vector<MissedSlots>* missed) {
  std::vector<Firing> due;
  for (DropStale(); !heap_.empty() && heap_.top().due <= now; DropStale()) {
    // top() is const; the entry is popped at once, so moving out of it is safe.
    HeapEntry top = std::move(const_cast<HeapEntry&>(heap_.top()));
    heap_.pop();
    if (top.one_off) {
      due.push_back(std::move(*top.one_off));
      continue;
    }
    JobEntry& entry = jobs_.at(top.job);
    const core::TimePoint slot = top.due;
    const core::Duration grace = entry.timing.misfire_grace;
    // Only slots within the grace window can still run; counting stops there.
    const core::TimePoint window = std::max(slot, now - grace);
    const SlotSpan recent = SlotsBetween(*entry.timing.schedule, window, now);
    const bool several = recent.count > 1 || (recent.count == 1 && window > slot);

    if (!several && recent.count == 1) {
      due.push_back(Firing{top.job, store::Trigger::kSchedule, slot, 1});
      entry.last_fired_slot = slot;
    } else if (several && entry.timing.misfire == config::Misfire::kRunOnce) {
      due.push_back(Firing{top.job, store::Trigger::kCatchup, recent.latest, 1});
      entry.last_fired_slot = recent.latest;
      if (missed) missed->push_back(MissedSlots{top.job, recent.count - 1, recent.latest});
    } else if (missed) {
      // Skipped by policy, or too late for the grace window.
      missed->push_back(MissedSlots{top.job, std::max<std::uint64_t>(recent.count, 1),
                                    recent.count ? recent.latest : slot});
    }
    PlanNext(top.job, entry, now);
  }
  return due;
}

void FirePlan::ClockSteppedBack(core::TimePoint now) {
  for (auto& [job, entry] : jobs_) {
    core::TimePoint from = now;
    if (entry.timing.schedule && entry.timing.schedule->IsFixedTime() && entry.last_fired_slot) {
      from = std::max(from, *entry.last_fired_slot);
    }
    PlanNext(job, entry, from);
  }
}

}  // namespace scheduler
