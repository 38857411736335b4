// The metrics the daemon serves on /metrics (README: HTTP endpoints lists the names
// users rely on): run counts, durations and schedule lateness as runs end;
// records by kind from what the runs reported (store::RunMetrics, failed
// runs too); the data folder gauges, set to the folder sizes runs report
// (RunMetrics::SetFolderSize; a folder no run reports any more keeps its
// last value until the daemon restarts); config reloads; and, at scrape time, each job's failure
// streak, last success and next run (from the scheduler's status) and the
// process's own figures.
//
// RecordRun and RecordReload: loop thread. Render: any thread (it reads
// only the registry, which is thread-safe, and the status snapshot given).
#pragma once

#include <array>
#include <functional>
#include <string>
#include <vector>

#include "core/time.h"
#include "http/client.h"
#include "metrics/registry.h"
#include "scheduler/scheduler.h"

namespace http {

// Writes figures that live elsewhere (the HTTP client's counters, say) at
// scrape time. Called on the render thread: it must be thread-safe.
using MetricsCollector = std::function<void(metrics::Exposition& out)>;

// The HTTP client's counters as jobsd_http_client_* metrics.
void WriteClientMetrics(const ClientStats& stats, metrics::Exposition& out);

class DaemonMetrics {
 public:
  explicit DaemonMetrics(core::TimePoint started);

  void RecordRun(const scheduler::RunReport& run);
  void RecordReload(bool ok);
  // An alert delivery's outcome (delivered, retry, rejected, expired). Any thread.
  void RecordAlert(const std::string& channel, std::string_view severity, std::string_view result);
  // Set-up only, before the first Render.
  void AddCollector(MetricsCollector collector) { collectors_.push_back(std::move(collector)); }

  // Where other parts of the daemon register their own families.
  metrics::Registry& registry() { return registry_; }

  // The whole exposition: the registry, then per-job gauges from `jobs`,
  // then process metrics.
  void Render(std::string& out, const std::vector<scheduler::JobStatus>& jobs) const;

 private:
  const core::TimePoint started_;
  metrics::Registry registry_;
  metrics::Family<metrics::Counter>& runs_;
  metrics::Family<metrics::Histogram>& duration_;
  metrics::Family<metrics::Histogram>& lateness_;
  metrics::Family<metrics::Counter>& records_;
  metrics::Family<metrics::Counter>& reloads_;
  metrics::Family<metrics::Counter>& alerts_;
  metrics::Family<metrics::Gauge>& folder_bytes_;
  metrics::Family<metrics::Gauge>& folder_files_;

  // Loop thread only: each job's series, looked up once (a run costs no
  // label lookups, nor even a lookup of its job's name, which matters at
  // thousands of runs a second). By RunReport::job_number: one scheduler
  // feeds these metrics.
  struct JobSeries {
    std::array<metrics::Counter*, 7> runs{};  // by store::RunStatus
    metrics::Histogram* duration = nullptr;
    std::vector<std::pair<std::string, metrics::Counter*>> records;  // by kind
  };
  std::vector<JobSeries> series_;
  metrics::Histogram& lateness_series_;
  std::vector<MetricsCollector> collectors_;
};

}  // namespace http
