#include "config/config.h"

#include <algorithm>
#include <functional>
#include <thread>

namespace config {

int Config::ParallelRuns() const {
  if (max_parallel_runs > 0) return max_parallel_runs;
  // hardware_concurrency may answer 0 when it cannot tell.
  return 2 * static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
}

const JobConfig* Config::FindJob(std::string_view name) const {
  if (!job_index_.empty() && indexed_jobs_ == jobs.size()) {
    const std::size_t mask = job_index_.size() - 1;
    for (std::size_t slot = std::hash<std::string_view>()(name) & mask;; slot = (slot + 1) & mask) {
      const std::uint32_t at = job_index_[slot];
      if (at == kNoJob) return nullptr;
      if (at < jobs.size() && jobs[at].name == name) return &jobs[at];
    }
  }
  for (const JobConfig& job : jobs) {
    if (job.name == name) return &job;
  }
  return nullptr;
}

void Config::IndexJobs() {
  // At most half full, so that probes stay short.
  std::size_t size = 16;
  while (size < 2 * jobs.size()) size *= 2;
  job_index_.assign(size, kNoJob);
  indexed_jobs_ = jobs.size();
  const std::size_t mask = size - 1;
  for (std::size_t i = 0; i < jobs.size(); ++i) {
    std::size_t slot = std::hash<std::string_view>()(jobs[i].name) & mask;
    bool duplicate = false;
    for (; job_index_[slot] != kNoJob; slot = (slot + 1) & mask) {
      // The first of two jobs with one name wins, as a lookup by scan would.
      if (jobs[job_index_[slot]].name == jobs[i].name) {
        duplicate = true;
        break;
      }
    }
    if (!duplicate) job_index_[slot] = static_cast<std::uint32_t>(i);
  }
}

bool IsValidJobName(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
  });
}

std::string_view Name(LogLevel value) {
  switch (value) {
    case LogLevel::kTrace:
      return "trace";
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "?";
}

std::string_view Name(LogFormat value) {
  switch (value) {
    case LogFormat::kText:
      return "text";
    case LogFormat::kJson:
      return "json";
  }
  return "?";
}

std::string_view Name(Severity value) {
  switch (value) {
    case Severity::kInfo:
      return "info";
    case Severity::kWarning:
      return "warning";
    case Severity::kCritical:
      return "critical";
  }
  return "?";
}

std::string_view Name(SmtpTls value) {
  switch (value) {
    case SmtpTls::kStartTls:
      return "starttls";
    case SmtpTls::kNone:
      return "none";
  }
  return "?";
}

std::string_view Name(Overlap value) {
  switch (value) {
    case Overlap::kSkip:
      return "skip";
    case Overlap::kQueue:
      return "queue";
    case Overlap::kAllow:
      return "allow";
  }
  return "?";
}

std::string_view Name(Misfire value) {
  switch (value) {
    case Misfire::kRunOnce:
      return "run_once";
    case Misfire::kSkip:
      return "skip";
  }
  return "?";
}

std::string_view Name(ChainOn value) {
  switch (value) {
    case ChainOn::kSuccess:
      return "success";
    case ChainOn::kChanged:
      return "changed";
    case ChainOn::kFailure:
      return "failure";
    case ChainOn::kFinished:
      return "finished";
  }
  return "?";
}

}  // namespace config
