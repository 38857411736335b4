// DaemonMetrics as /metrics renders it: the data folder gauges fed from the
// folder sizes runs report (store::RunMetrics::SetFolderSize).
#include "http_server/api_metrics.h"

#include <catch2/catch.hpp>

namespace {

core::TimePoint At(int seconds) { return core::TimePoint(std::chrono::seconds(seconds)); }

scheduler::RunReport Report(std::string_view job, std::uint32_t number,
                            const store::RunMetrics* metrics,
                            store::RunStatus status = store::RunStatus::kOk) {
  scheduler::RunReport run;
  run.job = job;
  run.job_number = number;
  run.trigger = store::Trigger::kManual;
  run.status = status;
  run.started_at = At(100);
  run.finished_at = At(101);
  run.metrics = metrics;
  return run;
}

std::string Render(const http::DaemonMetrics& metrics) {
  std::string out;
  metrics.Render(out, {});
  return out;
}

}  // namespace

TEST_CASE("/metrics: folder sizes become the data folder gauges", "[metrics][retention]") {
  http::DaemonMetrics metrics(At(0));
  // Declared from the start, without series.
  std::string text = Render(metrics);
  CHECK_THAT(text, Catch::Contains("# TYPE jobsd_data_folder_bytes gauge\n"));
  CHECK_THAT(text, Catch::Contains("# TYPE jobsd_data_folder_files gauge\n"));
  CHECK_THAT(text, !Catch::Contains("jobsd_data_folder_bytes{"));

  store::RunMetrics first;
  first.Add("files_deleted", 3);
  first.SetFolderSize("/srv/data/raw", 120, 4096);
  first.SetFolderSize("/srv/logs", 7, 1e12);
  metrics.RecordRun(Report("data-retention", 0, &first));
  text = Render(metrics);
  CHECK_THAT(text, Catch::Contains("jobsd_data_folder_bytes{path=\"/srv/data/raw\"} 4096\n"));
  CHECK_THAT(text, Catch::Contains("jobsd_data_folder_files{path=\"/srv/data/raw\"} 120\n"));
  CHECK_THAT(text, Catch::Contains("jobsd_data_folder_bytes{path=\"/srv/logs\"} 1000000000000\n"));
  CHECK_THAT(text, Catch::Contains("jobsd_data_folder_files{path=\"/srv/logs\"} 7\n"));

  // A later report replaces the figures, even from a failed run of another
  // job; a folder not reported again keeps its last value.
  store::RunMetrics second;
  second.SetFolderSize("/srv/data/raw", 100, 2048);
  metrics.RecordRun(Report("other", 1, &second, store::RunStatus::kFailed));
  text = Render(metrics);
  CHECK_THAT(text, Catch::Contains("jobsd_data_folder_bytes{path=\"/srv/data/raw\"} 2048\n"));
  CHECK_THAT(text, Catch::Contains("jobsd_data_folder_files{path=\"/srv/data/raw\"} 100\n"));
  CHECK_THAT(text, !Catch::Contains("{path=\"/srv/data/raw\"} 4096"));
  CHECK_THAT(text, Catch::Contains("jobsd_data_folder_files{path=\"/srv/logs\"} 7\n"));

  // Runs that report none leave the gauges alone.
  store::RunMetrics none;
  none.Add("pages", 1);
  metrics.RecordRun(Report("data-retention", 0, &none));
  metrics.RecordRun(Report("data-retention", 0, nullptr, store::RunStatus::kSkipped));
  text = Render(metrics);
  CHECK_THAT(text, Catch::Contains("jobsd_data_folder_bytes{path=\"/srv/data/raw\"} 2048\n"));
  CHECK_THAT(text, Catch::Contains("jobsd_data_folder_files{path=\"/srv/logs\"} 7\n"));
  CHECK_THAT(text, Catch::Contains("jobsd_runs_total{job=\"data-retention\",status=\"ok\"} 2\n"));
}

TEST_CASE("/metrics: a folder's path is a valid label whatever its bytes", "[metrics][retention]") {
  http::DaemonMetrics metrics(At(0));
  store::RunMetrics run;
  run.SetFolderSize("/data/new\nline \"quoted\" back\\slash", 1, 2);
  run.SetFolderSize("/data/bad\xff", 3, 4);
  metrics.RecordRun(Report("data-retention", 0, &run));
  const std::string text = Render(metrics);
  CHECK_THAT(
      text,
      Catch::Contains(
          "jobsd_data_folder_bytes{path=\"/data/new\\nline \\\"quoted\\\" back\\\\slash\"} 2\n"));
  CHECK_THAT(text, Catch::Contains("jobsd_data_folder_files{path=\"/data/bad\xef\xbf\xbd\"} 3\n"));
  CHECK(text.find('\xff') == std::string::npos);
}
