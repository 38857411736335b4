// Decides when an alert is due. It sees every run's end inside the state
// store's transaction that records the run (RunRecorder's end hook), sweeps
// the jobs periodically for `stale`, and hears of config reloads for
// `reload_failed`. An alert it raises is written to the outbox, with one
// pending delivery per routed channel, in that same transaction, so a run
// result and the alert it caused commit together or not at all.
//
// An alert fires when a rule starts to hold, not on every failing run. Per
// job and rule it remembers (in memory and in the store's alert_state) whether
// the rule holds and what was sent: while the rule keeps holding, a repeat
// goes out only once `cooldown` has passed since the last alert, a more
// severe level escalates at once, and a rule that starts to hold again within
// `cooldown` of its last alert is held back until the cooldown ends. When the
// job succeeds again, one recovery alert goes out (with notify_recovery), to
// the channels of the alert it recovers from.
//
// Recorder thread only: every method but SetConfig takes the RunStore the
// recorder passes. SetConfig: any thread. Store errors are logged; the run's
// own record is unaffected.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "alert/alert.h"
#include "alert/secret_scrubber.h"
#include "config/config.h"
#include "core/result.h"
#include "core/time.h"
#include "store/run_store.h"

namespace alert {

class RuleEvaluator {
 public:
  // `host` names this machine in alerts; `started` is when the daemon
  // started (a job that never succeeded is stale from then).
  RuleEvaluator(std::shared_ptr<const config::Config> config, std::string host,
                core::TimePoint started);

  // Reads what the store knows: rule states and each job's streak and last
  // success. Call once, before the first run ends.
  core::Result<void> Load(store::RunStore& store);
  // Rules, routes and channels for the alerts raised from now on.
  void SetConfig(std::shared_ptr<const config::Config> config);
  // Called after each alert is written (still inside the transaction):
  // the outbox's wake-up. Set before the first run ends.
  void OnAlertWritten(std::function<void()> callback) { on_written_ = std::move(callback); }

  // A run ended (skipped runs never reach here).
  void OnRunEnd(store::RunStore& store, const store::RunEnd& end);
  // `stale` for every job with max_age, and streak rules for jobs whose
  // streak grew without a run ending here (runs interrupted by a crash).
  void Sweep(store::RunStore& store, core::TimePoint now);
  // SIGHUP found an invalid config / a valid one: reload_failed starts or
  // stops holding.
  void ReloadFailed(store::RunStore& store, const std::string& error, core::TimePoint now);
  void ReloadSucceeded(store::RunStore& store, core::TimePoint now);

 private:
  struct Policy {
    std::shared_ptr<const config::Config> config;
    SecretScrubber scrubber;
  };
  struct JobFacts {
    int streak = 0;
    std::optional<core::TimePoint> last_success_at;
    // For failures_within and duration_over's average_of, read from the
    // store's recent runs the first time a run of the job ends here.
    bool history_loaded = false;
    std::deque<core::TimePoint> failed_at;  // newest last; only what a window can need
    std::deque<core::Duration> durations;   // of runs that ran to their end, newest last
  };
  struct RuleState {
    bool holding = false;
    bool fired = false;
    config::Severity severity = config::Severity::kInfo;  // of the last alert sent
    std::optional<core::TimePoint> last_sent_at;
  };
  // What a rule says right now: does it hold, at which severity, and the
  // alert to send if one is due (kind and severity filled in by Apply).
  struct Verdict {
    bool holds = false;
    config::Severity severity = config::Severity::kWarning;
    // Whether a rule that stops holding may recover now (only on a success).
    bool may_recover = false;
    std::function<Alert()> firing;
    std::function<Alert()> recovery;
  };

  std::shared_ptr<const Policy> policy() const;
  void Apply(store::RunStore& store, const Policy& policy, const std::string& job,
             const std::string& rule, core::TimePoint now, const Verdict& verdict);
  void Write(store::RunStore& store, const Policy& policy, Alert alert);
  void SaveState(store::RunStore& store, const std::string& job, const std::string& rule,
                 const RuleState& state);
  void CheckStreak(store::RunStore& store, const Policy& policy, const config::JobConfig& job,
                   const JobFacts& facts, int streak_before, core::TimePoint now,
                   std::optional<std::int64_t> run_id, const std::string& error, bool success);
  Alert Base(const Policy& policy, const std::string& job, core::TimePoint now) const;
  // Keeps the facts failures_within and average_of read up to date.
  void Remember(store::RunStore& store, const config::AlertRules& rules, JobFacts& facts,
                const store::RunEnd& end);

  const std::string host_;
  const core::TimePoint started_;
  mutable std::mutex policy_mutex_;
  std::shared_ptr<const Policy> policy_;  // guarded by policy_mutex_

  // Recorder thread only.
  std::function<void()> on_written_;
  std::unordered_map<std::string, JobFacts> jobs_;  // never erased: pointers stay valid
  // The facts of each job of facts_config_, by its position there, so that
  // a run's end looks its job up once (in the config's index) instead of
  // twice; rebuilt when the policy's config changes.
  std::shared_ptr<const config::Config> facts_config_;
  std::vector<JobFacts*> facts_by_position_;
  std::map<std::pair<std::string, std::string>, RuleState> rules_;  // by (job, rule)
};

}  // namespace alert
