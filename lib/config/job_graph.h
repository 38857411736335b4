// Checks the `after:` links between jobs: every name must be a job, and the
// links must not form a cycle (a job that, through its chain, waits for
// itself would never run).
//
// Internal to the loader. Single thread.
#pragma once

#include <string>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "config/config_source.h"

namespace config {

// One job's `after:` list and where it was written.
struct JobLinks {
  std::string name;
  std::vector<std::string> after;
  YAML::Node after_node;   // the list as parsed, for positions
  std::string after_path;  // "jobs.x.after", or "defaults.after" when inherited
};

// Reports unknown names (with a did-you-mean) and each cycle, naming it:
// "'after' forms a cycle: a -> b -> a" (a runs after b, which runs after a).
// Linear in the number of jobs and links.
void CheckJobLinks(const std::vector<JobLinks>& jobs, const ConfigSource& source);

}  // namespace config
