#!/usr/bin/python3
"""The athena_postgres job end to end: the built daemon against the fake
Athena (signatures checked with botocore), its results in s3rver, and a real
PostgreSQL 15.

    /usr/bin/python3 tests/integration/athena_postgres_test.py --jobsd PATH [-v] [-k PATTERN]

One PostgreSQL server and one Athena stack serve the whole file; each test
gets a database of its own and a fresh dataset. After every scenario the
target table must hold exactly the rows the fake's table has (NULL and the
empty string told apart), and the status table's watermark the newest
updated_at that was synced, whatever failed or was killed on the way.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from athena_stack import AthenaStack, forecast_rows, ACCESS_KEY_ID, SECRET_ACCESS_KEY  # noqa: E402
from pg_server import PostgresServer  # noqa: E402

JOBSD = None
PG = None
STACK = None
T1 = "2024-11-04 02:00:00.000"
T2 = "2024-11-05 02:00:00.000"
KEY = [0, 1, 2]  # restaurant_id, inventory_item_id, business_date


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AthenaPostgresTest(unittest.TestCase):
    counter = 0

    def setUp(self):
        AthenaPostgresTest.counter += 1
        self.dir = tempfile.mkdtemp(prefix="jobsd-athena-it-")
        self.db = "sync_%d" % AthenaPostgresTest.counter
        PG.psql("CREATE DATABASE %s" % self.db)
        self.rows = forecast_rows(3000, updated_at=T1)
        STACK.write_dataset(self.rows)
        STACK.scenario({})
        self.procs = []
        self.write_config()

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- helpers -----------------------------------------------------------

    def url(self, db=None, password=None):
        return "postgres://postgres:%s@127.0.0.1:%d/%s" % (password or PG.password, PG.port,
                                                             db or self.db)

    def write_config(self, targets=None, extra_with="", job_extra="", listen="", create="true"):
        targets = targets or [self.url()]
        postgres = "".join(
            "        - url: %s\n          table: forecast_data\n"
            "          key: [restaurant_id, inventory_item_id, business_date]\n"
            "          status_table: forecast_sync_status\n          create: %s\n" % (u, create)
            for u in targets)
        with open(os.path.join(self.dir, "jobsd.yaml"), "w") as f:
            f.write(
                "state:\n  path: state.db\nhttp:\n  listen: '%s'\n  token: http-token\njobs:\n"
                "  - name: forecast-sync\n    type: athena_postgres\n    timeout: 120s\n%s"
                "    with:\n"
                "      aws: {region: us-east-2, access_key_id: ${AWS_KEY}, "
                "secret_access_key: ${AWS_SECRET}, endpoint: '%s', s3_endpoint: '%s'}\n"
                "      athena: {database: forecasts, workgroup: primary, "
                "output_location: 's3://athena-results/jobsd/'}\n"
                "      query: |\n"
                "        SELECT restaurant_id, inventory_item_id, business_date, dma_id, dc_id, "
                "state, y_05, y_50, y_95, updated_at\n"
                "        FROM forecast_data WHERE updated_at > {since}\n"
                "      incremental: {column: updated_at, initial: '2024-01-01T00:00:00Z'}\n"
                "      postgres:\n%s%s"
                % (listen, job_extra, STACK.athena_endpoint, STACK.s3_endpoint, postgres,
                   extra_with))

    def env(self, secret=SECRET_ACCESS_KEY):
        env = dict(os.environ)
        env["AWS_KEY"] = ACCESS_KEY_ID
        env["AWS_SECRET"] = secret
        for name in ("AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            env.pop(name, None)
        return env

    def jobsd(self, *args, check=None, env=None):
        r = subprocess.run([JOBSD] + list(args), cwd=self.dir, env=env or self.env(),
                           capture_output=True, text=True, timeout=180)
        if check is not None:
            self.assertEqual(r.returncode, check, r.stdout + r.stderr)
        return r

    def once(self, *extra, check=0, env=None):
        return self.jobsd("once", "-c", "jobsd.yaml", "forecast-sync", *extra, check=check, env=env)

    def once_background(self):
        p = subprocess.Popen([JOBSD, "once", "-c", "jobsd.yaml", "forecast-sync"], cwd=self.dir,
                             env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        return p

    def history(self):
        r = self.jobsd("history", "-c", "jobsd.yaml", "forecast-sync", "--json", "--limit", "100",
                       check=0)
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def table(self, db=None):
        """The target's rows as the dataset spells them, keyed by the key."""
        out = PG.psql(
            "SELECT coalesce(json_agg(json_build_array(restaurant_id::text, "
            "inventory_item_id::text, business_date::text, dma_id, dc_id, state, y_05, y_50, "
            "y_95, to_char(updated_at, 'YYYY-MM-DD HH24:MI:SS.MS'))), '[]') FROM forecast_data",
            db or self.db)
        return {tuple(r[i] for i in KEY): r for r in json.loads(out)}

    def expected(self):
        return {tuple(r[i] for i in KEY): r for r in self.rows}

    def assert_exact(self, db=None):
        stored = self.table(db)
        expected = self.expected()
        self.assertEqual(len(stored), len(expected))
        self.assertEqual(set(stored), set(expected))
        for key, row in expected.items():
            got = stored[key]
            self.assertEqual(got[:6], row[:6], key)  # text: NULL stays NULL, '' stays ''
            self.assertEqual([float(v) for v in got[6:9]], [float(v) for v in row[6:9]], key)
            self.assertEqual(got[9], row[9], key)

    def status_rows(self, db=None):
        out = PG.psql(
            "SELECT coalesce(json_agg(json_build_object('status', status, 'sync_type', sync_type, "
            "'watermark', to_char(last_sync_timestamp AT TIME ZONE 'UTC', "
            "'YYYY-MM-DD HH24:MI:SS.MS'), 'records', records_synced, 'error', error_message) "
            "ORDER BY id), '[]') FROM forecast_sync_status", db or self.db)
        return json.loads(out)

    def wait_for(self, what, predicate, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        self.fail("timed out waiting for " + what)

    # --- 1: incremental and full ---------------------------------------------

    def test_incremental_then_full_sync_is_exact(self):
        r = self.once()
        self.assert_exact()
        m = self.history()[0]["metrics"]
        self.assertEqual((m["rows"], m["inserted"], m["updated"], m["unchanged"]), (3000, 3000, 0, 0))
        self.assertGreater(m["bytes_scanned"], 0)
        self.assertAlmostEqual(m["cost_usd"], m["bytes_scanned"] / 1e12 * 5)
        self.assertEqual(m["changed"], 1)
        self.assertIn("query_seconds", m)
        self.assertIn("load_seconds", m)
        self.assertEqual(self.status_rows()[-1]["watermark"], T1)
        self.assertEqual(self.status_rows()[-1]["records"], 3000)
        self.assertNotIn(PG.password, r.stdout + r.stderr)

        # 500 new rows and 100 changed ones, all updated after T1: only those come.
        changed = forecast_rows(100, start=0, updated_at=T2, variant=3)
        self.rows = changed + self.rows[100:] + forecast_rows(500, start=3000, updated_at=T2)
        STACK.write_dataset(self.rows)
        self.once()
        self.assert_exact()
        m = self.history()[0]["metrics"]
        self.assertEqual((m["rows"], m["inserted"], m["updated"], m["unchanged"]), (600, 500, 100, 0))
        self.assertIn("TIMESTAMP '2024-11-04 02:00:00.000'", STACK.stats()["queries"][-1])
        self.assertEqual(self.status_rows()[-1]["watermark"], T2)

        # Nothing new: an incremental run is empty and changes nothing.
        self.once()
        m = self.history()[0]["metrics"]
        self.assertEqual((m["rows"], m["changed"]), (0, 0))
        self.assertEqual(self.status_rows()[-1]["watermark"], T2)  # kept

        # mode=full re-reads everything from `initial`: all unchanged.
        self.once("--set", "mode=full")
        m = self.history()[0]["metrics"]
        self.assertEqual((m["rows"], m["inserted"], m["updated"], m["unchanged"]), (3500, 0, 0, 3500))
        self.assertEqual(self.status_rows()[-1]["sync_type"], "full")
        self.assertIn("TIMESTAMP '2024-01-01 00:00:00.000'", STACK.stats()["queries"][-1])
        self.assert_exact()

    # --- 2: Athena's refusals and the fallback to GetQueryResults -------------

    def test_throttling_requeue_resubmit_lost_answer_and_paged_fallback(self):
        before = STACK.stats()
        STACK.scenario({"states": ["QUEUED", "RUNNING", "QUEUED", "RUNNING"],
                        "throttle": {"StartQueryExecution": 2, "GetQueryExecution": 2},
                        "internal_errors": {"GetQueryResults": 1},
                        "lose_answers": {"StartQueryExecution": 1},
                        "fail_retryable": before["executions"] + 1,
                        "no_s3_result": True})
        r = self.once()
        self.assert_exact()
        self.assertIn("GetQueryResults", r.stdout + r.stderr)  # the fallback is logged
        after = STACK.stats()
        self.assertEqual(after["executions"] - before["executions"], 2)  # failed + resubmitted
        self.assertEqual(after["bad_signatures"], 0)
        m = self.history()[0]["metrics"]
        self.assertGreaterEqual(m["athena_throttled"], 4)

    def test_final_athena_failure_fails_the_run_and_says_why(self):
        STACK.scenario({"fail_final": "HIVE_BAD_DATA: Error parsing field value '??' for y_50"})
        r = self.once(check=1)
        self.assertIn("HIVE_BAD_DATA", r.stdout + r.stderr)
        self.assertEqual(self.history()[0]["status"], "failed")
        status = self.status_rows()
        self.assertEqual(status[-1]["status"], "failed")
        self.assertIn("HIVE_BAD_DATA", status[-1]["error"])
        # It failed before the result's columns were known: no table was made.
        self.assertEqual(PG.psql("SELECT to_regclass('forecast_data') IS NULL", self.db).strip(), "t")

    # --- 3: PostgreSQL faults --------------------------------------------------

    def test_kill_9_during_copy_leaves_table_and_watermark(self):
        self.once()
        before_rows = self.table()
        before_status = self.status_rows()
        # A big second batch, so the COPY lasts long enough to be killed in,
        # watched on a connection of the test's own every few milliseconds.
        self.rows = self.rows + forecast_rows(300000, start=3000, updated_at=T2)
        STACK.write_dataset(self.rows)
        watcher = psycopg2.connect(self.url())
        watcher.autocommit = True
        cursor = watcher.cursor()
        p = self.once_background()

        def copying():
            if p.poll() is not None:
                return True
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY jobsd_load%' "
                           "AND state = 'active'")
            return cursor.fetchone()[0] > 0

        deadline = time.monotonic() + 120
        while not copying() and time.monotonic() < deadline:
            time.sleep(0.005)
        self.assertIsNone(p.poll(), "the run ended before the kill")
        p.send_signal(signal.SIGKILL)
        p.wait()
        watcher.close()
        # The server notices the dead client and rolls back.
        self.wait_for("the COPY to end", lambda: PG.psql(
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'COPY jobsd_load%' "
            "AND state <> 'idle'", self.db).strip() == "0")
        self.assertEqual(self.table(), before_rows)
        self.assertEqual(self.status_rows(), before_status)
        self.once()
        self.assert_exact()
        self.assertEqual(self.status_rows()[-1]["watermark"], T2)

    def test_postgres_restarted_mid_run(self):
        self.once()
        self.rows = self.rows + forecast_rows(200, start=3000, updated_at=T2)
        STACK.write_dataset(self.rows)
        STACK.scenario({"running_seconds": 3})
        p = self.once_background()
        self.wait_for("the query", lambda: len(STACK.stats()["queries"]) > 0 and
                      PG.psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = "
                              "'jobsd'", self.db).strip() != "0")
        PG.restart()
        p.wait(timeout=120)
        self.assertEqual(p.returncode, 1)
        run = self.history()[0]
        self.assertEqual(run["status"], "failed")
        self.assert_exact_minus_new(200)
        STACK.scenario({})
        self.once()
        self.assert_exact()

    def assert_exact_minus_new(self, new):
        stored = self.table()
        self.assertEqual(len(stored), len(self.rows) - new)

    def test_wrong_password_is_clear_and_never_shown(self):
        secret = "Wr0ng-Pa55word-xyzzy"
        self.write_config(targets=[self.url(password=secret)])
        r = self.once(check=1)
        out = r.stdout + r.stderr
        self.assertIn("password authentication failed", out)
        self.assertNotIn(secret, out)
        run = self.history()[0]
        self.assertEqual(run["status"], "failed")
        self.assertNotIn(secret, json.dumps(run))
        with open(os.path.join(self.dir, "state.db"), "rb") as f:
            self.assertNotIn(secret.encode(), f.read())

    def test_type_mismatch_fails_before_anything_is_written(self):
        PG.psql("CREATE TABLE forecast_data (restaurant_id integer, inventory_item_id integer, "
                "business_date date, dma_id text, dc_id text, state text, y_05 double precision, "
                "y_50 integer, y_95 double precision, updated_at timestamp, "
                "UNIQUE (restaurant_id, inventory_item_id, business_date))", self.db)
        r = self.once(check=1)
        self.assertIn("column 'y_50': Athena's double does not fit the table's integer",
                      r.stdout + r.stderr)
        self.assertEqual(self.table(), {})
        self.assertEqual([s["status"] for s in self.status_rows()], ["failed"])

    def test_two_targets_one_failing_keeps_the_other(self):
        other = self.db + "_b"
        PG.psql("CREATE DATABASE %s" % other)
        PG.psql("CREATE TABLE forecast_data (restaurant_id integer, inventory_item_id integer, "
                "business_date date, dma_id text, dc_id text, state text, y_05 double precision, "
                "y_50 double precision, y_95 double precision, updated_at timestamp)", other)
        self.write_config(targets=[self.url(), self.url(db=other)])
        r = self.once(check=1)
        self.assertIn("1 of 2 targets failed", r.stdout + r.stderr)
        self.assertIn("no unique constraint", r.stdout + r.stderr)
        self.assert_exact()
        self.assertEqual(self.status_rows()[-1]["status"], "success")
        self.assertEqual(self.status_rows(other)[-1]["status"], "failed")
        self.assertEqual(self.table(other), {})

    # --- 4: S3 events ------------------------------------------------------------

    def test_a_burst_of_s3_events_gives_one_run_and_one_after_it(self):
        port = free_port()
        self.write_config(listen="127.0.0.1:%d" % port,
                          job_extra="    on_s3: {bucket: acme-datalake-prod, prefix: forecast/, "
                                    "suffix: .parquet}\n")
        STACK.scenario({"running_seconds": 2})
        log = open(os.path.join(self.dir, "jobsd.log"), "w")
        self.addCleanup(log.close)
        daemon = subprocess.Popen([JOBSD, "run", "-c", "jobsd.yaml"], cwd=self.dir, env=self.env(),
                                  stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(daemon)

        def post(path, body):
            req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method="POST",
                                         data=json.dumps(body).encode(),
                                         headers={"Authorization": "Bearer http-token",
                                                  "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=10) as answer:
                return json.loads(answer.read())

        def ready():
            try:
                urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=2).read()
                return True
            except OSError:
                return False

        self.wait_for("the daemon", ready)
        statuses = []
        for i in range(50):
            event = {"Records": [{"eventName": "ObjectCreated:Put", "s3": {
                "bucket": {"name": "acme-datalake-prod"},
                "object": {"key": "forecast/part-%04d.parquet" % i}}}]}
            statuses += [r["status"] for r in post("/api/events/s3", event)["runs"]]
        self.assertEqual(statuses[:2], ["running", "queued"])
        self.assertEqual(statuses[2:], ["coalesced"] * 48)
        self.wait_for("two runs", lambda: [r["status"] for r in self.history()] == ["ok", "ok"],
                      timeout=90)
        self.assertEqual([r["trigger"] for r in self.history()], ["event", "event"])
        daemon.send_signal(signal.SIGTERM)
        self.assertEqual(daemon.wait(timeout=30), 0)
        self.assert_exact()


def main():
    global JOBSD, PG, STACK
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobsd", required=True)
    args, rest = parser.parse_known_args()
    JOBSD = os.path.abspath(args.jobsd)
    with PostgresServer() as pg, AthenaStack() as stack:
        PG, STACK = pg, stack
        program = unittest.main(argv=[sys.argv[0]] + rest, exit=False)
        if not program.result.wasSuccessful():
            sys.stderr.write("fake Athena log (end):\n" + stack.log_text()[-3000:])
    sys.exit(0 if program.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
