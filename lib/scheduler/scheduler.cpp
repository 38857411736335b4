#include "scheduler/scheduler.h"

#include <mutex>
#include <random>
#include <unordered_map>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "scheduler/fire_plan.h"
#include "scheduler/run_executor.h"
#include "scheduler/worker_pool.h"

namespace scheduler {

namespace asio = boost::asio;

namespace {

// Long waits are cut into pieces of this size so that a suspend/resume or a
// wall-clock step is noticed within it (asio measures waits on the monotonic
// clock, which does not see either).
constexpr core::Duration kMaxWait = std::chrono::seconds(30);
// A clock that reads this much earlier than at the last wake has been stepped back.
constexpr core::Duration kBackStepTolerance = std::chrono::seconds(1);
constexpr std::size_t kMaxQueued = 100;
// The loop wakes at most once per this interval: slots due within it are
// taken together, so 10,000 staggered jobs a second cost 1,000 wake-ups, not
// 10,000, at the price of at most this much added lateness.
constexpr core::Duration kWakeGranularity = std::chrono::milliseconds(1);
// A run whose job's last run took less than this is expected to be quick: it
// does not wake a worker of its own (see WorkerPool).
constexpr core::Duration kQuickRun = std::chrono::milliseconds(1);
// How long a queued run may wait for a worker before the loop wakes another
// (a run expected to be quick turned out slow).
constexpr auto kStallPatience = std::chrono::milliseconds(2);
// Finished runs wait for the loop's next timer wake when it comes within
// this; at thousands of runs a second the loop wakes every millisecond
// anyway, so handing runs back then costs no wake-up of its own.
constexpr core::Duration kHandBackPatience = std::chrono::milliseconds(2);
// Otherwise a worker posts them to the loop when it runs out of work, or
// once this many have gathered.
constexpr std::size_t kCompletedBunch = 64;

// Everything the scheduler keeps about one job name. Entries are never
// erased, so a run can hold on to its job's state instead of looking it up
// by name at every step.
struct JobState {
  // Loop thread, set at Start and at every Apply: the job in the config in
  // force (null once removed), and the enabled jobs that run `after:` it.
  const config::JobConfig* job = nullptr;
  // The jobs whose `after:` lists this one, each with the end that starts it.
  std::vector<std::pair<std::string, config::ChainOn>> downstream;
  std::uint32_t number = 0;  // RunReport::job_number

  int running = 0;
  // A vector, not a deque: an empty deque already allocates ~600 bytes, which
  // 100,000 jobs would pay for a queue most never use. It holds at most 100.
  std::vector<Firing> queued;
  std::optional<store::RunStatus> last_status;
  std::optional<core::TimePoint> last_finished_at;
  int consecutive_failures = 0;
  std::optional<core::TimePoint> last_success_at;
  std::optional<core::TimePoint> last_failure_at;
  std::string last_error;
  std::optional<core::Duration> last_duration;

  // Follows a finished run as the store's job_health does.
  void Count(store::RunStatus status, core::TimePoint at, const std::string& error) {
    last_status = status;
    last_finished_at = at;
    if (status == store::RunStatus::kOk) {
      consecutive_failures = 0;
      last_success_at = at;
      last_error.clear();
    } else if (store::CountsAsFailure(status)) {
      ++consecutive_failures;
      last_failure_at = at;
      last_error = error;
    }
  }
};

// One run from its start until the loop has taken its outcome. Owned by
// Impl::active; the worker that carries it out gets a plain pointer, which
// stays valid until the loop takes the run back.
struct ActiveRun {
  explicit ActiveRun(const Clock& clock) : cancel(clock) {}
  std::int64_t id = 0;
  Firing firing;
  // Keeps the job's config alive for the run, even across a reload.
  std::shared_ptr<const config::Config> config;
  const config::JobConfig* job = nullptr;  // in `config`
  JobState* state = nullptr;
  std::size_t active_at = 0;  // its place in Impl::active
  CancelToken cancel;
  RunOutcome outcome;  // the worker's, until the run is handed back
};

FirePlan::JobTiming TimingOf(const config::JobConfig& job) {
  FirePlan::JobTiming timing;
  if (job.enabled) timing.schedule = job.schedule;
  timing.misfire = job.misfire;
  timing.misfire_grace = job.misfire_grace;
  return timing;
}

bool SameTiming(const config::JobConfig& a, const config::JobConfig& b) {
  return a.cron == b.cron && a.every == b.every && a.jitter == b.jitter &&
         a.timezone == b.timezone && a.misfire == b.misfire && a.misfire_grace == b.misfire_grace &&
         a.enabled == b.enabled;
}

}  // namespace

core::Duration RetryDelay(const config::RetryPolicy& policy, int attempt, std::mt19937_64& random) {
  core::Duration ceiling = policy.backoff;
  for (int i = 1; i < attempt && ceiling < policy.max_backoff; ++i) ceiling *= 2;
  ceiling = std::min(ceiling, policy.max_backoff);
  std::uniform_int_distribution<core::Duration::rep> pick(0, ceiling.count());
  return core::Duration(pick(random));
}

struct Scheduler::Impl {
  Impl(asio::io_context& loop_in, const Clock& clock_in, const JobCatalog& catalog,
       store::RunRecorder& recorder_in, http::Client& http, int worker_threads,
       std::optional<std::uint64_t> seed)
      : loop(loop_in),
        clock(clock_in),
        recorder(recorder_in),
        executor(catalog, recorder_in, clock_in, http),
        wake_timer(clock_in.NewTimer(loop_in, [this] { OnWake(); })),
        grace_timer(clock_in.NewTimer(loop_in, [this] { GraceOver(); })),
        random(seed.value_or(std::random_device{}())),
        pool(worker_threads, [this] { PublishCompleted(); }) {}

  void Arm();
  void OnWake();
  void GraceOver();
  JobState& StateOf(const std::string& job);
  void Dispatch(Firing firing);
  std::int64_t StartRun(Firing firing, JobState& state);
  void RecordSkipped(const Firing& firing, JobState& state, const std::string& why);
  void Finished(ActiveRun& run);
  void SubmitStarted();
  void HandBack(ActiveRun* run);
  void TakeCompleted();
  void PublishCompleted();
  bool PostCompletedLocked(core::TimePoint now);
  void PlanJob(const config::JobConfig& job, std::optional<core::TimePoint> last_slot,
               core::TimePoint now);
  void FollowConfig();
  void MaybeFinishStop();

  asio::io_context& loop;
  const Clock& clock;
  store::RunRecorder& recorder;
  RunExecutor executor;
  std::unique_ptr<Timer> wake_timer;   // on the wall clock: due times are wall-clock instants
  std::unique_ptr<Timer> grace_timer;  // ArmAfter: a clock step does not stretch a shutdown
  std::mt19937_64 random;

  // Loop thread only.
  std::shared_ptr<const config::Config> config;
  FirePlan plan;
  std::unordered_map<std::string, JobState> jobs;  // never erased (see JobState)
  // The state of the job in each FirePlan slot, so that a firing from the
  // plan finds its job without hashing the name (with 10,000 jobs the hash
  // map lookup was a cache miss or two per run).
  std::vector<JobState*> by_slot;
  // Unordered: a run leaves by swapping the last one into its place.
  std::vector<std::unique_ptr<ActiveRun>> active;
  std::optional<core::TimePoint> last_wake;
  bool stopping = false;
  std::function<void()> on_stopped;
  std::function<void(const RunReport&)> observer;

  // Loop thread only: runs started since the last hand-over to the pool
  // (see SubmitStarted), and whether runs were queued for a worker at the
  // last look.
  std::vector<WorkerPool::Submission> starting;
  bool runs_waiting = false;
  // Loop thread only: buffers kept from one wake to the next, so that a
  // wake allocates nothing.
  std::vector<Firing> due;
  std::vector<ActiveRun*> taken;

  // Finished runs from the workers, waiting for the loop (guarded by the mutex).
  std::mutex completed_mutex;
  std::vector<ActiveRun*> completed;
  bool completed_posted = false;  // a TakeCompleted is on its way to the loop
  // When the wake timer fires next; max while it is not armed.
  core::TimePoint loop_wakes_at = core::TimePoint::max();

  // Last: its threads start in its constructor and use everything above.
  WorkerPool pool;
};

void Scheduler::Impl::Arm() {
  if (stopping) return;
  const core::TimePoint now = clock.Now();
  core::TimePoint at = now + kMaxWait;
  if (const auto next = plan.NextWake(); next && *next < at) at = *next;
  if (runs_waiting) at = std::min(at, now + kStallPatience);
  if (last_wake) at = std::max(at, *last_wake + kWakeGranularity);
  {
    std::lock_guard lock(completed_mutex);
    // Runs handed back since the loop last looked, with no post on its way,
    // are counting on this wake: keep it near.
    if (!completed.empty() && !completed_posted) {
      at = std::min(at, std::max(now, last_wake.value_or(now) + kWakeGranularity));
    }
    loop_wakes_at = at;
  }
  wake_timer->ArmAt(at);
}

void Scheduler::Impl::OnWake() {
  const core::TimePoint now = clock.Now();
  if (last_wake && now + kBackStepTolerance < *last_wake) {
    spdlog::warn("the wall clock stepped back by {}; planning every job again from now",
                 core::FormatDuration(*last_wake - now));
    plan.ClockSteppedBack(now);
  }
  last_wake = now;
  // Runs that ended first: a job whose run just ended is not running any more.
  TakeCompleted();
  std::vector<MissedSlots> missed;
  plan.TakeDue(now, due, &missed);
  for (Firing& firing : due) Dispatch(std::move(firing));
  due.clear();
  // Before the new runs go in: a worker woken for them would otherwise meet
  // the loop at the pool's lock.
  runs_waiting = pool.WakeIfStalled(kStallPatience) || !starting.empty();
  SubmitStarted();
  for (const MissedSlots& m : missed) {
    spdlog::warn("job={} missed {} slot(s), latest {}: not run (misfire policy / misfire_grace)",
                 m.job, m.count, core::FormatRfc3339(m.latest));
  }
  Arm();
}

void Scheduler::Impl::GraceOver() {
  for (const auto& run : active) {
    spdlog::warn("job={} run={} cancelled: shutdown grace is over", run->firing.job, run->id);
    run->cancel.Cancel(CancelToken::Reason::kShutdown);
  }
}

JobState& Scheduler::Impl::StateOf(const std::string& job) {
  const auto [it, added] = jobs.try_emplace(job);
  if (added) it->second.number = static_cast<std::uint32_t>(jobs.size() - 1);
  return it->second;
}

void Scheduler::Impl::Dispatch(Firing firing) {
  JobState* found = nullptr;
  if (firing.slot != kNoSlot) {
    found = by_slot[firing.slot];
  } else if (const auto it = jobs.find(firing.job); it != jobs.end()) {
    found = &it->second;
  }
  if (found == nullptr || found->job == nullptr || stopping) return;
  JobState& state = *found;
  if (state.running > 0) {
    switch (state.job->overlap) {
      case config::Overlap::kSkip:
        RecordSkipped(firing, state, "skipped: the previous run is still running (overlap: skip)");
        return;
      case config::Overlap::kQueue:
        if (state.queued.size() >= kMaxQueued) {
          RecordSkipped(firing, state, "skipped: 100 runs already queued (overlap: queue)");
        } else {
          state.queued.push_back(std::move(firing));
        }
        return;
      case config::Overlap::kAllow:
        break;
    }
  }
  StartRun(std::move(firing), state);
}

std::int64_t Scheduler::Impl::StartRun(Firing firing, JobState& state) {
  auto owned = std::make_unique<ActiveRun>(clock);
  ActiveRun* run = owned.get();
  run->id = recorder.NewRunId();
  run->config = config;
  run->job = state.job;
  run->state = &state;
  run->firing = std::move(firing);
  run->active_at = active.size();
  active.push_back(std::move(owned));
  ++state.running;
  const bool quick = state.last_duration && *state.last_duration < kQuickRun;
  // `this` outlives the pool: ~Scheduler joins the pool before the rest goes.
  // Two plain pointers fit in std::function without an allocation.
  starting.push_back(WorkerPool::Submission{
      [this, run] {
        run->outcome = executor.Execute(*run->config, *run->job, run->firing, run->id, run->cancel);
        HandBack(run);
      },
      quick});
  return run->id;
}

// Every loop turn that may start runs ends here: the runs it started go to
// the pool together.
void Scheduler::Impl::SubmitStarted() { pool.Submit(starting); }

// Worker thread. Outcomes are handed back in bunches: at the loop's next
// timer wake when that is near, else the loop is woken once for all that
// finished while a worker worked through the queue.
void Scheduler::Impl::HandBack(ActiveRun* run) {
  bool post = false;
  {
    std::lock_guard lock(completed_mutex);
    completed.push_back(run);
    post = completed.size() >= kCompletedBunch && PostCompletedLocked(run->outcome.finished_at);
  }
  if (post) asio::post(loop, [this] { TakeCompleted(); });
}

// Worker thread, when it runs out of work.
void Scheduler::Impl::PublishCompleted() {
  {
    std::lock_guard lock(completed_mutex);
    if (completed.empty() || !PostCompletedLocked(clock.Now())) return;
  }
  asio::post(loop, [this] { TakeCompleted(); });
}

// Whether to post a TakeCompleted (and notes that one is on its way):
// not when one already is, nor when the loop's timer comes soon anyway.
bool Scheduler::Impl::PostCompletedLocked(core::TimePoint now) {
  if (completed_posted || loop_wakes_at <= now + kHandBackPatience) return false;
  completed_posted = true;
  return true;
}

void Scheduler::Impl::TakeCompleted() {
  {
    std::lock_guard lock(completed_mutex);
    completed_posted = false;
    if (completed.empty()) return;
    // `taken` is empty: the workers get its capacity for the next ones.
    taken.swap(completed);
  }
  for (ActiveRun* run : taken) Finished(*run);
  taken.clear();
  SubmitStarted();
}

void Scheduler::Impl::RecordSkipped(const Firing& firing, JobState& state, const std::string& why) {
  const core::TimePoint now = clock.Now();
  store::RunRecord record;
  record.id = recorder.NewRunId();
  record.job = firing.job;
  record.trigger = firing.trigger;
  record.scheduled_at = firing.scheduled_at;
  record.started_at = now;
  record.finished_at = now;
  record.status = store::RunStatus::kSkipped;
  record.attempt = firing.attempt;
  record.error = why;
  spdlog::info("job={} run={} outcome=skipped {}", firing.job, record.id, why);
  recorder.RecordStart(std::move(record));
  state.Count(store::RunStatus::kSkipped, now, why);
  if (observer) {
    observer(RunReport{firing.job,
                       state.number,
                       firing.trigger,
                       store::RunStatus::kSkipped,
                       firing.scheduled_at,
                       now,
                       now,
                       {}});
  }
}

void Scheduler::Impl::Finished(ActiveRun& run) {
  // Out of `active` first, so that running() no longer counts it; alive until the end.
  std::unique_ptr<ActiveRun> owned = std::move(active[run.active_at]);
  if (run.active_at + 1 < active.size()) {
    active[run.active_at] = std::move(active.back());
    active[run.active_at]->active_at = run.active_at;
  }
  active.pop_back();

  JobState& state = *run.state;
  RunOutcome& outcome = run.outcome;
  --state.running;
  state.Count(outcome.status, outcome.finished_at, outcome.error);
  state.last_duration = outcome.finished_at - outcome.started_at;
  if (observer) {
    observer(RunReport{run.firing.job, state.number, run.firing.trigger, outcome.status,
                       run.firing.scheduled_at, outcome.started_at, outcome.finished_at,
                       &outcome.metrics});
  }

  if (!stopping) {
    // The job's current config decides what follows (it may have been reloaded).
    const config::JobConfig* job = state.job;
    // Only a failure that may pass is retried: a timeout, a 503, not a 401
    // or a bad argument (the job's Error says which).
    const bool failed =
        outcome.status == store::RunStatus::kFailed || outcome.status == store::RunStatus::kTimeout;
    const bool retries_left = job && failed && run.firing.attempt <= job->retries.max;
    const bool retried = retries_left && outcome.retryable;
    if (retries_left && !retried) {
      spdlog::info("job={} run={} not retried: the failure is not one that may pass", job->name,
                   run.id);
    } else if (retried) {
      const core::Duration delay = RetryDelay(job->retries, run.firing.attempt, random);
      Firing retry{job->name, store::Trigger::kRetry, run.firing.scheduled_at,
                   run.firing.attempt + 1};
      spdlog::info("job={} run={} retry {} of {} in {}", job->name, run.id, run.firing.attempt,
                   job->retries.max, core::FormatDuration(delay));
      plan.Add(std::move(retry), clock.Now() + delay);
      Arm();
    }
    if (job) {
      const bool ok = outcome.status == store::RunStatus::kOk;
      const bool changed = ok && outcome.metrics.changed().value_or(true);
      const bool failed_for_good = failed && !retried;
      for (const auto& [next, on] : state.downstream) {
        bool starts = false;
        switch (on) {
          case config::ChainOn::kSuccess:
            starts = ok;
            break;
          case config::ChainOn::kChanged:
            starts = changed;
            break;
          case config::ChainOn::kFailure:
            starts = failed_for_good;
            break;
          case config::ChainOn::kFinished:
            starts = ok || failed_for_good;
            break;
        }
        if (starts) Dispatch(Firing{next, store::Trigger::kChain, clock.Now(), 1});
      }
    }
    if (job && !state.queued.empty() && state.running == 0) {
      Firing queued = std::move(state.queued.front());
      state.queued.erase(state.queued.begin());
      StartRun(std::move(queued), state);
    }
  }
  MaybeFinishStop();
}

void Scheduler::Impl::PlanJob(const config::JobConfig& job,
                              std::optional<core::TimePoint> last_slot, core::TimePoint now) {
  const std::uint32_t slot = plan.Set(job.name, TimingOf(job), last_slot, now);
  if (slot >= by_slot.size()) by_slot.resize(slot + 1, nullptr);
  by_slot[slot] = &StateOf(job.name);
}

// Points every job's state at the config now in force, and indexes the chains.
void Scheduler::Impl::FollowConfig() {
  for (auto& [name, state] : jobs) {
    state.job = nullptr;
    state.downstream.clear();
  }
  for (const config::JobConfig& job : config->jobs) StateOf(job.name).job = &job;
  for (const config::JobConfig& job : config->jobs) {
    if (!job.enabled) continue;
    for (const config::Upstream& upstream : job.after) {
      StateOf(upstream.job).downstream.emplace_back(job.name, upstream.on);
    }
  }
}

void Scheduler::Impl::MaybeFinishStop() {
  if (!stopping || !active.empty() || !on_stopped) return;
  grace_timer->Cancel();
  auto done = std::move(on_stopped);
  on_stopped = nullptr;
  asio::post(loop, std::move(done));
}

Scheduler::Scheduler(asio::io_context& loop, const Clock& clock, const JobCatalog& catalog,
                     store::RunRecorder& recorder, http::Client& http, int worker_threads,
                     std::optional<std::uint64_t> retry_seed)
    : impl_(std::make_unique<Impl>(loop, clock, catalog, recorder, http, worker_threads,
                                   retry_seed)) {}

Scheduler::~Scheduler() { impl_->pool.Join(); }

void Scheduler::Start(std::shared_ptr<const config::Config> config,
                      const std::map<std::string, core::TimePoint>& last_slots) {
  Impl& s = *impl_;
  s.config = std::move(config);
  const core::TimePoint now = s.clock.Now();
  for (const config::JobConfig& job : s.config->jobs) {
    std::optional<core::TimePoint> last;
    if (const auto it = last_slots.find(job.name); it != last_slots.end()) last = it->second;
    s.PlanJob(job, last, now);
  }
  s.FollowConfig();
  s.last_wake = now;
  s.OnWake();
}

void Scheduler::Apply(std::shared_ptr<const config::Config> config) {
  Impl& s = *impl_;
  const auto old = std::move(s.config);
  s.config = std::move(config);
  const core::TimePoint now = s.clock.Now();
  for (const config::JobConfig& job : s.config->jobs) {
    const config::JobConfig* before = old->FindJob(job.name);
    if (before == nullptr || !SameTiming(*before, job)) {
      s.PlanJob(job, std::nullopt, now);
    }
  }
  for (const config::JobConfig& job : old->jobs) {
    if (s.config->FindJob(job.name) == nullptr) {
      s.plan.Remove(job.name);
      s.StateOf(job.name).queued.clear();
    }
  }
  s.FollowConfig();
  s.Arm();
}

std::optional<std::int64_t> Scheduler::RunNow(const std::string& job, std::string* why,
                                              store::Trigger trigger) {
  Impl& s = *impl_;
  const config::JobConfig* config = s.config->FindJob(job);
  if (config == nullptr || s.stopping) {
    if (why) *why = config ? "jobsd is shutting down" : "no job named '" + job + "'";
    return std::nullopt;
  }
  JobState& state = s.StateOf(job);
  if (trigger == store::Trigger::kEvent && state.running > 0) {
    // S3 events coalesce, whatever the overlap policy: a burst of 50
    // notifications gives the running run and one queued behind it, which
    // starts after it and so sees every object the burst announced.
    const bool waiting = std::any_of(state.queued.begin(), state.queued.end(), [](const Firing& f) {
      return f.trigger == store::Trigger::kEvent;
    });
    if (waiting) {
      if (why) *why = "coalesced: an event run is already queued behind the running one";
      return std::nullopt;
    }
    state.queued.push_back(Firing{job, trigger, std::nullopt, 1});
    if (why) *why = "queued behind the running run (S3 events: at most one waits)";
    return std::nullopt;
  }
  if (state.running > 0 && config->overlap != config::Overlap::kAllow) {
    if (config->overlap == config::Overlap::kQueue && state.queued.size() < kMaxQueued) {
      state.queued.push_back(Firing{job, trigger, std::nullopt, 1});
      if (why) *why = "queued behind the running run (overlap: queue)";
      return std::nullopt;
    }
    if (why) *why = "skipped: the previous run is still running (overlap: skip)";
    s.RecordSkipped(Firing{job, trigger, std::nullopt, 1}, state, *why);
    return std::nullopt;
  }
  const std::int64_t id = s.StartRun(Firing{job, trigger, std::nullopt, 1}, state);
  s.SubmitStarted();
  return id;
}

void Scheduler::Stop(core::Duration grace, std::function<void()> done) {
  Impl& s = *impl_;
  s.stopping = true;
  s.on_stopped = std::move(done);
  s.wake_timer->Cancel();
  {
    // No timer wake comes any more: from now on every hand-back posts.
    std::lock_guard lock(s.completed_mutex);
    s.loop_wakes_at = core::TimePoint::max();
    if (!s.completed.empty() && !s.completed_posted) {
      s.completed_posted = true;
      asio::post(s.loop, [&s] { s.TakeCompleted(); });
    }
  }
  for (auto& [name, state] : s.jobs) state.queued.clear();
  if (!s.active.empty()) {
    spdlog::info("waiting up to {} for {} running job(s)", core::FormatDuration(grace),
                 s.active.size());
    s.grace_timer->ArmAfter(grace);
  }
  s.MaybeFinishStop();
}

void Scheduler::SeedHealth(const std::vector<store::JobHealth>& health) {
  for (const store::JobHealth& h : health) {
    JobState& state = impl_->StateOf(h.job);
    state.consecutive_failures = h.consecutive_failures;
    state.last_success_at = h.last_success_at;
    state.last_failure_at = h.last_failure_at;
    state.last_status = h.last_status;
  }
}

void Scheduler::OnRunFinished(std::function<void(const RunReport&)> observer) {
  impl_->observer = std::move(observer);
}

namespace {

JobStatus StatusFrom(const std::string& name, const JobState* state,
                     std::optional<core::TimePoint> next_slot) {
  JobStatus status;
  status.name = name;
  status.next_slot = next_slot;
  if (state == nullptr) return status;
  status.running = state->running;
  status.queued = static_cast<int>(state->queued.size());
  status.last_status = state->last_status;
  status.last_finished_at = state->last_finished_at;
  status.consecutive_failures = state->consecutive_failures;
  status.last_success_at = state->last_success_at;
  status.last_failure_at = state->last_failure_at;
  status.last_error = state->last_error;
  return status;
}

}  // namespace

std::vector<JobStatus> Scheduler::Status() const {
  std::vector<JobStatus> out;
  out.reserve(impl_->config->jobs.size());
  for (const config::JobConfig& job : impl_->config->jobs) {
    const auto it = impl_->jobs.find(job.name);
    out.push_back(StatusFrom(job.name, it == impl_->jobs.end() ? nullptr : &it->second,
                             impl_->plan.NextSlot(job.name)));
  }
  return out;
}

std::optional<JobStatus> Scheduler::StatusOf(const std::string& job) const {
  if (impl_->config->FindJob(job) == nullptr) return std::nullopt;
  const auto it = impl_->jobs.find(job);
  return StatusFrom(job, it == impl_->jobs.end() ? nullptr : &it->second,
                    impl_->plan.NextSlot(job));
}

int Scheduler::running() const { return static_cast<int>(impl_->active.size()); }

}  // namespace scheduler
