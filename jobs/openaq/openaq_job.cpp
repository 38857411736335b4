#include "jobs/openaq/openaq_job.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <memory>
#include <set>

#include "jobs/openaq/measurement_store.h"
#include "jobs/openaq/openaq_api.h"
#include "jobs/openaq/openaq_config.h"

namespace jobs::openaq {
namespace {

std::int64_t ToSeconds(core::TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

std::string LimitText(http::RateLimit limit) {
  auto window = [](int n, const char* unit) {
    return n > 0 ? std::to_string(n) + "/" + unit : std::string("no limit per ") + unit;
  };
  return window(limit.per_minute, "min") + " and " + window(limit.per_hour, "h");
}

std::string ExportLine(const QueuedRow& row, bool csv) {
  char value[32];
  std::snprintf(value, sizeof value, "%.17g", row.value);
  const std::string end = FormatUtcSeconds(row.period_end);
  const char* updated = row.updated ? "true" : "false";
  if (csv) {
    return std::to_string(row.sensor_id) + ',' + row.parameter + ',' + end + ',' + value + ',' +
           updated + '\n';
  }
  return "{\"sensor_id\":" + std::to_string(row.sensor_id) + ",\"parameter\":\"" + row.parameter +
         "\",\"period_end\":\"" + end + "\",\"value\":" + value + ",\"updated\":" + updated + "}\n";
}

core::Error Fatal(std::string message) {
  return core::Error{core::ErrorKind::kUpstream, std::move(message), false};
}

// One sensor's fetch: a moving window (from, to].
struct Task {
  SensorInfo sensor;
  std::int64_t from = 0;
  std::int64_t to = 0;
  bool advance_cursor = true;
  int pages = 0;
};

// The database the settings name, else openaq-<job>.db beside the state
// store (or one left beside the config file by an earlier jobsd).
std::filesystem::path DatabaseFor(const OpenaqSettings& settings,
                                  const scheduler::JobContext& ctx) {
  if (!settings.database.empty()) return settings.database;
  std::error_code ignored;
  if (!settings.legacy_database.empty() &&
      std::filesystem::exists(settings.legacy_database, ignored)) {
    return settings.legacy_database;
  }
  return ctx.state_folder() / ("openaq-" + ctx.job_name() + ".db");
}

class OpenaqJob final : public scheduler::Job {
 public:
  explicit OpenaqJob(OpenaqSettings settings) : settings_(std::move(settings)) {}

  core::Result<void> Run(scheduler::JobContext& ctx) override {
    ctx_ = &ctx;
    metrics_ = &ctx.metrics();
    core::Result<void> result = FetchAndStore(ctx);
    Summarize();
    return result;
  }

 private:
  core::Result<void> FetchAndStore(scheduler::JobContext& ctx) {
    auto opened = MeasurementStore::Open(DatabaseFor(settings_, ctx));
    if (!opened) return core::Unexpected(opened.error());
    store_ = &*opened;
    auto base = http::ParseUrl(settings_.base_url);
    if (!base) return core::Unexpected(base.error());
    upstream_ = "openaq " + base->Authority();
    const auto shared =
        ctx.http().SetRateLimit(upstream_, {settings_.per_minute, settings_.per_hour});
    if (shared.first_disagreement) {
      ctx.Warn("rate_limit: the jobs using " + upstream_ + " ask for different limits (this one " +
               LimitText({settings_.per_minute, settings_.per_hour}) +
               "); one limiter at the strictest serves them all: " + LimitText(shared.in_force));
    }
    call_ = ctx.CallOptions();
    call_.ca_file = settings_.ca_file;
    now_ = ToSeconds(ctx.Now());
    if (settings_.export_format != ExportFormat::kNone) {
      if (auto leftovers = ExportLeftovers(); !leftovers) {
        return core::Unexpected(leftovers.error());
      }
    }

    std::vector<Task> tasks;
    for (const std::int64_t location : settings_.locations) {
      if (ctx.cancel().Cancelled()) return Cancelled();
      auto sensors = SensorsOf(location);
      if (!sensors) return core::Unexpected(sensors.error());
      metrics_->Add("locations", 1);
      if (!*sensors) {
        metrics_->Add("locations_failed", 1);
        continue;
      }
      for (SensorInfo& sensor : **sensors) {
        if (!settings_.parameters.empty() &&
            std::find(settings_.parameters.begin(), settings_.parameters.end(), sensor.parameter) ==
                settings_.parameters.end()) {
          continue;
        }
        auto task = MakeTask(std::move(sensor));
        if (!task) return core::Unexpected(task.error());
        tasks.push_back(std::move(*task));
      }
    }
    metrics_->Add("sensors", double(tasks.size()));

    if (auto fetched = FetchAll(tasks); !fetched) return core::Unexpected(fetched.error());

    if (first_error_) {
      core::Error error = *first_error_;
      error.message += " (" + std::to_string(int(metrics_->Value("sensors_failed"))) +
                       " sensor(s) failed; what the others fetched is stored)";
      return core::Unexpected(std::move(error));
    }
    return {};
  }

  core::Unexpected Cancelled() const { return core::Unexpected(ctx_->CancelledError()); }

  // Every run reports the same figures, zeros included, and its quality;
  // failed runs too, with what they did before failing.
  void Summarize() {
    for (const char* kind : {"fetched", "inserted", "updated", "duplicate", "invalid"}) {
      metrics_->AddRecords(kind, 0);
    }
    for (const char* key : {"requests", "rate_limit_waits", "locations_failed", "sensors_failed"}) {
      metrics_->Add(key, 0);
    }
    if (settings_.export_format != ExportFormat::kNone) metrics_->Add("exported", 0);
    const double fetched = metrics_->Value("fetched");
    const double invalid = metrics_->Value("invalid");
    metrics_->SetQuality(fetched > 0 ? (fetched - invalid) / fetched : 1.0);
    // New or corrected rows are a change (what `after: {on: changed}` follows).
    metrics_->SetChanged(metrics_->Value("inserted") + metrics_->Value("updated") > 0);
  }

  http::ClientRequest Get(const std::string& target) const {
    http::ClientRequest request;
    request.url = settings_.base_url + target;
    request.headers = {{"X-API-Key", settings_.api_key}, {"Accept", "application/json"}};
    request.upstream = upstream_;
    return request;
  }

  // The run-level meaning of an answer that is not 200; nullopt for 404
  // (the caller decides what is missing).
  std::optional<core::Error> StatusError(const http::ClientResponse& r,
                                         const std::string& what) const {
    const std::string detail = ErrorDetail(r.body);
    const std::string suffix = detail.empty() ? "" : ": " + detail;
    switch (r.status) {
      case 401:
      case 403:
        return Fatal("OpenAQ rejected the API key (HTTP " + std::to_string(r.status) + suffix +
                     "); check with.api_key");
      case 404:
        return std::nullopt;
      case 410:
        return Fatal(what +
                     ": HTTP 410 Gone: OpenAQ retired this path (v1 and v2 answer 410 "
                     "since January 2025); check with.base_url");
      case 422:
        return Fatal(what + ": OpenAQ refused the query (HTTP 422" + suffix + ")");
      case 429:
        return core::Error{core::ErrorKind::kUpstream,
                           what + ": still rate limited (HTTP 429) after waiting as told", true};
      default:
        return core::Error{core::ErrorKind::kUpstream,
                           what + ": HTTP " + std::to_string(r.status) + suffix + " after " +
                               std::to_string(r.attempts) + " attempt(s)",
                           r.status >= 500};
    }
  }

  void Count(const http::ClientResponse& r) {
    metrics_->Add("requests", r.attempts);
    metrics_->Add("rate_limit_waits", r.rate_limit_waits);
  }

  // The location's sensors, from the database or (daily) the API. An inner
  // nullopt: the location failed (unknown, or unreadable) and is skipped.
  core::Result<std::optional<std::vector<SensorInfo>>> SensorsOf(std::int64_t location) {
    const std::string what = "location " + std::to_string(location);
    auto refreshed = store_->LocationRefreshedAt(location);
    if (!refreshed) return core::Unexpected(refreshed.error());
    const bool fresh =
        *refreshed &&
        now_ - **refreshed <
            std::chrono::duration_cast<std::chrono::seconds>(settings_.sensor_refresh).count();
    if (!fresh) {
      auto answer = ctx_->http().Send(Get("/v3/locations/" + std::to_string(location)), call_);
      if (!answer) {
        if (answer.error().kind == core::ErrorKind::kCancelled) return Cancelled();
        return LocationFailed(location, what + ": " + answer.error().message, *refreshed);
      }
      Count(*answer);
      if (answer->status == 404) {
        ctx_->Warn(what + ": unknown to OpenAQ (HTTP 404); skipped");
        return std::optional<std::vector<SensorInfo>>();
      }
      if (answer->status != 200) {
        const auto error = StatusError(*answer, what);
        if (!error->retryable) return core::Unexpected(*error);
        return LocationFailed(location, error->message, *refreshed);
      }
      auto info = ParseLocation(answer->body);
      if (!info) return LocationFailed(location, what + ": " + info.error().message, *refreshed);
      info->id = location;
      // The sensors list adds each sensor's first datetime.
      auto listed =
          ctx_->http().Send(Get("/v3/locations/" + std::to_string(location) + "/sensors"), call_);
      if (listed) {
        Count(*listed);
        if (listed->status == 200) {
          if (auto sensors = ParseSensors(listed->body)) {
            for (SensorInfo& s : info->sensors) {
              for (const SensorInfo& l : *sensors) {
                if (l.id == s.id) s.datetime_first = l.datetime_first;
              }
            }
          }
        } else if (auto error = StatusError(*listed, what); error && !error->retryable) {
          return core::Unexpected(*error);
        }
      } else if (listed.error().kind == core::ErrorKind::kCancelled) {
        return Cancelled();
      }
      if (auto saved = store_->SaveLocation(*info, now_); !saved) {
        return core::Unexpected(saved.error());
      }
    }
    auto sensors = store_->Sensors(location);
    if (!sensors) return core::Unexpected(sensors.error());
    return std::optional<std::vector<SensorInfo>>(std::move(*sensors));
  }

  // A location whose sensors could not be read this time: use what is stored
  // when there is something, else skip it.
  core::Result<std::optional<std::vector<SensorInfo>>> LocationFailed(
      std::int64_t location, const std::string& message, std::optional<std::int64_t> refreshed) {
    ctx_->Warn(message);
    if (refreshed) {
      auto sensors = store_->Sensors(location);
      if (!sensors) return core::Unexpected(sensors.error());
      return std::optional<std::vector<SensorInfo>>(std::move(*sensors));
    }
    if (!first_error_) first_error_ = core::Error{core::ErrorKind::kUpstream, message, true};
    return std::optional<std::vector<SensorInfo>>();
  }

  core::Result<Task> MakeTask(SensorInfo sensor) {
    Task task;
    task.sensor = std::move(sensor);
    if (settings_.from) {
      task.from = ToSeconds(*settings_.from);
      task.to = ToSeconds(*settings_.to);
      task.advance_cursor = false;
      return task;
    }
    auto cursor = store_->Cursor(task.sensor.id, settings_.resolution);
    if (!cursor) return core::Unexpected(cursor.error());
    const std::int64_t lookback =
        std::chrono::duration_cast<std::chrono::seconds>(settings_.lookback).count();
    if (*cursor) {
      task.from = **cursor - lookback;
    } else if (settings_.start_at) {
      task.from = ToSeconds(*settings_.start_at);
    } else {
      task.from =
          now_ - std::chrono::duration_cast<std::chrono::seconds>(settings_.start_ago).count();
    }
    task.to = now_;
    return task;
  }

  struct Fetch {
    Task task;
    std::optional<http::PendingResponse> pending;
    std::string target;
  };

  void StartPage(Fetch& f) {
    f.target = MeasurementsTarget(f.task.sensor.id, settings_.resolution, f.task.from, f.task.to,
                                  settings_.page_size);
    f.pending.emplace(ctx_->http().Start(Get(f.target), call_));
  }

  core::Result<void> FetchAll(std::vector<Task>& tasks) {
    std::deque<std::unique_ptr<Fetch>> active;
    std::size_t next = 0;
    while (!active.empty() || next < tasks.size()) {
      while (active.size() < std::size_t(settings_.concurrency) && next < tasks.size()) {
        auto f = std::make_unique<Fetch>();
        f->task = std::move(tasks[next++]);
        if (f->task.from >= f->task.to) continue;
        StartPage(*f);
        active.push_back(std::move(f));
      }
      if (active.empty()) break;
      std::unique_ptr<Fetch> f = std::move(active.front());
      active.pop_front();
      auto more = Page(*f);
      if (!more) return core::Unexpected(more.error());
      if (*more) {
        StartPage(*f);
        active.push_back(std::move(f));
      }
    }
    return {};
  }

  // Waits for the fetch's page and stores it; true when another page follows.
  core::Result<bool> Page(Fetch& f) {
    const SensorInfo& sensor = f.task.sensor;
    const std::string what = "sensor " + std::to_string(sensor.id) + " (location " +
                             std::to_string(sensor.location_id) + ") page " +
                             std::to_string(f.task.pages + 1);
    auto answer = f.pending->Wait();
    f.pending.reset();
    if (!answer) {
      if (answer.error().kind == core::ErrorKind::kCancelled || ctx_->cancel().Cancelled()) {
        return Cancelled();
      }
      return SensorFailed(core::Error{answer.error().kind, what + ": " + answer.error().message,
                                      answer.error().retryable});
    }
    Count(*answer);
    if (answer->status != 200) {
      auto error = StatusError(*answer, what);
      if (!error) {
        error = core::Error{core::ErrorKind::kNotFound,
                            what + ": sensor unknown to OpenAQ (HTTP 404)", false};
        ctx_->Warn(error->message);
        metrics_->Add("sensors_failed", 1);
        return false;
      }
      if (!error->retryable) return core::Unexpected(*error);
      return SensorFailed(*error);
    }
    auto page = ParsePage(answer->body);
    if (!page)
      return SensorFailed(core::Error{page.error().kind, what + ": " + page.error().message, true});
    ++f.task.pages;
    metrics_->Add("pages", 1);

    ValidationContext vc;
    const auto range = settings_.ranges.find(sensor.parameter);
    vc.range = range == settings_.ranges.end() ? nullptr : &range->second;
    vc.datetime_first = sensor.datetime_first;
    vc.now = ToSeconds(ctx_->Now());
    vc.skew = std::chrono::duration_cast<std::chrono::seconds>(settings_.future_skew).count();
    std::vector<Reject> reasons;
    reasons.reserve(page->records.size());
    std::int64_t last_end = f.task.from;
    for (const RawRecord& r : page->records) {
      const Reject reason = Validate(r, vc);
      reasons.push_back(reason);
      if (reason != Reject::kNone) {
        metrics_->Add("invalid_" + std::string(ReasonName(reason)), 1);
      }
      if (r.period_end && reason != Reject::kFuture) last_end = std::max(last_end, *r.period_end);
    }
    last_end = std::min(last_end, f.task.to);
    std::optional<std::int64_t> advance;
    if (f.task.advance_cursor && last_end > f.task.from) advance = last_end;
    const ExportTag tag{sensor.location_id, sensor.parameter};
    auto written = store_->WritePage(
        sensor.id, settings_.resolution, page->records, reasons, advance, ctx_->run_id(),
        settings_.export_format == ExportFormat::kNone ? nullptr : &tag);
    if (!written) return core::Unexpected(written.error());
    const double n = double(page->records.size());
    metrics_->AddRecords("fetched", n);
    metrics_->AddRecords("inserted", double(written->inserted));
    metrics_->AddRecords("updated", double(written->updated));
    metrics_->AddRecords("duplicate", double(written->duplicate));
    metrics_->AddRecords("invalid", double(written->invalid));
    const std::string loc = "location_" + std::to_string(sensor.location_id);
    metrics_->Add(loc + "_fetched", n);
    metrics_->Add(loc + "_inserted", double(written->inserted));
    if (written->inserted + written->updated > 0 &&
        settings_.export_format != ExportFormat::kNone) {
      if (auto exported = Export(sensor.location_id); !exported) {
        return core::Unexpected(exported.error());
      }
    }

    if (ctx_->cancel().Cancelled()) return Cancelled();
    // A short page is the last; a full one moves the window past its last
    // record. A full page that does not move it would loop forever.
    if (int(page->records.size()) < settings_.page_size) return false;
    if (last_end <= f.task.from) {
      return SensorFailed(core::Error{core::ErrorKind::kUpstream,
                                      what + ": a full page that ends where it started; stopping "
                                             "this sensor",
                                      true});
    }
    f.task.from = last_end;
    return last_end < f.task.to;
  }

  core::Result<bool> SensorFailed(core::Error error) {
    ctx_->Warn(error.message);
    metrics_->Add("sensors_failed", 1);
    if (!first_error_) first_error_ = std::move(error);
    return false;
  }

  // Appends the location's queued rows to its export file (a file is only
  // ever appended to; measurement_store.h says how that stays exact across
  // a crash).
  core::Result<void> Export(std::int64_t location_id) {
    const bool csv = settings_.export_format == ExportFormat::kCsv;
    std::error_code ec;
    std::filesystem::create_directories(settings_.export_folder, ec);
    const auto file = settings_.export_folder /
                      ("location-" + std::to_string(location_id) + (csv ? ".csv" : ".jsonl"));
    auto exported = store_->ExportQueued(
        location_id, file, csv ? "sensor_id,parameter,period_end,value,updated\n" : "",
        [csv](const QueuedRow& row) { return ExportLine(row, csv); });
    if (!exported) return core::Unexpected(exported.error());
    metrics_->Add("exported", double(*exported));
    return {};
  }

  // Rows a run that died left in the export queue.
  core::Result<void> ExportLeftovers() {
    auto locations = store_->QueuedExportLocations();
    if (!locations) return core::Unexpected(locations.error());
    for (const std::int64_t location : *locations) {
      if (auto exported = Export(location); !exported) return exported;
    }
    return {};
  }

  // Set once in the constructor.
  const OpenaqSettings settings_;

  // One run.
  scheduler::JobContext* ctx_ = nullptr;
  MeasurementStore* store_ = nullptr;
  std::string upstream_;
  http::CallOptions call_;
  std::int64_t now_ = 0;
  store::RunMetrics* metrics_ = nullptr;
  std::optional<core::Error> first_error_;
};

}  // namespace

scheduler::JobType Type() {
  return scheduler::JobType{
      OpenaqJobType(), [](const config::JobConfig& job) {
        const auto* settings = job.Settings<OpenaqSettings>();
        return std::make_unique<OpenaqJob>(settings ? *settings : OpenaqSettings{});
      }};
}

}  // namespace jobs::openaq
