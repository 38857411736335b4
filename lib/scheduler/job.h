// The one interface every job type implements, and what a run is given.
//
// The scheduler knows jobs only through this: it validates a job's `with:`
// through the type's config spec, creates a Job for each run, and calls Run
// on a worker thread, where blocking is fine. A new job type implements
// Job::Run and a JobType (its config spec and factory), and registers it in
// daemon/main.cpp; everything else a run needs comes from its JobContext.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "config/config.h"
#include "config/job_type.h"
#include "core/result.h"
#include "core/time.h"
#include "http/client.h"
#include "scheduler/cancel_token.h"
#include "scheduler/clock.h"
#include "store/run_metrics.h"
#include "store/run_store.h"

namespace store {
class RunRecorder;
}

namespace scheduler {

// What the platform lends every run: made once by the daemon (or a CLI
// command, or a test) and shared by all runs; must outlive them.
struct JobServices {
  const Clock& clock;
  // One client for every job, so its per-upstream rate limits span all runs.
  http::Client& http;
  // Where GetState/PutState keep a job's key/value state; none in tests
  // that need none (those calls then fail).
  store::RunRecorder* state = nullptr;
};

// Everything one run may use. Valid for the duration of Job::Run; the run's
// own thread uses it (one thread at a time).
class JobContext {
 public:
  JobContext(const JobServices& services, const config::JobConfig& job, std::int64_t run_id,
             int attempt, store::Trigger trigger, const CancelToken& cancel);
  // Removes the run's scratch folder, if it made one.
  ~JobContext();
  JobContext(const JobContext&) = delete;
  JobContext& operator=(const JobContext&) = delete;

  const config::JobConfig& job() const { return job_; }
  const std::string& job_name() const { return job_.name; }
  std::int64_t run_id() const { return run_id_; }
  int attempt() const { return attempt_; }
  store::Trigger trigger() const { return trigger_; }
  const CancelToken& cancel() const { return cancel_; }
  // The slot this run is for (a retry or a catch-up keeps its slot's time);
  // none for a manual run. Jobs that fetch "the period before the slot" use
  // it, so a run caught up late fetches the same period.
  std::optional<core::TimePoint> scheduled_at() const { return scheduled_at_; }
  void set_scheduled_at(std::optional<core::TimePoint> slot) { scheduled_at_ = slot; }

  // The time, from the clock the scheduler runs on (a manual one in tests).
  const Clock& clock() const { return services_.clock; }
  core::TimePoint Now() const { return services_.clock.Now(); }

  // The shared HTTP client, and call options carrying this run's deadline
  // and cancellation (add a ca_file, body_file ... as needed).
  http::Client& http() const { return services_.http; }
  http::CallOptions CallOptions() const;

  // The error to return once cancel() is set, saying why: "timed out" or
  // "cancelled", after `what` was interrupted.
  core::Error CancelledError(std::string_view what = {}) const;

  // What the run reports; see store/run_metrics.h. Kept in the run record
  // and on /metrics whether the run succeeds or fails.
  store::RunMetrics& metrics() { return metrics_; }
  const store::RunMetrics& metrics() const { return metrics_; }

  // The job's own key/value state in the state store (job_state): cursors
  // of jobs whose data lives elsewhere (the last artifact pulled, the last
  // file imported). Blocking. Put returns once the value is committed, so a
  // job writes its cursor after the data it covers is safely in place: a
  // crash in between repeats that work, it never skips it.
  core::Result<std::optional<std::string>> GetState(std::string_view key) const;
  core::Result<void> PutState(std::string_view key, std::string_view value) const;

  // A folder of the run's own for temporary files, made on first call
  // (under <state folder>/scratch, on the state store's file system, so a
  // finished file can be renamed into place) and removed with everything in
  // it when the run ends, however it ends. A crash leaves it behind; the
  // daemon clears scratch/ when it starts (RemoveScratchLeftovers).
  core::Result<std::filesystem::path> ScratchFolder();

  // The folder of the state store (state.path): where a job keeps files of
  // its own (a database) unless its config says otherwise. Empty in tests
  // that set neither the folder nor the file.
  std::filesystem::path state_folder() const {
    return state_file_ ? state_file_->parent_path() : state_folder_;
  }
  void set_state_folder(std::filesystem::path folder) {
    state_folder_ = std::move(folder);
    state_file_ = nullptr;
  }
  // The state store's file instead, which must outlive the context. The
  // folder is worked out only when a job asks: splitting a path costs more
  // than a whole run of a quick job, and most jobs never ask.
  void set_state_file(const std::filesystem::path& file) { state_file_ = &file; }
  // The state store's file (state.path), for a job that backs it up; empty
  // when the context was given only a folder.
  std::filesystem::path state_file() const {
    return state_file_ ? *state_file_ : std::filesystem::path();
  }

  // Log lines carry the job name and run id.
  void Info(std::string_view message) const;
  void Warn(std::string_view message) const;
  void Error(std::string_view message) const;

  // The tail of what the run printed; kept in the run record whether the run
  // succeeds or not.
  void set_output(std::string output) { output_ = std::move(output); }
  const std::string& output() const { return output_; }
  std::string TakeOutput() { return std::move(output_); }

 private:
  const JobServices& services_;
  const config::JobConfig& job_;
  const std::int64_t run_id_;
  const int attempt_;
  const store::Trigger trigger_;
  const CancelToken& cancel_;
  std::optional<core::TimePoint> scheduled_at_;
  std::filesystem::path state_folder_;
  const std::filesystem::path* state_file_ = nullptr;
  std::string output_;
  store::RunMetrics metrics_;
  std::filesystem::path scratch_;  // empty until ScratchFolder() makes it
};

// Clears <state folder>/scratch: what runs cut short by a crash left there.
// Call at start, once interrupted runs are marked (no run is going then).
void RemoveScratchLeftovers(const std::filesystem::path& state_folder);

class Job {
 public:
  virtual ~Job() = default;
  // One run, start to finish, on a worker thread; blocking is fine here.
  // Check ctx.cancel() between steps and return promptly once it is set.
  // Report what the run did through ctx.metrics() as it goes. Expected
  // failures are an Error, whose `retryable` decides whether the run's
  // `retries:` apply (a bad credential is not retried; a 503 is); the
  // scheduler also catches exceptions.
  virtual core::Result<void> Run(JobContext& ctx) = 0;
};

// A job type: how to validate its config and how to make a Job of it.
struct JobType {
  config::JobTypeSpec spec;
  std::function<std::unique_ptr<Job>(const config::JobConfig&)> create;
};

// The job types the daemon knows, by `type:` name.
class JobCatalog {
 public:
  void Add(JobType type);
  const JobType* Find(std::string_view name) const;
  // For the config loader.
  std::vector<config::JobTypeSpec> Specs() const;

 private:
  std::map<std::string, JobType, std::less<>> types_;
};

}  // namespace scheduler
