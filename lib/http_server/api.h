// The daemon's HTTP endpoints (README: HTTP endpoints): /healthz, /readyz, /health,
// /metrics, /api/jobs, /api/jobs/{name}, /api/jobs/{name}/runs, /api/alerts,
// /api/runs/recent and POST /api/jobs/{name}/run, and the status page at / and
// /ui/* (compiled in; with a strict Content-Security-Policy and an ETag).
// Errors are JSON {"error": "..."}.
//
// Threads: construct, destroy and call everything on the loop thread (the
// daemon posts each request from the HTTP thread to the loop). Nothing here waits on SQLite or
// renders a large answer on the loop: run history is read on the recorder's thread (after the
// writes queued before it); /metrics, /health and /api/jobs are built on a thread of their own from
// a status snapshot taken on the loop (scrapes that arrive during a /metrics render share the next
// one).
//
// POST /api/events/s3 takes an S3 event notification (S3's own, with
// Records, or EventBridge's, with detail) and starts each job whose on_s3:
// matches one of its objects, once per request (trigger event).
//
// /health also lists the alert channels; one that keeps failing (3 attempts
// in a row) makes it 503 too, since then nobody hears of failing jobs.
//
// POST endpoints need `Authorization: Bearer <http.token>`, compared in
// constant time: 401 without it, 403 with a wrong one, and 403 for every
// POST when no token is configured. With http.ui.token_required, so does
// every GET /api/... (not the page's files, nor /health and the like).
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "alert/outbox.h"
#include "config/config.h"
#include "core/time.h"
#include "http_server/api_metrics.h"
#include "http_server/server.h"
#include "scheduler/clock.h"
#include "scheduler/scheduler.h"
#include "store/run_recorder.h"

namespace boost::asio {
class io_context;
}

namespace http {

class Api {
 public:
  Api(boost::asio::io_context& loop, const scheduler::Clock& clock, scheduler::Scheduler& scheduler,
      store::RunRecorder& recorder, DaemonMetrics& metrics, core::TimePoint started);
  // Waits for a /metrics render in progress.
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // The config in force: at start and after each reload that was applied.
  void SetConfig(std::shared_ptr<const config::Config> config);
  // A reload that was refused; shown on /health until the next good one.
  void ReloadFailed(std::string error);
  // Where /health learns how the alert channels are doing; loop thread,
  // called for each /health request (it must be quick).
  void SetAlertChannels(std::function<std::vector<alert::ChannelHealth>()> channels);
  // From here on /readyz answers 503 (the daemon is stopping).
  void SetStopping();

  void Handle(Request request, Respond respond);

  // How many jobs break their rules now (for the systemd status line).
  int FailingJobs() const;

 private:
  void Health(const Respond& respond) const;
  void Metrics(const Respond& respond);
  void Jobs(const Respond& respond) const;
  void Job(const std::string& name, const Respond& respond) const;
  void Runs(const std::string& name, const Request& request, const Respond& respond);
  void Alerts(const Request& request, const Respond& respond);
  void RecentRuns(const Request& request, const Respond& respond);
  // GET / and /ui/*: the status page (ui_assets.h).
  void Ui(const Request& request, const Respond& respond);
  void RunNow(const std::string& name, const Request& request, const Respond& respond);
  void S3Event(const Request& request, const Respond& respond);
  // An error answer when the request may not POST, else nullopt.
  std::optional<Response> Unauthorized(const Request& request) const;

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace http
