#!/usr/bin/python3
"""The github_artifact job end to end: the built daemon against the fake GitHub.

    /usr/bin/python3 tests/integration/github_artifact_test.py --jobsd PATH --fake PATH [-v] [-k PATTERN]

Each test gets a temp folder, starts tests/fakes' fake_github on 127.0.0.1
(an API host and a blob host that refuses any Authorization header), builds
its zips with Python's zipfile (hostile ones included, entry by entry) and
runs `jobsd once` or `jobsd run` on a config that points at the fake. After
every failure dest and the folder around it must be exactly as before.
Standard library only.
"""

import argparse
import datetime
import hashlib
import json
import os
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
import zipfile

JOBSD = None
FAKE = None
TOKEN = "ghp_integrationTokenNeverLogged42"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def utc(seconds_ago):
    t = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=seconds_ago)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def tree(folder):
    """Every path under `folder` with its kind and content hash, links not followed."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, folder)
            if os.path.islink(path):
                out[rel] = "link:" + os.readlink(path)
            elif os.path.isdir(path):
                out[rel] = "dir"
            else:
                with open(path, "rb") as f:
                    out[rel] = hashlib.sha256(f.read()).hexdigest()
    return out


def entry(name, mode=0o100644):
    info = zipfile.ZipInfo(name, date_time=(2026, 11, 1, 6, 0, 0))
    info.create_system = 3  # Unix: external_attr holds the mode
    info.external_attr = mode << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


class GithubArtifactTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="jobsd-github-it-")
        self.procs = []
        self.next_id = 100
        port_file = os.path.join(self.dir, "fake.json")
        fake = subprocess.Popen([FAKE, "--port-file", port_file, "--token", TOKEN,
                                 "--repo", "acme/aqi-pipeline"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(fake)
        deadline = time.monotonic() + 10
        while not os.path.exists(port_file):
            self.assertIsNone(fake.poll(), "fake_github exited")
            self.assertLess(time.monotonic(), deadline, "fake_github wrote no port file")
            time.sleep(0.02)
        time.sleep(0.05)
        with open(port_file) as f:
            self.api = json.load(f)["api"]
        self.write_config()

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- the fake

    def control(self, path, body=None):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.api, path),
                                     data=None if body is None else json.dumps(body).encode(),
                                     method="GET" if body is None else "POST")
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read().decode() or "null")

    def fault(self, **fields):
        self.control("/_fake/fault", fields)

    def log(self):
        return self.control("/_fake/log")

    def publish(self, files=None, zip_path=None, name=None, ago=3600, expired=False):
        """A successful run `ago` seconds old with one artifact: a zip of `files`
        (name -> bytes), or the file at `zip_path` as it is."""
        self.next_id += 1
        run_id = self.next_id
        self.control("/_fake/run", {"id": run_id, "head_branch": "main", "created_at": utc(ago)})
        if zip_path is None:
            zip_path = os.path.join(self.dir, "artifact-%d.zip" % run_id)
            with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_DEFLATED) as z:
                for n, data in (files or {"aqi_features.parquet": b"p" * 5000,
                                          "registry.db": b"registry %d" % run_id}).items():
                    z.writestr(entry(n), data)
        artifact_id = 5000 + run_id
        self.control("/_fake/artifact", {"id": artifact_id, "run_id": run_id,
                                         "name": name or "feast-offline-store-%d" % run_id,
                                         "file": zip_path, "expired": expired})
        return artifact_id

    def hostile(self, entries):
        """A zip written entry by entry: (ZipInfo or name, bytes)."""
        self.next_id += 1
        path = os.path.join(self.dir, "hostile-%d.zip" % self.next_id)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
            for info, data in entries:
                z.writestr(info if isinstance(info, zipfile.ZipInfo) else entry(info), data)
        return path

    # --- jobsd

    def write_config(self, with_extra="", job_extra="", listen="", extra_jobs=""):
        with open(os.path.join(self.dir, "jobsd.yaml"), "w") as f:
            f.write(
                "state:\n  path: state.db\nhttp:\n  listen: '%s'\n  token: api-token\njobs:\n"
                "  - name: feast-sync\n    type: github_artifact\n    timeout: 60s\n%s"
                "    with:\n"
                "      token: ${GITHUB_TOKEN}\n"
                "      repo: acme/aqi-pipeline\n"
                "      workflow: hourly.yml\n"
                "      branch: main\n"
                "      artifact: feast-offline-store-*\n"
                "      dest: data/feast\n"
                "      api_url: http://127.0.0.1:%d\n%s%s"
                % (listen, job_extra, self.api, with_extra, extra_jobs))

    def env(self):
        env = dict(os.environ)
        env["GITHUB_TOKEN"] = TOKEN
        return env

    def jobsd(self, *args, check=None):
        r = subprocess.run([JOBSD] + list(args), cwd=self.dir, env=self.env(),
                           capture_output=True, text=True, timeout=120)
        self.assertNotIn(TOKEN, r.stdout + r.stderr)
        if check is not None:
            self.assertEqual(r.returncode, check, r.stdout + r.stderr)
        return r

    def once(self, check=0, job="feast-sync"):
        return self.jobsd("once", "-c", "jobsd.yaml", job, check=check)

    def history(self, job="feast-sync"):
        if not os.path.exists(os.path.join(self.dir, "state.db")):
            return []
        r = self.jobsd("history", "-c", "jobsd.yaml", job, "--json", "--limit", "1000", check=0)
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def dest(self):
        return os.path.join(self.dir, "data", "feast")

    def data_folder(self):
        return tree(os.path.join(self.dir, "data"))

    def wait_for(self, what, condition, seconds=30):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.02)
        self.fail("waited %d s for %s" % (seconds, what))

    def assert_token_nowhere(self):
        self.assertFalse(self.log()["token_reached_blob_host"])
        with open(os.path.join(self.dir, "state.db"), "rb") as f:
            self.assertNotIn(TOKEN.encode(), f.read())
        for extra in ("state.db-wal",):
            path = os.path.join(self.dir, extra)
            if os.path.exists(path):
                with open(path, "rb") as f:
                    self.assertNotIn(TOKEN.encode(), f.read())

    # --- the tests

    def test_pull_then_unchanged(self):
        artifact = self.publish(ago=7200)
        self.once()
        self.assertEqual(os.readlink(self.dest()),
                         "feast.versions/%d-feast-offline-store-%d" % (artifact, artifact - 5000))
        with open(os.path.join(self.dest(), "registry.db"), "rb") as f:
            self.assertEqual(f.read(), b"registry %d" % (artifact - 5000))
        run = self.history()[0]
        self.assertEqual(run["status"], "ok")
        self.assertEqual(run["metrics"]["changed"], 1)
        self.assertEqual(run["metrics"]["files"], 2)
        self.assertEqual(run["metrics"]["artifact_id"], artifact)
        before = self.log()
        self.once()
        after = self.log()
        run = self.history()[0]
        self.assertEqual(run["metrics"]["changed"], 0)
        self.assertGreater(run["metrics"]["not_modified"], 0)
        self.assertEqual(after["blob_requests"], before["blob_requests"])
        new = after["log"][len(before["log"]):]
        self.assertFalse([r for r in new if "/zip" in r["target"]], new)
        self.assertTrue(all(r["status"] == 304 for r in new), new)
        self.assertTrue(after["every_request_had_api_version_and_user_agent"])
        self.assert_token_nowhere()

    def test_chain_runs_only_on_changed(self):
        api = free_port()
        marker = os.path.join(self.dir, "trained.txt")
        self.write_config(listen="127.0.0.1:%d" % api, extra_jobs=(
            "  - name: train\n    type: command\n"
            "    with: {shell: 'echo trained >> trained.txt'}\n"
            "    after: [{job: feast-sync, on: changed}]\n"))
        self.publish()
        daemon = subprocess.Popen([JOBSD, "run", "-c", "jobsd.yaml"], cwd=self.dir, env=self.env(),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(daemon)

        def run_now():
            req = urllib.request.Request("http://127.0.0.1:%d/api/jobs/feast-sync/run" % api,
                                         method="POST",
                                         headers={"Authorization": "Bearer api-token"})
            try:
                with urllib.request.urlopen(req, timeout=5) as r:
                    return r.status
            except (urllib.error.URLError, ConnectionError):
                return None

        def trained():
            if not os.path.exists(marker):
                return 0
            with open(marker) as f:
                return len(f.read().splitlines())

        def runs(job):
            db = sqlite3.connect(os.path.join(self.dir, "state.db"))
            try:
                return db.execute("SELECT count(*) FROM runs WHERE job = ? AND finished_at IS NOT NULL",
                                  (job,)).fetchone()[0]
            except sqlite3.Error:
                return 0
            finally:
                db.close()

        self.wait_for("the daemon to take a run", lambda: run_now() == 202)
        self.wait_for("train after the first pull", lambda: trained() == 1)
        # Nothing new: the pull succeeds with changed 0 and train stays put.
        self.assertEqual(run_now(), 202)
        self.wait_for("the second pull", lambda: runs("feast-sync") >= 2)
        time.sleep(0.5)
        self.assertEqual(trained(), 1)
        # A new artifact: pulled, and train runs again.
        self.publish(ago=60)
        self.assertEqual(run_now(), 202)
        self.wait_for("train after the new pull", lambda: trained() == 2)
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        self.assert_token_nowhere()

    def test_hostile_archives_leave_dest_untouched(self):
        self.publish(ago=7200)
        self.once()
        before = self.data_folder()
        self.write_config(with_extra="      max_ratio: 100\n      max_bytes: 50MiB\n")
        cases = {
            "absolute": [("/etc/evil", b"x")],
            "dot-dot": [("../evil", b"x")],
            "dot-dot inside": [("a/../../evil", b"x")],
            "symlink": [(entry("link", 0o120777), b"/etc")],
            "through a symlink": [(entry("link", 0o120777), b"/tmp"), ("link/evil", b"x")],
            "device": [(entry("dev", 0o020644), b"")],
            "fifo": [(entry("fifo", 0o010644), b"")],
            "duplicate": [("a.txt", b"one"), ("a.txt", b"two")],
            "bomb": [("zeros.bin", b"\0" * (200 << 20))],
        }
        for ago, (label, entries) in enumerate(cases.items()):
            with self.subTest(label):
                import warnings
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # zipfile warns of the duplicate
                    path = self.hostile(entries)
                self.publish(zip_path=path, ago=600 - ago)
                r = self.once(check=1)
                run = self.history()[0]
                self.assertEqual(run["status"], "failed", r.stdout + r.stderr)
                self.assertIn("artifact 'feast-offline-store-", run["error"])
                self.assertEqual(self.data_folder(), before, label)
                self.assertFalse(os.path.exists(os.path.join(self.dir, "evil")))
                self.assertFalse(os.path.exists("/tmp/evil") and os.path.getmtime("/tmp/evil") >
                                 time.time() - 60)

        # Cut and damaged archives.
        good = self.hostile([("a.bin", os.urandom(200000)), ("b.bin", os.urandom(200000))])
        with open(good, "rb") as f:
            data = f.read()
        cut = os.path.join(self.dir, "cut.zip")
        with open(cut, "wb") as f:
            f.write(data[:len(data) // 2])
        damaged = os.path.join(self.dir, "damaged.zip")
        with open(damaged, "wb") as f:
            f.write(data[:1000] + bytes(b ^ 0x55 for b in data[1000:1100]) + data[1100:])
        for label, path in (("cut", cut), ("damaged", damaged)):
            with self.subTest(label):
                self.publish(zip_path=path, ago=30)
                self.once(check=1)
                self.assertEqual(self.history()[0]["status"], "failed")
                self.assertEqual(self.data_folder(), before, label)

        # Raw bytes: refused, unless extract: false.
        raw = os.path.join(self.dir, "model.bin")
        with open(raw, "wb") as f:
            f.write(os.urandom(4096))
        self.publish(zip_path=raw, ago=10)
        self.once(check=1)
        self.assertIn("is not a zip archive", self.history()[0]["error"])
        self.assertEqual(self.data_folder(), before)
        self.write_config(with_extra="      extract: false\n")
        self.once()
        kept = [n for n in os.listdir(self.dest())]
        self.assertEqual(len(kept), 1)
        with open(os.path.join(self.dest(), kept[0]), "rb") as f, open(raw, "rb") as g:
            self.assertEqual(f.read(), g.read())

    def test_rate_limits_and_expired_urls(self):
        self.publish()
        self.fault(kind="primary_rate_limit", status=403, seconds=1)
        self.once()
        m = self.history()[0]["metrics"]
        self.assertGreaterEqual(m["rate_limit_waits"], 1)
        for kind, fields in (("primary 429", dict(kind="primary_rate_limit", status=429, seconds=1)),
                             ("secondary", dict(kind="secondary_rate_limit", seconds=1)),
                             ("expired url", dict(kind="expired_url")),
                             ("truncate", dict(kind="truncate", target="blob")),
                             ("corrupt", dict(kind="corrupt", target="blob"))):
            with self.subTest(kind):
                self.publish(ago=100)
                self.fault(**fields)
                blobs = self.log()["blob_requests"]
                self.once()
                run = self.history()[0]
                self.assertEqual(run["status"], "ok")
                self.assertEqual(run["metrics"]["changed"], 1)
                if kind in ("expired url", "corrupt"):
                    # A new signed URL from /zip, a new download.
                    self.assertEqual(run["metrics"]["download_attempts"], 2)
                    self.assertEqual(self.log()["blob_requests"], blobs + 2)
                elif kind == "truncate":
                    # A cut body is retried (by the HTTP client, on the same URL).
                    self.assertEqual(self.log()["blob_requests"], blobs + 2)
                else:
                    self.assertGreaterEqual(run["metrics"]["rate_limit_waits"], 1)
                leftovers = [n for n in os.listdir(self.dest() + ".versions") if n.startswith(".")]
                self.assertEqual(leftovers, [])
        self.assert_token_nowhere()

    def test_access_refusals_are_not_retried(self):
        self.publish()
        self.write_config(job_extra="    retries: {max: 2, backoff: 100ms, max_backoff: 200ms}\n")
        for status, message, says in ((403, "Resource not accessible by integration", "Actions: read"),
                                      (404, "Not Found", "private repository"),
                                      (401, "Bad credentials", "token was refused")):
            with self.subTest(status):
                before = len(self.history())
                self.fault(kind="status", status=status, message=message)
                self.once(check=1)
                runs = self.history()
                self.assertEqual(len(runs), before + 1, "retried")
                self.assertEqual(runs[0]["status"], "failed")
                self.assertIn(says, runs[0]["error"])
                self.assertNotIn(TOKEN, json.dumps(runs))

    def test_stale_artifact_fails_and_train_does_not_run(self):
        self.publish(ago=3 * 86400 + 3600)
        self.write_config(with_extra="      max_artifact_age: 26h\n")
        self.once(check=1)
        run = self.history()[0]
        self.assertEqual(run["status"], "failed")
        self.assertIn("newest artifact is 3 days old", run["error"])
        self.assertFalse(os.path.lexists(self.dest()))

    def test_keep_one_earlier_version(self):
        for ago in (300, 200, 100):
            self.publish(ago=ago)
            self.once()
        versions = sorted(os.listdir(self.dest() + ".versions"))
        self.assertEqual(len(versions), 2, versions)
        self.assertEqual(os.readlink(self.dest()), "feast.versions/" + versions[-1])

    def test_kill_during_download_and_extraction(self):
        self.publish(ago=7200)
        self.once()
        before = self.data_folder()
        current = os.readlink(self.dest())

        # During the download: the blob host answers slowly.
        self.publish(ago=600)
        self.fault(kind="slow", target="blob", delay_ms=3000)
        p = subprocess.Popen([JOBSD, "once", "-c", "jobsd.yaml", "feast-sync"], cwd=self.dir,
                             env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        self.wait_for("the download to start", lambda: self.log()["blob_requests"] >= 2)
        p.kill()
        p.wait()
        self.assertEqual(os.readlink(self.dest()), current)
        self.assertEqual({k: v for k, v in self.data_folder().items()
                          if not os.path.basename(k).startswith(".")},
                         {k: v for k, v in before.items()})

        # During the extraction: many small files.
        files = {"part-%05d.txt" % i: b"row %d\n" % i for i in range(40000)}
        self.publish(files=files, ago=300)
        p = subprocess.Popen([JOBSD, "once", "-c", "jobsd.yaml", "feast-sync"], cwd=self.dir,
                             env=self.env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        versions = self.dest() + ".versions"

        def staging_has_files():
            for n in os.listdir(versions):
                if n.startswith(".staging-"):
                    try:
                        return len(os.listdir(os.path.join(versions, n))) > 100
                    except FileNotFoundError:
                        return False
            return p.poll() is not None

        self.wait_for("the extraction to start", staging_has_files)
        p.kill()
        p.wait()
        # dest points at one complete version: the old one, or (had the run
        # won the race) the new one.
        self.assertIn(len(os.listdir(self.dest())), (2, 40000))
        # The next run cleans up and completes.
        self.once()
        self.assertEqual(len(os.listdir(self.dest())), 40000)
        self.assertEqual([n for n in os.listdir(versions) if n.startswith(".")], [])
        with open(os.path.join(self.dest(), "part-39999.txt"), "rb") as f:
            self.assertEqual(f.read(), b"row 39999\n")

    def test_hostile_artifact_names(self):
        with open(os.path.join(self.dir, "jobsd.yaml")) as f:
            text = f.read().replace("artifact: feast-offline-store-*", "artifact: '*'")
        with open(os.path.join(self.dir, "jobsd.yaml"), "w") as f:
            f.write(text)
        self.publish(name="../../evil", ago=200)
        self.once()
        self.assertFalse(os.path.exists(os.path.join(self.dir, "evil")))
        self.assertTrue(os.readlink(self.dest()).startswith("feast.versions/"))
        self.assertNotIn("/", os.readlink(self.dest())[len("feast.versions/"):])
        self.publish(name="..foo", ago=100)
        self.once()
        self.assertTrue(os.readlink(self.dest()).endswith("-..foo"))


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
