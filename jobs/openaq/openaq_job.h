// `type: openaq`: incremental fetch of OpenAQ v3 measurements for the
// configured locations into a SQLite file (measurement_store.h).
//
// A run: for each location, its sensors (re-read daily; an unknown location
// fails that location, not the run); for each sensor, pages of measurements
// from its cursor minus `lookback` to now, `concurrency` requests in flight
// across sensors; every record validated (openaq_api.h), stored or rejected
// with its reason, each page committed together with the sensor's cursor.
// A backfill (`from:`/`to:`) fetches that range and leaves the cursors alone.
//
// Failure: 401 (wrong key), 410 (retired path) and 422 (refused query) fail
// the run at once; other failures of one sensor (5xx after the client's
// retries, timeouts) fail the run after the other sensors are done, as
// retryable. Metrics: fetched, inserted, updated, duplicate, invalid and
// invalid_<reason>, quality (valid / fetched), requests, rate_limit_waits,
// pages, locations, locations_failed, sensors, sensors_failed, and
// location_<id>_fetched / _inserted.
#pragma once

#include "scheduler/job.h"

namespace jobs::openaq {

// Runs on the run's shared HTTP client (JobContext::http), whose rate
// limiters span every run of every job.
scheduler::JobType Type();

}  // namespace jobs::openaq
