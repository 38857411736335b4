#include "http_server/api.h"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <limits>
#include <unordered_map>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <spdlog/spdlog.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "core/json_writer.h"
#include "crypto/sha256.h"
#include "http_server/ui_assets.h"
#include "scheduler/health_check.h"
#include "scheduler/job_json.h"
#include "store/alert_json.h"

namespace http {

namespace asio = boost::asio;

namespace {

constexpr int kDefaultRunsLimit = 20;
constexpr int kMaxRunsLimit = 1000;
constexpr int kDefaultAlertsLimit = 50;
constexpr int kMaxAlertsLimit = 1000;
constexpr int kDefaultRecentPerJob = 30;
constexpr int kMaxRecentPerJob = 100;

// On every answer to / and /ui/*: the page runs only its own script and
// style, talks only to this daemon, and cannot be framed.
constexpr std::string_view kUiContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
// How many upcoming fire times a job object lists.
constexpr int kNextFires = 5;

Response Json(int status, std::string body) {
  body += '\n';
  return Response{status, "application/json", std::move(body), {}};
}

void OptionalTime(core::JsonWriter& json, std::string_view key,
                  const std::optional<core::TimePoint>& t) {
  json.Key(key);
  t ? json.String(core::FormatRfc3339(*t)) : json.Null();
}

// The job's state as the scheduler knows it, after the job's own fields.
void WriteStatusJson(core::JsonWriter& json, const scheduler::JobStatus& status,
                     const std::vector<std::string>& problems) {
  json.Key("running").Int(status.running).Key("queued").Int(status.queued);
  json.Key("last_status");
  status.last_status ? json.String(store::ToString(*status.last_status)) : json.Null();
  OptionalTime(json, "last_finished_at", status.last_finished_at);
  json.Key("consecutive_failures").Int(status.consecutive_failures);
  OptionalTime(json, "last_success_at", status.last_success_at);
  OptionalTime(json, "last_failure_at", status.last_failure_at);
  json.Key("last_error").String(status.last_error);
  OptionalTime(json, "next_run", status.next_slot);
  json.Key("healthy").Bool(problems.empty());
  json.Key("problems").BeginArray();
  for (const auto& p : problems) json.String(p);
  json.EndArray();
}

// "/api/jobs/x/runs" -> {"api", "jobs", "x", "runs"}.
std::vector<std::string_view> Segments(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    const std::size_t slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    path = slash == std::string_view::npos ? std::string_view() : path.substr(slash);
  }
  return parts;
}

// A whole-number query parameter in [min, max]: its value, `fallback` when
// absent, or nullopt with `error` set to the 400 answer.
std::optional<std::int64_t> NumberParam(const Request& request, std::string_view key,
                                        std::int64_t fallback, std::int64_t min, std::int64_t max,
                                        std::optional<Response>& error) {
  const std::string text = request.QueryParam(key);
  if (text.empty()) return fallback;
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || value < min || value > max) {
    error = JsonError(400, std::string(key) + " must be a whole number from " +
                               std::to_string(min) + " to " + std::to_string(max));
    return std::nullopt;
  }
  return value;
}

void AddUiHeaders(Response& response) {
  response.headers.emplace_back("Content-Security-Policy", std::string(kUiContentSecurityPolicy));
  response.headers.emplace_back("X-Content-Type-Options", "nosniff");
  response.headers.emplace_back("Referrer-Policy", "no-referrer");
  response.headers.emplace_back("X-Frame-Options", "DENY");
}

// Whether If-None-Match (a list of entity tags, or *) names `etag`; weak
// tags compare by their opaque part, as RFC 9110 has it for this header.
bool EtagMatches(std::string_view if_none_match, std::string_view etag) {
  while (!if_none_match.empty()) {
    const std::size_t comma = if_none_match.find(',');
    std::string_view tag = if_none_match.substr(0, comma);
    if_none_match =
        comma == std::string_view::npos ? std::string_view() : if_none_match.substr(comma + 1);
    while (!tag.empty() && (tag.front() == ' ' || tag.front() == '\t')) tag.remove_prefix(1);
    while (!tag.empty() && (tag.back() == ' ' || tag.back() == '\t')) tag.remove_suffix(1);
    if (tag.starts_with("W/")) tag.remove_prefix(2);
    if (tag == "*" || tag == etag) return true;
  }
  return false;
}

// A run as the status page's strip of recent runs needs it.
void WriteRecentRunJson(core::JsonWriter& json, const store::RunRecord& run) {
  json.Key("id").Int(run.id);
  json.Key("trigger").String(store::ToString(run.trigger));
  json.Key("status").String(store::ToString(run.status));
  json.Key("scheduled_at");
  run.scheduled_at ? json.String(core::FormatRfc3339(*run.scheduled_at)) : json.Null();
  json.Key("started_at").String(core::FormatRfc3339(run.started_at));
  json.Key("finished_at");
  run.finished_at ? json.String(core::FormatRfc3339(*run.finished_at)) : json.Null();
  json.Key("duration_seconds");
  run.finished_at
      ? json.Double(std::chrono::duration<double>(*run.finished_at - run.started_at).count())
      : json.Null();
  json.Key("attempt").Int(run.attempt);
  json.Key("error").String(run.error);
}

Response MethodNotAllowed(std::string_view allowed) {
  Response response = JsonError(405, "method not allowed; use " + std::string(allowed));
  response.headers.emplace_back("Allow", std::string(allowed));
  return response;
}

}  // namespace

// How old a /metrics answer may be: a render is served to every scrape
// within this time of the state it was rendered from. Prometheus scrapes
// every few seconds, so a tenth of a second is invisible to it, while a
// flood of scrapes costs at most ten renders a second.
constexpr auto kMetricsMaxAge = std::chrono::milliseconds(100);

namespace {

// A /metrics answer: a render, shared by every scrape it serves.
Response MetricsResponse(std::shared_ptr<const std::string> body) {
  Response response;
  response.content_type = std::string(metrics::kContentType);
  response.shared_body = std::move(body);
  return response;
}

}  // namespace

// What the answers built off the loop read: copies, and the config (immutable).
struct ApiSnapshot {
  std::shared_ptr<const config::Config> config;
  std::vector<scheduler::JobStatus> jobs;
  core::TimePoint now;
  core::TimePoint started;
  core::TimePoint loaded_at;
  int generation = 0;
  std::optional<core::TimePoint> reload_failed_at;
  std::string reload_error;
  std::vector<alert::ChannelHealth> channels;
};

struct Api::Impl {
  Impl(asio::io_context& loop_in, const scheduler::Clock& clock_in,
       scheduler::Scheduler& scheduler_in, store::RunRecorder& recorder_in,
       DaemonMetrics& metrics_in, core::TimePoint started_in)
      : loop(loop_in),
        clock(clock_in),
        scheduler(scheduler_in),
        recorder(recorder_in),
        metrics(metrics_in),
        started(started_in) {}

  // Loop thread only: a snapshot for an answer built off the loop.
  ApiSnapshot Snapshot() const;
  // Builds the answer from a snapshot on the render thread.
  void OffLoop(std::function<Response(const ApiSnapshot&)> answer, Respond respond);
  void StartMetricsRender();

  asio::io_context& loop;
  const scheduler::Clock& clock;
  scheduler::Scheduler& scheduler;
  store::RunRecorder& recorder;
  DaemonMetrics& metrics;
  const core::TimePoint started;
  // Renders /metrics off the loop.
  asio::thread_pool render{1};

  // Loop thread only.
  std::shared_ptr<const config::Config> config;
  int generation = 0;
  core::TimePoint loaded_at;
  std::optional<core::TimePoint> reload_failed_at;
  std::string reload_error;
  std::function<std::vector<alert::ChannelHealth>()> channels;
  bool stopping = false;
  bool metrics_rendering = false;
  std::vector<Respond> metrics_waiting;
  std::shared_ptr<const std::string> metrics_body;      // the last render
  std::chrono::steady_clock::time_point metrics_taken;  // when its state was read
  // The status page's files as answer bodies, made on first request, so
  // that each answer shares them instead of copying.
  std::unordered_map<const UiAsset*, std::shared_ptr<const std::string>> ui_bodies;
};

Api::Api(asio::io_context& loop, const scheduler::Clock& clock, scheduler::Scheduler& scheduler,
         store::RunRecorder& recorder, DaemonMetrics& metrics, core::TimePoint started)
    : impl_(std::make_unique<Impl>(loop, clock, scheduler, recorder, metrics, started)) {
  // The render thread yields to the loop: on a busy machine a flood of
  // scrapes must not make runs start late. (On Linux a thread has a nice
  // value of its own.)
  asio::post(impl_->render, [] { ::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10); });
}

Api::~Api() { impl_->render.join(); }

void Api::SetConfig(std::shared_ptr<const config::Config> config) {
  impl_->config = std::move(config);
  ++impl_->generation;
  impl_->loaded_at = impl_->clock.Now();
  impl_->reload_failed_at.reset();
  impl_->reload_error.clear();
}

void Api::ReloadFailed(std::string error) {
  impl_->reload_failed_at = impl_->clock.Now();
  impl_->reload_error = std::move(error);
}

void Api::SetAlertChannels(std::function<std::vector<alert::ChannelHealth>()> channels) {
  impl_->channels = std::move(channels);
}

void Api::SetStopping() { impl_->stopping = true; }

void Api::Handle(Request request, Respond respond) {
  const std::vector<std::string_view> parts = Segments(request.path);
  const bool get = request.method == "GET" || request.method == "HEAD";
  const bool post = request.method == "POST";

  if (parts.empty() || parts[0] == "ui") return Ui(request, respond);
  // The API's reads may need the token too; the page's files hold no data.
  if (get && !parts.empty() && parts[0] == "api" && impl_->config->http.ui_token_required) {
    if (auto refused = Unauthorized(request)) return respond(std::move(*refused));
  }

  if (parts.size() == 1 && parts[0] == "healthz") {
    if (!get) return respond(MethodNotAllowed("GET"));
    return respond(Json(200, R"({"status":"ok"})"));
  }
  if (parts.size() == 1 && parts[0] == "readyz") {
    if (!get) return respond(MethodNotAllowed("GET"));
    if (impl_->stopping) return respond(Json(503, R"({"status":"stopping"})"));
    return respond(Json(200, R"({"status":"ready"})"));
  }
  if (parts.size() == 1 && parts[0] == "health") {
    if (!get) return respond(MethodNotAllowed("GET"));
    return Health(respond);
  }
  if (parts.size() == 1 && parts[0] == "metrics") {
    if (!get) return respond(MethodNotAllowed("GET"));
    return Metrics(respond);
  }
  if (parts.size() == 3 && parts[0] == "api" && parts[1] == "events" && parts[2] == "s3") {
    if (!post) return respond(MethodNotAllowed("POST"));
    return S3Event(request, respond);
  }
  if (parts.size() == 2 && parts[0] == "api" && parts[1] == "alerts") {
    if (!get) return respond(MethodNotAllowed("GET"));
    return Alerts(request, respond);
  }
  if (parts.size() == 3 && parts[0] == "api" && parts[1] == "runs" && parts[2] == "recent") {
    if (!get) return respond(MethodNotAllowed("GET"));
    return RecentRuns(request, respond);
  }
  if (parts.size() >= 2 && parts[0] == "api" && parts[1] == "jobs") {
    if (parts.size() == 2) {
      if (!get) return respond(MethodNotAllowed("GET"));
      return Jobs(respond);
    }
    const std::string name(parts[2]);
    if (parts.size() == 3) {
      if (!get) return respond(MethodNotAllowed("GET"));
      return Job(name, respond);
    }
    if (parts.size() == 4 && parts[3] == "runs") {
      if (!get) return respond(MethodNotAllowed("GET"));
      return Runs(name, request, respond);
    }
    if (parts.size() == 4 && parts[3] == "run") {
      if (!post) return respond(MethodNotAllowed("POST"));
      return RunNow(name, request, respond);
    }
  }
  respond(JsonError(404, "no such endpoint: " + request.path));
}

int Api::FailingJobs() const {
  if (!impl_->config) return 0;
  const core::TimePoint now = impl_->clock.Now();
  int failing = 0;
  for (const scheduler::JobStatus& status : impl_->scheduler.Status()) {
    const config::JobConfig* job = impl_->config->FindJob(status.name);
    if (job && !scheduler::HealthProblems(*job, status, now, impl_->started).empty()) ++failing;
  }
  return failing;
}

namespace {

// The health answer, built off the loop from a snapshot.
Response HealthAnswer(const ApiSnapshot& view) {
  core::JsonWriter json;
  std::vector<std::string> failing;
  std::string jobs_json;
  // Jobs first, into their own writers, so the verdict can lead the answer.
  for (const scheduler::JobStatus& status : view.jobs) {
    const config::JobConfig* job = view.config->FindJob(status.name);
    if (job == nullptr) continue;
    const auto problems = scheduler::HealthProblems(*job, status, view.now, view.started);
    if (!problems.empty()) failing.push_back(job->name);
    core::JsonWriter one;
    one.Key("name").String(job->name).Key("type").String(job->type);
    one.Key("enabled").Bool(job->enabled);
    WriteStatusJson(one, status, problems);
    if (!jobs_json.empty()) jobs_json += ',';
    jobs_json += one.Finish();
  }
  std::vector<std::string> failing_channels;
  for (const alert::ChannelHealth& channel : view.channels) {
    if (channel.failing()) failing_channels.push_back(channel.name);
  }
  const bool healthy = failing.empty() && failing_channels.empty();
  json.Key("status").String(healthy ? "ok" : "failing");
  json.Key("failing").BeginArray();
  for (const auto& name : failing) json.String(name);
  json.EndArray();
  json.Key("failing_alert_channels").BeginArray();
  for (const auto& name : failing_channels) json.String(name);
  json.EndArray();
  json.Key("started_at").String(core::FormatRfc3339(view.started));
  json.Key("config").BeginObject();
  json.Key("file").String(view.config->file);
  json.Key("generation").Int(view.generation);
  json.Key("loaded_at").String(core::FormatRfc3339(view.loaded_at));
  OptionalTime(json, "last_reload_failed_at", view.reload_failed_at);
  json.Key("last_reload_error");
  view.reload_error.empty() ? json.Null() : json.String(view.reload_error);
  json.EndObject();
  json.Key("alert_channels").BeginArray();
  for (const alert::ChannelHealth& channel : view.channels) {
    json.BeginObject();
    json.Key("name").String(channel.name);
    json.Key("status").String(channel.failing() ? "failing" : "ok");
    json.Key("failures_in_a_row").Int(channel.failures_in_a_row);
    OptionalTime(json, "last_delivered_at", channel.last_delivered_at);
    OptionalTime(json, "last_failed_at", channel.last_failed_at);
    json.Key("last_error");
    channel.last_error.empty() ? json.Null() : json.String(channel.last_error);
    json.EndObject();
  }
  json.EndArray();
  json.Key("jobs").Raw("[" + jobs_json + "]");
  return Json(healthy ? 200 : 503, json.Finish());
}

Response JobsAnswer(const ApiSnapshot& view) {
  std::string body = "[";
  for (const scheduler::JobStatus& status : view.jobs) {
    const config::JobConfig* job = view.config->FindJob(status.name);
    if (job == nullptr) continue;
    core::JsonWriter json;
    scheduler::WriteJobJson(json, *job, scheduler::NextFires(*job, view.now, kNextFires));
    WriteStatusJson(json, status, scheduler::HealthProblems(*job, status, view.now, view.started));
    if (body.size() > 1) body += ',';
    body += json.Finish();
  }
  body += "]";
  return Json(200, std::move(body));
}

}  // namespace

ApiSnapshot Api::Impl::Snapshot() const {
  return ApiSnapshot{config,
                     scheduler.Status(),
                     clock.Now(),
                     started,
                     loaded_at,
                     generation,
                     reload_failed_at,
                     reload_error,
                     channels ? channels() : std::vector<alert::ChannelHealth>{}};
}

void Api::Impl::OffLoop(std::function<Response(const ApiSnapshot&)> answer, Respond respond) {
  asio::post(render, [view = Snapshot(), answer = std::move(answer), respond = std::move(respond)] {
    respond(answer(view));
  });
}

// Requests that arrive while /metrics is being rendered wait for that
// render and share it; so do those within kMetricsMaxAge after it.
void Api::Impl::StartMetricsRender() {
  metrics_rendering = true;
  auto waiting = std::make_shared<std::vector<Respond>>(std::move(metrics_waiting));
  metrics_waiting.clear();
  const auto taken = std::chrono::steady_clock::now();
  auto jobs = std::make_shared<const std::vector<scheduler::JobStatus>>(scheduler.Status());
  const std::size_t last_size = metrics_body ? metrics_body->size() : 0;
  asio::post(render, [this, jobs, waiting, taken, last_size] {
    auto body = std::make_shared<std::string>();
    body->reserve(last_size + last_size / 8);  // a few bytes more each time: no regrowth
    metrics.Render(*body, *jobs);
    std::shared_ptr<const std::string> rendered = std::move(body);
    const Response response = MetricsResponse(rendered);
    for (const Respond& respond : *waiting) respond(response);
    asio::post(loop, [this, rendered, taken] {
      metrics_rendering = false;
      metrics_body = rendered;
      metrics_taken = taken;
      if (!metrics_waiting.empty()) StartMetricsRender();
    });
  });
}

void Api::Health(const Respond& respond) const { impl_->OffLoop(HealthAnswer, respond); }

void Api::Metrics(const Respond& respond) {
  if (impl_->metrics_body &&
      std::chrono::steady_clock::now() - impl_->metrics_taken < kMetricsMaxAge) {
    respond(MetricsResponse(impl_->metrics_body));
    return;
  }
  impl_->metrics_waiting.push_back(respond);
  if (!impl_->metrics_rendering) impl_->StartMetricsRender();
}

void Api::Jobs(const Respond& respond) const { impl_->OffLoop(JobsAnswer, respond); }

void Api::Job(const std::string& name, const Respond& respond) const {
  const config::JobConfig* job = impl_->config->FindJob(name);
  const auto status = impl_->scheduler.StatusOf(name);
  if (job == nullptr || !status) return respond(JsonError(404, "no job named '" + name + "'"));
  const core::TimePoint now = impl_->clock.Now();
  core::JsonWriter json;
  scheduler::WriteJobJson(json, *job, scheduler::NextFires(*job, now, kNextFires));
  WriteStatusJson(json, *status, scheduler::HealthProblems(*job, *status, now, impl_->started));
  json.Key("timeout").String(core::FormatDuration(job->timeout));
  json.Key("overlap").String(config::Name(job->overlap));
  json.Key("retries").Int(job->retries.max);
  // `after` stays the upstream names; `after_on` adds the end of their runs
  // that starts this job.
  json.Key("after").BeginArray();
  for (const config::Upstream& upstream : job->after) json.String(upstream.job);
  json.EndArray();
  json.Key("after_on").BeginArray();
  for (const config::Upstream& upstream : job->after) {
    json.BeginObject();
    json.Key("job").String(upstream.job);
    json.Key("on").String(config::Name(upstream.on));
    json.EndObject();
  }
  json.EndArray();
  respond(Json(200, json.Finish()));
}

void Api::Runs(const std::string& name, const Request& request, const Respond& respond) {
  if (impl_->config->FindJob(name) == nullptr) {
    return respond(JsonError(404, "no job named '" + name + "'"));
  }
  std::optional<Response> bad;
  const auto limit = NumberParam(request, "limit", kDefaultRunsLimit, 1, kMaxRunsLimit, bad);
  if (!limit) return respond(std::move(*bad));
  std::optional<std::int64_t> before;
  if (!request.QueryParam("before").empty()) {
    before = NumberParam(request, "before", 0, 1, std::numeric_limits<std::int64_t>::max(), bad);
    if (!before) return respond(std::move(*bad));
  }
  // Read on the recorder's thread, after the writes already queued: the
  // answer includes every run the loop has recorded so far.
  impl_->recorder.Query(
      [name, limit = static_cast<int>(*limit), before, respond](store::RunStore& store) {
        auto runs = store.RecentRuns(name, limit, before);
        if (!runs) {
          spdlog::error("http: reading runs of {}: {}", name, runs.error().message);
          return respond(JsonError(500, "cannot read the run history: " + runs.error().message));
        }
        std::string body = "[";
        for (const store::RunRecord& run : *runs) {
          core::JsonWriter json;
          scheduler::WriteRunJson(json, run);
          if (body.size() > 1) body += ',';
          body += json.Finish();
        }
        body += "]";
        respond(Json(200, std::move(body)));
      });
}

void Api::Alerts(const Request& request, const Respond& respond) {
  std::optional<Response> bad;
  const auto limit = NumberParam(request, "limit", kDefaultAlertsLimit, 1, kMaxAlertsLimit, bad);
  if (!limit) return respond(std::move(*bad));
  // Any name: the alerts of a job since removed from the config stay readable.
  impl_->recorder.Query([job = request.QueryParam("job"), limit = static_cast<int>(*limit),
                         respond](store::RunStore& store) {
    auto alerts = store.RecentAlerts(job, limit);
    if (!alerts) {
      spdlog::error("http: reading alerts: {}", alerts.error().message);
      return respond(JsonError(500, "cannot read the alerts: " + alerts.error().message));
    }
    std::string body = "[";
    for (const auto& [alert, deliveries] : *alerts) {
      core::JsonWriter json;
      store::WriteAlertJson(json, alert, deliveries);
      if (body.size() > 1) body += ',';
      body += json.Finish();
    }
    body += "]";
    respond(Json(200, std::move(body)));
  });
}

void Api::RecentRuns(const Request& request, const Respond& respond) {
  std::optional<Response> bad;
  const auto per_job =
      NumberParam(request, "per_job", kDefaultRecentPerJob, 1, kMaxRecentPerJob, bad);
  if (!per_job) return respond(std::move(*bad));
  // Every job of the config in force, in its order (those without runs
  // too); the config is immutable, so the recorder's thread may read it.
  impl_->recorder.Query([config = impl_->config, per_job = static_cast<int>(*per_job),
                         respond](store::RunStore& store) {
    std::vector<std::string> names;
    names.reserve(config->jobs.size());
    for (const config::JobConfig& job : config->jobs) names.push_back(job.name);
    auto recent = store.RecentRunsPerJob(names, per_job);
    if (!recent) {
      spdlog::error("http: reading recent runs: {}", recent.error().message);
      return respond(JsonError(500, "cannot read the run history: " + recent.error().message));
    }
    core::JsonWriter json;
    json.Key("jobs").BeginObject();
    for (const config::JobConfig& job : config->jobs) {
      json.Key(job.name).BeginArray();
      if (const auto it = recent->find(job.name); it != recent->end()) {
        for (const store::RunRecord& run : it->second) {
          json.BeginObject();
          WriteRecentRunJson(json, run);
          json.EndObject();
        }
      }
      json.EndArray();
    }
    json.EndObject();
    respond(Json(200, json.Finish()));
  });
}

void Api::Ui(const Request& request, const Respond& respond) {
  const UiAsset* asset = impl_->config->http.ui_enabled ? FindUiAsset(request.path) : nullptr;
  Response response;
  if (asset == nullptr) {
    response = JsonError(404, "no such endpoint: " + request.path);
  } else if (request.method != "GET" && request.method != "HEAD") {
    response = MethodNotAllowed("GET");
  } else {
    response.status = 200;
    response.content_type = std::string(asset->content_type);
    response.headers.emplace_back("Cache-Control", "no-cache");
    response.headers.emplace_back("ETag", std::string(asset->etag));
    if (EtagMatches(request.if_none_match, asset->etag)) {
      response.status = 304;
    } else {
      auto& body = impl_->ui_bodies[asset];
      if (!body) body = std::make_shared<const std::string>(asset->body);
      response.shared_body = body;
    }
  }
  AddUiHeaders(response);
  respond(std::move(response));
}

std::optional<Response> Api::Unauthorized(const Request& request) const {
  const auto& token = impl_->config->http.token;
  if (!token || token->empty()) {
    return JsonError(403, "POST endpoints are off: no http.token is configured");
  }
  constexpr std::string_view kBearer = "Bearer ";
  std::string_view given = request.authorization;
  if (given.size() < kBearer.size() ||
      !std::equal(kBearer.begin(), kBearer.end(), given.begin(),
                  [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
    Response response = JsonError(401, "this endpoint needs Authorization: Bearer <http.token>");
    response.headers.emplace_back("WWW-Authenticate", "Bearer");
    return response;
  }
  given.remove_prefix(kBearer.size());
  if (!crypto::SameSecret(given, *token)) return JsonError(403, "wrong token");
  return std::nullopt;
}

void Api::RunNow(const std::string& name, const Request& request, const Respond& respond) {
  if (auto refused = Unauthorized(request)) return respond(std::move(*refused));
  if (impl_->config->FindJob(name) == nullptr) {
    return respond(JsonError(404, "no job named '" + name + "'"));
  }
  std::string why;
  const auto id = impl_->scheduler.RunNow(name, &why);
  core::JsonWriter json;
  json.Key("job").String(name);
  if (id) {
    spdlog::info("job={} run={} started by an API request", name, *id);
    json.Key("id").Int(*id).Key("status").String("running");
    return respond(Json(202, json.Finish()));
  }
  if (why.rfind("queued", 0) == 0) {
    json.Key("id").Null().Key("status").String("queued").Key("message").String(why);
    return respond(Json(202, json.Finish()));
  }
  if (why.rfind("skipped", 0) == 0) {
    json.Key("status").String("skipped").Key("error").String(why);
    return respond(Json(409, json.Finish()));
  }
  respond(JsonError(503, why));
}

namespace {

// The (bucket, key) of each object an S3 event notification names: S3's own
// format (Records[].s3, keys form-encoded) or EventBridge's (detail, keys plain).
std::optional<std::vector<std::pair<std::string, std::string>>> S3Objects(std::string_view body) {
  boost::system::error_code ec;
  const boost::json::value doc = boost::json::parse(body, ec);
  if (ec || !doc.is_object()) return std::nullopt;
  std::vector<std::pair<std::string, std::string>> objects;
  auto text = [](const boost::json::value* v) -> std::optional<std::string> {
    if (v == nullptr || !v->is_string()) return std::nullopt;
    return std::string(v->as_string());
  };
  const boost::json::object& root = doc.as_object();
  if (const auto* records = root.if_contains("Records"); records && records->is_array()) {
    for (const auto& record : records->as_array()) {
      const auto* bucket = record.is_object() ? record.as_object().if_contains("s3") : nullptr;
      if (bucket == nullptr || !bucket->is_object()) continue;
      const auto& s3 = bucket->as_object();
      const auto* b = s3.if_contains("bucket");
      const auto* o = s3.if_contains("object");
      const auto name =
          b && b->is_object() ? text(b->as_object().if_contains("name")) : std::nullopt;
      const auto key = o && o->is_object() ? text(o->as_object().if_contains("key")) : std::nullopt;
      if (name && key) objects.emplace_back(*name, FormDecode(*key));
    }
  } else if (const auto* detail = root.if_contains("detail"); detail && detail->is_object()) {
    const auto* b = detail->as_object().if_contains("bucket");
    const auto* o = detail->as_object().if_contains("object");
    const auto name = b && b->is_object() ? text(b->as_object().if_contains("name")) : std::nullopt;
    const auto key = o && o->is_object() ? text(o->as_object().if_contains("key")) : std::nullopt;
    if (name && key) objects.emplace_back(*name, *key);
  }
  return objects;
}

}  // namespace

void Api::S3Event(const Request& request, const Respond& respond) {
  if (auto refused = Unauthorized(request)) return respond(std::move(*refused));
  const auto objects = S3Objects(request.body);
  if (!objects) return respond(JsonError(400, "the body is not a JSON object"));
  if (objects->empty()) {
    return respond(JsonError(400, "no S3 object in the event (expected Records[].s3 or detail)"));
  }
  core::JsonWriter json;
  json.Key("objects").Int(static_cast<std::int64_t>(objects->size()));
  json.Key("runs").BeginArray();
  int started = 0;
  for (const config::JobConfig& job : impl_->config->jobs) {
    if (!job.on_s3) continue;
    const auto match = std::find_if(objects->begin(), objects->end(), [&](const auto& object) {
      return job.on_s3->Matches(object.first, object.second);
    });
    if (match == objects->end()) continue;
    std::string why;
    const auto id = impl_->scheduler.RunNow(job.name, &why, store::Trigger::kEvent);
    json.BeginObject().Key("job").String(job.name).Key("object").String(match->first + "/" +
                                                                        match->second);
    if (id) {
      ++started;
      spdlog::info("job={} run={} started by an S3 event for {}/{}", job.name, *id, match->first,
                   match->second);
      json.Key("id").Int(*id).Key("status").String("running");
    } else {
      json.Key("id").Null();
      json.Key("status").String(why.rfind("queued", 0) == 0      ? "queued"
                                : why.rfind("coalesced", 0) == 0 ? "coalesced"
                                                                 : "skipped");
      json.Key("message").String(why);
    }
    json.EndObject();
  }
  json.EndArray();
  respond(Json(202, json.Finish()));
}

}  // namespace http
