#!/usr/bin/python3
"""The retention job end to end: the built daemon on real trees.

    /usr/bin/python3 tests/integration/retention_test.py --jobsd build/daemon/jobsd [-v] [-k PATTERN]

Each test gets a temp folder with a config beside a tree of files whose
mtimes are set with os.utime, runs `jobsd once -c jobsd.yaml data-retention`
(or `jobsd run`, for /metrics) and checks exactly which files are left, the
run's metrics in `jobsd history --json`, its output in the state store (the
runs table), and the data folder gauges on /metrics (also through promtool
when it is installed). Two tests need privileges and say so when they skip:
a real mount point and a bind mount inside a folder need a private mount
namespace (unshare -m: root, or a user namespace); a real permission
problem needs a user the folder does not belong to, so as root the daemon
runs as `nobody` (setpriv), and as another user the test simply chmods.

Standard library only. JOBSD_RETENTION_KEEP=1 keeps each test's folder.
"""

import argparse
import json
import os
import pwd
import re
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

JOBSD = None
SOURCE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JOB = "data-retention"
DAY = 86400


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RetentionTest(unittest.TestCase):
    def setUp(self):
        self.dir = os.path.realpath(tempfile.mkdtemp(prefix="jobsd-retention-it-"))
        self.procs = []
        self.addCleanup(self.cleanup)

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        if os.environ.get("JOBSD_RETENTION_KEEP"):
            print("\n  kept " + self.dir, file=sys.stderr)
            return
        # A test may leave folders it made unreadable.
        for root, dirs, _ in os.walk(self.dir):
            for d in dirs:
                if not os.path.islink(os.path.join(root, d)):
                    os.chmod(os.path.join(root, d), 0o755)
        shutil.rmtree(self.dir, ignore_errors=True)

    # The tree.

    def path(self, rel):
        return os.path.join(self.dir, rel)

    def file(self, rel, size, age, root=None):
        """A file of `size` bytes modified `age` seconds ago (folders made as needed)."""
        path = os.path.join(root or self.dir, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(b"x" * size)
        t = time.time() - age
        os.utime(path, (t, t))
        return path

    def age_folders(self, top, age):
        t = time.time() - age
        for root, dirs, _ in os.walk(self.path(top)):
            for d in dirs:
                os.utime(os.path.join(root, d), (t, t), follow_symlinks=False)

    def listing(self, top):
        """Every entry under `top`, relative, sorted; folders end in '/'; symlinks not followed."""
        out = []
        base = self.path(top)
        for root, dirs, files in os.walk(base):
            for d in dirs:
                full = os.path.join(root, d)
                out.append(os.path.relpath(full, base) + ("" if os.path.islink(full) else "/"))
            for f in files:
                out.append(os.path.relpath(os.path.join(root, f), base))
        return sorted(out)

    # jobsd.

    def write_config(self, folders, dry_run=False, remove_empty_dirs=True, http_port=None,
                     every="1h"):
        lines = ["state: {path: state/jobsd.db}", "log: {level: info}"]
        if http_port:
            lines += ["http: {listen: 127.0.0.1:%d, token: it-token}" % http_port]
            lines += ["shutdown_grace: 2s"]
        lines += ["jobs:", "  - name: %s" % JOB, "    type: retention", "    every: %s" % every,
                  "    with:", "      folders:"]
        lines += ["        - " + json.dumps(f) for f in folders]
        lines += ["      remove_empty_dirs: %s" % ("true" if remove_empty_dirs else "false"),
                  "      dry_run: %s" % ("true" if dry_run else "false")]
        with open(self.path("jobsd.yaml"), "w") as f:
            f.write("\n".join(lines) + "\n")

    def jobsd(self, *args, check=0, prefix=(), env=None):
        r = subprocess.run(list(prefix) + [JOBSD] + list(args), cwd=self.dir, env=env,
                           capture_output=True, text=True, timeout=120, errors="replace")
        if check is not None:
            self.assertEqual(r.returncode, check, r.stdout + r.stderr)
        return r

    def once(self, check=0, prefix=()):
        return self.jobsd("once", "-c", "jobsd.yaml", JOB, check=check, prefix=prefix)

    def last_run(self):
        r = self.jobsd("history", "-c", "jobsd.yaml", JOB, "--json", "--limit", "1")
        runs = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        self.assertEqual(len(runs), 1, r.stdout)
        return runs[0]

    def output_of(self, run_id):
        db = sqlite3.connect("file:%s?mode=ro" % self.path("state/jobsd.db"), uri=True)
        try:
            return db.execute("SELECT output FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
        finally:
            db.close()

    # The tests.

    def make_tree(self, top):
        """raw (max_age 7d), predictions (30d, *.json), logs (max_bytes 1000)."""
        self.file(top + "/raw/2026-01/old.parquet", 300, 10 * DAY)
        self.file(top + "/raw/2026-01/older.parquet", 200, 20 * DAY)
        self.file(top + "/raw/2026-02/new.parquet", 100, 2 * DAY)
        self.file(top + "/raw/old\nname\xe9.bin".encode("latin-1").decode("utf-8", "surrogateescape"),
                  50, 9 * DAY)
        self.file(top + "/raw/fresh.tmp", 10, 0)
        self.file(top + "/predictions/p1.json", 40, 40 * DAY)
        self.file(top + "/predictions/p2.json", 40, 10 * DAY)
        self.file(top + "/predictions/notes.txt", 40, 90 * DAY)
        for i in range(8):  # 8 x 200 bytes, i days old: 1600 bytes, at most 1000 stay
            self.file(top + "/logs/app-%d.log" % i, 200, (i + 1) * DAY)
        self.age_folders(top, DAY)

    def folders(self, top):
        return [{"path": top + "/raw", "max_age": "7d"},
                {"path": top + "/predictions", "max_age": "30d", "match": "*.json"},
                {"path": top + "/logs", "max_bytes": 1000}]

    KEPT = {
        "raw": ["2026-02/", "2026-02/new.parquet", "fresh.tmp"],
        "predictions": ["notes.txt", "p2.json"],
        "logs": ["app-0.log", "app-1.log", "app-2.log", "app-3.log", "app-4.log"],
    }

    def test_once_deletes_exactly_what_is_due(self):
        self.make_tree("data")
        self.write_config(self.folders("data"))
        r = self.once()
        self.assertIn("ok", r.stdout)
        for folder, kept in self.KEPT.items():
            self.assertEqual(self.listing("data/" + folder), kept, folder)

        run = self.last_run()
        m = run["metrics"]
        self.assertEqual(run["status"], "ok")
        self.assertEqual(m["folders"], 3)
        self.assertEqual(m["files_before"], 16)
        self.assertEqual(m["bytes_before"], 300 + 200 + 100 + 50 + 10 + 3 * 40 + 8 * 200)
        # raw: 3 files (550 bytes); predictions: 1 (40); logs: the 3 oldest (600).
        self.assertEqual(m["files_deleted"], 7)
        self.assertEqual(m["bytes_deleted"], 550 + 40 + 600)
        self.assertEqual(m["files"], 9)
        self.assertEqual(m["bytes"], 110 + 80 + 1000)
        self.assertEqual(m["dirs_removed"], 1)  # raw/2026-01
        self.assertEqual(m["errors"], 0)
        self.assertEqual(m["dry_run"], 0)
        self.assertEqual(m["changed"], 1)

        output = self.output_of(run["id"])
        raw = self.path("data/raw")
        self.assertIn("%s (max_age 7d): 5 files (660 B) before, 3 files (550 B) deleted, "
                      "2 files (110 B) left; 1 empty folder removed" % raw, output)
        self.assertIn("%s (max_bytes 1000 B): 8 files (1.6 KiB) before, 3 files (600 B) deleted, "
                      "5 files (1000 B) left" % self.path("data/logs"), output)
        # The odd name, escaped: one line, no raw newline or bad UTF-8.
        self.assertIn(raw + "/old\\nname\\xe9.bin\n", output)
        # The log has one line per folder.
        self.assertRegex(r.stderr, r"job=data-retention .*%s \(max_age 7d\): 5 files" % re.escape(raw))

        # Again: nothing is due; nothing changes.
        self.once()
        again = self.last_run()["metrics"]
        self.assertEqual((again["files_deleted"], again["files"], again["changed"]), (0, 9, 0))

    def test_dry_run_deletes_nothing_and_reports_the_same(self):
        self.make_tree("dry")
        self.make_tree("real")
        before = {f: self.listing("dry/" + f) for f in self.KEPT}
        self.write_config(self.folders("dry"), dry_run=True)
        self.once()
        dry = self.last_run()
        self.assertEqual({f: self.listing("dry/" + f) for f in self.KEPT}, before)
        output = self.output_of(dry["id"])
        self.assertTrue(output.startswith("dry run: nothing is deleted"), output)
        self.assertIn("3 files (550 B) would be deleted", output)
        self.assertIn("would delete:", output)

        self.write_config(self.folders("real"))
        self.once()
        real = self.last_run()
        for f, kept in self.KEPT.items():
            self.assertEqual(self.listing("real/" + f), kept)
        for name in ("files_before", "bytes_before", "files_deleted", "bytes_deleted", "files",
                     "bytes", "dirs_removed", "errors"):
            self.assertEqual(dry["metrics"][name], real["metrics"][name], name)
        self.assertEqual((dry["metrics"]["dry_run"], dry["metrics"]["changed"]), (1, 0))

    def metrics_text(self):
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.port, timeout=5) as r:
            return r.read().decode()

    @staticmethod
    def gauges(text):
        out = {}
        for line in text.splitlines():
            m = re.match(r'jobsd_data_folder_(bytes|files)\{path="(.*)"\} (\S+)$', line)
            if m:
                out[(m.group(1), m.group(2))] = float(m.group(3))
        return out

    def start_daemon(self):
        """`jobsd run` on the config as written, once /readyz answers."""
        log = open(self.path("jobsd.log"), "a")
        self.daemon = subprocess.Popen([JOBSD, "run", "-c", "jobsd.yaml"], cwd=self.dir,
                                       stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs.append(self.daemon)
        self.wait_for("/readyz", lambda: self.get("/readyz"))

    def stop_daemon(self):
        self.daemon.send_signal(signal.SIGTERM)
        self.assertEqual(self.daemon.wait(timeout=30), 0)

    def get(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path),
                                        timeout=5) as r:
                return r.read().decode()
        except (urllib.error.URLError, ConnectionError):
            return None

    def wait_for(self, what, predicate, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            if self.daemon.poll() is not None:
                self.fail("jobsd exited waiting for %s:\n%s" % (what, open(self.path("jobsd.log")).read()))
            time.sleep(0.1)
        self.fail("no %s within %d s:\n%s" % (what, timeout, open(self.path("jobsd.log")).read()))

    def run_now(self):
        req = urllib.request.Request("http://127.0.0.1:%d/api/jobs/%s/run" % (self.port, JOB),
                                     method="POST", headers={"Authorization": "Bearer it-token"})
        with urllib.request.urlopen(req, timeout=5) as r:
            self.assertEqual(r.status, 202)

    def wait_gauges(self, expected):
        def match():
            text = self.get("/metrics")
            got = self.gauges(text or "")
            self.last_gauges = got
            return got if all(got.get(k) == v for k, v in expected.items()) else None
        self.last_gauges = None
        try:
            return self.wait_for("the gauges %s" % expected, match)
        except AssertionError as e:
            raise AssertionError("%s\nlast seen: %s" % (e, self.last_gauges))

    def test_gauges_on_metrics_of_a_running_daemon(self):
        self.make_tree("data")
        self.port = free_port()
        folders = self.folders("data") + [{"path": "data/not-yet", "max_age": "1d"}]
        raw, logs, preds = self.path("data/raw"), self.path("data/logs"), self.path("data/predictions")
        missing = self.path("data/not-yet")

        # A dry run first: the gauges show the folders as they are.
        self.write_config(folders, dry_run=True, http_port=self.port)
        self.start_daemon()
        text = self.get("/metrics")
        self.assertIn("# TYPE jobsd_data_folder_bytes gauge", text)
        self.assertIn("# TYPE jobsd_data_folder_files gauge", text)
        self.assertEqual(self.gauges(text), {})
        self.run_now()
        self.wait_gauges({("bytes", raw): 660, ("files", raw): 5, ("bytes", logs): 1600,
                          ("files", logs): 8, ("bytes", preds): 120, ("files", preds): 3,
                          ("files", missing): 0, ("bytes", missing): 0})
        self.assertEqual(self.listing("data/raw")[0], "2026-01/")  # nothing went
        self.stop_daemon()

        # The real run, on a daemon of its own: the gauges show what is left.
        self.write_config(folders, http_port=self.port)
        self.start_daemon()
        self.run_now()
        got = self.wait_gauges({("bytes", raw): 110, ("files", raw): 2, ("bytes", logs): 1000,
                                ("files", logs): 5, ("bytes", preds): 80, ("files", preds): 2,
                                ("files", missing): 0})
        self.assertEqual(len(got), 8, got)
        self.assertEqual(self.listing("data/logs"), self.KEPT["logs"])
        if os.access("/usr/bin/promtool", os.X_OK):
            r = subprocess.run(["/usr/bin/promtool", "check", "metrics"],
                               input=self.get("/metrics"), capture_output=True, text=True,
                               timeout=30)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.stop_daemon()

    def test_refusals(self):
        self.file("data/old", 1, 30 * DAY)
        # The root: refused by `jobsd check` already, naming the key.
        self.write_config([{"path": "/", "max_age": "7d"}])
        r = self.jobsd("check", "-c", "jobsd.yaml", check=1)
        self.assertIn("folders[0].path: is the root of the file system", r.stdout + r.stderr)
        # The config's folder holds the state store's: refused by the run, nothing deleted.
        os.makedirs(self.path("state"), exist_ok=True)
        self.write_config([{"path": "data", "max_age": "7d"}, {"path": ".", "max_age": "7d"}])
        self.once(check=1)
        run = self.last_run()
        self.assertEqual(run["status"], "failed")
        self.assertIn("holds the state store's folder", run["error"])
        self.assertTrue(os.path.exists(self.path("data/old")))
        self.write_config([{"path": "state", "max_age": "7d"}])
        self.once(check=1)
        self.assertIn("is the state store's folder", self.last_run()["error"])
        self.assertTrue(os.path.exists(self.path("state/jobsd.db")))
        # A symlink as the folder.
        os.symlink("data", self.path("link"))
        self.write_config([{"path": "link", "max_age": "7d"}])
        self.once(check=1)
        self.assertIn("is a symlink (to data)", self.last_run()["error"])
        self.assertTrue(os.path.exists(self.path("data/old")))

    def test_symlinks_out_of_the_folder(self):
        outside = self.file("outside/keep.bin", 100, 100 * DAY)
        self.file("outside/sub/keep.bin", 100, 100 * DAY)
        self.file("data/old.bin", 5, 10 * DAY)
        for name, target in (("to-dir", self.path("outside")), ("to-file", outside)):
            os.symlink(target, self.path("data/" + name))
            t = time.time() - 10 * DAY
            os.utime(self.path("data/" + name), (t, t), follow_symlinks=False)
        os.symlink(self.path("outside"), self.path("data/new-link"))
        self.write_config([{"path": "data", "max_bytes": 0}])
        self.once()
        self.assertEqual(self.listing("data"), ["new-link"])
        self.assertEqual(self.listing("outside"), ["keep.bin", "sub/", "sub/keep.bin"])
        m = self.last_run()["metrics"]
        self.assertEqual((m["files_before"], m["files_deleted"], m["recent_kept"]), (4, 3, 1))

    def test_mount_points_are_not_crossed(self):
        """A tmpfs (another device) and a bind mount (the same device) inside
        the folder, in a private mount namespace that ends with the shell."""
        probe = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                               capture_output=True, text=True)
        if probe.returncode != 0:
            self.skipTest("cannot make a mount namespace here (%s): the st_dev and mount-root "
                          "checks are covered through the seam in folder_sweep_test.cpp"
                          % probe.stderr.strip())
        self.file("data/old", 1, 10 * DAY)
        os.makedirs(self.path("data/tmpfs"))
        os.makedirs(self.path("data/bind"))
        self.file("elsewhere/precious", 1, 10 * DAY)
        self.age_folders("data", DAY)
        self.write_config([{"path": "data", "max_age": "7d"}])
        script = """
set -e
mount -t tmpfs tmpfs data/tmpfs
echo x > data/tmpfs/old
touch -d '30 days ago' data/tmpfs/old data/tmpfs
mount --bind elsewhere data/bind
"$1" once -c jobsd.yaml data-retention
echo "tmpfs: $(ls -A data/tmpfs)"
echo "bind: $(ls -A data/bind)"
"""
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
                            JOBSD], cwd=self.dir, capture_output=True, text=True, timeout=120)
        if r.returncode != 0 and "mount" in r.stderr and "permission" in r.stderr.lower():
            self.skipTest("mount refused in the namespace: " + r.stderr.strip())
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("tmpfs: old\n", r.stdout)
        self.assertIn("bind: precious\n", r.stdout)
        self.assertEqual(self.listing("elsewhere"), ["precious"])
        self.assertEqual(self.listing("data"), ["bind/", "tmpfs/"])
        m = self.last_run()["metrics"]
        self.assertEqual((m["mounts_skipped"], m["files_before"], m["files_deleted"]), (2, 1, 1))
        output = self.output_of(self.last_run()["id"])
        self.assertIn("not crossing the mount point " + self.path("data/tmpfs"), output)
        self.assertIn("not crossing the mount point " + self.path("data/bind"), output)

    def test_a_folder_it_may_not_read_or_delete_in(self):
        """Real EACCES: as root the daemon runs as `nobody` (a chmod stops no
        root); as anyone else, the folders are simply made unreadable."""
        prefix = ()
        if os.geteuid() == 0:
            if not shutil.which("setpriv"):
                self.skipTest("setpriv (util-linux) is needed to run jobsd as nobody")
            nobody = pwd.getpwnam("nobody")
            prefix = ("setpriv", "--reuid=%d" % nobody.pw_uid, "--regid=%d" % nobody.pw_gid,
                      "--clear-groups", "--inh-caps=-all")
            probe = subprocess.run(list(prefix) + [JOBSD, "version"], capture_output=True)
            if probe.returncode != 0:
                self.skipTest("nobody cannot run %s (its folders' permissions)" % JOBSD)
        self.file("data/locked/old", 1, 10 * DAY)
        self.file("data/sealed/old", 1, 10 * DAY)
        self.file("data/free/old", 1, 10 * DAY)
        self.file("data/new", 1, 0)
        self.write_config([{"path": "data", "max_age": "7d"}])
        os.makedirs(self.path("state"))
        if os.geteuid() == 0:
            owner = pwd.getpwnam("nobody")
            for root, dirs, files in os.walk(self.dir):
                for name in [root] + [os.path.join(root, n) for n in dirs + files]:
                    os.chown(name, owner.pw_uid, owner.pw_gid, follow_symlinks=False)
            os.chown(self.path("data/sealed"), 0, 0)  # root's: nobody may not delete in it
        os.chmod(self.path("data/locked"), 0)
        os.chmod(self.path("data/sealed"), 0o755)
        if os.geteuid() != 0:
            os.chmod(self.path("data/sealed"), 0o555)
        r = self.once(prefix=prefix)
        os.chmod(self.path("data/locked"), 0o755)
        self.assertEqual(self.listing("data"),
                         ["free/", "locked/", "locked/old", "new", "sealed/", "sealed/old"])
        run = self.last_run()
        self.assertEqual(run["status"], "ok")
        self.assertEqual((run["metrics"]["errors"], run["metrics"]["files_deleted"]), (2, 1))
        output = self.output_of(run["id"])
        self.assertIn("2 errors:", output)
        self.assertIn("cannot open %s: Permission denied" % self.path("data/locked"), output)
        self.assertIn("cannot delete %s: Permission denied" % self.path("data/sealed/old"), output)
        self.assertRegex(r.stderr, r"warn.*2 errors: cannot ")

    def test_the_example_config_checks(self):
        r = self.jobsd("check", "-c", os.path.join(SOURCE, "etc", "jobsd.yaml"), check=0)
        self.assertIn("ok", (r.stdout + r.stderr).lower())


def main():
    global JOBSD
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobsd", required=True)
    args, rest = parser.parse_known_args()
    JOBSD = os.path.abspath(args.jobsd)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    sys.exit(main())
