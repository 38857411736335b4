#!/usr/bin/python3
"""The alert channels end to end: `jobsd alert-test` against real peers.

    /usr/bin/python3 tests/integration/alert_channels_test.py --jobsd PATH \\
        --receiver PATH [--smtp-sink PATH] [-v] [-k PATTERN]

A throwaway CA and a server certificate for localhost are made with the
openssl command. Three peers run on 127.0.0.1: tests/fakes/smtp_sink.py with
STARTTLS and AUTH, another in implicit-TLS (smtps) mode, and
fake_alert_receiver over HTTPS for Slack and the webhook. A config with every
channel type is sent a test alert per channel; each test checks the exit
code, the printed line and what the peer received (headers, subject,
recipients, AUTH, the HMAC signature). Standard library only; about 5 s.
"""

import argparse
import email
import email.policy
import email.utils
import hashlib
import hmac
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_peers  # noqa: E402
from test_peers import read_jsonl  # noqa: E402

JOBSD = None
RECEIVER = None
SMTP_SINK = test_peers.SMTP_SINK

SMTP_USER = "jobsd-alerts"
SMTP_PASSWORD = "correct-horse-battery"
HOOK_SECRET = "hook-signing-secret"
SLACK_PATH = "/services/T0001/B0002/slackTokenSecret77"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


class AlertChannelsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="jobsd-alerts-it-")
        cls.peers = test_peers.Peers(cls.dir)
        d = cls.dir
        _, cert, key = test_peers.make_test_ca(d)
        try:
            cls.smtp_port = cls.peers.start(
                ["/usr/bin/python3", SMTP_SINK, "--mode", "starttls", "--cert", cert,
                 "--key", key, "--username", SMTP_USER, "--password", SMTP_PASSWORD,
                 "--out", os.path.join(d, "smtp.jsonl")], "smtp")
            cls.smtps_port = cls.peers.start(
                ["/usr/bin/python3", SMTP_SINK, "--mode", "smtps", "--cert", cert, "--key", key,
                 "--username", SMTP_USER, "--password", SMTP_PASSWORD,
                 "--out", os.path.join(d, "smtps.jsonl")], "smtps")
            cls.http_port = cls.peers.start(
                [RECEIVER, "--tls-cert", cert, "--tls-key", key,
                 "--log", os.path.join(d, "http.jsonl")], "http")
        except Exception:
            cls.tearDownClass()
            raise
        cls.write_config()

    @classmethod
    def tearDownClass(cls):
        cls.peers.stop()
        if os.environ.get("JOBSD_ALERTS_KEEP"):
            print("kept", cls.dir)
        else:
            shutil.rmtree(cls.dir, ignore_errors=True)

    @classmethod
    def write_config(cls):
        hook = "https://localhost:%d" % cls.http_port
        mail = ("from: 'jobsd <jobsd@example.com>', to: [ops@example.com, oncall@example.com], "
                "username: %s" % SMTP_USER)
        with open(os.path.join(cls.dir, "jobsd.yaml"), "w") as f:
            f.write(
                "state: {path: state.db}\n"
                "http: {listen: ''}\n"
                "alerts:\n"
                "  channels:\n"
                "    team-slack: {type: slack, webhook_url: '%(hook)s%(slack)s', ca_file: ca.pem}\n"
                "    bad-slack: {type: slack, webhook_url: '%(hook)s/services/T1/B1/badSecret55',"
                " ca_file: ca.pem}\n"
                "    pager: {type: webhook, url: '%(hook)s/pager', secret: '${HOOK_SECRET}',"
                " headers: {Authorization: 'Bearer pager-token-9'}, ca_file: ca.pem}\n"
                "    slow-hook: {type: webhook, url: '%(hook)s/slow', ca_file: ca.pem,"
                " timeout: 1s}\n"
                "    ops-mail: {type: email, smtp_url: 'smtp://localhost:%(smtp)d', %(mail)s,"
                " password: '${SMTP_PASSWORD}', ca_file: ca.pem}\n"
                "    wrong-mail: {type: email, smtp_url: 'smtp://localhost:%(smtp)d', %(mail)s,"
                " password: not-the-password, ca_file: ca.pem}\n"
                "    untrusted-mail: {type: email, smtp_url: 'smtp://localhost:%(smtp)d', %(mail)s,"
                " password: '${SMTP_PASSWORD}'}\n"
                "    secure-mail: {type: email, smtp_url: 'smtps://localhost:%(smtps)d', %(mail)s,"
                " password: '${SMTP_PASSWORD}', ca_file: ca.pem}\n"
                "  route: {critical: [team-slack, ops-mail, pager]}\n"
                "jobs:\n"
                "  - {name: nap, type: sleep, every: 1h, with: {duration: 1s}}\n"
                % {"hook": hook, "slack": SLACK_PATH, "smtp": cls.smtp_port,
                   "smtps": cls.smtps_port, "mail": mail})

    def alert_test(self, channel, code):
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env["SMTP_PASSWORD"] = SMTP_PASSWORD
        env["HOOK_SECRET"] = HOOK_SECRET
        started = time.time()
        r = subprocess.run([JOBSD, "alert-test", "-c", "jobsd.yaml", channel], cwd=self.dir,
                           env=env, capture_output=True, text=True, timeout=60)
        self.took = time.time() - started
        self.assertEqual(r.returncode, code, r.stdout + r.stderr)
        for secret in (SMTP_PASSWORD, HOOK_SECRET, "slackTokenSecret77", "badSecret55",
                       "not-the-password"):
            self.assertNotIn(secret, r.stdout + r.stderr)
        return r.stdout

    def http_requests(self, path):
        return [r for r in read_jsonl(os.path.join(self.dir, "http.jsonl")) if r["path"] == path]

    def control(self, path, responses):
        ctx = ssl.create_default_context(cafile=os.path.join(self.dir, "ca.pem"))
        body = json.dumps({"path": path, "responses": responses}).encode()
        req = urllib.request.Request("https://localhost:%d/_control" % self.http_port, data=body,
                                     method="POST")
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            self.assertEqual(r.status, 200)

    def host(self):
        return socket.gethostname()

    # --- Slack ---

    def test_slack_delivered(self):
        out = self.alert_test("team-slack", 0)
        self.assertEqual(out, "team-slack (slack): delivered: HTTP 200 ok\n")
        requests = self.http_requests(SLACK_PATH)
        self.assertEqual(len(requests), 1)
        r = requests[0]
        self.assertEqual(r["method"], "POST")
        self.assertTrue(r["headers"]["content-type"].startswith("application/json"))
        body = json.loads(r["body"])
        title = "TEST jobsd: Test alert from jobsd on %s" % self.host()
        self.assertEqual(body["text"], title)
        blocks = body["blocks"]
        self.assertEqual([b["type"] for b in blocks], ["header", "section", "context"])
        self.assertEqual(blocks[0]["text"]["text"], ":test_tube: " + title)
        self.assertEqual([f["text"] for f in blocks[1]["fields"]],
                         ["*Job*\njobsd", "*Host*\n" + self.host(), "*Severity*\ninfo",
                          "*Rule*\ntest", "*Streak*\nnone"])

    def test_slack_invalid_payload_is_rejected(self):
        path = "/services/T1/B1/badSecret55"
        self.control(path, [{"status": 400, "body": "invalid_payload"}])
        out = self.alert_test("bad-slack", 1)
        self.assertEqual(out, "bad-slack (slack): rejected: HTTP 400 invalid_payload\n")
        self.assertEqual(len(self.http_requests(path)), 1)

    def test_slack_rate_limited_is_retry_with_its_wait(self):
        path = "/services/T1/B1/badSecret55"
        self.control(path, [{"status": 429, "headers": {"Retry-After": "30"},
                             "body": "rate_limited"}])
        before = len(self.http_requests(path))
        out = self.alert_test("bad-slack", 1)
        self.assertEqual(out, "bad-slack (slack): retry: HTTP 429 rate_limited (retry after 30s)\n")
        self.assertEqual(len(self.http_requests(path)), before + 1)  # sent once, not retried

    # --- webhook ---

    def test_webhook_delivered_and_signed(self):
        out = self.alert_test("pager", 0)
        self.assertEqual(out, "pager (webhook): delivered: HTTP 200 ok\n")
        requests = self.http_requests("/pager")
        self.assertEqual(len(requests), 1)
        r = requests[0]
        h = r["headers"]
        self.assertEqual(h["content-type"], "application/json")
        self.assertEqual(h["authorization"], "Bearer pager-token-9")
        self.assertEqual(h["x-jobsd-event"], "test")
        self.assertRegex(h["x-jobsd-delivery"], UUID)
        expected = hmac.new(HOOK_SECRET.encode(), r["body"].encode(), hashlib.sha256).hexdigest()
        self.assertEqual(h["x-jobsd-signature"], "sha256=" + expected)
        body = json.loads(r["body"])
        self.assertEqual(body["delivery_id"], h["x-jobsd-delivery"])
        self.assertEqual(body["kind"], "test")
        self.assertEqual(body["rule"], "test")
        self.assertEqual(body["severity"], "info")
        self.assertIsNone(body["job"])
        self.assertEqual(body["host"], self.host())
        self.assertEqual(body["summary"], "Test alert from jobsd on %s" % self.host())

    def test_webhook_that_hangs_is_retry_within_its_timeout(self):
        self.control("/slow", [{"hang": True}])
        out = self.alert_test("slow-hook", 1)
        self.assertTrue(out.startswith("slow-hook (webhook): retry: POST https://localhost:%d/***: "
                                       % self.http_port), out)
        self.assertLess(self.took, 5)

    # --- email ---

    def check_message(self, record, tls_port):
        self.assertEqual(record["mail_from"], "jobsd@example.com")
        self.assertEqual(record["rcpt_tos"], ["ops@example.com", "oncall@example.com"])
        self.assertEqual(record["login"], SMTP_USER)
        self.assertIn(record["mechanism"], ("PLAIN", "LOGIN"))
        self.assertTrue(record["tls"])
        raw = record["data"]
        self.assertNotIn("\n", raw.replace("\r\n", ""))  # CRLF only
        self.assertTrue(all(len(line) <= 998 for line in raw.split("\r\n")))
        msg = email.message_from_string(raw, policy=email.policy.default)
        subject = "[jobsd] TEST jobsd: Test alert from jobsd on %s" % self.host()
        self.assertEqual(msg["Subject"], subject)
        self.assertEqual(msg["From"], "jobsd <jobsd@example.com>")
        self.assertEqual([a.addr_spec for a in msg["To"].addresses],
                         ["ops@example.com", "oncall@example.com"])
        delivery = msg["X-Jobsd-Delivery"]
        self.assertRegex(delivery, UUID)
        host = re.sub(r"[^A-Za-z0-9._+-]", "-", self.host())
        self.assertEqual(msg["Message-ID"], "<%s@jobsd.%s>" % (delivery, host))
        sent = email.utils.parsedate_to_datetime(msg["Date"]).timestamp()
        self.assertLess(abs(sent - time.time()), 120)
        self.assertTrue(msg["Date"].endswith(" +0000"))
        self.assertEqual(msg["MIME-Version"], "1.0")
        self.assertEqual(msg.get_content_type(), "text/plain")
        self.assertEqual(msg.get_content_charset(), "utf-8")
        text = msg.get_content().replace("\r\n", "\n")
        self.assertTrue(text.startswith("TEST jobsd: Test alert from jobsd on "), text)
        self.assertIn("\nRule:     test\n", text)
        self.assertIn("delivery " + delivery, text)

    def test_email_starttls_with_auth(self):
        before = len(read_jsonl(os.path.join(self.dir, "smtp.jsonl")))
        out = self.alert_test("ops-mail", 0)
        self.assertTrue(out.startswith("ops-mail (email): delivered: 250 2.0.0 Ok: queued as "),
                        out)
        records = read_jsonl(os.path.join(self.dir, "smtp.jsonl"))
        self.assertEqual(len(records), before + 1)
        self.check_message(records[-1], self.smtp_port)

    def test_email_smtps_implicit_tls(self):
        out = self.alert_test("secure-mail", 0)
        self.assertTrue(out.startswith("secure-mail (email): delivered: 250 "), out)
        records = read_jsonl(os.path.join(self.dir, "smtps.jsonl"))
        self.assertEqual(len(records), 1)
        self.check_message(records[-1], self.smtps_port)

    def test_email_wrong_password_is_rejected(self):
        before = len(read_jsonl(os.path.join(self.dir, "smtp.jsonl")))
        out = self.alert_test("wrong-mail", 1)
        self.assertTrue(out.startswith(
            "wrong-mail (email): rejected: 535 5.7.8 Authentication credentials invalid"), out)
        self.assertEqual(len(read_jsonl(os.path.join(self.dir, "smtp.jsonl"))), before)

    def test_email_unknown_ca_is_retry(self):
        out = self.alert_test("untrusted-mail", 1)
        self.assertTrue(out.startswith("untrusted-mail (email): retry: "), out)
        self.assertIn("certificate", out.lower())

    # --- the command ---

    def test_unknown_channel_lists_the_channels(self):
        r = subprocess.run([JOBSD, "alert-test", "-c", "jobsd.yaml", "team-slak"], cwd=self.dir,
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, SMTP_PASSWORD="x", HOOK_SECRET="y"))
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "")
        self.assertIn("no channel named 'team-slak'", r.stderr)
        self.assertIn("bad-slack, ops-mail, pager, secure-mail, slow-hook, team-slack", r.stderr)

    def test_invalid_config_is_reported_like_check(self):
        path = os.path.join(self.dir, "broken.yaml")
        with open(path, "w") as f:
            f.write("alerts:\n  channels:\n    m: {type: email, smtp_url: 'smtps://x:465', "
                    "from: a@b, to: [c@d], tls: none, timeout: 0s}\n"
                    "jobs:\n  - {name: nap, type: sleep, every: 1h, with: {duration: 1s}}\n")
        r = subprocess.run([JOBSD, "alert-test", "-c", "broken.yaml", "m"], cwd=self.dir,
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("broken.yaml:3:", r.stderr)
        self.assertIn("alerts.channels.m.tls: smtps:// always uses TLS", r.stderr)
        self.assertIn("alerts.channels.m.timeout: expected a timeout from 1s to 10m", r.stderr)


def main():
    global JOBSD, RECEIVER, SMTP_SINK
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobsd", required=True)
    parser.add_argument("--receiver", required=True)
    parser.add_argument("--smtp-sink", default=SMTP_SINK)
    args, rest = parser.parse_known_args()
    JOBSD = os.path.abspath(args.jobsd)
    RECEIVER = os.path.abspath(args.receiver)
    SMTP_SINK = os.path.abspath(args.smtp_sink)
    unittest.main(argv=[sys.argv[0]] + rest)


if __name__ == "__main__":
    main()
