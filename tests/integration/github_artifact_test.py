#!/usr/bin/python3
"""The github_artifact job end to end: the built daemon against fake_github over HTTPS.

    /usr/bin/python3 tests/integration/github_artifact_test.py --jobsd PATH --fake PATH [-v] [-k PATTERN]

Each test gets a temp folder, starts tests/fakes' fake_github there (API and
blob host on two loopback ports, HTTPS with a throwaway CA made once with the
openssl command) and runs `jobsd once` or `jobsd run` on a config that points
at it. Artifacts are zips written with Python's zipfile (hostile ones by
hand-setting names and Unix modes), published to the fake as new workflow
runs while it runs. What every test holds to: dest is a symlink to one whole
version, a failed run leaves the folder as it was, and the token goes nowhere
but GitHub's API host. Standard library only.

JOBSD_GITHUB_SEED=N repeats the random kill moments; JOBSD_GITHUB_KEEP=1
keeps each test's folder.
"""

import argparse
import datetime
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request
import warnings
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_peers  # noqa: E402

JOBSD = None
FAKE = None
CA_DIR = None  # ca.pem, server.pem, server.key, made once

# A distinctive token: any appearance of it outside the API requests is a leak.
TOKEN = "ghs_jobsdIT7Qx9ZpLmWv3Kt8RbN2cY5hJ0aFdE4sG"
JOB = "feast-sync"
# What the tests or the state store write meanwhile (the job writes only
# under data/).
VOLATILE = {"state.db", "state.db-wal", "state.db-shm", "state.db-journal", "port.json",
            "fake.log", "jobsd.log", "jobsd.yaml", "train.out", "witness.out"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def utc(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def write_zip(path, files, method=zipfile.ZIP_DEFLATED):
    """`files`: {name: bytes or str} or a list of (name or ZipInfo, data)."""
    items = files.items() if isinstance(files, dict) else files
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are on purpose
        with zipfile.ZipFile(path, "w", method) as z:
            for name, data in items:
                z.writestr(name, data)
    return path


def unix_entry(name, mode):
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = mode << 16
    return info


def tree(folder):
    """{relative path: what it is} for everything under `folder`, symlinks
    not followed: ('dir',), ('link', target) or ('file', sha256)."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder)
            if os.path.islink(path):
                out[rel] = ("link", os.readlink(path))
            elif os.path.isdir(path):
                out[rel] = ("dir",)
            else:
                with open(path, "rb") as f:
                    out[rel] = ("file", hashlib.sha256(f.read()).hexdigest())
    return out


def zip_tree(files):
    """What extracting `files` ({name: data}) gives, in tree()'s terms."""
    out = {}
    for name, data in files.items():
        parts = name.split("/")
        for i in range(1, len(parts)):
            out["/".join(parts[:i])] = ("dir",)
        data = data.encode() if isinstance(data, str) else data
        out[name] = ("file", hashlib.sha256(data).hexdigest())
    return out


GOOD = {
    "registry.db": b"SQLite format 3\x00" + bytes(range(256)) * 8,
    "features/daily/part-0000.parquet": b"PAR1" + os.urandom(3000) + b"PAR1",
    "features/daily/part-0001.parquet": b"PAR1" + b"\x00\x01" * 5000 + b"PAR1",
    "features/hourly/2024/11/04/part-0.parquet": b"PAR1hourly" * 40,
    "feature_store.yaml": "project: aq\nregistry: registry.db\nprovider: local\n",
    "README": "",
}



def big_listing(count):
    """A data folder of many small files: extracting it takes a while."""
    return {"d%02d/f%05d.txt" % (i % 50, i): "file %d\n" % i for i in range(count)}


class GithubArtifactTest(unittest.TestCase):
    big_zips = {}  # file count: zip, written once, shared by the tests that need it

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="jobsd-github-it-")
        self.zips = os.path.join(self.dir, "zips")
        os.mkdir(self.zips)
        self.procs = []
        self.daemon_log = None
        self.api_port = None
        # Runs and artifacts get ever later times, all in the past.
        self.clock = int(time.time()) - 4 * 3600
        self.next_id = 0
        self.start_fake()
        self.write_config()

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        if self.daemon_log:
            self.daemon_log.close()
        if os.environ.get("JOBSD_GITHUB_KEEP"):
            print("kept", self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    # --- the fake ------------------------------------------------------------

    def start_fake(self, *extra):
        port_file = os.path.join(self.dir, "port.json")
        log = open(os.path.join(self.dir, "fake.log"), "w")
        fake = subprocess.Popen(
            [FAKE, "--port-file", port_file, "--token", TOKEN,
             "--cert", os.path.join(CA_DIR, "server.pem"),
             "--key", os.path.join(CA_DIR, "server.key")] + list(extra),
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        self.procs.append(fake)
        deadline = time.monotonic() + 10
        while not os.path.exists(port_file):
            self.assertIsNone(fake.poll(), "fake_github exited")
            self.assertLess(time.monotonic(), deadline, "fake_github wrote no port file")
            time.sleep(0.02)
        with open(port_file) as f:
            ports = json.load(f)
        self.port = ports["api"]

    def fake_call(self, path, body=None):
        ctx = ssl.create_default_context(cafile=os.path.join(CA_DIR, "ca.pem"))
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request("https://localhost:%d%s" % (self.port, path), data=data,
                                     method="GET" if body is None else "POST")
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return json.loads(r.read().decode())

    def fault(self, **fault):
        self.fake_call("/_fake/fault", fault)

    def fake_log(self):
        return self.fake_call("/_fake/log")

    def publish(self, path, name="feast-offline-store-20241104", created=None, **artifact):
        """A new successful run of hourly.yml on main with one artifact (the
        file at `path`), newer than everything before unless `created` (epoch
        seconds) says otherwise; returns the artifact's id."""
        self.next_id += 1
        if created is None:
            self.clock += 60
            created = self.clock
        run_id = 9100000 + self.next_id
        artifact_id = 2209000000 + self.next_id
        self.fake_call("/_fake/run", {"id": run_id, "created_at": utc(created - 30),
                                      "updated_at": utc(created + 5)})
        body = {"id": artifact_id, "name": name, "run_id": run_id,
                "file": os.path.abspath(path), "created_at": utc(created)}
        body.update(artifact)
        self.fake_call("/_fake/artifact", body)
        return artifact_id

    # --- the daemon ----------------------------------------------------------

    def write_config(self, with_extra="", job_extra="", more_jobs="",
                     artifact="feast-offline-store-*", expect="[registry.db]", max_age="26h"):
        # The job's block is the one from the issue, plus where the fake is.
        self.config = dict(with_extra=with_extra, job_extra=job_extra, more_jobs=more_jobs,
                           artifact=artifact, expect=expect, max_age=max_age)
        listen = "127.0.0.1:%d" % self.api_port if self.api_port else ""
        with open(os.path.join(self.dir, "jobsd.yaml"), "w") as f:
            f.write(
                "state:\n  path: state.db\n"
                "http:\n  listen: '%s'\n  token: http-token\n"
                "jobs:\n"
                "  - name: %s\n"
                "    type: github_artifact\n"
                "    timeout: 120s\n%s"
                "    with:\n"
                "      token: ${GITHUB_TOKEN}\n"
                "      repo: acme/aq-pipeline\n"
                "      workflow: hourly.yml\n"
                "      branch: main\n"
                "      artifact: '%s'\n"
                "      dest: data/feast\n"
                "      expect: %s\n"
                "      max_artifact_age: %s\n"
                "      api_url: https://localhost:%d\n"
                "      ca_file: %s\n%s%s"
                % (listen, JOB, job_extra, artifact, expect, max_age, self.port,
                   os.path.join(CA_DIR, "ca.pem"), with_extra, more_jobs))

    def env(self, token=TOKEN):
        env = dict(os.environ)
        env["GITHUB_TOKEN"] = token
        return env

    def jobsd(self, *args, token=TOKEN, check=None):
        r = subprocess.run([JOBSD] + list(args), cwd=self.dir, env=self.env(token),
                           capture_output=True, text=True, timeout=120)
        if check is not None:
            self.assertEqual(r.returncode, check, r.stdout + r.stderr)
        return r

    def once(self, token=TOKEN, check=0):
        return self.jobsd("once", "-c", "jobsd.yaml", JOB, token=token, check=check)

    def history(self, job=JOB):
        r = self.jobsd("history", "-c", "jobsd.yaml", job, "--json", "--limit", "1000", check=0)
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def last(self):
        return self.history()[0]

    def start_daemon(self, *extra):
        """`jobsd run` on the config last written, with the HTTP API on a
        free port; its log goes to jobsd.log."""
        self.api_port = free_port()
        self.write_config(**self.config)
        self.daemon_log_path = os.path.join(self.dir, "jobsd.log")
        self.daemon_log = open(self.daemon_log_path, "a")
        daemon = subprocess.Popen([JOBSD, "run", "-c", "jobsd.yaml"] + list(extra), cwd=self.dir,
                                  env=self.env(), stdout=self.daemon_log,
                                  stderr=subprocess.STDOUT)
        self.procs.append(daemon)
        self.wait_for("the daemon's API", lambda: self.api("/readyz", check=False) is not None)
        return daemon

    def stop_daemon(self, daemon):
        daemon.send_signal(signal.SIGTERM)
        self.assertEqual(daemon.wait(timeout=30), 0)

    def api(self, path, post=False, check=True):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.api_port, path),
                                     method="POST" if post else "GET",
                                     headers={"Authorization": "Bearer http-token"} if post else {})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except (urllib.error.URLError, ConnectionError):
            if check:
                raise
            return None

    def run_now(self, job=JOB):
        status, body = self.api("/api/jobs/%s/run" % job, post=True)
        self.assertEqual(status, 202, body)
        return json.loads(body)["id"]

    def api_runs(self, job):
        status, body = self.api("/api/jobs/%s/runs?limit=1000" % job)
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def finished(self, job, run_id):
        for r in self.api_runs(job):
            if r["id"] == run_id and r["status"] not in ("running", "queued"):
                return r
        return None

    def wait_run(self, run_id, job=JOB, seconds=60):
        self.wait_for("run %d of %s" % (run_id, job), lambda: self.finished(job, run_id), seconds)
        return self.finished(job, run_id)

    def idle(self):
        status, body = self.api("/api/jobs")
        return status == 200 and all(j["running"] == 0 and j["queued"] == 0
                                     for j in json.loads(body))

    def wait_for(self, what, condition, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.05)
        self.fail("waited %d s for %s" % (seconds, what))

    def daemon_log_text(self):
        self.daemon_log.flush()
        with open(self.daemon_log_path, errors="replace") as f:
            return f.read()

    # --- the folder ----------------------------------------------------------

    @property
    def dest(self):
        return os.path.join(self.dir, "data", "feast")

    @property
    def versions(self):
        return self.dest + ".versions"

    def current(self):
        """The version dest points at (asserting it is a symlink into the
        versions folder)."""
        self.assertTrue(os.path.islink(self.dest), "dest is not a symlink")
        target = os.readlink(self.dest)
        self.assertEqual(os.path.dirname(target), "feast.versions", target)
        self.assertTrue(os.path.isdir(os.path.join(self.versions, os.path.basename(target))))
        return os.path.basename(target)

    def pulled(self):
        """The job's record of its last pull (its state key "pulled")."""
        db = sqlite3.connect(os.path.join(self.dir, "state.db"))
        try:
            row = db.execute("SELECT value FROM job_state WHERE job = ? AND key = 'pulled'",
                             (JOB,)).fetchone()
        finally:
            db.close()
        return json.loads(row[0]) if row else None

    def leftovers(self):
        return sorted(n for n in os.listdir(self.versions) if n.startswith("."))

    def snapshot(self):
        return {k: v for k, v in tree(self.dir).items() if k.split("/")[0] not in VOLATILE}

    def assert_tree(self, folder, files):
        self.assertEqual(tree(folder), zip_tree(files))

    def pull_good(self):
        good = write_zip(os.path.join(self.zips, "good-%d.zip" % self.next_id), GOOD)
        artifact = self.publish(good)
        self.once()
        self.assertEqual(self.current(), "%d-feast-offline-store-20241104" % artifact)
        return artifact

    # --- 1, 2: a pull, then nothing new --------------------------------------

    def test_pull_then_unchanged(self):
        self.jobsd("check", "-c", "jobsd.yaml", check=0)
        artifact = self.pull_good()
        version = "%d-feast-offline-store-20241104" % artifact
        self.assert_tree(self.dest + "/", GOOD)  # byte-identical, nested folders made
        self.assertEqual(sorted(os.listdir(os.path.join(self.dir, "data"))),
                         ["feast", "feast.versions"])
        self.assertEqual(os.listdir(self.versions), [version])
        run = self.last()
        self.assertEqual(run["status"], "ok", run)
        m = run["metrics"]
        self.assertEqual(m["changed"], 1)
        self.assertEqual(m["artifact_id"], artifact)
        self.assertEqual(m["workflow_run_id"], 9100001)
        self.assertEqual(m["bytes"], os.path.getsize(os.path.join(self.zips, "good-0.zip")))
        self.assertEqual(m["files"], len(GOOD))
        self.assertEqual(m["extracted_bytes"], sum(len(v) for v in GOOD.values()))
        self.assertEqual(m["download_attempts"], 1)
        self.assertGreaterEqual(m["artifact_age_seconds"], 0)
        self.assertLess(m["artifact_age_seconds"], 26 * 3600)
        self.assertEqual(m["requests"], 3)  # runs, the run's artifacts, /zip
        self.assertEqual(m["rate_limit_waits"], 0)
        with open(os.path.join(self.zips, "good-0.zip"), "rb") as f:
            sha256 = hashlib.sha256(f.read()).hexdigest()
        pulled = self.pulled()
        self.assertEqual({k: pulled[k] for k in ("artifact_id", "run_id", "head_branch",
                                                  "version", "sha256", "bytes")},
                         {"artifact_id": artifact, "run_id": 9100001, "head_branch": "main",
                          "version": version, "sha256": sha256, "bytes": m["bytes"]})
        log = self.fake_log()
        self.assertFalse(log["token_reached_blob_host"])
        self.assertTrue(log["every_request_had_api_version_and_user_agent"])
        self.assertEqual(log["blob_requests"], 1)
        seen = len(log["log"])

        # 2. Nothing new: two 304s, no /zip, no blob request, dest untouched.
        before = self.snapshot()
        r = self.once()
        run = self.last()
        self.assertEqual(run["status"], "ok", run)
        self.assertEqual(run["metrics"]["changed"], 0)
        self.assertEqual(run["metrics"]["not_modified"], 2)
        self.assertNotIn("bytes", run["metrics"])
        log = self.fake_log()
        new = log["log"][seen:]
        self.assertEqual([(e["host"], e["status"]) for e in new], [("api", 304), ("api", 304)], new)
        self.assertFalse(any("/zip" in e["target"] for e in new))
        self.assertEqual(log["blob_requests"], 1)
        self.assertTrue(all(e["if_none_match"].startswith('W/"') for e in new))
        self.assertEqual(self.snapshot(), before, r.stdout + r.stderr)

    def test_expect_missing_fails_and_keeps_dest(self):
        self.pull_good()
        without = dict(GOOD)
        del without["registry.db"]
        self.publish(write_zip(os.path.join(self.zips, "no-registry.zip"), without))
        before = self.snapshot()
        self.once(check=1)
        run = self.last()
        self.assertEqual(run["status"], "failed")
        self.assertIn("has no 'registry.db' (expect)", run["error"])
        self.assertEqual(self.snapshot(), before)

    # --- 3: chains ------------------------------------------------------------

    def start_chain_daemon(self):
        # `train` follows changes only; `witness` follows every end, so once
        # it has run the chain was decided and train's absence means something.
        self.write_config(more_jobs=(
            "  - name: train\n    type: command\n"
            "    after: [{job: %s, on: changed}]\n"
            "    with: {shell: 'echo trained >> train.out'}\n"
            "  - name: witness\n    type: command\n"
            "    after: [{job: %s, on: finished}]\n"
            "    with: {shell: 'echo seen >> witness.out'}\n" % (JOB, JOB)))
        return self.start_daemon()

    def lines(self, name):
        path = os.path.join(self.dir, name)
        if not os.path.exists(path):
            return 0
        with open(path) as f:
            return len(f.read().splitlines())

    def pull_and_settle(self, expect_status="ok"):
        """A manual run of the job; returns it once the chain after it has
        settled (witness ran, nothing running)."""
        witnessed = self.lines("witness.out")
        run = self.wait_run(self.run_now())
        self.assertEqual(run["status"], expect_status, run)
        self.wait_for("the witness", lambda: self.lines("witness.out") == witnessed + 1)
        self.wait_for("the chain to settle", self.idle)
        return run

    def test_chain_runs_on_changes_only(self):
        daemon = self.start_chain_daemon()
        good = write_zip(os.path.join(self.zips, "good.zip"), GOOD)
        self.publish(good)
        run = self.pull_and_settle()
        self.assertEqual(run["metrics"]["changed"], 1)
        self.assertEqual(self.lines("train.out"), 1)
        train = self.api_runs("train")
        self.assertEqual([(r["status"], r["trigger"]) for r in train], [("ok", "chain")])

        # Nothing new: the job succeeds without a change; train stays put.
        run = self.pull_and_settle()
        self.assertEqual(run["metrics"]["changed"], 0)
        self.assertEqual(self.lines("train.out"), 1)
        self.assertEqual(len(self.api_runs("train")), 1)

        # A new artifact: pulled, and train runs again.
        artifact = self.publish(good)
        run = self.pull_and_settle()
        self.assertEqual(run["metrics"]["changed"], 1)
        self.assertEqual(run["metrics"]["artifact_id"], artifact)
        self.assertEqual(self.lines("train.out"), 2)
        self.stop_daemon(daemon)

    def test_swap_recorded_late_after_a_kill_still_counts_as_a_change(self):
        # What a kill -9 between the swap of dest and the record of the pull
        # leaves: dest points at a new, complete version that the job's state
        # does not know. The next run must record it as a change (the chain
        # after it never ran), not call it unchanged.
        daemon = self.start_chain_daemon()
        good = write_zip(os.path.join(self.zips, "good.zip"), GOOD)
        self.publish(good)
        self.pull_and_settle()
        self.assertEqual(self.lines("train.out"), 1)
        artifact = self.publish(good)
        version = "%d-feast-offline-store-20241104" % artifact
        with zipfile.ZipFile(good) as z:
            z.extractall(os.path.join(self.versions, version))
        link = os.path.join(self.versions, ".link-simulated")
        os.symlink("feast.versions/" + version, link)
        os.rename(link, self.dest)
        run = self.pull_and_settle()
        self.assertEqual(run["metrics"]["changed"], 1, run)
        self.assertEqual(run["metrics"]["artifact_id"], artifact)
        self.assertEqual(self.lines("train.out"), 2)
        # and after that it is unchanged
        run = self.pull_and_settle()
        self.assertEqual(run["metrics"]["changed"], 0, run)
        self.assertEqual(self.lines("train.out"), 2)
        self.stop_daemon(daemon)

    # --- 8: freshness ---------------------------------------------------------

    def test_stale_artifact_fails_and_the_chain_does_not_run(self):
        daemon = self.start_chain_daemon()
        good = write_zip(os.path.join(self.zips, "good.zip"), GOOD)
        self.publish(good, created=int(time.time()) - 3 * 86400 - 600)
        run = self.pull_and_settle(expect_status="failed")
        self.assertIn("newest artifact is 3 days old", run["error"])
        self.assertIn("older than max_artifact_age 1d2h", run["error"])
        self.assertGreater(run["metrics"]["artifact_age_seconds"], 3 * 86400)
        self.assertEqual(self.lines("train.out"), 0)
        self.assertEqual(self.api_runs("train"), [])
        self.assertFalse(os.path.lexists(self.dest))
        self.assertEqual(self.fake_log()["blob_requests"], 0)
        self.stop_daemon(daemon)

    # --- 4: hostile archives --------------------------------------------------

    def assert_refused(self, zip_path, message, name="feast-offline-store-20241104",
                       outside=()):
        """Publishes the zip as the newest artifact; the run must fail with
        `message` and leave every file under the test's folder as it was."""
        self.publish(zip_path, name=name)
        before = self.snapshot()
        current = self.current()
        r = self.once(check=1)
        run = self.last()
        self.assertEqual(run["status"], "failed", run)
        self.assertIn(message, run["error"])
        self.assertEqual(self.current(), current)
        after = self.snapshot()
        self.assertEqual(after, before, "%s: changed %s" % (
            os.path.basename(zip_path),
            sorted(set(after.items()) ^ set(before.items()))[:5]))
        self.assertEqual(self.leftovers(), [], r.stderr)
        for path in outside:
            self.assertFalse(os.path.lexists(path), path)
        return run

    def test_hostile_archives_are_refused(self):
        self.pull_good()
        outside = os.path.join(self.dir, "outside")
        os.mkdir(outside)
        evil = os.path.join(outside, "evil")
        z = lambda name: os.path.join(self.zips, name)  # noqa: E731
        cases = [
            ("absolute.zip", [(evil, "pwned"), ("registry.db", "x")], "it is absolute"),
            ("dotdot.zip", [("registry.db", "x"), ("../x", "pwned")], "'..' leads outside"),
            ("deep-dotdot.zip", [("registry.db", "x"), ("a/../../x", "pwned")],
             "'..' leads outside"),
            ("symlink.zip", [("registry.db", "x"), (unix_entry("link", 0o120777), outside)],
             "it is a symlink"),
            ("through-symlink.zip", [(unix_entry("link", 0o120777), outside),
                                     ("link/evil", "pwned"), ("registry.db", "x")],
             "it is a symlink"),
            ("chardev.zip", [("registry.db", "x"), (unix_entry("tty", 0o020644), "")],
             "it is a device file"),
            ("blockdev.zip", [("registry.db", "x"), (unix_entry("sda", 0o060644), "")],
             "it is a device file"),
            ("fifo.zip", [("registry.db", "x"), (unix_entry("pipe", 0o010644), "")],
             "it is a FIFO"),
            ("duplicate.zip", [("registry.db", "one"), ("registry.db", "two")],
             "the name is taken"),
            ("dot-duplicate.zip", [("a/b", "one"), ("a/./b", "two"), ("registry.db", "x")],
             "the name is taken"),
            ("file-then-folder.zip", [("a", "file"), ("a/b", "under a file"),
                                      ("registry.db", "x")], "is a file"),
            ("backslash.zip", [("registry.db", "x"), ("..\\x", "pwned")],
             "it contains a backslash"),
        ]
        for name, entries, message in cases:
            with self.subTest(name):
                self.assert_refused(write_zip(z(name), entries), message, outside=[
                    evil, os.path.join(self.versions, "x"), os.path.join(self.dir, "data", "x")])

        # A deflate bomb: 200 MiB of zeros in a zip of about 200 KiB.
        bomb = z("bomb.zip")
        with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            zf.writestr("registry.db", "x")
            with zf.open("zeros.bin", "w") as out:
                chunk = bytes(1 << 20)
                for _ in range(200):
                    out.write(chunk)
        self.assertLess(os.path.getsize(bomb), 1 << 20)
        with self.subTest("bomb, max_ratio 100"):
            self.assert_refused(bomb, "(max_ratio)")
        with self.subTest("bomb, max_bytes 8MiB"):
            self.write_config(with_extra="      max_bytes: 8MiB\n      max_ratio: 1000000\n")
            self.assert_refused(bomb, "limit of 8388608 bytes (max_bytes)")
        with self.subTest("download over max_bytes"):
            self.write_config(with_extra="      max_bytes: 100KiB\n")
            run = self.assert_refused(bomb, "(max_bytes is 100.0 KiB)")
            self.assertLessEqual(run["metrics"].get("bytes", 0), 100 * 1024)
        self.write_config()

        with open(os.path.join(self.zips, "good-0.zip"), "rb") as f:
            good = f.read()
        with self.subTest("truncated"):
            with open(z("truncated.zip"), "wb") as f:
                f.write(good[:len(good) // 2])
            self.assert_refused(z("truncated.zip"), "damaged zip archive")
        with self.subTest("corrupt"):
            stored = write_zip(z("stored.zip"), {"registry.db": random.Random(7).randbytes(65536)},
                               method=zipfile.ZIP_STORED)
            with open(stored, "rb") as f:
                data = bytearray(f.read())
            for i in range(len(data) // 2, len(data) // 2 + 16):
                data[i] ^= 0x55
            with open(z("corrupt.zip"), "wb") as f:
                f.write(data)
            self.assert_refused(z("corrupt.zip"), "damaged zip archive")
        with self.subTest("not a zip"):
            html = b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>\n"
            with open(z("page.zip"), "wb") as f:
                f.write(html)
            self.assert_refused(z("page.zip"), "is not a zip archive; set `extract: false`")

        # The same bytes with `extract: false`: kept as downloaded, one file.
        self.write_config(with_extra="      extract: false\n", expect="[]")
        artifact = self.publish(z("page.zip"), name="feast-offline-store-page")
        self.once()
        self.assertEqual(self.current(), "%d-feast-offline-store-page" % artifact)
        self.assertEqual(tree(self.dest + "/"), {
            "feast-offline-store-page": ("file", hashlib.sha256(html).hexdigest())})
        m = self.last()["metrics"]
        self.assertEqual((m["changed"], m["files"], m["bytes"]), (1, 1, len(html)))
        self.assertEqual(self.leftovers(), [])

    def test_artifact_names_stay_inside_the_versions_folder(self):
        good = write_zip(os.path.join(self.zips, "good.zip"), GOOD)
        data = os.path.join(self.dir, "data")
        for extract in (True, False):
            self.write_config(artifact="*", expect="[]",
                              with_extra="" if extract else "      extract: false\n")
            for name, version in (("..", "__"), ("../evil", ".._evil"), ("..foo", "..foo"),
                                  ("a/../../../evil", "a_.._.._.._evil")):
                with self.subTest(name=name, extract=extract):
                    artifact = self.publish(good, name=name)
                    self.once()
                    self.assertEqual(self.current(), "%d-%s" % (artifact, version))
                    kept = os.path.join(self.versions, self.current())
                    if extract:
                        self.assert_tree(kept, GOOD)
                    else:
                        self.assertEqual(os.listdir(kept), [version])
                    self.assertEqual(sorted(os.listdir(data)), ["feast", "feast.versions"])
                    self.assertFalse(os.path.lexists(os.path.join(self.dir, "evil")))
                    self.assertFalse(os.path.lexists(os.path.join(data, "evil")))
                    self.assertEqual(self.leftovers(), [])
        # keep: 1 (the default) held the current and one older all along
        self.assertEqual(len(os.listdir(self.versions)), 2)

    # --- 5: GitHub's refusals ------------------------------------------------

    def test_rate_limits_are_waited_out(self):
        self.pull_good()
        cases = [
            ("primary 403", dict(kind="primary_rate_limit", status=403, seconds=1)),
            ("primary 429", dict(kind="primary_rate_limit", status=429, seconds=1)),
            ("secondary with retry-after", dict(kind="secondary_rate_limit", seconds=1)),
            ("secondary on /zip", dict(kind="secondary_rate_limit", seconds=1, target="path",
                                       path="/zip")),
        ]
        good = os.path.join(self.zips, "good-0.zip")
        for name, fault in cases:
            with self.subTest(name):
                artifact = self.publish(good)
                seen = len(self.fake_log()["log"])
                self.fault(**fault)
                started = time.monotonic()
                self.once()
                waited = time.monotonic() - started
                run = self.last()
                self.assertEqual(run["status"], "ok", run)
                self.assertEqual(run["metrics"]["artifact_id"], artifact)
                self.assertGreaterEqual(run["metrics"].get("rate_limit_waits", 0), 1, run)
                self.assertGreaterEqual(waited, 0.5)
                refused = [e for e in self.fake_log()["log"][seen:]
                           if e["status"] in (403, 429)]
                self.assertGreaterEqual(len(refused), 1)
                self.assertEqual(self.current(), "%d-feast-offline-store-20241104" % artifact)

    def test_download_faults_are_tried_again(self):
        self.pull_good()
        good = os.path.join(self.zips, "good-0.zip")
        cases = [
            # The signed URL expired before it was used: /zip is asked again.
            ("expired url", [dict(kind="expired_url")], 2, 2),
            # A corrupt body fails the digest: downloaded again (each of the
            # job's attempts asks /zip for a fresh URL).
            ("corrupt", [dict(kind="corrupt", target="blob")], 2, 2),
            # Cut short once: the HTTP client's own retry fetches it again.
            ("truncated once", [dict(kind="truncate", target="blob")], 1, 1),
            # Cut short on every try of the HTTP client (1 + 3 retries): the
            # job's second download attempt, with a new URL, gets it.
            ("truncated 4 times", [dict(kind="truncate", target="blob", times=4)], 2, 2),
            ("blob 503 4 times", [dict(kind="status", status=503, target="blob", times=4)], 2, 2),
            ("reset", [dict(kind="reset", target="blob")], 1, 1),
        ]
        for name, faults, attempts, zips in cases:
            with self.subTest(name):
                artifact = self.publish(good)
                seen = len(self.fake_log()["log"])
                for fault in faults:
                    self.fault(**fault)
                self.once()
                run = self.last()
                self.assertEqual(run["status"], "ok", run)
                self.assertEqual(run["metrics"]["download_attempts"], attempts, run)
                self.assertEqual(run["metrics"]["bytes"], os.path.getsize(good))
                pulled = self.pulled()
                self.assertEqual((pulled["artifact_id"], pulled["bytes"]),
                                 (artifact, os.path.getsize(good)))
                with open(good, "rb") as f:
                    self.assertEqual(pulled["sha256"], hashlib.sha256(f.read()).hexdigest())
                new = self.fake_log()["log"][seen:]
                self.assertEqual(len([e for e in new if e["target"].endswith("/zip")]), zips, new)
                self.assertGreaterEqual(len([e for e in new if e["host"] == "blob"]), 2)
                self.assertEqual(self.current(), "%d-feast-offline-store-20241104" % artifact)
                self.assert_tree(self.dest + "/", GOOD)
                self.assertEqual(self.leftovers(), [])
                self.assertEqual(sorted(os.listdir(self.versions)), sorted(
                    ["%d-feast-offline-store-20241104" % artifact,
                     "%d-feast-offline-store-20241104" % (artifact - 1)]))
        self.assertFalse(self.fake_log()["token_reached_blob_host"])

    def test_refusals_fail_at_once_and_are_not_retried(self):
        self.write_config(
            job_extra="    retries: {max: 2, backoff: 100ms, max_backoff: 200ms}\n")
        self.pull_good()
        before = self.snapshot()
        daemon = self.start_daemon()
        good = os.path.join(self.zips, "good-0.zip")
        cases = [
            ("403", dict(kind="status", status=403), "Resource not accessible by integration",
             "the token may not read this repository's Actions"),
            ("404", dict(kind="status", status=404), "HTTP 404: Not Found",
             "a private repository also answers 404 to a token without access"),
            ("401", dict(kind="status", status=401), "HTTP 401: Bad credentials",
             "the token was refused"),
            ("410 on /zip", dict(kind="status", status=410, target="path", path="/zip"),
             "HTTP 410: Artifact has expired", "expired or removed for good"),
        ]
        for name, fault, message, hint in cases:
            with self.subTest(name):
                self.publish(good)
                seen = len(self.fake_log()["log"])
                self.fault(**fault)
                run_id = self.run_now()
                run = self.wait_run(run_id)
                self.assertEqual((run["status"], run["attempt"]), ("failed", 1), run)
                self.assertIn(message, run["error"])
                self.assertIn(hint, run["error"])
                self.wait_for("the log to say no retry",
                              lambda: "job=%s run=%d not retried" % (JOB, run_id)
                              in self.daemon_log_text())
                self.wait_for("the daemon to be idle", self.idle)
                runs = self.api_runs(JOB)
                self.assertEqual(runs[0]["id"], run_id, runs[:2])
                new = self.fake_log()["log"][seen:]
                refused = [e for e in new if e["status"] == fault["status"]]
                self.assertEqual(len(refused), 1, new)
                self.assertEqual(new[-1]["status"], fault["status"], new)  # nothing after it
                self.assertEqual(self.snapshot(), before)
        # A 5xx is retryable: the retry pulls.
        with self.subTest("503"):
            artifact = self.publish(good)
            self.fault(kind="status", status=503, times=4)  # the HTTP client's 1 + 3 tries
            run_id = self.run_now()
            run = self.wait_run(run_id)
            self.assertEqual(run["status"], "failed")
            self.assertIn("HTTP 503", run["error"])
            self.wait_for("the retry", lambda: any(
                r["trigger"] == "retry" and r["status"] == "ok" for r in self.api_runs(JOB)))
            retry = self.api_runs(JOB)[0]
            self.assertEqual((retry["attempt"], retry["metrics"]["artifact_id"]), (2, artifact))
        self.stop_daemon(daemon)

    # --- 6: the token --------------------------------------------------------

    def test_the_token_goes_nowhere_but_the_api(self):
        wrong = "ghs_wrongTokenIT4Hq8Lp2Xv6Nc9Bz1Md3Ks7Jf5"
        r1 = self.once(token=wrong, check=1)
        self.assertIn("the token was refused", self.history()[0]["error"])
        good = write_zip(os.path.join(self.zips, "good.zip"), GOOD)
        self.publish(good)
        r2 = self.once()
        self.fault(kind="status", status=403)
        r3 = self.once(check=1)
        self.fault(kind="expired_url")
        self.publish(good)
        r4 = self.once()
        self.fault(kind="status", status=403, target="blob", times=3)
        self.publish(good)
        r5 = self.once(check=1)
        self.assertIn("HTTP 403 (signed URL expired?)", self.last()["error"])
        outputs = [r.stdout + r.stderr for r in (r1, r2, r3, r4, r5)]
        hist = self.jobsd("history", "-c", "jobsd.yaml", "--json", "--limit", "1000", check=0)
        outputs.append(hist.stdout + hist.stderr)
        table = self.jobsd("history", "-c", "jobsd.yaml", check=0)
        outputs.append(table.stdout + table.stderr)

        # The daemon: its log, the API's job and run answers.
        daemon = self.start_daemon("--log-level", "debug")
        self.publish(good)
        self.assertEqual(self.wait_run(self.run_now())["status"], "ok")
        self.fault(kind="status", status=401)
        self.assertEqual(self.wait_run(self.run_now())["status"], "failed")
        for path in ("/api/jobs", "/api/jobs/%s" % JOB, "/api/jobs/%s/runs?limit=1000" % JOB,
                     "/health", "/metrics"):
            status, body = self.api(path)
            self.assertIn(status, (200, 503), path)
            outputs.append(body)
        self.stop_daemon(daemon)
        outputs.append(self.daemon_log_text())
        self.assertGreater(len(outputs[-1]), 0)

        log = self.fake_log()
        # The blob URLs' signatures (the fake's are URL-safe base64) are
        # secrets for a minute: redacted wherever jobsd shows a URL.
        signatures = [urllib.parse.parse_qs(e["target"].split("?", 1)[1])["sig"][0]
                      for e in log["log"] if e["host"] == "blob"]
        self.assertGreaterEqual(len(signatures), 4)
        for signature in signatures:
            for i, text in enumerate(outputs):
                self.assertNotIn(signature, text, "output %d" % i)
                self.assertNotIn(urllib.parse.quote(signature, safe=""), text, "output %d" % i)
        for secret in (TOKEN, wrong):
            for i, text in enumerate(outputs):
                self.assertNotIn(secret, text, "output %d" % i)
                self.assertNotIn(secret[4:20], text, "output %d" % i)
            for name in os.listdir(self.dir):
                if name.startswith("state.db"):
                    with open(os.path.join(self.dir, name), "rb") as f:
                        data = f.read()
                    self.assertNotIn(secret.encode(), data, name)
                    self.assertNotIn(secret[4:20].encode(), data, name)
        self.assertFalse(log["token_reached_blob_host"])
        self.assertTrue(all(not e["authorization"] for e in log["log"] if e["host"] == "blob"))
        self.assertTrue(all(e["authorization"] for e in log["log"] if e["host"] == "api"))

    # --- 7: kill -9 -----------------------------------------------------------

    def big(self, count):
        if count not in GithubArtifactTest.big_zips:
            path = os.path.join(CA_DIR, "big-%d.zip" % count)
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as z:
                for name, data in big_listing(count).items():
                    z.writestr(name, data)
            GithubArtifactTest.big_zips[count] = path
        return GithubArtifactTest.big_zips[count]

    def assert_whole(self, version, files):
        """dest's version holds exactly `files` (the big tree: the listing,
        and the content of the first, a middle and the last entry)."""
        folder = os.path.join(self.versions, version)
        if files is GOOD:
            self.assert_tree(folder, GOOD)
            return
        found = set()
        for root, _, names in os.walk(folder):
            for n in names:
                found.add(os.path.relpath(os.path.join(root, n), folder))
        self.assertEqual(found, set(files), "%s: a partial tree" % version)
        names = sorted(files)
        last = len(files) - 1  # the last entry extracted
        for name in (names[0], names[len(names) // 2], "d%02d/f%05d.txt" % (last % 50, last)):
            with open(os.path.join(folder, name)) as f:
                self.assertEqual(f.read(), files[name])

    def once_background(self):
        return subprocess.Popen([JOBSD, "once", "-c", "jobsd.yaml", JOB], cwd=self.dir,
                                env=self.env(), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

    def test_kill_9_during_the_download(self):
        first = self.pull_good()
        before = self.snapshot()
        self.publish(os.path.join(self.zips, "good-0.zip"))
        seen = self.fake_log()["blob_requests"]
        self.fault(kind="slow", target="blob", delay_ms=4000)
        p = self.once_background()
        self.procs.append(p)
        self.wait_for("the download to start", lambda: self.fake_log()["blob_requests"] > seen)
        self.assertIsNone(p.poll(), "the run ended before the kill")
        p.send_signal(signal.SIGKILL)
        p.wait()
        self.assertEqual(self.current(), "%d-feast-offline-store-20241104" % first)
        after = self.snapshot()
        self.assertEqual({k: v for k, v in after.items() if "/." not in k},
                         {k: v for k, v in before.items() if "/." not in k})
        self.assertEqual([r["status"] for r in self.history()][:1], ["running"])
        self.once()
        self.assertEqual(self.last()["metrics"]["changed"], 1)
        self.assertEqual(self.current(), "%d-feast-offline-store-20241104" % (first + 1))
        self.assert_whole(self.current(), GOOD)
        self.assertEqual(self.leftovers(), [])

    def test_kill_9_during_the_extraction(self):
        first = self.pull_good()
        files = big_listing(50000)
        self.write_config(expect="[d00/f00000.txt]")
        artifact = self.publish(self.big(len(files)))
        p = self.once_background()
        self.procs.append(p)

        def extracting():
            # The staging folder with something in it: the download is
            # complete and the extraction under way.
            for name in os.listdir(self.versions):
                if name.startswith(".staging-"):
                    try:
                        return bool(os.listdir(os.path.join(self.versions, name)))
                    except FileNotFoundError:  # renamed into place meanwhile
                        return False
            return False
        self.wait_for("the extraction", lambda: extracting() or p.poll() is not None)
        p.send_signal(signal.SIGKILL)
        p.wait()
        self.assertEqual(p.returncode, -signal.SIGKILL, "the run ended before the kill")
        self.assertTrue(any(n.startswith(".staging-") for n in self.leftovers()),
                        self.leftovers())
        self.assertEqual(self.current(), "%d-feast-offline-store-20241104" % first)
        self.assert_whole(self.current(), GOOD)
        self.once()
        self.assertEqual(self.current(), "%d-feast-offline-store-20241104" % artifact)
        self.assert_whole(self.current(), files)
        self.assertEqual(self.leftovers(), [])
        m = self.last()["metrics"]
        self.assertEqual((m["changed"], m["files"]), (1, len(files)))

    def test_kill_9_at_random_moments_never_breaks_dest(self):
        seed = int(os.environ.get("JOBSD_GITHUB_SEED", random.randrange(1 << 30)))
        rnd = random.Random(seed)
        files = big_listing(5000)
        self.write_config(expect="[d00/f00000.txt]")
        self.publish(self.big(len(files)))
        started = time.monotonic()
        self.once()
        whole_run = time.monotonic() - started
        pulled = {self.current()}
        killed = 0
        for round_ in range(4):
            self.publish(self.big(len(files)))
            p = self.once_background()
            self.procs.append(p)
            time.sleep(rnd.uniform(0.02, whole_run))
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
                killed += 1
            p.wait()
            # dest is one whole version: the one before or the new one.
            version = self.current()
            self.assertIn(version, pulled | {"%d-feast-offline-store-20241104" % (
                2209000000 + self.next_id)}, "seed %d round %d" % (seed, round_))
            self.assert_whole(version, files)
            pulled.add(version)
        self.assertGreater(killed, 0, "seed %d: no run was killed" % seed)
        self.once()
        newest = "%d-feast-offline-store-20241104" % (2209000000 + self.next_id)
        self.assertEqual(self.current(), newest, "seed %d" % seed)
        self.assert_whole(newest, files)
        self.assertEqual(self.leftovers(), [])
        self.assertLessEqual(len(os.listdir(self.versions)), 2,
                             "seed %d: %s" % (seed, sorted(os.listdir(self.versions))))

    # --- 9: keep ---------------------------------------------------------------

    def test_keep_holds_the_current_and_one_older(self):
        self.write_config(with_extra="      keep: 1\n")
        pulled = [self.pull_good() for _ in range(2)]
        # One uploaded by upload-artifact before v4 (digest null) pulls too.
        pulled.append(self.publish(os.path.join(self.zips, "good-0.zip"), digest=False))
        self.once()
        self.assertEqual(self.pulled()["artifact_id"], pulled[2])
        names = ["%d-feast-offline-store-20241104" % a for a in pulled]
        self.assertEqual(self.current(), names[2])
        self.assertEqual(sorted(os.listdir(self.versions)), sorted(names[1:]))
        self.assertEqual(sorted(os.listdir(os.path.join(self.dir, "data"))),
                         ["feast", "feast.versions"])
        self.write_config(with_extra="      keep: 0\n")
        pulled.append(self.pull_good())
        self.assertEqual(os.listdir(self.versions),
                         ["%d-feast-offline-store-20241104" % pulled[3]])

    def test_a_plain_folder_at_dest_is_kept_as_before_jobsd(self):
        # The data a script pulled before jobsd managed dest: kept, never pruned.
        os.makedirs(os.path.join(self.dest, "old"))
        with open(os.path.join(self.dest, "old", "registry.db"), "w") as f:
            f.write("from the script")
        pulled = [self.pull_good() for _ in range(3)]
        self.assert_tree(self.dest + "/", GOOD)
        self.assertEqual(sorted(os.listdir(self.versions)), sorted(
            ["before-jobsd"] + ["%d-feast-offline-store-20241104" % a for a in pulled[1:]]))
        self.assertEqual(tree(os.path.join(self.versions, "before-jobsd")), {
            "old": ("dir",),
            "old/registry.db": ("file", hashlib.sha256(b"from the script").hexdigest())})


def main():
    global JOBSD, FAKE, CA_DIR
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobsd", required=True)
    parser.add_argument("--fake", required=True)
    args, rest = parser.parse_known_args()
    JOBSD = os.path.abspath(args.jobsd)
    FAKE = os.path.abspath(args.fake)
    CA_DIR = tempfile.mkdtemp(prefix="jobsd-github-it-ca-")
    try:
        test_peers.make_test_ca(CA_DIR)
        unittest.main(argv=[sys.argv[0]] + rest)
    finally:
        shutil.rmtree(CA_DIR, ignore_errors=True)


if __name__ == "__main__":
    main()
