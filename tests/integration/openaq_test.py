#!/usr/bin/python3
"""The openaq job end to end: the built daemon against the fake OpenAQ over HTTPS.

    /usr/bin/python3 tests/integration/openaq_test.py --jobsd PATH --fake PATH [-v] [-k PATTERN]

Each test gets a temp folder with a throwaway CA and server certificate (made
with the openssl command), starts tests/fakes' fake_openaq on 127.0.0.1 and
runs `jobsd once` or `jobsd run` on a config that points at it. After every
scenario the job's SQLite file must hold exactly the fake's valid records:
no duplicates, no gaps. Standard library only.
"""

import argparse
import datetime
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_peers  # noqa: E402

JOBSD = None
FAKE = None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def epoch(text):
    return int(datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
               .replace(tzinfo=datetime.timezone.utc).timestamp())


class OpenaqTest(unittest.TestCase):
    RECORDS = 300

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="jobsd-openaq-it-")
        self.procs = []
        test_peers.make_test_ca(self.dir)
        self.start_fake()

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
            if p.stdout:
                p.stdout.close()
        if os.environ.get("JOBSD_OPENAQ_KEEP"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def start_fake(self, records=None, extra=()):
        now = int(time.time()) // 3600 * 3600
        records = records or self.RECORDS
        fake = subprocess.Popen(
            [FAKE, "--records", str(records), "--start", str(now - (records + 5) * 3600),
             "--invalid-every", "41", "--null-every", "67",
             "--cert", os.path.join(self.dir, "server.pem"),
             "--key", os.path.join(self.dir, "server.key")] + list(extra),
            stdout=subprocess.PIPE, text=True)
        self.procs.append(fake)
        line = fake.stdout.readline()
        self.assertTrue(line.startswith("port "), line)
        self.port = int(line.split()[1])
        self.write_config()

    def write_config(self, every=None, page_size=100, start="400d", extra="", concurrency=3,
                     job_extra="", listen=""):
        schedule = "    every: %s\n" % every if every else ""
        with open(os.path.join(self.dir, "jobsd.yaml"), "w") as f:
            f.write(
                "state:\n  path: state.db\nhttp:\n  listen: '%s'\n  token: test-token\njobs:\n"
                "  - name: aq\n    type: openaq\n%s    timeout: 60s\n%s    with:\n"
                "      api_key: ${FAKE_KEY}\n"
                "      base_url: https://localhost:%d\n"
                "      ca_file: ca.pem\n"
                "      locations: [100201, 100202]\n"
                "      start: %s\n"
                "      page_size: %d\n"
                "      concurrency: %d\n"
                "      rate_limit: {per_minute: 0, per_hour: 0}\n%s"
                % (listen, schedule, job_extra, self.port, start, page_size, concurrency, extra))

    def control(self, path):
        # The fake's control endpoints are served over the same TLS port.
        import ssl
        ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.pem"))
        req = urllib.request.Request("https://localhost:%d%s" % (self.port, path),
                                     method="GET" if path.startswith(("/_fake/records", "/_fake/stats"))
                                     else "POST")
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.read().decode()

    def env(self, key="test-key"):
        env = dict(os.environ)
        env["FAKE_KEY"] = key
        return env

    def jobsd(self, *args, key="test-key", check=None):
        r = subprocess.run([JOBSD] + list(args), cwd=self.dir, env=self.env(key),
                           capture_output=True, text=True, timeout=120)
        if check is not None:
            self.assertEqual(r.returncode, check, r.stdout + r.stderr)
        return r

    def once(self, *extra, key="test-key", check=0):
        return self.jobsd("once", "-c", "jobsd.yaml", "aq", *extra, key=key, check=check)

    def history(self):
        r = self.jobsd("history", "-c", "jobsd.yaml", "aq", "--json", "--limit", "1000", check=0)
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def expected(self):
        out = {}
        for line in self.control("/_fake/records").splitlines():
            r = json.loads(line)
            if r["value"] is not None and r["value"] >= 0:
                out[(r["sensor"], epoch(r["end"]))] = r["value"]
        return out

    def stored(self):
        db = sqlite3.connect(os.path.join(self.dir, "openaq-aq.db"))
        try:
            rows = db.execute("SELECT sensor_id, period_end, value FROM measurements").fetchall()
            cursors = dict(db.execute("SELECT sensor_id, period_end FROM cursors").fetchall())
        finally:
            db.close()
        return {(s, e): v for s, e, v in rows}, len(rows), cursors

    def assert_exact(self):
        expected = self.expected()
        stored, count, cursors = self.stored()
        self.assertEqual(count, len(stored))
        missing = set(expected) - set(stored)
        extra = set(stored) - set(expected)
        self.assertEqual(len(missing), 0,
                         "missing %d records, e.g. %s" % (len(missing), sorted(missing)[:3]))
        self.assertEqual(len(extra), 0, "unexpected %d records, e.g. %s" % (len(extra), sorted(extra)[:3]))
        for key, value in expected.items():
            self.assertAlmostEqual(stored[key], value, places=9)
        last = {}
        for (sensor, end) in expected:
            last[sensor] = max(last.get(sensor, 0), end)
        for sensor, cursor in cursors.items():
            self.assertLessEqual(cursor, last[sensor] + 3600 * 50)

    def test_once_fetches_everything_over_https(self):
        r = self.once()
        self.assertIn("ok", r.stdout + r.stderr)
        self.assert_exact()
        run = self.history()[0]
        self.assertEqual(run["status"], "ok")
        m = run["metrics"]
        self.assertEqual(m["fetched"], 4 * self.RECORDS)
        self.assertEqual(m["inserted"] + m["invalid"], 4 * self.RECORDS)
        self.assertGreater(m["invalid_out_of_range"], 0)
        self.assertGreater(m["invalid_not_finite"], 0)
        self.assertAlmostEqual(m["quality"], (m["fetched"] - m["invalid"]) / m["fetched"])
        # Incremental: only new records (plus the lookback) come the second time.
        # (the fake's newest record ends 6 h ago; 4 more stay in the past)
        self.control("/_fake/extend?count=4")
        self.once()
        self.assert_exact()
        m2 = self.history()[0]["metrics"]
        self.assertEqual(m2["fetched"], 4 * 6)  # 2 h lookback: 2 old records each
        self.assertEqual(m2["duplicate"] + m2["invalid"] + m2["inserted"], 4 * 6)

    def test_faults_leave_exact_data(self):
        for path in ("/_fake/fault?nth=5&status=500", "/_fake/fault?nth=7&kind=truncate",
                     "/_fake/fault?nth=9&kind=reset", "/_fake/fault?nth=11&kind=repeat",
                     "/_fake/fault?nth=12&status=429&delay_ms=1000",
                     "/_fake/fault?nth=14&status=503"):
            self.control(path)
        self.once()
        self.assert_exact()
        m = self.history()[0]["metrics"]
        self.assertGreaterEqual(m["rate_limit_waits"], 1)
        self.assertGreaterEqual(m["duplicate"], 1)

    def test_wrong_key_and_backfill(self):
        r = self.once(key="wrong", check=1)
        self.assertIn("API key", r.stdout + r.stderr)
        self.assertEqual(self.history()[0]["status"], "failed")
        self.once()
        _, _, cursors = self.stored()
        # A backfill of an old range: fetched, cursors untouched.
        start = datetime.datetime.fromtimestamp(time.time() - 200 * 3600, datetime.timezone.utc)
        end = start + datetime.timedelta(hours=50)
        fmt = "%Y-%m-%dT%H:%M:%SZ"
        self.once("--set", "from=" + start.strftime(fmt), "--set", "to=" + end.strftime(fmt))
        self.assertEqual(self.stored()[2], cursors)
        m = self.history()[0]["metrics"]
        self.assertEqual(m["fetched"], 4 * 50)
        self.assertEqual(m["inserted"], 0)
        self.assert_exact()

    def test_kill_9_mid_run_then_exact_after_restart(self):
        # Enough data that a run takes a while; kill it at random moments.
        for p in self.procs:
            p.kill()
            p.wait()
            p.stdout.close()
        self.procs = []
        self.start_fake(records=15000)
        self.write_config(page_size=200, start="800d")
        seed = int(os.environ.get("JOBSD_OPENAQ_SEED", random.randrange(1 << 30)))
        rnd = random.Random(seed)
        killed = 0
        for _ in range(4):
            # A run on a quiet machine can finish before the random moment:
            # one of its next requests stalls for 2 s, so every run is still
            # going when the kill comes (before or during the stall).
            seen = json.loads(self.control("/_fake/stats"))["requests"]
            self.control("/_fake/fault?kind=slow&delay_ms=2000&nth=%d" % (seen + rnd.randint(3, 10)))
            p = subprocess.Popen([JOBSD, "once", "-c", "jobsd.yaml", "aq"], cwd=self.dir,
                                 env=self.env(), stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
            time.sleep(rnd.uniform(0.05, 0.4))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                killed += 1
            p.wait()
        self.assertGreater(killed, 0, "seed %d: no run was killed" % seed)
        self.once()
        self.assert_exact()

    def requests_seen(self):
        return json.loads(self.control("/_fake/stats"))["requests"]

    def start_daemon(self):
        daemon = subprocess.Popen([JOBSD, "run", "-c", "jobsd.yaml"], cwd=self.dir, env=self.env(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(daemon)
        return daemon

    def wait_for(self, what, condition, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.05)
        self.fail("waited %d s for %s" % (seconds, what))

    def test_kill_9_of_the_daemon_mid_run_then_exact_after_restart(self):
        # `jobsd run` with the job on a short schedule, killed twice while a
        # run is fetching, then restarted until a run completes.
        for p in self.procs:
            p.kill()
            p.wait()
            p.stdout.close()
        self.procs = []
        self.start_fake(records=12000)
        self.write_config(every="1s", page_size=200, start="800d",
                          extra="      export: {format: jsonl, folder: exports}\n")
        seed = int(os.environ.get("JOBSD_OPENAQ_SEED", random.randrange(1 << 30)))
        rnd = random.Random(seed)
        for round_ in range(2):
            # One of the run's early requests stalls briefly, a later one for
            # 2 s. The kill comes 0.25-0.7 s after the first stall began:
            # during it, while pages flow and commit after it, or in the
            # second stall, which keeps a quick machine from finishing the
            # run before the kill. (Requests 1-4 of a first run read the two
            # locations; request 8 and later are measurement pages sent after
            # at least one page was committed.)
            stall = self.requests_seen() + rnd.randint(8, 16)
            backstop = stall + rnd.randint(20, 60)
            self.control("/_fake/fault?kind=slow&delay_ms=300&nth=%d" % stall)
            self.control("/_fake/fault?kind=slow&delay_ms=2000&nth=%d" % backstop)
            daemon = self.start_daemon()
            self.wait_for("request %d (seed %d)" % (stall, seed),
                          lambda: self.requests_seen() >= stall)
            time.sleep(rnd.uniform(0.25, 0.7))
            self.assertIsNone(daemon.poll(), "seed %d: the daemon exited" % seed)
            daemon.send_signal(signal.SIGKILL)
            daemon.wait()
            # (runs the schedule skipped meanwhile are recorded as skipped)
            running = [r for r in self.history() if r["status"] == "running"]
            self.assertEqual(len(running), 1, "seed %d round %d: the kill missed the run" % (seed, round_))
            if round_ == 0:
                stored, _, _ = self.stored()
                self.assertGreater(len(stored), 0, "seed %d: nothing committed before the kill" % seed)
        daemon = self.start_daemon()
        self.wait_for("a run to finish after the restart",
                      lambda: any(r["status"] == "ok" for r in self.history()), seconds=60)
        daemon.send_signal(signal.SIGTERM)
        self.assertEqual(daemon.wait(timeout=30), 0)
        statuses = [r["status"] for r in self.history()]
        if os.environ.get("JOBSD_OPENAQ_VERBOSE"):
            print([(r["status"], r["started_at"], r["finished_at"]) for r in self.history()
                   if r["status"] != "skipped"])
        self.assertIn("interrupted", statuses)
        self.assert_exact()
        self.assert_export_exact()

    def assert_export_exact(self):
        # Every stored row is in its location's export file exactly once,
        # and every line is whole.
        stored, _, _ = self.stored()
        exported = []
        folder = os.path.join(self.dir, "exports")
        for name in sorted(os.listdir(folder)):
            with open(os.path.join(folder, name)) as f:
                for line in f:
                    self.assertTrue(line.endswith("\n"), "%s: a torn last line" % name)
                    r = json.loads(line)
                    self.assertFalse(r["updated"])
                    exported.append((r["sensor_id"], epoch(r["period_end"])))
        self.assertEqual(len(exported), len(set(exported)), "duplicate export lines")
        self.assertEqual(set(exported), set(stored))

    def run_now_on_daemon(self, key):
        api = free_port()
        self.write_config(concurrency=1, listen="127.0.0.1:%d" % api,
                          job_extra="    retries: {max: 3, backoff: 100ms, max_backoff: 200ms}\n")
        daemon = subprocess.Popen([JOBSD, "run", "-c", "jobsd.yaml"], cwd=self.dir,
                                  env=self.env(key), stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        self.procs.append(daemon)

        def post():
            req = urllib.request.Request("http://127.0.0.1:%d/api/jobs/aq/run" % api, method="POST",
                                         headers={"Authorization": "Bearer test-token"})
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    return r.status
            except (urllib.error.URLError, ConnectionError):
                return None
        self.wait_for("the daemon to take a run", lambda: post() == 202)
        return daemon

    def finished_runs(self):
        if not os.path.exists(os.path.join(self.dir, "state.db")):
            return []
        return [r for r in self.history() if r["status"] != "running"]

    def test_a_rejected_key_is_not_retried_and_a_503_is(self):
        # 401: the job says no retry can help, so `retries: {max: 3}` does not apply.
        daemon = self.run_now_on_daemon(key="wrong")
        self.wait_for("the failed run", lambda: len(self.finished_runs()) >= 1)
        # Three retries would have come within 3 x 200 ms of backoff.
        time.sleep(2)
        runs = self.finished_runs()
        self.assertEqual([(r["status"], r["attempt"]) for r in runs], [("failed", 1)], runs)
        self.assertIn("API key", runs[0]["error"])
        self.assertEqual(runs[0]["metrics"]["requests"], 1)
        self.assertEqual(self.requests_seen(), 1)
        daemon.send_signal(signal.SIGTERM)
        self.assertEqual(daemon.wait(timeout=30), 0)

        # 503 on a sensor's first page and on each of the HTTP client's three
        # retries of it (one request at a time: concurrency 1): that sensor
        # fails after the other sensors are stored, the run fails as
        # retryable with what it stored in its metrics, and the retry
        # completes the data.
        os.remove(os.path.join(self.dir, "state.db"))
        seen = self.requests_seen()
        for nth in range(seen + 5, seen + 9):
            self.control("/_fake/fault?kind=status&status=503&nth=%d" % nth)
        daemon = self.run_now_on_daemon(key="test-key")
        self.wait_for("a failed run and its retry", lambda: len(self.finished_runs()) >= 2, 60)
        runs = list(reversed(self.finished_runs()))
        self.assertEqual([(r["status"], r["trigger"], r["attempt"]) for r in runs[:2]],
                         [("failed", "manual", 1), ("ok", "retry", 2)], runs)
        self.assertIn("HTTP 503", runs[0]["error"])
        self.assertGreater(runs[0]["metrics"]["inserted"], 0)
        self.assertEqual(runs[0]["metrics"]["sensors_failed"], 1)
        daemon.send_signal(signal.SIGTERM)
        self.assertEqual(daemon.wait(timeout=30), 0)
        self.assert_exact()

    def test_daemon_runs_it_on_schedule(self):
        self.write_config(every="1s")
        daemon = subprocess.Popen([JOBSD, "run", "-c", "jobsd.yaml"], cwd=self.dir, env=self.env(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(daemon)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            runs = [r for r in self.history() if r["status"] == "ok"] if os.path.exists(
                os.path.join(self.dir, "state.db")) else []
            if len(runs) >= 2:
                break
            time.sleep(0.2)
        self.assertGreaterEqual(len(runs), 2)
        self.control("/_fake/extend?count=3")
        time.sleep(2.5)
        daemon.send_signal(signal.SIGTERM)
        self.assertEqual(daemon.wait(timeout=30), 0)
        self.assert_exact()


def main():
    global JOBSD, FAKE
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobsd", required=True)
    parser.add_argument("--fake", required=True)
    args, rest = parser.parse_known_args()
    JOBSD = os.path.abspath(args.jobsd)
    FAKE = os.path.abspath(args.fake)
    unittest.main(argv=[sys.argv[0]] + rest)


if __name__ == "__main__":
    main()
