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

std::uint32_t FirePlan::Set(const std::string& job, JobTiming timing,
                            std::optional<core::TimePoint> last_slot, core::TimePoint now) {
  auto [at, added] = index_.try_emplace(job, 0);
  if (added) {
    if (free_slots_.empty()) {
      at->second = static_cast<std::uint32_t>(slots_.size());
      slots_.emplace_back();
    } else {
      at->second = free_slots_.back();
      free_slots_.pop_back();
    }
    slots_[at->second].name = job;
  }
  const std::uint32_t slot = at->second;
  JobEntry& entry = slots_[slot];
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
  PlanNext(slot, now);
  return slot;
}

void FirePlan::Remove(const std::string& job) {
  const auto it = index_.find(job);
  if (it == index_.end()) return;
  // The timing goes with the job; the name's buffer stays for the slot's next job.
  JobEntry& entry = slots_[it->second];
  entry.name.clear();
  entry.timing = JobTiming{};
  entry.next_slot.reset();
  entry.last_fired_slot.reset();
  entry.generation = 0;
  free_slots_.push_back(it->second);
  index_.erase(it);
}

void FirePlan::Add(Firing firing, core::TimePoint at) {
  heap_.push(HeapEntry{at, order_++, 0, 0, std::make_unique<Firing>(std::move(firing))});
}

void FirePlan::PlanNext(std::uint32_t slot, core::TimePoint after) {
  JobEntry& entry = slots_[slot];
  entry.generation = ++generations_;
  entry.next_slot.reset();
  if (entry.timing.schedule) entry.next_slot = entry.timing.schedule->NextAfter(after);
  if (entry.next_slot) {
    heap_.push(HeapEntry{*entry.next_slot, order_++, entry.generation, slot, nullptr});
  }
}

bool FirePlan::Live(const HeapEntry& entry) const {
  // A one-off firing lives as long as a job of its name does (rare: looked up by name).
  if (entry.one_off) return index_.count(entry.one_off->job) > 0;
  return slots_[entry.slot].generation == entry.generation;
}

void FirePlan::DropStale() {
  while (!heap_.empty() && !Live(heap_.top())) heap_.pop();
}

std::optional<core::TimePoint> FirePlan::NextWake() {
  DropStale();
  if (heap_.empty()) return std::nullopt;
  return heap_.top().due;
}

std::optional<core::TimePoint> FirePlan::NextSlot(const std::string& job) const {
  const auto it = index_.find(job);
  if (it == index_.end()) return std::nullopt;
  return slots_[it->second].next_slot;
}

void FirePlan::TakeDue(core::TimePoint now, std::vector<Firing>& due,
                       std::vector<MissedSlots>* missed) {
  for (DropStale(); !heap_.empty() && heap_.top().due <= now; DropStale()) {
    // top() is const; the entry is popped at once, so moving out of it is safe.
    HeapEntry top = std::move(const_cast<HeapEntry&>(heap_.top()));
    heap_.pop();
    if (top.one_off) {
      due.push_back(std::move(*top.one_off));
      due.back().slot = index_.at(due.back().job);  // Live: the job exists
      continue;
    }
    JobEntry& entry = slots_[top.slot];
    const core::TimePoint slot = top.due;
    const core::Duration grace = entry.timing.misfire_grace;
    // Only slots within the grace window can still run; counting stops there.
    const core::TimePoint window = std::max(slot, now - grace);
    const SlotSpan recent = SlotsBetween(*entry.timing.schedule, window, now);
    const bool several = recent.count > 1 || (recent.count == 1 && window > slot);

    if (!several && recent.count == 1) {
      due.push_back(Firing{entry.name, store::Trigger::kSchedule, slot, 1, top.slot});
      entry.last_fired_slot = slot;
    } else if (several && entry.timing.misfire == config::Misfire::kRunOnce) {
      due.push_back(Firing{entry.name, store::Trigger::kCatchup, recent.latest, 1, top.slot});
      entry.last_fired_slot = recent.latest;
      if (missed) missed->push_back(MissedSlots{entry.name, recent.count - 1, recent.latest});
    } else if (missed) {
      // Skipped by policy, or too late for the grace window.
      missed->push_back(MissedSlots{entry.name, std::max<std::uint64_t>(recent.count, 1),
                                    recent.count ? recent.latest : slot});
    }
    PlanNext(top.slot, now);
  }
}

void FirePlan::ClockSteppedBack(core::TimePoint now) {
  for (const auto& [job, slot] : index_) {
    const JobEntry& entry = slots_[slot];
    core::TimePoint from = now;
    if (entry.timing.schedule && entry.timing.schedule->IsFixedTime() && entry.last_fired_slot) {
      from = std::max(from, *entry.last_fired_slot);
    }
    PlanNext(slot, from);
  }
}

}  // namespace scheduler
