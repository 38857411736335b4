// RunStore: the numbered migrations of the state file's schema, applied by
// sqlite::Migrate when a writer opens it.
#include "sqlite/migrations.h"
#include "store/run_store.h"

namespace store {
namespace {

// Each entry moves the schema from version i to i+1. Never edit one that has
// shipped: add the next.
constexpr std::string_view kMigrations[] = {
    R"sql(
CREATE TABLE runs (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  job TEXT NOT NULL,
  trigger TEXT NOT NULL,
  scheduled_at INTEGER,           -- microseconds since the Unix epoch, UTC
  started_at INTEGER NOT NULL,
  finished_at INTEGER,
  status TEXT NOT NULL,
  attempt INTEGER NOT NULL DEFAULT 1,
  error TEXT NOT NULL DEFAULT '',
  output TEXT NOT NULL DEFAULT '',
  metrics TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX runs_by_job ON runs (job, started_at);
CREATE INDEX runs_by_start ON runs (started_at);
CREATE INDEX runs_running ON runs (status) WHERE status = 'running';
CREATE TABLE job_health (
  job TEXT PRIMARY KEY,
  consecutive_failures INTEGER NOT NULL DEFAULT 0,
  last_success_at INTEGER,
  last_failure_at INTEGER,
  last_status TEXT
);
CREATE TABLE job_state (
  job TEXT NOT NULL,
  key TEXT NOT NULL,
  value TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (job, key)
);
)sql",
    // The alert outbox: an alert is written with one pending delivery per
    // channel in the transaction of the run that raised it, then delivered.
    // alert_state remembers, per job and rule, whether the rule holds and
    // what was last sent, so a restart neither repeats nor forgets an alert.
    R"sql(
CREATE TABLE alerts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  raised_at INTEGER NOT NULL,
  job TEXT NOT NULL,              -- '' for daemon-wide alerts
  rule TEXT NOT NULL,
  kind TEXT NOT NULL,             -- firing, repeat, escalation, recovery
  severity TEXT NOT NULL,
  summary TEXT NOT NULL,
  body TEXT NOT NULL              -- the whole alert as JSON
);
CREATE INDEX alerts_by_time ON alerts (raised_at);
CREATE TABLE alert_deliveries (
  alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
  channel TEXT NOT NULL,
  delivery_id TEXT NOT NULL UNIQUE,
  state TEXT NOT NULL,            -- pending, delivered, rejected, expired
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  last_attempt_at INTEGER,
  response TEXT NOT NULL DEFAULT '',
  PRIMARY KEY (alert_id, channel)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (channel, next_attempt_at)
  WHERE state = 'pending';
CREATE TABLE alert_state (
  job TEXT NOT NULL,
  rule TEXT NOT NULL,
  holding INTEGER NOT NULL,
  fired INTEGER NOT NULL,         -- an alert went out for the current episode
  severity TEXT NOT NULL,         -- of the last alert sent
  last_sent_at INTEGER,
  PRIMARY KEY (job, rule)
);
)sql",
    // Finding a job's runs. An index on runs (job, started_at) is written
    // per run at a place of its own per job, so 10,000 jobs running every
    // second dirty 10,000 scattered index pages a second, one WAL frame
    // each, most of what recording a run cost. run_index holds the same
    // entries but is written in bulk, sorted by job (IndexPendingRuns, every
    // half minute or so), which writes each job's last page once per bulk.
    // The runs not yet in it all started at or after
    // run_index_pending.since (NULL when there are none); readers find
    // those through runs_by_start, which carries the job for that reason.
    R"sql(
CREATE TABLE run_index (
  job TEXT NOT NULL,
  started_at INTEGER NOT NULL,
  id INTEGER NOT NULL,
  PRIMARY KEY (job, started_at, id)
) WITHOUT ROWID;
INSERT INTO run_index (job, started_at, id)
  SELECT job, started_at, id FROM runs ORDER BY job, started_at, id;
CREATE TABLE run_index_pending (
  only_row INTEGER PRIMARY KEY CHECK (only_row = 1),
  since INTEGER
);
INSERT INTO run_index_pending (only_row, since) VALUES (1, NULL);
DROP INDEX runs_by_job;
DROP INDEX runs_by_start;
CREATE INDEX runs_by_start ON runs (started_at, job);
)sql",
};

}  // namespace

core::Result<void> RunStore::Migrate() {
  auto migrated = sqlite::Migrate(db_, kMigrations);
  if (!migrated) {
    core::Error error = migrated.error();
    error.message = "state file " + error.message;
    return core::Unexpected(std::move(error));
  }
  return {};
}

}  // namespace store
