#include "config/job_reader.h"

#include <algorithm>

#include "config/alerts_reader.h"

namespace config {
namespace {

constexpr int kMaxRetries = 1000;

template <typename T>
T Pick(const std::optional<T>& own, const std::optional<T>& fallback, T builtin) {
  if (own) return *own;
  if (fallback) return *fallback;
  return builtin;
}

// `after:` is a list whose items are a job name (run on its success) or
// `{job: name, on: success | changed | failure | finished}`. Each wrong item is
// reported at its own position; any wrong item makes the list unread.
std::optional<std::vector<Upstream>> ReadAfter(MapReader& reader) {
  std::optional<YamlNode> node = reader.Node("after");
  if (!node) return std::nullopt;
  if (node->IsNull()) return std::vector<Upstream>{};
  const std::string where = JoinPath(reader.path(), "after");
  if (!node->IsSequence()) {
    reader.Report("after", "expected a list of job names, got " + Describe(*node));
    return std::nullopt;
  }
  std::vector<Upstream> out;
  bool ok = true;
  std::size_t index = 0;
  for (const YamlNode& item : *node) {
    const std::string path = where + "[" + std::to_string(index++) + "]";
    if (item.IsScalar()) {
      out.push_back(Upstream{item.Scalar(), ChainOn::kSuccess});
      continue;
    }
    if (!item.IsMap()) {
      ok = false;
      reader.ReportAt(item, path, "expected a job name or {job, on}, got " + Describe(item));
      continue;
    }
    MapReader entry(item, path, reader.source());
    std::optional<std::string> job = entry.String("job", Need::kRequired);
    std::optional<ChainOn> on = entry.Enum<ChainOn>("on", {{"success", ChainOn::kSuccess},
                                                           {"changed", ChainOn::kChanged},
                                                           {"failure", ChainOn::kFailure},
                                                           {"finished", ChainOn::kFinished}});
    entry.Finish();
    if (!job) {
      ok = false;
      continue;
    }
    out.push_back(Upstream{std::move(*job), on.value_or(ChainOn::kSuccess)});
  }
  if (!ok) return std::nullopt;
  return out;
}

void RequirePositive(MapReader& reader, std::string_view key,
                     const std::optional<core::Duration>& value) {
  if (value && *value <= core::Duration::zero()) {
    reader.Report(key,
                  "expected a duration greater than 0, got '" + core::FormatDuration(*value) + "'");
  }
}

}  // namespace

JobReader::JobReader(const ConfigSource& source, YamlTree& tree,
                     const std::vector<JobTypeSpec>& types,
                     const std::vector<WithOverride>& overrides)
    : source_(source),
      tree_(tree),
      types_(types),
      overrides_(overrides),
      override_used_(overrides.size()) {}

const date::time_zone* JobReader::LocateZone(MapReader& reader, const std::string& name) {
  auto found = zones_.find(name);
  if (found == zones_.end()) found = zones_.emplace(name, schedules::LocateZone(name)).first;
  if (!found->second) {
    reader.Report("timezone", found->second.error().message);
    return nullptr;
  }
  return *found->second;
}

JobReader::Fields JobReader::ReadFields(MapReader& reader) {
  Fields out;
  out.type = reader.String("type");
  if (out.type) out.type_node = *reader.Node("type");

  const bool has_cron = reader.Has("cron");
  const bool has_every = reader.Has("every");
  out.schedule_given = has_cron || has_every;
  if (has_cron && has_every) {
    reader.Report("every", "set either cron: or every:, not both");
  } else if (has_cron) {
    if (std::optional<std::string> text = reader.String("cron")) {
      core::Result<schedules::CronExpression> expression = schedules::CronExpression::Parse(*text);
      if (expression) {
        out.cron = std::move(*expression);
      } else {
        reader.Report("cron", expression.error().message);
      }
    }
  } else if (has_every) {
    out.every = reader.Duration("every");
    RequirePositive(reader, "every", out.every);
  }
  out.jitter = reader.Duration("jitter");
  if ((out.timezone = reader.String("timezone"))) out.zone = LocateZone(reader, *out.timezone);
  out.timeout = reader.Duration("timeout");
  RequirePositive(reader, "timeout", out.timeout);
  out.overlap = reader.Enum<Overlap>(
      "overlap",
      {{"skip", Overlap::kSkip}, {"queue", Overlap::kQueue}, {"allow", Overlap::kAllow}});
  out.misfire =
      reader.Enum<Misfire>("misfire", {{"run_once", Misfire::kRunOnce}, {"skip", Misfire::kSkip}});
  out.misfire_grace = reader.Duration("misfire_grace");
  if (std::optional<MapReader> retries = reader.Map("retries")) {
    if (auto max = retries->Int("max", 0, kMaxRetries)) out.retries_max = static_cast<int>(*max);
    out.backoff = retries->Duration("backoff");
    out.max_backoff = retries->Duration("max_backoff");
    if (out.backoff && out.max_backoff && *out.max_backoff < *out.backoff) {
      retries->Report("max_backoff", "max_backoff (" + core::FormatDuration(*out.max_backoff) +
                                         ") is shorter than backoff (" +
                                         core::FormatDuration(*out.backoff) + ")");
    }
    retries->Finish();
  }
  if ((out.after = ReadAfter(reader))) out.after_node = *reader.Node("after");
  out.enabled = reader.Bool("enabled");
  out.max_age = reader.Duration("max_age");
  RequirePositive(reader, "max_age", out.max_age);
  if (std::optional<MapReader> alerts = reader.Map("alerts")) {
    out.alerts = ReadAlertRules(*alerts, true);
    alerts->Finish();
  }
  return out;
}

void JobReader::ReadDefaults(MapReader& defaults) {
  if (defaults.Has("name")) defaults.Report("name", "a job's name cannot have a default");
  if (defaults.Has("with")) {
    defaults.Report("with", "with: cannot have a default; each job type has its own keys");
  }
  defaults_ = ReadFields(defaults);
  defaults.Finish();
}

std::optional<JobConfig> JobReader::ReadJob(MapReader& reader, const AlertRules& global_rules) {
  JobConfig job;
  job.line = reader.mark().line + 1;
  job.column = reader.mark().column + 1;

  const std::optional<std::string> name = reader.String("name", Need::kRequired);
  bool named = false;
  if (name && !IsValidJobName(*name)) {
    reader.Report("name", "expected a job name of lowercase letters, digits, '_' and '-', got '" +
                              *name + "'");
  } else if (name) {
    named = true;
    const YAML::Mark here = reader.Node("name")->Mark();
    const auto [first, inserted] = names_.emplace(*name, here);
    reader.set_path("jobs." + *name);
    if (!inserted) {
      reader.Report("name", "duplicate job name '" + *name + "' (defined at lines " +
                                std::to_string(first->second.line + 1) + " and " +
                                std::to_string(here.line + 1) + ")");
    }
    job.name = *name;
  }

  const Fields own = ReadFields(reader);
  if (std::optional<MapReader> s3 = reader.Map("on_s3")) {
    S3Trigger trigger;
    trigger.bucket = s3->String("bucket").value_or("");
    trigger.prefix = s3->String("prefix").value_or("");
    trigger.suffix = s3->String("suffix").value_or("");
    s3->Finish();
    job.on_s3 = std::move(trigger);
  }
  const Fields& schedule_from = own.schedule_given ? own : defaults_;

  if (own.type) {
    job.type = *own.type;
  } else if (defaults_.type) {
    job.type = *defaults_.type;
  } else if (!reader.Has("type")) {
    reader.ReportHere("missing required key 'type'");
  }

  job.jitter = Pick(own.jitter, defaults_.jitter, job.jitter);
  job.timezone = Pick(own.timezone, defaults_.timezone, job.timezone);
  job.timeout = Pick(own.timeout, defaults_.timeout, job.timeout);
  job.overlap = Pick(own.overlap, defaults_.overlap, job.overlap);
  job.misfire = Pick(own.misfire, defaults_.misfire, job.misfire);
  job.misfire_grace = Pick(own.misfire_grace, defaults_.misfire_grace, job.misfire_grace);
  job.retries.max = Pick(own.retries_max, defaults_.retries_max, job.retries.max);
  job.retries.backoff = Pick(own.backoff, defaults_.backoff, job.retries.backoff);
  job.retries.max_backoff = Pick(own.max_backoff, defaults_.max_backoff, job.retries.max_backoff);
  job.enabled = Pick(own.enabled, defaults_.enabled, job.enabled);
  job.max_age = own.max_age ? own.max_age : defaults_.max_age;
  job.after = Pick(own.after, defaults_.after, job.after);

  // Rule by rule: the job's own, else the defaults', else alerts.rules.
  const AlertRules none;
  const AlertRules& own_rules = own.alerts ? *own.alerts : none;
  const AlertRules& default_rules = defaults_.alerts ? *defaults_.alerts : none;
  auto pick = [&](auto member) {
    if (!(own_rules.*member).empty()) return own_rules.*member;
    if (!(default_rules.*member).empty()) return default_rules.*member;
    return global_rules.*member;
  };
  job.alerts.consecutive_failures = pick(&AlertRules::consecutive_failures);
  job.alerts.duration_over = pick(&AlertRules::duration_over);
  job.alerts.quality_below = pick(&AlertRules::quality_below);
  job.alerts.failures_within = pick(&AlertRules::failures_within);
  job.alerts.stale = own_rules.stale       ? own_rules.stale
                     : default_rules.stale ? default_rules.stale
                                           : global_rules.stale;

  if (schedule_from.cron) {
    job.cron = schedule_from.cron->text();
    // No timezone anywhere means UTC (null); a timezone that failed to
    // resolve was reported and leaves the job without a schedule.
    const Fields& zone_from = own.timezone ? own : defaults_;
    if (!zone_from.timezone || zone_from.zone != nullptr) {
      job.schedule = schedules::Schedule::Cron(*schedule_from.cron, zone_from.zone,
                                               schedules::JitterOffset(job.name, job.jitter));
    }
  } else if (schedule_from.every && *schedule_from.every > core::Duration::zero()) {
    job.every = schedule_from.every;
    job.schedule = schedules::Schedule::Every(*schedule_from.every,
                                              schedules::JitterOffset(job.name, job.jitter));
  }

  JobLinks links;
  links.job = jobs_read_;
  links.name = job.name;
  for (const Upstream& upstream : job.after) links.after.push_back(upstream.job);
  links.inherited = !own.after;
  const YamlNode& after_node = own.after ? own.after_node : defaults_.after_node;
  links.after_mark = after_node.Mark();
  if (!job.after.empty() && after_node.IsSequence()) {
    links.item_marks.reserve(after_node.size());
    for (const YamlNode& item : after_node) links.item_marks.push_back(item.Mark());
  }

  ValidateWith(job, reader, job.type);
  reader.Finish();
  if (!named) return std::nullopt;
  ++jobs_read_;
  if (!links.after.empty()) links_.push_back(std::move(links));
  return job;
}

void JobReader::ValidateWith(JobConfig& job, MapReader& reader, const std::string& type) {
  YamlNode with = reader.Node("with").value_or(YamlNode());
  for (std::size_t i = 0; i < overrides_.size(); ++i) {
    if (overrides_[i].job != job.name || job.name.empty()) continue;
    override_used_[i] = true;
    // A new mapping: an aliased `with:` shared with other jobs stays as it is.
    with = tree_.WithEntry(with, overrides_[i].key, tree_.ParseDetached(overrides_[i].value));
  }
  if (type.empty()) return;

  const auto spec = std::find_if(types_.begin(), types_.end(), [&](const JobTypeSpec& candidate) {
    return candidate.name == type;
  });
  if (spec == types_.end()) {
    std::string known;
    for (const JobTypeSpec& candidate : types_) {
      known += (known.empty() ? "" : ", ") + candidate.name;
    }
    const std::string message = "unknown job type '" + type + "' (known: " + known + ")";
    if (reader.Has("type")) {
      reader.Report("type", message);
    } else {
      source_.Report(defaults_.type_node.Mark(), "defaults.type", message);
    }
    return;
  }
  MapReader with_reader(with, JoinPath(reader.path(), "with"), source_, reader.mark());
  if (spec->validate_with) job.settings = spec->validate_with(with_reader, job.name);
  with_reader.Finish();
}

void JobReader::ReportUnusedOverrides() const {
  for (std::size_t i = 0; i < overrides_.size(); ++i) {
    if (override_used_[i]) continue;
    Diagnostic diagnostic;
    diagnostic.file = source_.file();
    diagnostic.message =
        "--set " + overrides_[i].key + "=...: no job named '" + overrides_[i].job + "'";
    source_.diagnostics().Add(std::move(diagnostic));
  }
}

}  // namespace config
