// The alert the channel tests send: a critical consecutive_failures alert
// of the job `openaq`, with every field set.
#pragma once

#include "alert/alert.h"
#include "core/time.h"

namespace alert::testing {

inline Alert SampleAlert() {
  Alert a;
  a.id = 42;
  a.kind = AlertKind::kFiring;
  a.rule = "consecutive_failures";
  a.severity = config::Severity::kCritical;
  a.job = "openaq";
  a.raised_at = *core::ParseRfc3339("2026-11-23T01:48:55Z");
  a.summary = "openaq failed 3 times in a row";
  a.consecutive_failures = 3;
  a.run_id = 1234;
  a.last_error = "HTTP 503 <Service Unavailable> & ```more```";
  a.host = "box1";
  a.runs_url = "https://jobsd.example.com/api/jobs/openaq/runs?limit=20";
  return a;
}

}  // namespace alert::testing
