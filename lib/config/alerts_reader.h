// Reads the `alerts:` section and the per-job `alerts:` overrides.
//
// Internal to the loader. Single thread.
#pragma once

#include "config/config.h"
#include "config/map_reader.h"

namespace config {

// The daemon-wide `alerts:` section: channels, rules, route, cooldown.
// Checks that every route names a defined channel.
AlertsConfig ReadAlerts(MapReader& alerts);

// A set of rules: `alerts.rules` (job_level false) or a job's `alerts:`
// (job_level true, where `reload_failed` makes no sense and is refused).
AlertRules ReadAlertRules(MapReader& rules, bool job_level);

}  // namespace config
