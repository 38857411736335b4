#!/usr/bin/python3
"""systemd integration: the unit file as shipped, and the daemon's sd_notify
messages (READY, RELOADING, STOPPING, STATUS, WATCHDOG) received on a real
notify socket, the way systemd receives them.

Run: /usr/bin/python3 tests/integration/systemd_test.py --jobsd build/daemon/jobsd
"""
import argparse
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
UNIT = os.path.join(ROOT, "systemd", "jobsd.service")
JOBSD = None


class UnitFileTest(unittest.TestCase):
    def test_verify_passes_without_warnings(self):
        # systemd-analyze verify exits 0 even for unknown keys; what it prints
        # is the verdict. ExecStart must exist, so point it at the built binary.
        with tempfile.TemporaryDirectory() as d:
            unit = os.path.join(d, "jobsd.service")
            with open(UNIT) as src, open(unit, "w") as dst:
                dst.write(src.read().replace("/usr/local/bin/jobsd", JOBSD))
            r = subprocess.run(["systemd-analyze", "verify", "--man=no", unit],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr.strip(), "", "verify printed warnings")

    def test_security_exposure_is_low(self):
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes", UNIT],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for jobsd\.service: ([0-9.]+)", r.stdout)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        exposure = float(m.group(1))
        print("\n  exposure %.1f" % exposure, file=sys.stderr)
        self.assertLessEqual(exposure, 2.0)

    def test_unit_has_the_operational_keys(self):
        with open(UNIT) as f:
            text = f.read()
        for key in ["Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "WatchdogSec=",
                    "Restart=on-failure", "StateDirectory=", "LogsDirectory=",
                    "ProtectSystem=strict", "NoNewPrivileges=yes", "CapabilityBoundingSet=",
                    "RestrictAddressFamilies=", "SystemCallFilter=@system-service"]:
            self.assertIn(key, text)


class NotifyTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="jobsd-notify-")
        self.sock_path = os.path.join(self.dir, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.sock_path)
        self.sock.settimeout(0.2)
        self.config = os.path.join(self.dir, "jobsd.yaml")
        self.write_config("every: 1s")
        self.proc = None
        self.messages = []

    def tearDown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.sock.close()
        subprocess.run(["rm", "-rf", self.dir])

    def write_config(self, schedule):
        with open(self.config, "w") as f:
            f.write('state: {path: state.db}\nhttp: {listen: ""}\nshutdown_grace: 2s\n'
                    "jobs:\n  - {name: tick, type: sleep, %s, with: {duration: 0s}}\n" % schedule)

    def wait_for(self, field, limit=10.0):
        """Reads datagrams until one carries `field` (e.g. READY=1)."""
        end = time.time() + limit
        while time.time() < end:
            try:
                data = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            self.messages.append(data)
            if field in data.split("\n"):
                return data
        self.fail("no %s within %.0f s; got %r" % (field, limit, self.messages))

    def test_lifecycle_messages(self):
        env = dict(os.environ, NOTIFY_SOCKET=self.sock_path, WATCHDOG_USEC="400000")
        env.pop("WATCHDOG_PID", None)
        with open(os.path.join(self.dir, "stderr.log"), "w") as err:
            self.proc = subprocess.Popen([JOBSD, "run", "-c", self.config], cwd=self.dir,
                                         env=env, stdout=err, stderr=err)
        ready = self.wait_for("READY=1")
        self.assertRegex(ready, r"STATUS=1 jobs, \d+ running")
        # Pings at half of WatchdogSec: several within a second.
        self.wait_for("WATCHDOG=1", 2)
        self.wait_for("WATCHDOG=1", 2)

        self.write_config("every: 2s")
        self.proc.send_signal(signal.SIGHUP)
        reloading = self.wait_for("RELOADING=1")
        self.assertRegex(reloading, r"MONOTONIC_USEC=\d+")
        self.wait_for("READY=1")

        # A broken config is refused, and the reload still ends with READY=1.
        with open(self.config, "a") as f:
            f.write("bogus: [\n")
        self.proc.send_signal(signal.SIGHUP)
        self.wait_for("RELOADING=1")
        self.wait_for("READY=1")

        self.proc.send_signal(signal.SIGTERM)
        self.wait_for("STOPPING=1")
        self.assertEqual(self.proc.wait(timeout=10), 0)

    def test_no_socket_no_messages(self):
        env = dict(os.environ)
        env.pop("NOTIFY_SOCKET", None)
        with open(os.path.join(self.dir, "stderr.log"), "w") as err:
            self.proc = subprocess.Popen([JOBSD, "run", "-c", self.config], cwd=self.dir,
                                         env=env, stdout=err, stderr=err)
        time.sleep(1.0)
        self.proc.send_signal(signal.SIGTERM)
        self.assertEqual(self.proc.wait(timeout=10), 0)
        with self.assertRaises(socket.timeout):
            self.sock.recv(4096)


def main():
    global JOBSD
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobsd", required=True)
    args, rest = parser.parse_known_args()
    JOBSD = os.path.abspath(args.jobsd)
    result = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
