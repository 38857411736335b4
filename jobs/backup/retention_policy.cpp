#include "jobs/backup/retention_policy.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <numeric>

namespace jobs::backup {
namespace {

using Days = std::chrono::sys_days;

Days DayOf(core::TimePoint t) { return std::chrono::floor<std::chrono::days>(t); }

// The Monday that starts t's ISO week: 1970-01-01 was a Thursday.
long long IsoWeekOf(core::TimePoint t) {
  const long long day = DayOf(t).time_since_epoch().count();
  return (day + 3) / 7 - (day + 3 < 0 && (day + 3) % 7 != 0 ? 1 : 0);
}

long long MonthOf(core::TimePoint t) {
  const std::chrono::year_month_day ymd{DayOf(t)};
  return static_cast<long long>(static_cast<int>(ymd.year())) * 12 +
         static_cast<long long>(static_cast<unsigned>(ymd.month()));
}

// Newest first: the newest backup of each of the first `n` distinct buckets.
void KeepNewestPerBucket(const std::vector<std::size_t>& newest_first,
                         const std::vector<core::TimePoint>& times, int n,
                         const std::function<long long(core::TimePoint)>& bucket_of,
                         std::set<std::size_t>& keep) {
  if (n <= 0) return;
  int buckets = 0;
  bool first = true;
  long long last_bucket = 0;
  for (std::size_t i : newest_first) {
    const long long bucket = bucket_of(times[i]);
    if (!first && bucket == last_bucket) continue;
    first = false;
    last_bucket = bucket;
    keep.insert(i);
    if (++buckets == n) return;
  }
}

}  // namespace

std::set<std::size_t> BackupsToKeep(const std::vector<core::TimePoint>& times,
                                    const KeepPolicy& policy) {
  std::vector<std::size_t> order(times.size());
  std::iota(order.begin(), order.end(), 0);
  std::set<std::size_t> keep;
  if (policy.keeps_everything()) {
    keep.insert(order.begin(), order.end());
    return keep;
  }
  std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    return times[a] != times[b] ? times[a] > times[b] : a > b;
  });
  for (int i = 0; i < policy.last && i < static_cast<int>(order.size()); ++i) {
    keep.insert(order[static_cast<std::size_t>(i)]);
  }
  KeepNewestPerBucket(
      order, times, policy.daily,
      [](core::TimePoint t) { return DayOf(t).time_since_epoch().count(); }, keep);
  KeepNewestPerBucket(order, times, policy.weekly, IsoWeekOf, keep);
  KeepNewestPerBucket(order, times, policy.monthly, MonthOf, keep);
  return keep;
}

}  // namespace jobs::backup
