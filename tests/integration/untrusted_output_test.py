#!/usr/bin/python3
"""A job's output is untrusted bytes: every way jobsd shows it stays valid.

    /usr/bin/python3 tests/integration/untrusted_output_test.py --jobsd PATH \\
        --receiver PATH [-v]

A command job prints bytes that are not UTF-8 (a lone 0xff, an overlong
form, a lone surrogate's bytes, a code point above U+10FFFF, a truncated
sequence), a NUL, ANSI escape sequences and a C1 control, then fails. Then:
`jobsd once` prints its summary escaped; `jobsd run` (log.format: json)
sends a Slack and a webhook alert to fake_alert_receiver over HTTPS
(throwaway CA), and GET /api/jobs/{name}/runs, GET /api/jobs/{name},
`jobsd history --json`, `jobsd history --alerts --json` and the daemon's own
log lines all parse with Python's strict json on bytes decoded strictly as
UTF-8, carrying exactly what bytes.decode("utf-8", "replace") makes of the
output. `jobsd history`'s table has no ESC, NUL or other raw control byte.
Standard library only; about 10 s.
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
import time
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_peers  # noqa: E402

JOBSD = None
RECEIVER = None

SLACK_PATH = "/services/T0001/B0002/untrustedSlackToken"

# The job's last line, as bytes; its error is "exited with code 3: " + this.
NASTY = (b"bad[\xff\xfe] overlong[\xc0\xaf\xe0\x80\xaf] surrogate[\xed\xa0\x80]"
         b" big[\xf4\x90\x80\x80] cut[\xe2\x82] esc[\x1b[31mred\x1b[0m\x1b]0;title\x07]"
         b" c1[\xc2\x9b2J] del[\x7f] nul[\x00] cjk[\xe6\x97\xa5\xe6\x9c\xac]"
         b" emoji[\xf0\x9f\x98\x80] e[\xc3\xa9]")
EXPECTED_ERROR = "exited with code 3: " + NASTY.decode("utf-8", "replace")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def strict_json(data):
    """`data` (bytes) parsed the strict way: UTF-8 or an error, then JSON."""
    return json.loads(data.decode("utf-8", "strict"))


def wait_until(what, predicate, timeout=20, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out waiting for " + what)


def octal(data):
    """`data` as a printf format that prints exactly those bytes."""
    return "".join(chr(b) if 0x30 <= b < 0x7f and chr(b) not in "%\\'" else "\\%03o" % b
                   for b in data)


class UntrustedOutputTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="jobsd-untrusted-")
        self.peers = test_peers.Peers(self.dir)
        self.daemon = None
        ca, cert, key = test_peers.make_test_ca(self.dir)
        self.http_port = self.peers.start(
            [RECEIVER, "--tls-cert", cert, "--tls-key", key,
             "--log", os.path.join(self.dir, "http.jsonl")], "receiver")
        self.api_port = free_port()
        with open(os.path.join(self.dir, "nasty.sh"), "w") as f:
            f.write("printf 'first line\\n'\nprintf '%s\\n'\nexit 3\n" % octal(NASTY))
        for name, log_format in (("jobsd.yaml", "json"), ("jobsd-text.yaml", "text")):
            self.write_config(name, log_format)

    def tearDown(self):
        if self.daemon and self.daemon.poll() is None:
            self.daemon.kill()
            self.daemon.wait()
        if self.daemon:
            self.daemon_log.close()
        self.peers.stop()
        if os.environ.get("JOBSD_UNTRUSTED_KEEP"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def write_config(self, name, log_format):
        hook = "https://localhost:%d" % self.http_port
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(
                "state: {path: state.db}\n"
                "log: {level: info, format: %s}\n"
                "http: {listen: '127.0.0.1:%d', public_url: 'https://jobsd.example.com/'}\n"
                "alerts:\n"
                "  channels:\n"
                "    slack: {type: slack, webhook_url: '%s%s', ca_file: ca.pem}\n"
                "    hook: {type: webhook, url: '%s/hook', secret: 'hook-secret', ca_file: ca.pem}\n"
                "  rules: {consecutive_failures: {threshold: 2, severity: critical}}\n"
                "  cooldown: 1h\n"
                "jobs:\n"
                "  - {name: nasty, type: command, every: 1s, with: {command: [/bin/sh, nasty.sh]}}\n"
                % (log_format, self.api_port, hook, SLACK_PATH, hook))

    def jobsd(self, *args, config="jobsd.yaml"):
        return subprocess.run([JOBSD] + list(args[:1]) + ["-c", config] + list(args[1:]),
                              cwd=self.dir, capture_output=True, timeout=30)

    def get(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.api_port, path),
                                        timeout=5) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def healthz(self):
        try:
            return self.get("/healthz")[0] == 200
        except (urllib.error.URLError, OSError):
            return False

    def answered(self, path):
        return [r for r in test_peers.read_jsonl(os.path.join(self.dir, "http.jsonl"))
                if r["path"] == path and r.get("status")]

    def assert_terminal_safe(self, data, what):
        """No ESC, NUL, C0 (but the line ends), DEL or C1, and valid UTF-8."""
        text = data.decode("utf-8", "strict")
        bad = sorted({hex(ord(c)) for c in text
                      if (ord(c) < 0x20 and c != "\n") or 0x7f <= ord(c) <= 0x9f})
        self.assertEqual(bad, [], "%s shows raw control characters: %r" % (what, text))

    def test_every_path_stays_valid(self):
        # `jobsd once` in the foreground, text logs: the summary and the log
        # lines are escaped for the terminal.
        once = self.jobsd("once", "nasty", config="jobsd-text.yaml")
        self.assertEqual(once.returncode, 1, once.stderr)
        self.assert_terminal_safe(once.stdout, "once's summary")
        self.assert_terminal_safe(once.stderr, "once's text log")
        summary = once.stdout.decode()
        for shown in (r"bad[\xff\xfe]", r"esc[\e[31mred\e[0m\e]0;title\x07]", r"nul[\0]",
                      r"c1[\x9b2J]", r"del[\x7f]", r"surrogate[\xed\xa0\x80]",
                      "cjk[\u65e5\u672c]", "emoji[\U0001F600]", "e[\u00e9]"):
            self.assertIn(shown, summary)
        self.assertIn(r"esc[\e[31mred", once.stderr.decode())

        self.daemon_log = open(os.path.join(self.dir, "jobsd.log"), "wb")
        self.daemon = subprocess.Popen([JOBSD, "run", "-c", "jobsd.yaml"], cwd=self.dir,
                                       stdout=subprocess.DEVNULL,
                                       stderr=self.daemon_log)
        wait_until("jobsd to answer", self.healthz)
        slack = wait_until("the Slack alert", lambda: self.answered(SLACK_PATH))
        hook = wait_until("the webhook alert", lambda: self.answered("/hook"))

        # Alerts: valid UTF-8 as sent, JSON, the replaced text inside.
        for request, what in ((slack[0], "Slack"), (hook[0], "webhook")):
            self.assertTrue(request["body_utf8"], "%s body is not UTF-8" % what)
            self.assertEqual(request["status"], 200)
        payload = json.loads(slack[0]["body"])
        blocks = json.dumps(payload["blocks"], ensure_ascii=False)
        error_block = [b["text"]["text"] for b in payload["blocks"]
                       if b.get("type") == "section" and "text" in b]
        self.assertTrue(any(EXPECTED_ERROR in text for text in error_block), blocks)
        alert = json.loads(hook[0]["body"])
        self.assertEqual(alert["last_error"], EXPECTED_ERROR)

        # The HTTP API.
        status, body = self.get("/api/jobs/nasty/runs")
        self.assertEqual(status, 200)
        runs = strict_json(body)
        failed = [r for r in runs if r["status"] == "failed"]
        self.assertTrue(failed)
        self.assertEqual(failed[0]["error"], EXPECTED_ERROR)
        status, body = self.get("/api/jobs/nasty")
        self.assertEqual(status, 200)
        self.assertEqual(strict_json(body)["last_error"], EXPECTED_ERROR)
        status, body = self.get("/api/jobs")
        self.assertEqual(status, 200)
        strict_json(body)
        status, body = self.get("/health")
        strict_json(body)
        # A name that is not UTF-8 in the path comes back valid too.
        status, body = self.get("/api/jobs/%ff%1b%5b2J")
        self.assertEqual(status, 404)
        strict_json(body)

        # `jobsd history --json`: one strict JSON object per line.
        history = self.jobsd("history", "nasty", "--json")
        self.assertEqual(history.returncode, 0, history.stderr)
        lines = [strict_json(line) for line in history.stdout.splitlines() if line.strip()]
        self.assertIn(EXPECTED_ERROR, [r["error"] for r in lines])
        alerts = self.jobsd("history", "--alerts", "--json")
        self.assertEqual(alerts.returncode, 0, alerts.stderr)
        stored = [strict_json(line) for line in alerts.stdout.splitlines() if line.strip()]
        self.assertEqual(stored[0]["alert"]["last_error"], EXPECTED_ERROR)

        # `jobsd history`'s table: shown, not obeyed.
        table = self.jobsd("history", "nasty")
        self.assertEqual(table.returncode, 0, table.stderr)
        self.assert_terminal_safe(table.stdout, "the history table")
        self.assertIn(r"esc[\e[31mred\e[0m\e]0;title\x07] c1[\x9b2J] del[\x7f] nul[\0]",
                      table.stdout.decode())
        table = self.jobsd("history", "--alerts")
        self.assertEqual(table.returncode, 0, table.stderr)
        self.assert_terminal_safe(table.stdout, "the alert history table")

        # The daemon's own log, log.format: json: every line parses.
        self.daemon.send_signal(signal.SIGTERM)
        self.assertEqual(self.daemon.wait(timeout=30), 0)
        with open(os.path.join(self.dir, "jobsd.log"), "rb") as f:
            logged = [strict_json(line) for line in f.read().splitlines() if line.strip()]
        messages = [entry["message"] for entry in logged]
        self.assertTrue(any(m.endswith("stdout: " + NASTY.decode("utf-8", "replace"))
                            for m in messages), messages)
        self.assertTrue(any(m.endswith("error=" + EXPECTED_ERROR) for m in messages), messages)


def main():
    global JOBSD, RECEIVER
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobsd", required=True)
    parser.add_argument("--receiver", required=True)
    args, rest = parser.parse_known_args()
    JOBSD = os.path.abspath(args.jobsd)
    RECEIVER = os.path.abspath(args.receiver)
    unittest.main(argv=[sys.argv[0]] + rest)


if __name__ == "__main__":
    main()
