// Checks the `after:` links between jobs: every name must be a job, and the
// links must not form a cycle (a job that, through its chain, waits for
// itself would never run).
//
// Internal to the loader. Single thread.
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/mark.h>

#include "config/config.h"
#include "config/config_source.h"

namespace config {

// One job's `after:` list and where it was written. Positions, not nodes:
// a streamed job's nodes are gone by the time the links are checked.
struct JobLinks {
  std::size_t job = 0;  // position in the config's job list
  std::string name;
  std::vector<std::string> after;
  YAML::Mark after_mark;               // the list as a whole
  std::vector<YAML::Mark> item_marks;  // each name in it (empty without `after`)
  bool inherited = false;              // the list is defaults.after

  // "jobs.x.after", or "defaults.after" when inherited.
  std::string Path() const { return inherited ? "defaults.after" : "jobs." + name + ".after"; }
};

// Reports unknown names (with a did-you-mean) and each cycle, naming it:
// "'after' forms a cycle: a -> b -> a" (a runs after b, which runs after a).
// `links` holds the jobs that have an `after:` list, in order. Linear in the
// number of jobs and links; nothing at all without links.
void CheckJobLinks(const std::vector<JobConfig>& jobs, const std::vector<JobLinks>& links,
                   const ConfigSource& source);

}  // namespace config
