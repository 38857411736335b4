#include "scheduler/job_json.h"

#include <date/tz.h>

namespace scheduler {

std::string ScheduleText(const config::JobConfig& job) {
  std::string text;
  if (job.schedule) {
    text = job.schedule->Describe();
  } else if (!job.after.empty()) {
    text = "after";
    for (const config::Upstream& upstream : job.after) {
      text += " " + upstream.job;
      if (upstream.on != config::ChainOn::kSuccess)
        text += " (" + std::string(Name(upstream.on)) + ")";
    }
  } else {
    text = "manual";
  }
  if (!job.enabled) text += " (disabled)";
  return text;
}

std::vector<core::TimePoint> NextFires(const config::JobConfig& job, core::TimePoint from,
                                       int count) {
  std::vector<core::TimePoint> fires;
  if (!job.schedule || !job.enabled) return fires;
  core::TimePoint t = from;
  for (int i = 0; i < count; ++i) {
    const auto next = job.schedule->NextAfter(t);
    if (!next) break;
    fires.push_back(*next);
    t = *next;
  }
  return fires;
}

void WriteJobJson(core::JsonWriter& json, const config::JobConfig& job,
                  const std::vector<core::TimePoint>& next) {
  json.Key("name").String(job.name).Key("type").String(job.type);
  json.Key("schedule").String(ScheduleText(job)).Key("timezone").String(job.timezone);
  json.Key("enabled").Bool(job.enabled);
  json.Key("next").BeginArray();
  for (const auto& t : next) json.String(core::FormatRfc3339(t));
  json.EndArray();
  const date::time_zone* zone = job.schedule ? job.schedule->zone() : nullptr;
  json.Key("next_local").BeginArray();
  for (const auto& t : next) {
    json.String(zone ? date::format("%FT%T%Ez",
                                    date::make_zoned(zone, date::floor<std::chrono::seconds>(t)))
                     : core::FormatRfc3339(t));
  }
  json.EndArray();
}

void WriteRunJson(core::JsonWriter& json, const store::RunRecord& run) {
  json.Key("id").Int(run.id).Key("job").String(run.job);
  json.Key("trigger").String(store::ToString(run.trigger));
  json.Key("scheduled_at");
  run.scheduled_at ? json.String(core::FormatRfc3339(*run.scheduled_at)) : json.Null();
  json.Key("started_at").String(core::FormatRfc3339(run.started_at));
  json.Key("finished_at");
  run.finished_at ? json.String(core::FormatRfc3339(*run.finished_at)) : json.Null();
  json.Key("status").String(store::ToString(run.status));
  json.Key("attempt").Int(run.attempt);
  json.Key("error").String(run.error);
  json.Key("metrics").Raw(run.metrics_json.empty() ? "{}" : run.metrics_json);
  // Untrusted text: the JSON writer escapes it, and whoever shows it must
  // show it as text (the status page does).
  json.Key("output").String(run.output);
}

}  // namespace scheduler
