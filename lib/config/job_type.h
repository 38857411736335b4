// What the config loader knows about one job type: its name and how to
// validate its `with:` block.
//
// lib/ knows no job type; the daemon registers each one (e.g.
// jobs::command::CommandJobType()) by passing these to the loader.
#pragma once

#include <any>
#include <functional>
#include <string>
#include <string_view>

#include "config/map_reader.h"

namespace config {

struct JobTypeSpec {
  std::string name;  // the `type:` value

  // Reads the job's `with:` block through `with` (path "jobs.<name>.with";
  // an empty reader when the job has no `with:`). Every problem goes through
  // the reader, which also reports unknown keys once the validator returns.
  // The returned value is stored as JobConfig::settings and read back with
  // JobConfig::Settings<T>(); it is ignored when the config has errors, so a
  // validator may fill in placeholders for values it found wrong.
  std::function<std::any(MapReader& with, std::string_view job_name)> validate_with;
};

}  // namespace config
