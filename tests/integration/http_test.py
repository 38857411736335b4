#!/usr/bin/python3
"""The daemon's HTTP endpoints and reloads, tested on a running `jobsd run`.

    /usr/bin/python3 tests/integration/http_test.py --jobsd PATH [-v] [-k PATTERN]

Endpoints and the bearer token; bad requests (a broken request line, huge
headers and bodies, a request that trickles in, 10,000 connections opened
and left idle) while the scheduler must keep time; twenty broken configs by
SIGHUP and then a good one; a storm of 100 SIGHUPs; a port already in use.
Uses the process helpers of daemon_faults_test.py. Standard library only.
"""

import http.client
import json
import os
import resource
import signal
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import daemon_faults_test as base  # noqa: E402
from daemon_faults_test import DaemonTestCase, wait_until, micros_from  # noqa: E402

TOKEN = "t0ken-for-tests"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Http:
    """A tiny client for one daemon: JSON in, (status, headers, body) out."""

    def __init__(self, port):
        self.port = port

    def request(self, method, path, body=None, headers=None, timeout=10):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            data = response.read()
            return response.status, dict(response.getheaders()), data
        finally:
            conn.close()

    def json(self, method, path, **kwargs):
        status, headers, data = self.request(method, path, **kwargs)
        return status, json.loads(data) if data else None

    def get(self, path):
        return self.json("GET", path)


def raw_exchange(port, data, wait=5.0, send_slowly=None):
    """Sends raw bytes and returns everything read until the server closes
    (or `wait` passes)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait) as s:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        if send_slowly:
            send_slowly(s)
        out = b""
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


def status_of(response):
    line = response.split(b"\r\n", 1)[0]
    return int(line.split()[1]) if line.startswith(b"HTTP/1.1 ") else None


class HttpCase(DaemonTestCase):
    def start_daemon(self, jobs, token=True, extra=""):
        self.port = free_port()
        token_line = f"  token: {TOKEN}\n" if token else ""
        self.config = self.write_config(
            f"state:\n  path: state.db\nhttp:\n  listen: 127.0.0.1:{self.port}\n{token_line}"
            f"{extra}jobs:\n{jobs}")
        self.db = self.path("state.db")
        d = self.daemon(self.config).start()
        d.wait_started()
        self.http = Http(self.port)
        return d



SIMPLE_JOBS = """\
  - name: steady
    type: sleep
    every: 1s
    with: {duration: 0s}
  - name: broken
    type: command
    every: 1s
    with: {command: [/bin/false]}
  - name: manual
    type: sleep
    overlap: skip
    with: {duration: 2s}
"""


class EndpointTest(HttpCase):
    def test_endpoints_and_token(self):
        self.start_daemon(SIMPLE_JOBS)
        self.assertEqual(self.http.get("/healthz"), (200, {"status": "ok"}))
        self.assertEqual(self.http.get("/readyz"), (200, {"status": "ready"}))
        status, headers, body = self.http.request("HEAD", "/healthz")
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(headers["Content-Length"], "16")

        # `broken` fails every second: after 3 in a row /health says 503 and names it.
        def failing():
            status, health = self.http.get("/health")
            return (status, health) if status == 503 else None
        status, health = wait_until(failing, 8, what="/health to report `broken`")
        self.assertEqual(health["status"], "failing")
        self.assertEqual(health["failing"], ["broken"])
        jobs = {j["name"]: j for j in health["jobs"]}
        self.assertGreaterEqual(jobs["broken"]["consecutive_failures"], 3)
        self.assertIn("exited with code 1", jobs["broken"]["problems"][0])
        self.assertTrue(jobs["steady"]["healthy"])
        self.assertIsNotNone(jobs["steady"]["last_success_at"])
        self.assertEqual(health["config"]["generation"], 1)
        self.assertIsNone(health["config"]["last_reload_error"])

        status, listed = self.http.get("/api/jobs")
        self.assertEqual(status, 200)
        self.assertEqual([j["name"] for j in listed], ["steady", "broken", "manual"])
        for key in ("name", "type", "schedule", "timezone", "next"):
            self.assertIn(key, listed[0])
        self.assertEqual(len(listed[0]["next"]), 5)
        self.assertEqual(listed[2]["next"], [])
        status, one = self.http.get("/api/jobs/steady")
        self.assertEqual((status, one["schedule"], one["type"]), (200, "every 1s", "sleep"))
        self.assertEqual(self.http.get("/api/jobs/nope"), (404, {"error": "no job named 'nope'"}))
        status, runs = self.http.get("/api/jobs/steady/runs?limit=2")
        self.assertEqual((status, len(runs)), (200, 2))
        for key in base.RUN_FIELDS:
            self.assertIn(key, runs[0])
        self.assertGreater(runs[0]["started_at"], runs[1]["started_at"])
        self.assertEqual(self.http.get("/api/jobs/steady/runs?limit=zero")[0], 400)
        self.assertEqual(self.http.get("/nowhere")[0], 404)
        self.assertEqual(self.http.json("POST", "/healthz")[0], 405)

        # POST needs the token: 401 without, 403 wrong, 202 right.
        status, headers, body = self.http.request("POST", "/api/jobs/manual/run")
        self.assertEqual(status, 401)
        self.assertEqual(headers.get("WWW-Authenticate"), "Bearer")
        self.assertIn("error", json.loads(body))
        wrong = {"Authorization": "Bearer " + TOKEN[:-1] + "X"}
        self.assertEqual(self.http.json("POST", "/api/jobs/manual/run", headers=wrong)[0], 403)
        right = {"Authorization": "Bearer " + TOKEN}
        status, started = self.http.json("POST", "/api/jobs/manual/run", headers=right)
        self.assertEqual((status, started["status"]), (202, "running"), started)
        # Its overlap policy is skip: a second request while it runs is refused and recorded.
        status, skipped = self.http.json("POST", "/api/jobs/manual/run", headers=right)
        self.assertEqual((status, skipped["status"]), (409, "skipped"), skipped)
        self.assertEqual(self.http.json("POST", "/api/jobs/nope/run", headers=right)[0], 404)
        run = wait_until(lambda: next((r for r in self.http.get("/api/jobs/manual/runs")[1]
                                       if r["id"] == started["id"] and r["status"] == "ok"), None),
                         6, what="the manual run to finish")
        self.assertEqual(run["trigger"], "manual")
        statuses = [r["status"] for r in self.http.get("/api/jobs/manual/runs")[1]]
        self.assertIn("skipped", statuses)

        status, headers, text = self.http.request("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertTrue(headers["Content-Type"].startswith("text/plain; version=0.0.4"))
        text = text.decode()
        self.assertRegex(text, r'jobsd_runs_total\{job="broken",status="failed"\} [1-9]')
        self.assertRegex(text, r'jobsd_runs_total\{job="manual",status="skipped"\} 1\n')
        self.assertRegex(text, r'jobsd_consecutive_failures\{job="broken"\} [1-9]')
        self.assertIn("jobsd_schedule_lateness_seconds_bucket{le=", text)
        self.assertIn('jobsd_next_run_timestamp_seconds{job="steady"}', text)

    def test_s3_events_start_the_jobs_whose_on_s3_matches(self):
        self.start_daemon("""\
  - name: ingest
    type: sleep
    on_s3: {bucket: data, prefix: raw/, suffix: .csv}
    with: {duration: 0s}
  - name: anywhere
    type: sleep
    on_s3: {prefix: exports/}
    with: {duration: 0s}
""")
        right = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}
        s3_event = {"Records": [{"eventName": "ObjectCreated:Put",
                                 "s3": {"bucket": {"name": "data"},
                                        "object": {"key": "raw/2026/sales+day%3D1.csv"}}}]}
        status, body = self.http.json("POST", "/api/events/s3", body=json.dumps(s3_event),
                                      headers=right)
        self.assertEqual(status, 202, body)
        self.assertEqual(body["objects"], 1)
        self.assertEqual([(r["job"], r["status"]) for r in body["runs"]], [("ingest", "running")])
        self.assertEqual(body["runs"][0]["object"], "data/raw/2026/sales day=1.csv")
        run = wait_until(lambda: next((r for r in self.http.get("/api/jobs/ingest/runs")[1]
                                       if r["id"] == body["runs"][0]["id"]), None), 5,
                         what="the event's run")
        self.assertEqual(run["trigger"], "event")

        # EventBridge's shape; another bucket; the wrong suffix.
        bridge = {"detail-type": "Object Created",
                  "detail": {"bucket": {"name": "other"}, "object": {"key": "exports/x.json"}}}
        status, body = self.http.json("POST", "/api/events/s3", body=json.dumps(bridge),
                                      headers=right)
        self.assertEqual([r["job"] for r in body["runs"]], ["anywhere"])
        miss = {"Records": [{"s3": {"bucket": {"name": "data"}, "object": {"key": "raw/a.txt"}}}]}
        status, body = self.http.json("POST", "/api/events/s3", body=json.dumps(miss),
                                      headers=right)
        self.assertEqual((status, body["runs"]), (202, []))

        self.assertEqual(self.http.json("POST", "/api/events/s3", body="{not json",
                                        headers=right)[0], 400)
        self.assertEqual(self.http.json("POST", "/api/events/s3", body="{}", headers=right)[0],
                         400)
        self.assertEqual(self.http.json("POST", "/api/events/s3", body=json.dumps(s3_event))[0],
                         401)

        bad = self.write_config("jobs:\n  - name: a\n    type: sleep\n"
                                "    on_s3: {bukket: data}\n    with: {duration: 0s}\n",
                                name="bad.yaml")
        r = self.jobsd("check", "-c", bad)
        self.assertEqual(r.returncode, 1)
        self.assertIn("on_s3.bukket", r.stdout + r.stderr)

    def test_after_on_changed_and_on_failure(self):
        """A run that says nothing about changes counts as a change: `on: changed`
        follows it, `on: failure` does not; the API shows each link's condition."""
        self.start_daemon("""\
  - name: pull
    type: command
    with: {command: [/bin/true]}
  - name: train
    type: sleep
    after: [{job: pull, on: changed}]
    with: {duration: 0s}
  - name: page-someone
    type: sleep
    after: [{job: pull, on: failure}]
    with: {duration: 0s}
""")
        status, train = self.http.get("/api/jobs/train")
        self.assertEqual(status, 200)
        self.assertEqual(train["after"], ["pull"])
        self.assertEqual(train["after_on"], [{"job": "pull", "on": "changed"}])
        self.assertEqual(train["schedule"], "after pull (changed)")
        right = {"Authorization": "Bearer " + TOKEN}
        self.assertEqual(self.http.json("POST", "/api/jobs/pull/run", headers=right)[0], 202)
        run = wait_until(lambda: next((r for r in self.http.get("/api/jobs/train/runs")[1]
                                       if r["status"] != "running"), None),
                         6, what="train to run after pull")
        self.assertEqual((run["trigger"], run["status"]), ("chain", "ok"))
        self.assertEqual(self.http.get("/api/jobs/page-someone/runs")[1], [])

    def test_post_endpoints_are_off_without_a_token(self):
        d = self.start_daemon(SIMPLE_JOBS, token=False)
        d.wait_log(r"no http.token is set, so the POST endpoints .* are off", 3)
        status, body = self.http.json("POST", "/api/jobs/manual/run",
                                      headers={"Authorization": "Bearer anything"})
        self.assertEqual(status, 403)
        self.assertIn("no http.token", body["error"])

    def test_port_in_use_is_a_clear_error_at_start(self):
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            config = self.write_config(
                f"state:\n  path: state.db\nhttp:\n  listen: 127.0.0.1:{port}\n"
                "jobs:\n  - name: a\n    type: sleep\n    every: 1s\n    with: {duration: 0s}\n")
            d = self.daemon(config).start()
            self.assertEqual(d.wait(10), 1)
            log = d.log_text()
            self.assertIn(f"cannot listen on 127.0.0.1:{port}", log)
            self.assertIn("in use", log)
            self.assertNotIn("start trigger=", log, "a job ran although the daemon could not start")


STAGGERED_JOBS = "".join(f"""\
  - name: j{i}
    type: sleep
    every: 1s
    with: {{duration: 0s}}
""" for i in range(40))


class BadClientsTest(HttpCase):
    def test_bad_requests_and_an_idle_flood_while_jobs_keep_time(self):
        self.start_daemon(STAGGERED_JOBS)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        flood_size = min(10_000, hard - 200)
        started_us = base.micros_now()

        bad = {
            b"NOT-HTTP\r\n\r\n": 400,
            b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n": 431,
            b"POST /api/jobs/j1/run HTTP/1.1\r\nHost: x\r\nContent-Length: 50000000\r\n\r\n": 413,
            b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n": 400,
        }
        for request, expected in bad.items():
            response = raw_exchange(self.port, request)
            self.assertEqual(status_of(response), expected, response[:200])
            self.assertIn(b'"error"', response)

        # A request that trickles in (slowloris) is cut off with a 408 by the
        # read timeout (10 s), while everything else goes on.
        slow_result = {}

        def slowloris():
            def trickle(s):
                for _ in range(24):
                    try:
                        s.sendall(b"X-Slow: 1\r\n")
                    except OSError:
                        return
                    time.sleep(0.5)
            t0 = time.monotonic()
            slow_result["response"] = raw_exchange(self.port, b"GET / HTTP/1.1\r\n", wait=15,
                                                   send_slowly=trickle)
            slow_result["seconds"] = time.monotonic() - t0
        slow = threading.Thread(target=slowloris)
        slow.start()

        # 10,000 connections opened and left idle. The oldest idle ones are
        # closed to make room, so a health check still gets through.
        idle = []
        health_ok = 0
        try:
            for i in range(flood_size):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", self.port))
                idle.append(s)
                if i % 1000 == 999:
                    if self.http.get("/healthz")[0] == 200:
                        health_ok += 1
            time.sleep(1)
            self.assertEqual(self.http.get("/healthz"), (200, {"status": "ok"}))
            health_ok += 1
        finally:
            for s in idle:
                s.close()
        self.assertEqual(health_ok, flood_size // 1000 + 1, "a health check was locked out")

        slow.join(20)
        self.assertEqual(status_of(slow_result.get("response", b"")), 408, slow_result)
        self.assertLess(slow_result["seconds"], 13)

        # The scheduler kept time: every job ran every second of the window.
        time.sleep(1.5)
        window_start = (started_us // 1_000_000 + 1) * 1_000_000
        window_end = (base.micros_now() // 1_000_000 - 1) * 1_000_000
        self.assertGreater(window_end - window_start, 5_000_000)
        runs = [r for r in self.history(self.config)
                if r["scheduled_at"] and window_start <= micros_from(r["scheduled_at"]) < window_end]
        slots = (window_end - window_start) // 1_000_000
        self.assertEqual(len(runs), 40 * slots, "slots were missed during the flood")
        lateness = sorted(micros_from(r["started_at"]) - micros_from(r["scheduled_at"])
                          for r in runs)
        p99 = lateness[int(len(lateness) * 0.99)]
        print(f"\n  lateness during the flood: p50 {lateness[len(lateness) // 2] / 1000:.1f} ms, "
              f"p99 {p99 / 1000:.1f} ms, max {lateness[-1] / 1000:.1f} ms "
              f"({len(runs)} runs)", file=sys.stderr)
        self.assertLess(p99, 250_000, "the scheduler fell behind during the flood")
        self.assertEqual(self.http.get("/healthz")[0], 200)


BROKEN_CONFIGS = [
    ("yaml syntax", lambda c: c + "jobs: [\n"),
    ("unknown top-level key", lambda c: c + "colour: blue\n"),
    ("unknown job key", lambda c: c.replace("    every: 1s\n", "    evry: 1s\n", 1)),
    ("bad duration", lambda c: c.replace("every: 1s", "every: 1 fortnight", 1)),
    ("bad cron", lambda c: c.replace("every: 1s", 'cron: "61 * * * *"', 1)),
    ("cron that never fires", lambda c: c.replace("every: 1s", 'cron: "0 0 30 2 *"', 1)),
    ("both cron and every", lambda c: c.replace("every: 1s", 'every: 1s\n    cron: "* * * * *"', 1)),
    ("unknown type", lambda c: c.replace("type: sleep", "type: teleport", 1)),
    ("duplicate name", lambda c: c + "  - name: a\n    type: sleep\n    with: {duration: 0s}\n"),
    ("bad name", lambda c: c.replace("name: a", "name: A B", 1)),
    ("unknown after", lambda c: c.replace("    every: 1s\n", "    after: [ghost]\n", 1)),
    ("bad timezone", lambda c: c.replace("every: 1s", 'cron: "* * * * *"\n    timezone: Mars/Base', 1)),
    ("bad overlap", lambda c: c.replace("every: 1s", "every: 1s\n    overlap: sometimes", 1)),
    ("bad log level", lambda c: "log:\n  level: loud\n" + c),
    ("negative keep_runs", lambda c: c.replace("  path: state.db\n", "  path: state.db\n  keep_runs: -5\n")),
    ("missing env var", lambda c: c.replace("duration: 0s", "duration: ${JOBSD_TEST_UNSET_VAR}", 1)),
    ("sleep without duration", lambda c: c.replace("with: {duration: 0s}", "with: {}", 1)),
    ("http.listen changed", lambda c: c.replace("listen: 127.0.0.1:", "listen: 127.0.0.2:")),
    ("state.path changed", lambda c: c.replace("path: state.db", "path: other.db")),
    ("empty file", lambda c: ""),
]


class ReloadTest(HttpCase):
    JOBS = "  - name: a\n    type: sleep\n    every: 1s\n    with: {duration: 0s}\n"

    def test_twenty_broken_configs_then_a_good_one(self):
        self.assertEqual(len(BROKEN_CONFIGS), 20)
        d = self.start_daemon(self.JOBS)
        with open(self.config) as f:
            good = f.read()
        for what, breaks in BROKEN_CONFIGS:
            broken = breaks(good)
            self.assertNotEqual(broken, good, what)
            self.write_config(broken)
            mark = len(d.log())
            d.signal(signal.SIGHUP)
            d.wait_log(r"reload refused", 5, since=mark)
            status, health = self.http.get("/health")
            self.assertEqual(health["config"]["generation"], 1, what)
            self.assertIsNotNone(health["config"]["last_reload_error"], what)
        status, headers, metrics = self.http.request("GET", "/metrics")
        self.assertIn('jobsd_config_reloads_total{result="failed"} 20\n', metrics.decode())
        # The old config kept running all along.
        recent = self.http.get("/api/jobs/a/runs?limit=1")[1][0]
        self.assertLess(base.micros_now() - micros_from(recent["started_at"]), 2_000_000)

        self.write_config(good + "  - name: b\n    type: sleep\n    every: 1s\n"
                                 "    with: {duration: 0s}\n")
        mark = len(d.log())
        d.signal(signal.SIGHUP)
        d.wait_log(r"reloaded .*: 2 jobs", 5, since=mark)
        status, health = self.http.get("/health")
        self.assertEqual(health["config"]["generation"], 2)
        self.assertIsNone(health["config"]["last_reload_error"])
        wait_until(lambda: self.http.get("/api/jobs/b/runs")[1], 4, what="the added job to run")
        status, headers, metrics = self.http.request("GET", "/metrics")
        self.assertIn('jobsd_config_reloads_total{result="ok"} 1\n', metrics.decode())

    def test_a_storm_of_sighups(self):
        d = self.start_daemon(self.JOBS)
        rss_before = base.vm_hwm_kib(d.pid)
        for _ in range(100):  # 100 in about a second
            d.signal(signal.SIGHUP)
            time.sleep(0.01)
        time.sleep(1.5)
        self.assertTrue(d.running(), d.tail())
        self.assertEqual(self.http.get("/healthz")[0], 200)
        status, headers, metrics = self.http.request("GET", "/metrics")
        text = metrics.decode()
        ok = int(text.split('jobsd_config_reloads_total{result="ok"} ')[1].split()[0])
        self.assertGreaterEqual(ok, 1)
        self.assertLessEqual(ok, 100)
        self.assertIn('jobsd_config_reloads_total{result="failed"} 0\n', text)
        # And as fast as signals can be sent (they coalesce).
        for _ in range(100):
            d.signal(signal.SIGHUP)
        time.sleep(1.5)
        rss_after = base.vm_hwm_kib(d.pid)
        self.assertLess(rss_after - rss_before, 20_000, "memory grew with reloads")
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(10), 0)


def main():
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobsd", required=True, help="the jobsd binary to test")
    args, rest = parser.parse_known_args()
    base.JOBSD = os.path.abspath(args.jobsd)
    started = time.monotonic()
    program = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    print(f"http: {program.result.testsRun} tests in {time.monotonic() - started:.1f}s",
          file=sys.stderr)
    sys.exit(0 if program.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
