#!/usr/bin/python3
"""systemd integration: the installed layout, the unit file as installed, and
the daemon's sd_notify messages (READY, RELOADING, STOPPING, STATUS,
WATCHDOG) received on a real notify socket, the way systemd receives them.

The layout: `cmake --install` into a DESTDIR (the default prefix /usr/local,
and a packager's --prefix /usr) puts the binary, the unit and the config
where the unit expects them; the unit passes systemd-analyze verify (with a
root made of the install and the system's units, so ExecStart must be the
installed binary) and security; the installed config passes `jobsd check` and keeps what jobsd
writes under the unit's StateDirectory; a second install keeps an edited
config. Where root may make namespaces, the installed binary then runs on the
installed config as the unit runs it: working directory /var/lib/jobsd (a
fresh tmpfs), the install read-only, a clean environment, a network of its
own. systemd itself is not asked to start the unit: that needs systemd as
PID 1, and the suite must not install into the machine it runs on.

Run: /usr/bin/python3 tests/integration/systemd_test.py --jobsd build/daemon/jobsd \\
         --build-dir build [--cmake cmake]
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JOBSD = None
BUILD_DIR = None
CMAKE = "cmake"
# The folder the config is installed to, whatever the prefix.
CONFIG_DIR = "/etc/jobsd"


def install(destdir, prefix=None):
    """`cmake --install` of the build into `destdir`; returns its output."""
    cmd = [CMAKE, "--install", BUILD_DIR]
    if prefix:
        cmd += ["--prefix", prefix]
    r = subprocess.run(cmd, env=dict(os.environ, DESTDIR=destdir), capture_output=True,
                       text=True, timeout=120)
    if r.returncode != 0:
        raise AssertionError("cmake --install failed:\n" + r.stdout + r.stderr)
    return r.stdout


def unit_values(text, key):
    """Every value of `key=` in a unit file's text, in order."""
    return [m.group(1).strip() for m in re.finditer(r"(?m)^%s=(.*)$" % re.escape(key), text)]


def yaml_value(text, section, key):
    """`section.key` of a simple YAML file, block (`section:` then `  key: v`)
    or flow (`section: {key: v}`) style; quotes and comments dropped."""
    m = re.search(r"(?m)^%s:[ \t]*\{([^}]*)\}" % re.escape(section), text)
    if m:
        for part in m.group(1).split(","):
            k, _, v = part.partition(":")
            if k.strip() == key:
                return v.strip().strip("'\"")
        return None
    m = re.search(r"(?m)^%s:[ \t]*(#.*)?\n((?:[ \t]+.*\n|[ \t]*\n)*)" % re.escape(section), text)
    if not m:
        return None
    for line in m.group(2).splitlines():
        m2 = re.match(r"\s+%s:\s*(\"[^\"]*\"|'[^']*'|[^#\s]+)" % re.escape(key), line)
        if m2:
            return m2.group(1).strip("'\"")
    return None


class InstalledLayoutTest(unittest.TestCase):
    """One install with the default prefix and one with --prefix /usr, shared
    by the tests (each copies the binary, about 100 MB with debug info)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="jobsd-install-")
        cls.local = os.path.join(cls.tmp, "local")
        cls.usr = os.path.join(cls.tmp, "usr")
        cls.local_output = install(cls.local)
        cls.usr_output = install(cls.usr, "/usr")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def unit_path(self, destdir, prefix):
        return os.path.join(destdir, prefix.lstrip("/"), "lib/systemd/system/jobsd.service")

    def unit_text(self, destdir=None, prefix="/usr/local"):
        with open(self.unit_path(destdir or self.local, prefix)) as f:
            return f.read()

    def config_path(self, destdir=None):
        return os.path.join(destdir or self.local, CONFIG_DIR.lstrip("/"), "jobsd.yaml")

    def test_files_are_installed(self):
        for destdir, prefix in [(self.local, "/usr/local"), (self.usr, "/usr")]:
            root = os.path.join(destdir, prefix.lstrip("/"))
            binary = os.path.join(root, "bin", "jobsd")
            self.assertTrue(os.access(binary, os.X_OK), binary)
            self.assertTrue(os.path.isfile(self.unit_path(destdir, prefix)))
            for example in ["jobsd.yaml", "jobsd.installed.yaml"]:
                self.assertTrue(os.path.isfile(
                    os.path.join(root, "share/doc/jobsd/examples", example)), example)
            config = self.config_path(destdir)
            self.assertTrue(os.path.isfile(config), config)
            # The unit's dynamic user is not root: the config must be readable to all.
            self.assertEqual(os.stat(config).st_mode & 0o004, 0o004)
            with open(config) as f, open(os.path.join(ROOT, "etc/jobsd.installed.yaml")) as g:
                self.assertEqual(f.read(), g.read())

    def test_exec_start_is_the_installed_binary(self):
        for destdir, prefix in [(self.local, "/usr/local"), (self.usr, "/usr")]:
            text = self.unit_text(destdir, prefix)
            self.assertNotRegex(text, r"@[A-Z_]+@", "a placeholder was left unfilled")
            exec_start = unit_values(text, "ExecStart")
            self.assertEqual(len(exec_start), 1)
            argv = exec_start[0].split()
            self.assertEqual(argv[0], prefix + "/bin/jobsd")
            self.assertTrue(os.access(os.path.join(destdir, argv[0].lstrip("/")), os.X_OK))
            self.assertEqual(argv[1:], ["run", "-c", CONFIG_DIR + "/jobsd.yaml"])
            self.assertTrue(os.path.isfile(os.path.join(destdir, argv[3].lstrip("/"))))

    def test_verify_passes_without_warnings(self):
        # systemd-analyze verify exits 0 even for unknown keys; what it prints
        # is the verdict. With --root it looks for ExecStart (and every
        # program the unit runs) under that root, and for the units it
        # depends on: a root made of the install plus the system's own units.
        root = os.path.join(self.tmp, "verify-root")
        os.makedirs(os.path.join(root, "usr/local/bin"))
        os.makedirs(os.path.join(root, "usr/local/lib/systemd/system"))
        os.makedirs(os.path.join(root, "usr/lib/systemd"))
        os.makedirs(os.path.join(root, "bin"))
        try:
            os.link(os.path.join(self.local, "usr/local/bin/jobsd"),
                    os.path.join(root, "usr/local/bin/jobsd"))
        except OSError:
            shutil.copy2(os.path.join(self.local, "usr/local/bin/jobsd"),
                         os.path.join(root, "usr/local/bin/jobsd"))
        unit = os.path.join(root, "usr/local/lib/systemd/system/jobsd.service")
        shutil.copy(self.unit_path(self.local, "/usr/local"), unit)
        shutil.copytree("/usr/lib/systemd/system", os.path.join(root, "usr/lib/systemd/system"),
                        symlinks=True)
        shutil.copy("/bin/kill", os.path.join(root, "bin/kill"))
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", "--root=" + root, unit],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr.strip(), "", "verify printed warnings")

    def test_security_exposure_is_low(self):
        r = subprocess.run(["systemd-analyze", "security", "--offline=yes",
                            self.unit_path(self.local, "/usr/local")],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"Overall exposure level for jobsd\.service: ([0-9.]+)", r.stdout)
        self.assertIsNotNone(m, r.stdout + r.stderr)
        exposure = float(m.group(1))
        print("\n  exposure %.1f" % exposure, file=sys.stderr)
        self.assertLessEqual(exposure, 2.0)

    def test_unit_has_the_operational_keys(self):
        text = self.unit_text()
        for key in ["Type=notify", "ExecReload=/bin/kill -HUP $MAINPID", "WatchdogSec=",
                    "Restart=on-failure", "StateDirectory=", "LogsDirectory=",
                    "ProtectSystem=strict", "NoNewPrivileges=yes", "CapabilityBoundingSet=",
                    "RestrictAddressFamilies=", "SystemCallFilter=@system-service"]:
            self.assertIn(key, text)

    def test_installed_config_is_valid(self):
        # As the unit starts it: no JOBSD_* variables (/etc/jobsd/env is optional).
        env = {"PATH": "/usr/bin:/bin"}
        r = subprocess.run([JOBSD, "check", "-c", self.config_path()], env=env,
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_state_is_written_where_the_unit_allows(self):
        text = self.unit_text()
        self.assertEqual(unit_values(text, "StateDirectory"), ["jobsd"])
        state_dir = "/var/lib/jobsd"
        self.assertEqual(unit_values(text, "WorkingDirectory"), [state_dir])
        self.assertIn("ProtectSystem=strict", text)
        with open(self.config_path()) as f:
            config = f.read()
        path = yaml_value(config, "state", "path")
        self.assertIsNotNone(path, "the installed config names no state.path")
        self.assertNotIn("$", path)
        # Relative paths resolve against the config file's folder, which
        # ProtectSystem=strict makes read-only: only StateDirectory= is writable.
        resolved = os.path.normpath(os.path.join(CONFIG_DIR, path))
        self.assertTrue(resolved.startswith(state_dir + "/"),
                        "state.path %s resolves to %s, outside %s" % (path, resolved, state_dir))

    def test_a_second_install_keeps_an_edited_config(self):
        destdir = os.path.join(self.tmp, "again")
        install(destdir)
        config = self.config_path(destdir)
        with open(config, "a") as f:
            f.write("# edited by its owner\n")
        with open(config) as f:
            edited = f.read()
        output = install(destdir)
        self.assertIn("Keeping: " + config, output)
        with open(config) as f:
            self.assertEqual(f.read(), edited)
        # A config that is a symbolic link is kept too, even a dangling one.
        os.remove(config)
        os.symlink("/nonexistent/jobsd.yaml", config)
        install(destdir)
        self.assertTrue(os.path.islink(config))
        self.assertEqual(os.readlink(config), "/nonexistent/jobsd.yaml")

    def test_runs_as_the_unit_runs_it(self):
        if os.geteuid() != 0:
            self.skipTest("needs root for mount and network namespaces")
        probe = subprocess.run(["unshare", "--mount", "--net", "true"], capture_output=True)
        if probe.returncode != 0:
            self.skipTest("cannot make namespaces here: " + probe.stderr.decode().strip())
        # In namespaces of its own (nothing here reaches the machine): a fresh
        # /var/lib, the install read-only (so is /etc/jobsd under the unit),
        # the working directory and environment the unit gives.
        script = r"""
set -eu
destdir=$1
# Loopback up (SIOCSIFFLAGS, IFF_UP|IFF_RUNNING) without needing iproute2.
/usr/bin/python3 -c 'import fcntl, socket, struct
fcntl.ioctl(socket.socket(), 0x8914, struct.pack("16sH14x", b"lo", 0x41))'
mount -t tmpfs -o mode=0755 tmpfs /var/lib
mkdir -m 0700 /var/lib/jobsd
mount --bind "$destdir" "$destdir"
mount -o remount,bind,ro "$destdir"
cd /var/lib/jobsd
jobsd=$destdir/usr/local/bin/jobsd
conf=$destdir/etc/jobsd/jobsd.yaml
env -i PATH=/usr/bin:/bin "$jobsd" run -c "$conf" 2>daemon.log &
pid=$!
trap 'kill -9 $pid 2>/dev/null || true' EXIT
for i in $(seq 100); do
  curl -fsS -o /dev/null http://127.0.0.1:8080/readyz 2>/dev/null && break
  sleep 0.1
done
echo "readyz: $(curl -sS http://127.0.0.1:8080/readyz)"
echo "once: $(env -i PATH=/usr/bin:/bin "$jobsd" once -c "$conf" disk-report)"
echo "runs: $(curl -sS http://127.0.0.1:8080/api/jobs/disk-report/runs)"
kill -TERM $pid
rc=0; wait $pid || rc=$?
echo "exit: $rc"
echo "files: $(ls /var/lib/jobsd | tr '\n' ' ')"
echo "--- daemon log"
cat daemon.log
"""
        r = subprocess.run(["unshare", "--mount", "--net", "--propagation", "private",
                            "/bin/sh", "-c", script, "sh", self.local],
                           capture_output=True, text=True, timeout=60)
        out = r.stdout + r.stderr
        self.assertEqual(r.returncode, 0, out)
        self.assertIn('readyz: {"status":"ready"}', out)
        self.assertRegex(out, r"once: run \d+ of disk-report: ok")
        self.assertRegex(out, r'runs: \[\{"id":\d+,"job":"disk-report".*"status":"ok"')
        self.assertIn("exit: 0", out)
        self.assertRegex(out, r"files: .*\bstate\.db\b")
        self.assertIn("state /var/lib/jobsd/state.db", out)


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
    global JOBSD, BUILD_DIR, CMAKE
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobsd", required=True)
    parser.add_argument("--build-dir", required=True, help="the build to `cmake --install`")
    parser.add_argument("--cmake", default="cmake")
    args, rest = parser.parse_known_args()
    JOBSD = os.path.abspath(args.jobsd)
    BUILD_DIR = os.path.abspath(args.build_dir)
    CMAKE = args.cmake
    result = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2).result
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
