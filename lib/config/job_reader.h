// Reads `defaults:` and the entries of `jobs:` into JobConfigs.
//
// Each job key may come from the job itself, else from `defaults:`, else the
// built-in default. The defaults are read and validated once, so a bad
// default is reported once, at its own position. A job's schedule is one
// unit: a job with cron: or every: of its own ignores the schedule in
// defaults. The job's `with:` goes to the validator of its type.
//
// Internal to the loader. Single thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "config/config.h"
#include "config/config_loader.h"
#include "config/job_graph.h"
#include "config/job_type.h"
#include "config/map_reader.h"

namespace config {

class JobReader {
 public:
  // `tree` is the document's; --set values are added to it.
  JobReader(const ConfigSource& source, YamlTree& tree, const std::vector<JobTypeSpec>& types,
            const std::vector<WithOverride>& overrides);

  void ReadDefaults(MapReader& defaults);
  // Room for this many jobs.
  void Reserve(std::size_t jobs) { names_.reserve(jobs); }

  // One entry of `jobs:`; finishes `job`. Null only when the entry has no
  // usable name (reported).
  std::optional<JobConfig> ReadJob(MapReader& job, const AlertRules& global_rules);

  // What CheckJobLinks needs: one per job read that has an `after:` list.
  const std::vector<JobLinks>& links() const { return links_; }

  // Reports overrides naming a job that does not exist.
  void ReportUnusedOverrides() const;

 private:
  // One job's keys (or the defaults') as written; unset = not given.
  struct Fields {
    std::optional<std::string> type;
    YamlNode type_node;
    bool schedule_given = false;  // cron: or every: present, even if invalid
    std::optional<schedules::CronExpression> cron;
    std::optional<core::Duration> every;
    std::optional<core::Duration> jitter;
    std::optional<std::string> timezone;
    const date::time_zone* zone = nullptr;  // set with a valid timezone
    std::optional<core::Duration> timeout;
    std::optional<Overlap> overlap;
    std::optional<Misfire> misfire;
    std::optional<core::Duration> misfire_grace;
    std::optional<int> retries_max;
    std::optional<core::Duration> backoff;
    std::optional<core::Duration> max_backoff;
    std::optional<std::vector<Upstream>> after;
    YamlNode after_node;
    std::optional<bool> enabled;
    std::optional<core::Duration> max_age;
    std::optional<AlertRules> alerts;
  };

  Fields ReadFields(MapReader& reader);
  // The zone for an IANA name, or null after reporting it on `reader`.
  const date::time_zone* LocateZone(MapReader& reader, const std::string& name);
  void ValidateWith(JobConfig& job, MapReader& reader, const std::string& type);

  // Set once in the constructor.
  const ConfigSource& source_;
  YamlTree& tree_;
  const std::vector<JobTypeSpec>& types_;
  const std::vector<WithOverride>& overrides_;

  Fields defaults_;
  // Zones looked up so far, by name: the tz database search is not free and
  // most jobs name the same few zones.
  std::map<std::string, core::Result<const date::time_zone*>, std::less<>> zones_;
  std::unordered_map<std::string, YAML::Mark> names_;  // job names seen, where
  std::vector<JobLinks> links_;
  std::size_t jobs_read_ = 0;  // with a usable name, so in the config's job list
  std::vector<bool> override_used_;
};

}  // namespace config
