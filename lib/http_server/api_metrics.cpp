#include "http_server/api_metrics.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/utf8.h"

namespace http {
namespace {

double Seconds(core::Duration d) { return std::chrono::duration<double>(d).count(); }
double EpochSeconds(core::TimePoint t) { return Seconds(t.time_since_epoch()); }

struct ProcessFigures {
  double cpu_seconds = 0;
  double resident_bytes = 0;
  double virtual_bytes = 0;
  double open_fds = 0;
};

// From /proc/self/stat (fields 14-15 utime/stime in ticks, 23 vsize, 24 rss
// in pages) and /proc/self/fd.
ProcessFigures ReadProcess() {
  ProcessFigures figures;
  std::ifstream stat("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // The command name (field 2) may hold spaces; fields are counted after its ')'.
  const auto close = text.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(text.substr(close + 2));
    std::vector<std::string> f{std::istream_iterator<std::string>(fields),
                               std::istream_iterator<std::string>()};
    // f[0] is field 3 (state).
    if (f.size() > 21) {
      const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
      figures.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
      figures.virtual_bytes = std::stod(f[20]);
      figures.resident_bytes = std::stod(f[21]) * static_cast<double>(::sysconf(_SC_PAGESIZE));
    }
  }
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator("/proc/self/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    figures.open_fds += 1;
  }
  return figures;
}

}  // namespace

DaemonMetrics::DaemonMetrics(core::TimePoint started)
    : started_(started),
      runs_(registry_.AddCounter("jobsd_runs_total", "Runs that ended, by job and status.",
                                 {"job", "status"})),
      duration_(registry_.AddHistogram(
          "jobsd_run_duration_seconds", "How long runs took, by job.", {"job"},
          {0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200})),
      lateness_(registry_.AddHistogram(
          "jobsd_schedule_lateness_seconds",
          "How long after its scheduled time a scheduled run started.", {},
          {0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30})),
      records_(registry_.AddCounter("jobsd_records_total",
                                    "Records handled by data jobs, by job and kind.",
                                    {"job", "kind"})),
      reloads_(registry_.AddCounter("jobsd_config_reloads_total",
                                    "Config reloads (SIGHUP), by result.", {"result"})),
      alerts_(registry_.AddCounter("jobsd_alerts_total",
                                   "Alert deliveries, by channel, severity and result "
                                   "(delivered, retry, rejected, expired).",
                                   {"channel", "severity", "result"})),
      folder_bytes_(registry_.AddGauge(
          "jobsd_data_folder_bytes", "Bytes in data folders the jobs keep, by folder.", {"path"})),
      folder_files_(registry_.AddGauge(
          "jobsd_data_folder_files", "Files in data folders the jobs keep, by folder.", {"path"})),
      lateness_series_(lateness_.With({})) {
  // Both results exist from the start, so a rate() over them works at once.
  reloads_.With({"ok"});
  reloads_.With({"failed"});
}

void DaemonMetrics::RecordRun(const scheduler::RunReport& run) {
  if (run.job_number >= series_.size()) series_.resize(run.job_number + 1);
  JobSeries& series = series_[run.job_number];
  metrics::Counter*& counter = series.runs[static_cast<std::size_t>(run.status)];
  if (counter == nullptr) {
    counter = &runs_.With({std::string(run.job), std::string(store::ToString(run.status))});
  }
  counter->Add();
  if (run.status == store::RunStatus::kSkipped) return;
  if (series.duration == nullptr) series.duration = &duration_.With({std::string(run.job)});
  series.duration->Observe(Seconds(run.finished_at - run.started_at));
  // Only slots the schedule set: a catch-up run is late by design, and a
  // retry's delay is the backoff, not lateness.
  if (run.trigger == store::Trigger::kSchedule && run.scheduled_at) {
    lateness_series_.Observe(std::max(0.0, Seconds(run.started_at - *run.scheduled_at)));
  }
  if (run.metrics == nullptr) return;
  // The record kinds a job reports are few (fetched, inserted, ...): a short
  // walk finds each one's counter without building its labels.
  for (const auto& [name, figure] : run.metrics->figures()) {
    if (figure.kind != store::RunMetrics::Kind::kRecords) continue;
    auto known = std::find_if(series.records.begin(), series.records.end(),
                              [&name = name](const auto& entry) { return entry.first == name; });
    if (known == series.records.end()) {
      series.records.emplace_back(name, &records_.With({std::string(run.job), name}));
      known = std::prev(series.records.end());
    }
    known->second->Add(figure.value);
  }
  // Few folders, reported by few (hourly, daily) runs: a lookup each is fine.
  for (const auto& [path, size] : run.metrics->folder_sizes()) {
    // A label value must be UTF-8; a path need not be.
    const std::string label = core::ToValidUtf8(path);
    folder_bytes_.With({label}).Set(size.bytes);
    folder_files_.With({label}).Set(size.files);
  }
}

void DaemonMetrics::RecordReload(bool ok) { reloads_.With({ok ? "ok" : "failed"}).Add(); }

void DaemonMetrics::RecordAlert(const std::string& channel, std::string_view severity,
                                std::string_view result) {
  alerts_.With({channel, std::string(severity), std::string(result)}).Add();
}

void DaemonMetrics::Render(std::string& out, const std::vector<scheduler::JobStatus>& jobs) const {
  registry_.Render(out);
  metrics::Exposition text(out);
  const std::vector<std::string> job_label = {"job"};

  text.Header("jobsd_consecutive_failures", "Runs in a row that failed, by job.", "gauge");
  for (const auto& job : jobs) {
    text.Sample("jobsd_consecutive_failures", job_label, {job.name}, job.consecutive_failures);
  }
  text.Header("jobsd_last_success_timestamp_seconds",
              "When each job last succeeded (Unix time); absent if never.", "gauge");
  for (const auto& job : jobs) {
    if (job.last_success_at) {
      text.Sample("jobsd_last_success_timestamp_seconds", job_label, {job.name},
                  EpochSeconds(*job.last_success_at));
    }
  }
  text.Header("jobsd_next_run_timestamp_seconds",
              "When each scheduled job runs next (Unix time); absent if unscheduled.", "gauge");
  for (const auto& job : jobs) {
    if (job.next_slot) {
      text.Sample("jobsd_next_run_timestamp_seconds", job_label, {job.name},
                  EpochSeconds(*job.next_slot));
    }
  }
  text.Header("jobsd_running_runs", "Runs in progress, by job.", "gauge");
  for (const auto& job : jobs)
    text.Sample("jobsd_running_runs", job_label, {job.name}, job.running);

  for (const MetricsCollector& collect : collectors_) collect(text);

  text.Header("jobsd_jobs", "Jobs in the running config.", "gauge");
  text.Sample("jobsd_jobs", {}, {}, static_cast<double>(jobs.size()));
  text.Header("jobsd_build_info", "The running jobsd's version.", "gauge");
  text.Sample("jobsd_build_info", {"version"}, {JOBSD_VERSION}, 1);

  const ProcessFigures process = ReadProcess();
  text.Header("process_cpu_seconds_total", "User and system CPU time spent.", "counter");
  text.Sample("process_cpu_seconds_total", {}, {}, process.cpu_seconds);
  text.Header("process_resident_memory_bytes", "Resident memory size.", "gauge");
  text.Sample("process_resident_memory_bytes", {}, {}, process.resident_bytes);
  text.Header("process_virtual_memory_bytes", "Virtual memory size.", "gauge");
  text.Sample("process_virtual_memory_bytes", {}, {}, process.virtual_bytes);
  text.Header("process_open_fds", "Open file descriptors.", "gauge");
  text.Sample("process_open_fds", {}, {}, process.open_fds);
  text.Header("process_start_time_seconds", "When the process started (Unix time).", "gauge");
  text.Sample("process_start_time_seconds", {}, {}, EpochSeconds(started_));
}

void WriteClientMetrics(const ClientStats& stats, metrics::Exposition& out) {
  const std::vector<std::string> labels = {"host", "class"};
  out.Header("jobsd_http_client_requests_total",
             "HTTP requests jobs made (each attempt), by host and status class "
             "(error: no answer).",
             "counter");
  for (const auto& [key, count] : stats.requests) {
    out.Sample("jobsd_http_client_requests_total", labels, {key.first, key.second},
               static_cast<double>(count));
  }
  out.Header("jobsd_http_client_request_seconds_total", "Time spent in HTTP requests.", "counter");
  out.Sample("jobsd_http_client_request_seconds_total", {}, {}, stats.request_seconds_total);
  out.Header("jobsd_http_client_retries_total", "HTTP requests retried.", "counter");
  out.Sample("jobsd_http_client_retries_total", {}, {}, static_cast<double>(stats.retries));
  out.Header("jobsd_http_client_rate_limit_waits_total",
             "Times a request waited for its upstream's rate limit.", "counter");
  out.Sample("jobsd_http_client_rate_limit_waits_total", {}, {},
             static_cast<double>(stats.rate_limit_waits));
  out.Header("jobsd_http_client_rate_limit_wait_seconds_total",
             "Time spent waiting for rate limits.", "counter");
  out.Sample("jobsd_http_client_rate_limit_wait_seconds_total", {}, {},
             stats.rate_limit_wait_seconds_total);
  out.Header("jobsd_http_client_connections_opened_total", "Connections the HTTP client opened.",
             "counter");
  out.Sample("jobsd_http_client_connections_opened_total", {}, {},
             static_cast<double>(stats.connections_opened));
}

}  // namespace http
