#!/usr/bin/python3
"""A real monitor scrapes jobsd: `promtool check metrics` passes on /metrics,
and Debian's Prometheus, started on loopback with a scrape config pointed at
the daemon, stores jobsd_runs_total (with the failing job's failures) and the
schedule lateness histogram, as its own HTTP API shows.

    /usr/bin/python3 tests/integration/prometheus_test.py --jobsd build/daemon/jobsd

Standard library only; about 10 s (Prometheus scrapes for the first time some
5.5 s after it starts). Both processes die with this script (PDEATHSIG) and
are killed in tearDown; the temp folder goes with them (JOBSD_PROM_KEEP=1
keeps it).
"""
import argparse
import ctypes
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

JOBSD = None
PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
SCRAPE_JOB = "jobsd"

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url, timeout=5):
    """(status, body) of a GET; (None, error text) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as e:
        return None, str(e)


def tail(path, n=20):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-n:])
    except OSError:
        return ""


class PrometheusScrapeTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="jobsd-prom-")
        self.procs = []
        self.addCleanup(self.cleanup)
        self.jobsd_port = free_port()
        self.jobsd_log = os.path.join(self.dir, "jobsd.log")
        config = os.path.join(self.dir, "jobsd.yaml")
        with open(config, "w") as f:
            f.write("state: {path: state.db}\n"
                    "log: {level: warn}\n"
                    "http: {listen: 127.0.0.1:%d}\n"
                    "shutdown_grace: 2s\n"
                    "jobs:\n"
                    "  - {name: tick, type: sleep, every: 1s, with: {duration: 0s}}\n"
                    "  - {name: flaky, type: sleep, every: 1s, with: {duration: 0s, result: failed}}\n"
                    % self.jobsd_port)
        self.jobsd = self.spawn([JOBSD, "run", "-c", config], self.jobsd_log)
        self.base = "http://127.0.0.1:%d" % self.jobsd_port
        self.wait_for(lambda: http_get(self.base + "/readyz")[0] == 200, 15,
                      "jobsd to answer /readyz", self.jobsd, self.jobsd_log)

    def cleanup(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        if os.environ.get("JOBSD_PROM_KEEP"):
            print("\n  kept " + self.dir, file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def spawn(self, argv, log):
        with open(log, "w") as out:
            p = subprocess.Popen(argv, cwd=self.dir, stdin=subprocess.DEVNULL, stdout=out,
                                 stderr=out, preexec_fn=_die_with_parent)
        self.procs.append(p)
        return p

    def wait_for(self, predicate, timeout, what, proc, log):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if proc.poll() is not None:
                self.fail("%s: the process exited (status %s) while waiting:\n%s"
                          % (what, proc.returncode, tail(log)))
            if time.monotonic() > deadline:
                self.fail("no %s within %.0f s:\n%s" % (what, timeout, tail(log)))
            time.sleep(0.2)

    def metrics(self):
        status, body = http_get(self.base + "/metrics")
        self.assertEqual(status, 200, body)
        return body

    def promql(self, expr):
        """The result vector of an instant query ([] while there is none)."""
        status, body = http_get("http://127.0.0.1:%d/api/v1/query?%s"
                                % (self.prom_port, urllib.parse.urlencode({"query": expr})))
        if status is None or status == 503:  # not listening, or not ready yet
            return []
        answer = json.loads(body)
        self.assertEqual(answer.get("status"), "success", "%s: %s" % (expr, body))
        self.assertEqual(answer["data"]["resultType"], "vector", body)
        return answer["data"]["result"]

    def test_promtool_and_prometheus_accept_our_metrics(self):
        # Both jobs have run (and the failing one failed) before anything is checked.
        self.wait_for(lambda: 'jobsd_runs_total{job="flaky",status="failed"}' in self.metrics()
                      and 'jobsd_runs_total{job="tick",status="ok"}' in self.metrics(),
                      10, "runs of both jobs in /metrics", self.jobsd, self.jobsd_log)

        # promtool's linter: rc 0 only when the exposition is clean (3 = lint problems).
        text = self.metrics()
        r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, "promtool check metrics:\n" + r.stdout + r.stderr)

        # Prometheus scraping jobsd every second.
        self.prom_port = free_port()
        prom_config = os.path.join(self.dir, "prometheus.yml")
        with open(prom_config, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n"
                    "scrape_configs:\n  - job_name: %s\n    static_configs:\n"
                    "      - targets: ['127.0.0.1:%d']\n" % (SCRAPE_JOB, self.jobsd_port))
        r = subprocess.run([PROMTOOL, "check", "config", prom_config], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        prom_log = os.path.join(self.dir, "prometheus.log")
        prom = self.spawn([PROMETHEUS, "--config.file=" + prom_config,
                           "--storage.tsdb.path=" + os.path.join(self.dir, "tsdb"),
                           "--web.listen-address=127.0.0.1:%d" % self.prom_port,
                           "--log.level=warn"], prom_log)

        # /-/ready answers 503 (plain text) until the TSDB is open.
        self.wait_for(lambda: http_get("http://127.0.0.1:%d/-/ready" % self.prom_port)[0] == 200,
                      30, "Prometheus /-/ready", prom, prom_log)
        up = 'up{job="%s"}' % SCRAPE_JOB
        self.wait_for(lambda: any(s["value"][1] == "1" for s in self.promql(up)), 30,
                      "successful scrape (%s == 1)" % up, prom, prom_log)
        status, body = http_get("http://127.0.0.1:%d/api/v1/targets" % self.prom_port)
        targets = json.loads(body)["data"]["activeTargets"]
        self.assertEqual([(t["health"], t["lastError"]) for t in targets], [("up", "")], body)

        runs = self.promql("jobsd_runs_total")
        # jobsd's own `job` label collides with the scrape job's; Prometheus
        # keeps ours as exported_job unless honor_labels is set.
        by_labels = {(s["metric"].get("exported_job", s["metric"].get("job")),
                      s["metric"].get("status")): float(s["value"][1]) for s in runs}
        self.assertGreater(by_labels.get(("flaky", "failed"), 0), 0, runs)
        self.assertGreater(by_labels.get(("tick", "ok"), 0), 0, runs)

        # The lateness histogram: buckets with le labels up to +Inf, a count,
        # and histogram_quantile gives a finite answer.
        buckets = self.promql("jobsd_schedule_lateness_seconds_bucket")
        les = {s["metric"]["le"] for s in buckets}
        self.assertIn("+Inf", les, buckets)
        self.assertGreater(len(les), 3, buckets)
        count = self.promql("jobsd_schedule_lateness_seconds_count")
        self.assertEqual(len(count), 1, count)
        self.assertGreater(float(count[0]["value"][1]), 0)
        q = self.promql("histogram_quantile(0.99, sum by (le) (jobsd_schedule_lateness_seconds_bucket))")
        self.assertEqual(len(q), 1, q)
        p99 = float(q[0]["value"][1])
        self.assertTrue(math.isfinite(p99) and 0 <= p99 <= 30, q)
        durations = self.promql('jobsd_run_duration_seconds_count')
        self.assertTrue(durations, "jobsd_run_duration_seconds_count")

        # Prometheus knows the families' types from the # TYPE lines.
        status, body = http_get("http://127.0.0.1:%d/api/v1/metadata" % self.prom_port)
        meta = json.loads(body)["data"]
        self.assertEqual(meta.get("jobsd_schedule_lateness_seconds", [{}])[0].get("type"),
                         "histogram", meta.get("jobsd_schedule_lateness_seconds"))
        self.assertEqual(meta.get("jobsd_runs_total", [{}])[0].get("type"), "counter")
        print("\n  scraped: %d jobsd_runs_total series, lateness p99 %.2f ms (Prometheus' estimate)"
              % (len(runs), p99 * 1000), file=sys.stderr)


def main():
    global JOBSD
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobsd", required=True)
    args, rest = parser.parse_known_args()
    JOBSD = os.path.abspath(args.jobsd)
    for tool in (PROMETHEUS, PROMTOOL):
        if not os.access(tool, os.X_OK):
            print("%s is missing (Debian: prometheus; scripts/bootstrap installs it)" % tool,
                  file=sys.stderr)
            return 1
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    sys.exit(main())
