-- The openaq store's schema as jobsd created it before the file had a
-- version (user_version 0): what measurement_store_test adopts.
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
CREATE TABLE IF NOT EXISTS locations (
  id INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  timezone TEXT NOT NULL,
  refreshed_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sensors (
  id INTEGER PRIMARY KEY,
  location_id INTEGER NOT NULL,
  parameter TEXT NOT NULL,
  units TEXT NOT NULL,
  datetime_first INTEGER
);
CREATE INDEX IF NOT EXISTS sensors_by_location ON sensors (location_id);
CREATE TABLE IF NOT EXISTS measurements (
  sensor_id INTEGER NOT NULL,
  resolution TEXT NOT NULL,
  period_end INTEGER NOT NULL,
  period_start INTEGER,
  value REAL NOT NULL,
  run_id INTEGER NOT NULL,
  PRIMARY KEY (sensor_id, resolution, period_end)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rejects (
  id INTEGER PRIMARY KEY,
  sensor_id INTEGER NOT NULL,
  resolution TEXT NOT NULL,
  period_end INTEGER,
  value TEXT,
  reason TEXT NOT NULL,
  run_id INTEGER NOT NULL,
  UNIQUE (sensor_id, resolution, period_end, reason)
);
CREATE TABLE IF NOT EXISTS export_queue (
  seq INTEGER PRIMARY KEY,
  location_id INTEGER NOT NULL,
  sensor_id INTEGER NOT NULL,
  parameter TEXT NOT NULL,
  period_end INTEGER NOT NULL,
  value REAL NOT NULL,
  updated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS export_queue_by_location ON export_queue (location_id, seq);
CREATE TABLE IF NOT EXISTS export_files (
  path TEXT PRIMARY KEY,
  size INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS cursors (
  sensor_id INTEGER NOT NULL,
  resolution TEXT NOT NULL,
  period_end INTEGER NOT NULL,
  PRIMARY KEY (sensor_id, resolution)
) WITHOUT ROWID;
