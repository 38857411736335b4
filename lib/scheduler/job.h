// The one interface every job type implements, and what a run is given.
//
// The scheduler knows jobs only through this: it validates a job's `with:`
// through the type's config spec, creates a Job for each run, and calls Run
// on a worker thread, where blocking is fine.
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
#include "scheduler/cancel_token.h"
#include "store/run_store.h"

namespace scheduler {

// What a successful run reports; it lands in the run record and /metrics.
struct RunSummary {
  std::map<std::string, double> metrics;  // e.g. fetched, inserted, quality
};

// Everything one run may use. Valid for the duration of Job::Run.
class JobContext {
 public:
  JobContext(const config::JobConfig& job, std::int64_t run_id, int attempt, store::Trigger trigger,
             const CancelToken& cancel)
      : job_(job), run_id_(run_id), attempt_(attempt), trigger_(trigger), cancel_(cancel) {}

  const config::JobConfig& job() const { return job_; }
  const std::string& job_name() const { return job_.name; }
  std::int64_t run_id() const { return run_id_; }
  int attempt() const { return attempt_; }
  store::Trigger trigger() const { return trigger_; }
  const CancelToken& cancel() const { return cancel_; }
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

  // Log lines carry the job name and run id.
  void Info(std::string_view message) const;
  void Warn(std::string_view message) const;
  void Error(std::string_view message) const;

  // The tail of what the run printed; kept in the run record whether the run
  // succeeds or not.
  void set_output(std::string output) { output_ = std::move(output); }
  const std::string& output() const { return output_; }

 private:
  const config::JobConfig& job_;
  const std::int64_t run_id_;
  const int attempt_;
  const store::Trigger trigger_;
  const CancelToken& cancel_;
  std::filesystem::path state_folder_;
  const std::filesystem::path* state_file_ = nullptr;
  std::string output_;
};

class Job {
 public:
  virtual ~Job() = default;
  // One run, start to finish, on a worker thread; blocking is fine here.
  // Check ctx.cancel() between steps and return promptly once it is set.
  // Expected failures are an Error; the scheduler also catches exceptions.
  virtual core::Result<RunSummary> Run(JobContext& ctx) = 0;
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
