// RunStore: per-job health, the failure streak and the last success and
// failure, kept in job_health as runs end.
#include <algorithm>

#include "store/run_store.h"
#include "store/run_store_sql.h"

namespace store {
namespace {

using core::Unexpected;
using detail::FromMicros;
using detail::kNoTime;
using detail::Micros;

// How stale job_health.last_success_at may grow while a job keeps succeeding.
constexpr auto kHealthRefresh = std::chrono::seconds(60);

}  // namespace

core::Result<void> RunStore::RecordHealth(std::string_view job, RunStatus status,
                                          core::TimePoint at) {
  if (status == RunStatus::kSkipped || status == RunStatus::kCancelled ||
      status == RunStatus::kRunning) {
    return {};
  }
  // Success resets the streak; a failure extends it. A success after a
  // success changes only last_success_at: that is written at most once per
  // kHealthRefresh (AllHealth finds later successes among the runs), so a
  // job that runs every second does not rewrite its health row every
  // second. An UPDATE whose WHERE fails dirties no page.
  auto health = Prepared(
      update_health_,
      "INSERT INTO job_health (job, consecutive_failures, last_success_at, last_failure_at, "
      "last_status) VALUES (?1, ?2, ?3, ?4, ?5) "
      "ON CONFLICT (job) DO UPDATE SET "
      "consecutive_failures = CASE WHEN ?2 = 0 THEN 0 ELSE consecutive_failures + 1 END, "
      "last_success_at = COALESCE(?3, last_success_at), "
      "last_failure_at = COALESCE(?4, last_failure_at), last_status = ?5 "
      "WHERE ?2 != 0 OR consecutive_failures != 0 OR last_status IS NOT ?5 "
      "OR last_success_at IS NULL OR last_success_at <= ?3 - ?6");
  if (!health) return Unexpected(health.error());
  const bool failed = CountsAsFailure(status);
  std::optional<std::int64_t> success_at;
  std::optional<std::int64_t> failure_at;
  (failed ? failure_at : success_at) = Micros(at);
  (*health)
      ->Bind(1, job)
      .Bind(2, std::int64_t{failed ? 1 : 0})
      .Bind(3, success_at)
      .Bind(4, failure_at)
      .Bind(5, ToString(status))
      .Bind(6, Micros(core::TimePoint(kHealthRefresh)));
  return (*health)->Run();
}

core::Result<std::vector<JobHealth>> RunStore::AllHealth() {
  auto all = HealthRows();
  if (!all) return all;
  // A job whose row says ok may have succeeded again since, within
  // kHealthRefresh of the success the row holds (RecordHealth): any later
  // success is within that minute, so the newest successful run is as good
  // as the latest finish. Runs not indexed yet are looked at for all jobs at
  // once.
  auto newest_ok = db_.Prepare(
      "SELECT r.finished_at FROM run_index i JOIN runs r ON r.id = i.id "
      "WHERE i.job = ?1 AND r.status = 'ok' ORDER BY i.started_at DESC, i.id DESC LIMIT 1");
  if (!newest_ok) return Unexpected(newest_ok.error());
  auto pending = PendingByJob("MAX(finished_at)", "status = 'ok'");
  if (!pending) return Unexpected(pending.error());
  for (JobHealth& health : *all) {
    if (health.last_status != RunStatus::kOk || !health.last_success_at) continue;
    newest_ok->Bind(1, health.job);
    auto row = newest_ok->Step();
    if (!row) return Unexpected(row.error());
    std::int64_t at = *row && !newest_ok->IsNull(0) ? newest_ok->Int(0) : kNoTime;
    newest_ok->Reset();
    if (const auto it = pending->find(health.job); it != pending->end()) {
      at = std::max(at, it->second);
    }
    if (at != kNoTime) {
      health.last_success_at = std::max(*health.last_success_at, FromMicros(at));
    }
  }
  return all;
}

core::Result<std::vector<JobHealth>> RunStore::HealthRows() {
  auto stmt = db_.Prepare(
      "SELECT job, consecutive_failures, last_success_at, last_failure_at, last_status "
      "FROM job_health ORDER BY job");
  if (!stmt) return Unexpected(stmt.error());
  std::vector<JobHealth> all;
  for (;;) {
    auto row = stmt->Step();
    if (!row) return Unexpected(row.error());
    if (!*row) return all;
    JobHealth health;
    health.job = stmt->Text(0);
    health.consecutive_failures = static_cast<int>(stmt->Int(1));
    health.last_success_at = FromMicros(stmt->OptionalInt(2));
    health.last_failure_at = FromMicros(stmt->OptionalInt(3));
    if (!stmt->IsNull(4)) health.last_status = ParseRunStatus(stmt->Text(4));
    all.push_back(std::move(health));
  }
}

}  // namespace store
