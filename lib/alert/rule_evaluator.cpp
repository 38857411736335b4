#include "alert/rule_evaluator.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <spdlog/spdlog.h>

namespace alert {
namespace {

constexpr const char* kConsecutiveFailures = "consecutive_failures";
constexpr const char* kDurationOver = "duration_over";
constexpr const char* kQualityBelow = "quality_below";
constexpr const char* kFailuresWithin = "failures_within";
constexpr const char* kStale = "stale";
constexpr const char* kReloadFailed = "reload_failed";

double Seconds(core::Duration d) { return std::chrono::duration<double>(d).count(); }

// The run's quality score, if the job reported a usable one.
std::optional<double> QualityOf(const store::RunMetrics& metrics) {
  const std::optional<double> quality = metrics.quality();
  if (!quality || !std::isfinite(*quality)) return std::nullopt;
  return quality;
}

// The channels an alert of `severity` goes to: the route's, or every
// channel when no route is configured.
std::vector<std::string> ChannelsFor(const config::AlertsConfig& alerts,
                                     config::Severity severity) {
  if (alerts.route.empty()) {
    std::vector<std::string> all;
    for (const auto& [name, channel] : alerts.channels) all.push_back(name);
    return all;
  }
  const auto it = alerts.route.find(severity);
  return it == alerts.route.end() ? std::vector<std::string>{} : it->second;
}

// The most severe level of `levels` that `holds_at` accepts, if any.
template <typename Rule, typename Holds>
const Rule* WorstLevel(const std::vector<Rule>& levels, Holds holds_at) {
  const Rule* worst = nullptr;
  for (const Rule& level : levels) {
    if (holds_at(level)) worst = &level;
  }
  return worst;
}

}  // namespace

RuleEvaluator::RuleEvaluator(std::shared_ptr<const config::Config> config, std::string host,
                             core::TimePoint started)
    : host_(std::move(host)), started_(started) {
  SetConfig(std::move(config));
}

void RuleEvaluator::SetConfig(std::shared_ptr<const config::Config> config) {
  auto next = std::make_shared<Policy>();
  next->scrubber = SecretScrubber(*config);
  next->config = std::move(config);
  std::lock_guard lock(policy_mutex_);
  policy_ = std::move(next);
}

std::shared_ptr<const RuleEvaluator::Policy> RuleEvaluator::policy() const {
  std::lock_guard lock(policy_mutex_);
  return policy_;
}

core::Result<void> RuleEvaluator::Load(store::RunStore& store) {
  auto states = store.AlertStates();
  if (!states) return core::Unexpected(states.error());
  for (const store::AlertRuleState& saved : *states) {
    RuleState& state = rules_[{saved.job, saved.rule}];
    state.holding = saved.holding;
    state.fired = saved.fired;
    state.severity = ParseSeverity(saved.severity).value_or(config::Severity::kWarning);
    state.last_sent_at = saved.last_sent_at;
  }
  auto health = store.AllHealth();
  if (!health) return core::Unexpected(health.error());
  for (const store::JobHealth& job : *health) {
    JobFacts& facts = jobs_[job.job];
    facts.streak = job.consecutive_failures;
    facts.last_success_at = job.last_success_at;
  }
  return {};
}

void RuleEvaluator::Remember(store::RunStore& store, const config::AlertRules& rules,
                             JobFacts& facts, const store::RunEnd& end) {
  core::Duration window{};
  for (const auto& level : rules.failures_within) window = std::max(window, level.window);
  std::size_t durations = 0;
  for (const auto& level : rules.duration_over) {
    if (level.average_of > 1) {
      durations = std::max(durations, static_cast<std::size_t>(level.average_of));
    }
  }
  if (window == core::Duration{} && durations == 0) return;
  const auto ran_to_its_end = [](store::RunStatus status) {
    return status == store::RunStatus::kOk || status == store::RunStatus::kTimeout;
  };
  if (!facts.history_loaded) {
    // Once per job and process: the runs before this one (a restart must
    // not forget the failures of the last ten minutes).
    facts.history_loaded = true;
    auto recent = store.RecentRuns(end.job, 1000);
    if (!recent) {
      spdlog::warn("alerts: cannot read the recent runs of {}: {}", end.job,
                   recent.error().message);
    } else {
      for (auto it = recent->rbegin(); it != recent->rend(); ++it) {  // oldest first
        if (it->id == end.id || !it->finished_at) continue;
        if (store::CountsAsFailure(it->status)) facts.failed_at.push_back(*it->finished_at);
        if (ran_to_its_end(it->status)) {
          facts.durations.push_back(*it->finished_at - it->started_at);
        }
      }
    }
  }
  if (store::CountsAsFailure(end.status)) facts.failed_at.push_back(end.finished_at);
  if (ran_to_its_end(end.status) && end.started_at != core::TimePoint{}) {
    facts.durations.push_back(end.finished_at - end.started_at);
  }
  while (!facts.failed_at.empty() && facts.failed_at.front() <= end.finished_at - window) {
    facts.failed_at.pop_front();
  }
  while (facts.durations.size() > durations) facts.durations.pop_front();
}

Alert RuleEvaluator::Base(const Policy& policy, const std::string& job, core::TimePoint now) const {
  Alert alert;
  alert.job = job;
  alert.raised_at = now;
  alert.host = host_;
  const std::optional<std::string>& public_url = policy.config->http.public_url;
  if (!job.empty() && public_url && !public_url->empty()) {
    std::string base = *public_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    alert.runs_url = base + "/api/jobs/" + job + "/runs";
  }
  return alert;
}

void RuleEvaluator::OnRunEnd(store::RunStore& store, const store::RunEnd& end) {
  const bool ok = end.status == store::RunStatus::kOk;
  const bool failed = store::CountsAsFailure(end.status);
  if (!ok && !failed) return;  // cancelled: says nothing about the job

  const std::shared_ptr<const Policy> current = policy();
  const config::Config& config = *current->config;
  if (facts_config_ != current->config) {
    facts_by_position_.clear();
    for (const config::JobConfig& j : config.jobs) facts_by_position_.push_back(&jobs_[j.name]);
    facts_config_ = current->config;
  }
  const config::JobConfig* job = config.FindJob(end.job);
  JobFacts& facts = job ? *facts_by_position_[static_cast<std::size_t>(job - config.jobs.data())]
                        : jobs_[end.job];
  const int streak_before = facts.streak;
  if (ok) {
    facts.streak = 0;
    facts.last_success_at = end.finished_at;
  } else {
    ++facts.streak;
  }
  if (job == nullptr) return;  // removed by a reload while it ran
  const config::AlertRules& rules = job->alerts;
  const core::TimePoint now = end.finished_at;
  // The raw error; scrubbed only when an alert carries it.
  const std::string& error = end.error;

  CheckStreak(store, *current, *job, facts, streak_before, now, end.id, error, ok);
  Remember(store, rules, facts, end);

  if (!rules.failures_within.empty()) {
    // Failures within each level's window, up to now.
    auto failures_since = [&](core::Duration window) {
      return static_cast<int>(std::count_if(facts.failed_at.begin(), facts.failed_at.end(),
                                            [&](core::TimePoint t) { return t > now - window; }));
    };
    const auto* level =
        WorstLevel(rules.failures_within, [&](const config::FailuresWithinRule& rule) {
          return failures_since(rule.window) >= rule.count;
        });
    Verdict verdict;
    verdict.holds = level != nullptr;
    verdict.may_recover = ok;
    if (level != nullptr) verdict.severity = level->severity;
    verdict.firing = [&] {
      Alert alert = Base(*current, job->name, now);
      const int failures = failures_since(level->window);
      alert.summary = fmt::format("{} failed {} times within {}", job->name, failures,
                                  core::FormatDuration(level->window));
      alert.value = failures;
      alert.threshold = level->count;
      alert.run_id = end.id;
      alert.consecutive_failures = facts.streak;
      alert.last_error = current->scrubber.Scrub(error);
      return alert;
    };
    verdict.recovery = [&] {
      const config::FailuresWithinRule& first = rules.failures_within.front();
      Alert alert = Base(*current, job->name, now);
      alert.summary = fmt::format("{} is below {} failures within {} again", job->name, first.count,
                                  core::FormatDuration(first.window));
      alert.value = failures_since(first.window);
      alert.threshold = first.count;
      alert.run_id = end.id;
      return alert;
    };
    Apply(store, *current, job->name, kFailuresWithin, now, verdict);
  }

  if (!rules.duration_over.empty() && end.status != store::RunStatus::kInterrupted &&
      end.started_at != core::TimePoint{}) {
    const core::Duration this_run = end.finished_at - end.started_at;
    // What a level compares: this run's duration, or the average of the
    // last `average_of` runs that ran to their end.
    auto measured = [&](const config::DurationOverRule& rule) {
      if (rule.average_of <= 1 || facts.durations.empty()) return this_run;
      const std::size_t n =
          std::min<std::size_t>(static_cast<std::size_t>(rule.average_of), facts.durations.size());
      core::Duration sum{};
      for (std::size_t i = facts.durations.size() - n; i < facts.durations.size(); ++i) {
        sum += facts.durations[i];
      }
      return sum / static_cast<core::Duration::rep>(n);
    };
    const auto* level = WorstLevel(rules.duration_over, [&](const config::DurationOverRule& rule) {
      return measured(rule) > rule.threshold;
    });
    const core::Duration took = level ? measured(*level) : measured(rules.duration_over.front());
    // A run that failed early says nothing about how long the job takes.
    if (level != nullptr || ok) {
      Verdict verdict;
      verdict.holds = level != nullptr;
      verdict.may_recover = ok;
      if (level != nullptr) verdict.severity = level->severity;
      verdict.firing = [&] {
        Alert alert = Base(*current, job->name, now);
        alert.summary =
            level->average_of > 1
                ? fmt::format("{} took {} on average over its last {} runs (more than {})",
                              job->name, core::FormatDuration(took), level->average_of,
                              core::FormatDuration(level->threshold))
                : fmt::format("{} ran for {} (more than {})", job->name, core::FormatDuration(took),
                              core::FormatDuration(level->threshold));
        alert.value = Seconds(took);
        alert.threshold = Seconds(level->threshold);
        alert.run_id = end.id;
        alert.consecutive_failures = facts.streak;
        alert.last_error = current->scrubber.Scrub(error);
        return alert;
      };
      verdict.recovery = [&] {
        Alert alert = Base(*current, job->name, now);
        alert.summary = fmt::format("{} finished within {} again (took {})", job->name,
                                    core::FormatDuration(rules.duration_over.front().threshold),
                                    core::FormatDuration(took));
        alert.value = Seconds(took);
        alert.threshold = Seconds(rules.duration_over.front().threshold);
        alert.run_id = end.id;
        return alert;
      };
      Apply(store, *current, job->name, kDurationOver, now, verdict);
    }
  }

  if (!rules.quality_below.empty() && ok) {
    if (const std::optional<double> quality = QualityOf(end.metrics)) {
      const auto* level = WorstLevel(
          rules.quality_below,
          [&](const config::QualityBelowRule& rule) { return *quality < rule.threshold; });
      Verdict verdict;
      verdict.holds = level != nullptr;
      verdict.may_recover = true;
      if (level != nullptr) verdict.severity = level->severity;
      verdict.firing = [&] {
        Alert alert = Base(*current, job->name, now);
        alert.summary = fmt::format("{} data quality {:.3f} is below {:.3f}", job->name, *quality,
                                    level->threshold);
        alert.value = *quality;
        alert.threshold = level->threshold;
        alert.run_id = end.id;
        return alert;
      };
      verdict.recovery = [&] {
        Alert alert = Base(*current, job->name, now);
        alert.summary = fmt::format("{} data quality is back to {:.3f}", job->name, *quality);
        alert.value = *quality;
        alert.threshold = rules.quality_below.front().threshold;
        alert.run_id = end.id;
        return alert;
      };
      Apply(store, *current, job->name, kQualityBelow, now, verdict);
    }
  }

  if (rules.stale && ok) {
    Verdict verdict;
    verdict.may_recover = true;
    verdict.recovery = [&] {
      Alert alert = Base(*current, job->name, now);
      alert.summary = fmt::format("{} succeeded again", job->name);
      alert.run_id = end.id;
      return alert;
    };
    Apply(store, *current, job->name, kStale, now, verdict);
  }
}

void RuleEvaluator::CheckStreak(store::RunStore& store, const Policy& policy,
                                const config::JobConfig& job, const JobFacts& facts,
                                int streak_before, core::TimePoint now,
                                std::optional<std::int64_t> run_id, const std::string& error,
                                bool success) {
  const auto& levels = job.alerts.consecutive_failures;
  if (levels.empty()) return;
  const auto* level = WorstLevel(levels, [&](const config::ConsecutiveFailuresRule& rule) {
    return facts.streak >= rule.threshold;
  });
  Verdict verdict;
  verdict.holds = level != nullptr;
  verdict.may_recover = success;
  if (level != nullptr) verdict.severity = level->severity;
  verdict.firing = [&] {
    Alert alert = Base(policy, job.name, now);
    alert.summary = facts.streak == 1
                        ? fmt::format("{} failed", job.name)
                        : fmt::format("{} failed {} times in a row", job.name, facts.streak);
    alert.consecutive_failures = facts.streak;
    alert.threshold = level->threshold;
    alert.value = facts.streak;
    alert.run_id = run_id;
    alert.last_error = policy.scrubber.Scrub(error);
    return alert;
  };
  verdict.recovery = [&] {
    Alert alert = Base(policy, job.name, now);
    alert.summary =
        streak_before == 1
            ? fmt::format("{} succeeded again after a failure", job.name)
            : fmt::format("{} succeeded again after {} failures in a row", job.name, streak_before);
    alert.consecutive_failures = 0;
    alert.value = streak_before;
    alert.threshold = levels.front().threshold;
    alert.run_id = run_id;
    return alert;
  };
  Apply(store, policy, job.name, kConsecutiveFailures, now, verdict);
}

void RuleEvaluator::Sweep(store::RunStore& store, core::TimePoint now) {
  const std::shared_ptr<const Policy> current = policy();
  for (const config::JobConfig& job : current->config->jobs) {
    const bool has_streak_rule = !job.alerts.consecutive_failures.empty();
    const bool has_stale_rule = job.alerts.stale && job.max_age;
    if (!has_streak_rule && !has_stale_rule) continue;
    const auto found = jobs_.find(job.name);
    const JobFacts facts = found == jobs_.end() ? JobFacts{} : found->second;
    if (has_streak_rule && facts.streak > 0) {
      CheckStreak(store, *current, job, facts, facts.streak, now, std::nullopt, "", false);
    }
    if (has_stale_rule) {
      const core::TimePoint since = facts.last_success_at.value_or(started_);
      if (now - since <= *job.max_age) continue;  // recovery comes with the next success
      Verdict verdict;
      verdict.holds = true;
      verdict.severity = job.alerts.stale->severity;
      verdict.firing = [&] {
        Alert alert = Base(*current, job.name, now);
        alert.summary =
            facts.last_success_at
                ? fmt::format("{} has not succeeded since {} (max_age {})", job.name,
                              core::FormatRfc3339(since), core::FormatDuration(*job.max_age))
                : fmt::format("{} has not succeeded since jobsd started at {} (max_age {})",
                              job.name, core::FormatRfc3339(since),
                              core::FormatDuration(*job.max_age));
        alert.consecutive_failures = facts.streak;
        alert.value = Seconds(now - since);
        alert.threshold = Seconds(*job.max_age);
        return alert;
      };
      Apply(store, *current, job.name, kStale, now, verdict);
    }
  }
}

void RuleEvaluator::ReloadFailed(store::RunStore& store, const std::string& error,
                                 core::TimePoint now) {
  const std::shared_ptr<const Policy> current = policy();
  const auto& rule = current->config->alerts.rules.reload_failed;
  if (!rule) return;
  Verdict verdict;
  verdict.holds = true;
  verdict.severity = rule->severity;
  verdict.firing = [&] {
    Alert alert = Base(*current, "", now);
    alert.summary =
        "config reload of " + current->config->file + " failed; the previous config stays in force";
    alert.last_error = current->scrubber.Scrub(error);
    return alert;
  };
  Apply(store, *current, "", kReloadFailed, now, verdict);
}

void RuleEvaluator::ReloadSucceeded(store::RunStore& store, core::TimePoint now) {
  const std::shared_ptr<const Policy> current = policy();
  Verdict verdict;
  verdict.may_recover = true;
  verdict.recovery = [&] {
    Alert alert = Base(*current, "", now);
    alert.summary = "config " + current->config->file + " reloaded";
    return alert;
  };
  Apply(store, *current, "", kReloadFailed, now, verdict);
}

void RuleEvaluator::Apply(store::RunStore& store, const Policy& policy, const std::string& job,
                          const std::string& rule, core::TimePoint now, const Verdict& verdict) {
  const auto key = std::make_pair(job, rule);
  auto found = rules_.find(key);
  if (!verdict.holds && (found == rules_.end() || !found->second.holding)) return;
  RuleState& state = found != rules_.end() ? found->second : rules_[key];
  const core::Duration cooldown = policy.config->alerts.cooldown;
  const bool cooled_down = !state.last_sent_at || now - *state.last_sent_at >= cooldown;

  std::optional<AlertKind> send;
  if (verdict.holds) {
    if (!state.holding) {
      state.holding = true;
      state.fired = false;
      // A rule that flaps: its last alert was moments ago; hold this one
      // back unless it is more severe.
      if (cooled_down || verdict.severity > state.severity) {
        send = AlertKind::kFiring;
      } else {
        spdlog::info("alert job={} rule={} held back: the last one went out less than {} ago",
                     job.empty() ? "-" : job, rule, core::FormatDuration(cooldown));
      }
    } else if (state.fired && verdict.severity > state.severity) {
      send = AlertKind::kEscalation;
    } else if (!state.fired && (cooled_down || verdict.severity > state.severity)) {
      send = AlertKind::kFiring;
    } else if (state.fired && cooled_down) {
      send = AlertKind::kRepeat;
    }
    if (!send) {
      SaveState(store, job, rule, state);
      return;
    }
    Alert alert = verdict.firing();
    alert.kind = *send;
    alert.rule = rule;
    alert.severity = verdict.severity;
    state.fired = true;
    state.severity = verdict.severity;
    state.last_sent_at = now;
    SaveState(store, job, rule, state);
    Write(store, policy, std::move(alert));
    return;
  }

  if (!verdict.may_recover) return;
  const bool recover = state.fired && policy.config->alerts.notify_recovery;
  state.holding = false;
  state.fired = false;
  SaveState(store, job, rule, state);
  if (!recover) return;
  Alert alert = verdict.recovery();
  alert.kind = AlertKind::kRecovery;
  alert.rule = rule;
  alert.severity = state.severity;  // routed like the alert it ends
  Write(store, policy, std::move(alert));
}

void RuleEvaluator::SaveState(store::RunStore& store, const std::string& job,
                              const std::string& rule, const RuleState& state) {
  store::AlertRuleState saved;
  saved.job = job;
  saved.rule = rule;
  saved.holding = state.holding;
  saved.fired = state.fired;
  saved.severity = std::string(ToString(state.severity));
  saved.last_sent_at = state.last_sent_at;
  if (auto ok = store.PutAlertState(saved); !ok) {
    spdlog::error("state store: saving the state of alert rule {} of {}: {}", rule,
                  job.empty() ? "jobsd" : job, ok.error().message);
  }
}

void RuleEvaluator::Write(store::RunStore& store, const Policy& policy, Alert alert) {
  const std::vector<std::string> channels = ChannelsFor(policy.config->alerts, alert.severity);
  store::StoredAlert stored;
  stored.raised_at = alert.raised_at;
  stored.job = alert.job;
  stored.rule = alert.rule;
  stored.kind = std::string(ToString(alert.kind));
  stored.severity = std::string(ToString(alert.severity));
  stored.summary = alert.summary;
  stored.body = AlertJson(alert);
  auto id = store.InsertAlert(stored, channels);
  if (!id) {
    spdlog::error("state store: writing the {} alert of {}: {}", alert.rule,
                  alert.job.empty() ? "jobsd" : alert.job, id.error().message);
    return;
  }
  spdlog::warn("alert={} job={} rule={} kind={} severity={} channels={}: {}", *id,
               alert.job.empty() ? "-" : alert.job, alert.rule, ToString(alert.kind),
               ToString(alert.severity),
               channels.empty() ? "none" : fmt::format("{}", fmt::join(channels, ",")),
               alert.summary);
  if (on_written_) on_written_();
}

}  // namespace alert
