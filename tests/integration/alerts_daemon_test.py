#!/usr/bin/python3
"""Alerts from the daemon end to end, against real peers on 127.0.0.1.

    /usr/bin/python3 tests/integration/alerts_daemon_test.py --jobsd PATH \\
        --receiver PATH [-v] [-k PATTERN]

`jobsd run` with a job that fails until a file appears, a real SMTP server
(tests/fakes/smtp_sink.py: aiosmtpd with STARTTLS and AUTH, a throwaway CA)
and fake_alert_receiver for Slack and a signed webhook. Checks what the
issue asks of alerting as a user sees it: one alert per incident and one
recovery, on every channel; a hanging channel holds up neither the runs nor
the other channels; 429 and 500 are retried with the same payload, a 400
invalid_payload is not; and a `kill -9` between writing an alert and
delivering it loses nothing: after the restart it is delivered, once.
Standard library only; about 40 s.
"""

import argparse
import email
import email.policy
import hashlib
import hmac
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

SMTP_USER = "jobsd-alerts"
SMTP_PASSWORD = "correct-horse-battery"
HOOK_SECRET = "hook-signing-secret"
SLACK_PATH = "/services/T0001/B0002/slackTokenSecret77"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, predicate, timeout=20, step=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("timed out waiting for " + what)


class Daemon:
    """One `jobsd run` in `folder`."""

    def __init__(self, folder, config="jobsd.yaml"):
        self.folder = folder
        self.log = open(os.path.join(folder, "jobsd.log"), "a")
        self.proc = subprocess.Popen([JOBSD, "run", "-c", config], cwd=folder, stdout=self.log,
                                     stderr=self.log)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=30)
        self.log.close()


def history(folder, *args):
    r = subprocess.run([JOBSD, "history", "-c", "jobsd.yaml", "--json", "--limit", "1000"] +
                       list(args), cwd=folder, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        return []
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


class AlertsDaemonTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="jobsd-alerts-daemon-")
        self.peers = test_peers.Peers(self.dir)
        self.daemons = []
        ca, cert, key = test_peers.make_test_ca(self.dir)
        self.smtp_port = self.peers.start(
            ["/usr/bin/python3", test_peers.SMTP_SINK, "--mode", "starttls", "--cert", cert,
             "--key", key, "--username", SMTP_USER, "--password", SMTP_PASSWORD,
             "--out", os.path.join(self.dir, "smtp.jsonl")], "smtp")
        self.http_port = self.peers.start(
            [RECEIVER, "--log", os.path.join(self.dir, "http.jsonl")], "receiver")
        self.api_port = free_port()

    def tearDown(self):
        for daemon in self.daemons:
            daemon.stop(signal.SIGKILL)
        self.peers.stop()
        if os.environ.get("JOBSD_ALERTS_KEEP"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def write_config(self, channels, extra_jobs=""):
        base = "http://127.0.0.1:%d" % self.http_port
        all_channels = {
            "mail": ("{type: email, smtp_url: 'smtp://localhost:%d', from: 'jobsd <jobsd@example.com>',"
                     " to: [ops@example.com, oncall@example.com], username: %s,"
                     " password: '%s', ca_file: ca.pem}" % (self.smtp_port, SMTP_USER,
                                                             SMTP_PASSWORD)),
            "slack": "{type: slack, webhook_url: '%s%s'}" % (base, SLACK_PATH),
            "hook": "{type: webhook, url: '%s/hook', secret: '%s'}" % (base, HOOK_SECRET),
            "stuck": "{type: webhook, url: '%s/stuck', timeout: 30s}" % base,
        }
        with open(os.path.join(self.dir, "jobsd.yaml"), "w") as f:
            f.write(
                "state: {path: state.db}\n"
                "http: {listen: '127.0.0.1:%d', public_url: 'https://jobsd.example.com/'}\n"
                "alerts:\n"
                "  channels:\n%s"
                "  rules: {consecutive_failures: {threshold: 3, severity: critical}}\n"
                "  cooldown: 1h\n"
                "jobs:\n"
                "  - {name: flaky, type: command, every: 1s,"
                " with: {shell: 'test -f ok || { echo \"disk on fire\" >&2; exit 3; }'}}\n%s"
                % (self.api_port,
                   "".join("    %s: %s\n" % (name, all_channels[name]) for name in channels),
                   extra_jobs))

    def wait(self, what, predicate, timeout=20):
        """wait_until, with the daemon's log in the failure."""
        try:
            return wait_until(what, predicate, timeout)
        except AssertionError as e:
            log = os.path.join(self.dir, "jobsd.log")
            tail = open(log).read()[-4000:] if os.path.exists(log) else "(no log)"
            raise AssertionError("%s\n--- jobsd.log (end) ---\n%s" % (e, tail)) from None

    def start(self):
        daemon = Daemon(self.dir)
        self.daemons.append(daemon)
        wait_until("jobsd to answer", self.healthz)
        return daemon

    def healthz(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/healthz" % self.api_port,
                                        timeout=1) as r:
                return r.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def health(self):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/health" % self.api_port,
                                        timeout=5) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            return json.loads(e.read())

    def mails(self):
        return test_peers.read_jsonl(os.path.join(self.dir, "smtp.jsonl"))

    def requests(self, path):
        return [r for r in test_peers.read_jsonl(os.path.join(self.dir, "http.jsonl"))
                if r["path"] == path]

    def answered(self, path):
        return [r for r in self.requests(path) if r.get("status")]

    def alerts(self):
        return history(self.dir, "--alerts")

    def succeed_from_now(self):
        open(os.path.join(self.dir, "ok"), "w").close()

    def test_one_alert_per_incident_and_one_recovery_on_every_channel(self):
        self.write_config(["mail", "slack", "hook", "stuck"],
                          "  - {name: beat, type: command, every: 1s, with: {command: ['true']}}\n")
        test_peers.script_receiver(self.http_port, "/stuck", [{"hang": True}] * 10)
        self.start()
        mails = self.wait("the alert email", self.mails)
        runs_at_alert = len([r for r in history(self.dir, "flaky") if r["status"] == "failed"])
        self.assertGreaterEqual(runs_at_alert, 3)
        # The stuck webhook hangs; Slack and the signed webhook are not held up.
        slack = self.wait("the Slack alert", lambda: self.answered(SLACK_PATH))
        hook = self.wait("the webhook alert", lambda: self.answered("/hook"))
        time.sleep(3)  # more failing runs: still one alert
        failed = [r for r in history(self.dir, "flaky") if r["status"] == "failed"]
        self.assertGreaterEqual(len(failed), runs_at_alert + 2, "runs went on")
        beats = [r for r in history(self.dir, "beat") if r["status"] == "ok"]
        self.assertGreaterEqual(len(beats), 4, "the other job ran on schedule")
        self.assertEqual(len(self.mails()), 1)
        self.assertEqual(len(self.answered(SLACK_PATH)), 1)
        self.assertEqual(len(self.answered("/hook")), 1)
        self.assertEqual(len(self.requests("/stuck")), 1)  # one attempt, still hanging

        message = email.message_from_string(mails[0]["data"], policy=email.policy.default)
        self.assertEqual(message["Subject"], "[jobsd] CRITICAL flaky: failed 3 times in a row")
        self.assertEqual(sorted(mails[0]["rcpt_tos"]), ["oncall@example.com", "ops@example.com"])
        self.assertEqual(mails[0]["login"], SMTP_USER)
        self.assertTrue(mails[0]["tls"])
        body = message.get_content()
        self.assertIn("disk on fire", body)
        self.assertIn("https://jobsd.example.com/api/jobs/flaky/runs", body)

        payload = json.loads(slack[0]["body"])
        self.assertIn("flaky", payload["text"])
        self.assertIn("CRITICAL", payload["text"])
        self.assertIn("disk on fire", json.dumps(payload["blocks"]))

        signed = hook[0]
        headers = {k.lower(): v for k, v in signed["headers"].items()}
        expected = hmac.new(HOOK_SECRET.encode(), signed["body"].encode(), hashlib.sha256)
        self.assertEqual(headers["x-jobsd-signature"], "sha256=" + expected.hexdigest())
        alert = json.loads(signed["body"])
        self.assertEqual(headers["x-jobsd-delivery"], alert["delivery_id"])
        self.assertEqual((alert["kind"], alert["rule"], alert["severity"], alert["job"]),
                         ("firing", "consecutive_failures", "critical", "flaky"))
        self.assertEqual(alert["consecutive_failures"], 3)
        self.assertIn("disk on fire", alert["last_error"])
        self.assertEqual(alert["runs_url"], "https://jobsd.example.com/api/jobs/flaky/runs")

        channels = {c["name"]: c for c in self.health()["alert_channels"]}
        self.assertEqual(channels["mail"]["status"], "ok")
        self.assertIsNotNone(channels["mail"]["last_delivered_at"])
        self.assertIsNone(channels["stuck"]["last_delivered_at"])

        self.succeed_from_now()
        self.wait("the recovery email", lambda: len(self.mails()) == 2)
        self.wait("the recovery webhook", lambda: len(self.answered("/hook")) == 2)
        time.sleep(2)  # more good runs: no more alerts
        self.assertEqual(len(self.mails()), 2)
        self.assertEqual(len(self.answered(SLACK_PATH)), 2)
        recovery = email.message_from_string(self.mails()[1]["data"], policy=email.policy.default)
        self.assertTrue(recovery["Subject"].startswith("[jobsd] RECOVERED flaky"),
                        recovery["Subject"])
        self.assertNotEqual(recovery["Message-ID"], message["Message-ID"])
        alerts = self.alerts()
        self.assertEqual([a["kind"] for a in alerts], ["recovery", "firing"])
        states = {d["channel"]: d["state"] for d in alerts[1]["deliveries"]}
        self.assertEqual(states, {"mail": "delivered", "slack": "delivered",
                                  "hook": "delivered", "stuck": "pending"})
        # Secrets stay out of what jobsd stores and shows.
        stored = json.dumps(alerts)
        for secret in (SMTP_PASSWORD, HOOK_SECRET, "slackTokenSecret77"):
            self.assertNotIn(secret, stored)

    def test_rate_limits_and_errors_are_retried_a_refusal_is_not(self):
        self.write_config(["slack", "hook"])
        test_peers.script_receiver(self.http_port, SLACK_PATH, [
            {"status": 429, "headers": {"Retry-After": "1"}, "body": "rate_limited"},
            {"status": 500, "body": "oops"}])
        test_peers.script_receiver(self.http_port, "/hook",
                                    [{"status": 400, "body": "invalid_payload"}])
        self.start()
        self.wait("three Slack attempts", lambda: len(self.requests(SLACK_PATH)) >= 3,
                  timeout=45)
        tries = self.requests(SLACK_PATH)
        self.assertEqual([t["status"] for t in tries[:3]], [429, 500, 200])
        self.assertGreaterEqual(tries[1]["time"] - tries[0]["time"], 0.95, "Retry-After: 1")
        self.assertEqual(len({t["body"] for t in tries[:3]}), 1, "the same payload each time")
        time.sleep(2)
        self.assertEqual(len(self.requests("/hook")), 1, "a refusal is not retried")
        deliveries = {d["channel"]: d for d in self.alerts()[0]["deliveries"]}
        self.assertEqual(deliveries["hook"]["state"], "rejected")
        self.assertIn("invalid_payload", deliveries["hook"]["response"])
        self.assertEqual(deliveries["slack"]["state"], "delivered")
        self.assertEqual(deliveries["slack"]["attempts"], 3)
        metrics = urllib.request.urlopen(
            "http://127.0.0.1:%d/metrics" % self.api_port, timeout=5).read().decode()
        for line in ('jobsd_alerts_total{channel="slack",severity="critical",result="retry"} 2',
                     'jobsd_alerts_total{channel="slack",severity="critical",result="delivered"} 1',
                     'jobsd_alerts_total{channel="hook",severity="critical",result="rejected"} 1'):
            self.assertIn(line, metrics)

    def test_kill_9_between_writing_and_delivering_loses_nothing(self):
        self.write_config(["hook"])
        # The first attempt hangs, as if the far end were slow; jobsd is
        # killed while it waits. Later requests get 200.
        test_peers.script_receiver(self.http_port, "/hook", [{"hang": True}])
        daemon = self.start()
        self.wait("the alert in the outbox", self.alerts)
        self.wait("the delivery attempt", lambda: self.requests("/hook") or None)
        pending = self.alerts()[0]["deliveries"][0]
        self.assertEqual(pending["state"], "pending")
        daemon.stop(signal.SIGKILL)
        self.daemons.remove(daemon)

        self.start()
        answered = self.wait("the delivery after the restart", lambda: self.answered("/hook"))
        time.sleep(3)  # the job still fails: the incident goes on, no new alert
        self.assertEqual(len(self.answered("/hook")), 1)
        body = json.loads(answered[0]["body"])
        self.assertEqual(body["delivery_id"], pending["delivery_id"])
        alerts = self.alerts()
        self.assertEqual(len(alerts), 1)
        self.assertEqual(alerts[0]["deliveries"][0]["state"], "delivered")

    def test_a_refused_reload_alerts_once_and_a_good_one_recovers(self):
        self.write_config(["hook"])
        config = os.path.join(self.dir, "jobsd.yaml")
        with open(config) as f:
            good = f.read().replace("consecutive_failures: {threshold: 3, severity: critical}",
                                    "reload_failed: {severity: critical}")
        with open(config, "w") as f:
            f.write(good)
        daemon = self.start()
        with open(config, "w") as f:
            f.write(good.replace("every: 1s", "every: 1 second"))
        daemon.proc.send_signal(signal.SIGHUP)
        first = self.wait("the reload_failed alert", lambda: self.answered("/hook"))
        daemon.proc.send_signal(signal.SIGHUP)  # still broken: the same incident
        time.sleep(1)
        with open(config, "w") as f:
            f.write(good)
        daemon.proc.send_signal(signal.SIGHUP)
        self.wait("the recovery", lambda: len(self.answered("/hook")) == 2)
        time.sleep(1)
        bodies = [json.loads(r["body"]) for r in self.answered("/hook")]
        self.assertEqual([(b["rule"], b["kind"]) for b in bodies],
                         [("reload_failed", "firing"), ("reload_failed", "recovery")])
        self.assertIsNone(bodies[0]["job"])
        self.assertIn("jobs.flaky.every", bodies[0]["last_error"])
        self.assertEqual(first[0]["status"], 200)


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
