#!/usr/bin/python3
"""Fault and end-to-end tests of the jobsd daemon, run as real processes.

    /usr/bin/python3 tests/integration/daemon_faults_test.py --jobsd PATH [-v] [-k PATTERN]

Each test gets its own temp folder and config, starts `jobsd run` as a child
process (its log goes through a pipe into a list and DAEMON.log in the temp
folder) and inspects the outcome through `jobsd history --json` and the
SQLite state file (read-only, or a copy after a kill -9). Standard library
only.

Cleanup: every daemon is SIGKILLed in tearDown, and so is every process whose
environment carries this test's marker variable (the daemon passes its
environment on to command jobs, so leftovers of a job are found that way).
Set JOBSD_FAULTS_KEEP=1 to keep the temp folders for a look afterwards.
Set JOBSD_FAULTS_SEED=N to replay the kill moments of the kill -9 test.
"""

import argparse
import ctypes
import datetime
import hashlib
import json
import os
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import unittest

JOBSD = None  # set from --jobsd in main()
SOURCE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MARKER = "JOBSD_FAULTS_TEST_MARKER"

RUN_FIELDS = ("id", "job", "trigger", "scheduled_at", "started_at", "finished_at", "status",
              "attempt", "error", "metrics")
TRIGGERS = {"schedule", "manual", "chain", "event", "retry", "catchup"}
STATUSES = {"running", "ok", "failed", "timeout", "skipped", "cancelled", "interrupted"}
FAILURE_STATUSES = {"failed", "timeout", "interrupted"}
RFC3339_MICROS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    # A daemon must not outlive a test runner that was itself killed.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def wait_until(predicate, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def process_state(pid):
    """The one-letter state of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def alive(pid):
    state = process_state(pid)
    return state is not None and state not in ("Z", "X")


def marked_pids(marker):
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/environ", "rb") as f:
                env = f.read().split(b"\0")
        except OSError:
            continue
        if needle in env:
            found.append(int(entry))
    return found


def vm_hwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmHWM for pid {pid}")


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def micros_now():
    return int(time.time() * 1_000_000)


class Daemon:
    """One `jobsd run` process; its log is collected by a reader thread."""

    def __init__(self, test, config, prefix=(), args=("--log-level", "info"), name="daemon"):
        self.test = test
        self.config = config
        self.prefix = list(prefix)
        self.args = list(args)
        self.name = name
        self.proc = None
        self.lines = []
        self._lock = threading.Lock()
        self._reader = None
        self.log_path = os.path.join(test.tmp, f"{name}.log")

    def start(self):
        env = dict(os.environ)
        env[MARKER] = self.test.tmp
        env.pop("JOBSD_LOG_LEVEL", None)
        self.lines = []
        self.started_at = time.monotonic()
        self.proc = subprocess.Popen(
            self.prefix + [JOBSD, "run", "-c", self.config] + self.args,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            env=env, cwd=self.test.tmp, preexec_fn=_die_with_parent)
        self._reader = threading.Thread(target=self._read, args=(self.proc,), daemon=True)
        self._reader.start()
        return self

    def _read(self, proc):
        with open(self.log_path, "ab") as log:
            log.write(f"---- start pid {proc.pid} ----\n".encode())
            for raw in proc.stdout:
                log.write(raw)
                with self._lock:
                    self.lines.append(raw.decode(errors="replace").rstrip("\n"))
        proc.stdout.close()

    @property
    def pid(self):
        return self.proc.pid

    def log(self):
        with self._lock:
            return list(self.lines)

    def log_text(self):
        return "\n".join(self.log())

    def tail(self, n=40):
        return "\n".join(self.log()[-n:])

    def wait_log(self, pattern, timeout=10, since=0):
        """Waits for a log line matching `pattern` (a regex) at index >= since;
        returns (index, line)."""
        regex = re.compile(pattern)

        def find():
            lines = self.log()
            for i in range(since, len(lines)):
                if regex.search(lines[i]):
                    return (i, lines[i])
            if self.proc.poll() is not None:
                self._reader.join(2)
                lines = self.log()
                for i in range(since, len(lines)):
                    if regex.search(lines[i]):
                        return (i, lines[i])
                raise AssertionError(
                    f"{self.name} exited ({self.proc.returncode}) before logging /{pattern}/; "
                    f"log:\n{self.tail()}")
            return None

        try:
            return wait_until(find, timeout, what=f"log line /{pattern}/")
        except AssertionError as e:
            raise AssertionError(f"{e}\nlog of {self.name}:\n{self.tail()}") from None

    def wait_started(self, timeout=10):
        return self.wait_log(r"jobsd \S+ started:", timeout)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig):
        self.proc.send_signal(sig)

    def wait(self, timeout):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{self.name} still running {timeout}s later; log:\n{self.tail()}") from None
        self._reader.join(5)
        return rc

    def kill9(self):
        if self.running():
            self.proc.kill()
        self.proc.wait(10)
        self._reader.join(5)


class DaemonTestCase(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix=f"jobsd-{self._testMethodName}-")
        self.daemons = []
        self.addCleanup(self._cleanup)

    def _cleanup(self):
        for d in self.daemons:
            if d.proc is not None and d.proc.poll() is None:
                d.proc.kill()
                d.proc.wait(10)
        # Whatever a job left behind, and whatever the test started itself.
        for _ in range(3):
            pids = marked_pids(self.tmp)
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        if os.environ.get("JOBSD_FAULTS_KEEP"):
            print(f"\n  kept {self.tmp}", file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)

    # -- helpers ---------------------------------------------------------

    def path(self, *parts):
        return os.path.join(self.tmp, *parts)

    def write_config(self, text, name="jobsd.yaml"):
        path = self.path(name)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, path)  # a reload never sees half a file
        return path

    def daemon(self, config, **kwargs):
        d = Daemon(self, config, name=kwargs.pop("name", f"daemon{len(self.daemons)}"), **kwargs)
        self.daemons.append(d)
        return d

    def jobsd(self, *args, timeout=30, **kwargs):
        env = dict(os.environ)
        env[MARKER] = self.tmp
        env.pop("JOBSD_LOG_LEVEL", None)
        return subprocess.run([JOBSD, *args], capture_output=True, text=True, timeout=timeout,
                              env=env, **kwargs)

    def history(self, config, job=None, limit=100000):
        r = self.jobsd("history", "-c", config, "--json", "--limit", str(limit),
                       *([job] if job else []))
        self.assertEqual(r.returncode, 0, f"jobsd history failed: {r.stderr}")
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def query(self, db, sql, params=()):
        """Reads the state file without changing it (the daemon may be running)."""
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
        try:
            return con.execute(sql, params).fetchall()
        finally:
            con.close()

    def snapshot(self, db):
        """A copy of the state file (and its WAL) that can be opened freely:
        opening the original after a kill -9 would recover its WAL before
        the daemon gets the chance to."""
        snap = self.path("snapshot")
        shutil.rmtree(snap, ignore_errors=True)
        os.makedirs(snap)
        for suffix in ("", "-wal"):
            if os.path.exists(db + suffix):
                shutil.copyfile(db + suffix, os.path.join(snap, "state.db" + suffix))
        return os.path.join(snap, "state.db")

    def integrity(self, db):
        con = sqlite3.connect(db, timeout=10)
        try:
            return [row[0] for row in con.execute("PRAGMA integrity_check")]
        finally:
            con.close()


# ---------------------------------------------------------------------------
# 1. kill -9 at random moments


class KillNineTest(DaemonTestCase):
    KILLS = 20

    def config_text(self, db):
        return f"""
state: {{path: {db}}}\nhttp: {{listen: ""}}
max_parallel_runs: 8
shutdown_grace: 3s
defaults:
  timeout: 10s
jobs:
  - name: short
    type: command
    every: 1s
    with: {{shell: "sleep 0.3"}}
  - name: medium
    type: command
    every: 1s
    with: {{shell: "sleep 0.8"}}
  - name: long
    type: command
    every: 1s
    with: {{shell: "sleep 1.5"}}
  - name: coin
    type: command
    every: 1s
    with: {{shell: "sleep 0.5; n=$(od -An -N1 -tu1 /dev/urandom); test $((n % 2)) -eq 0"}}
  - name: flaky
    type: sleep
    every: 1s
    retries: {{max: 2, backoff: 200ms, max_backoff: 400ms}}
    with: {{duration: 250ms, result: failed}}
  - name: queued
    type: command
    every: 1s
    overlap: queue
    with: {{shell: "sleep 1.2"}}
"""

    def test_kill9_at_random_moments(self):
        seed = int(os.environ.get("JOBSD_FAULTS_SEED", random.randrange(1 << 30)))
        rng = random.Random(seed)
        note = f"(seed {seed}; rerun with JOBSD_FAULTS_SEED={seed})"
        db = self.path("state", "jobsd.db")
        config = self.write_config(self.config_text(db))

        pending = set()       # ids seen `running` after a kill, not yet seen `interrupted`
        killed_running = set()
        for i in range(self.KILLS):
            d = self.daemon(config, name=f"kill{i:02d}")
            d.start()
            # Every fifth kill lands during startup (migration, marking
            # interrupted runs, reserving ids); the others while jobs run.
            if i % 5 == 2:
                time.sleep(rng.uniform(0.0, 0.15))
            else:
                d.wait_started()
                self.check_interrupted(db, pending, d, note)
                time.sleep(rng.uniform(0.3, 1.6))
            d.kill9()
            snap = self.snapshot(db)
            if os.path.exists(snap):
                con = sqlite3.connect(snap)
                try:
                    ids = {r[0] for r in con.execute(
                        "SELECT id FROM runs WHERE status = 'running'")}
                except sqlite3.OperationalError:  # killed before the schema was in
                    ids = set()
                finally:
                    con.close()
                pending |= ids
                killed_running |= ids

        final = self.daemon(config, name="final")
        final.start()
        final.wait_started()
        self.check_interrupted(db, pending, final, note)
        time.sleep(1.5)
        final.signal(signal.SIGTERM)
        rc = final.wait(10)
        self.assertEqual(rc, 0, f"exit code after SIGTERM {note}; log:\n{final.tail()}")

        self.assertGreaterEqual(len(killed_running), 10,
                                f"too few runs were in progress at the kills to mean much {note}")
        self.assertEqual(self.integrity(db), ["ok"], f"integrity_check {note}")
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            still = con.execute("SELECT id, job FROM runs WHERE status = 'running'").fetchall()
            self.assertEqual(still, [], f"runs left `running` after a clean stop {note}")

            for run_id in sorted(killed_running):
                row = con.execute("SELECT status, error, finished_at FROM runs WHERE id = ?",
                                  (run_id,)).fetchone()
                self.assertIsNotNone(row, f"run {run_id} vanished {note}")
                self.assertEqual(row[0], "interrupted", f"run {run_id} {note}")
                self.assertTrue(row[1], f"interrupted run {run_id} has no error text {note}")
                self.assertIsNotNone(row[2], f"interrupted run {run_id} has no finished_at")

            dup = con.execute(
                "SELECT job, scheduled_at, COUNT(*), GROUP_CONCAT(id || ':' || trigger || ':' || "
                "status) FROM runs WHERE trigger IN ('schedule', 'catchup') "
                "GROUP BY job, scheduled_at HAVING COUNT(*) > 1").fetchall()
            self.assertEqual(dup, [], f"slots run more than once (job, slot, count, runs) {note}")

            health = {job: n for job, n in con.execute(
                "SELECT job, consecutive_failures FROM job_health")}
            jobs = [r[0] for r in con.execute("SELECT DISTINCT job FROM runs")]
            mismatches = []
            for job in jobs:
                streak = 0
                for (status,) in con.execute(
                        "SELECT status FROM runs WHERE job = ? AND status NOT IN "
                        "('skipped', 'cancelled', 'running') ORDER BY finished_at, id", (job,)):
                    streak = streak + 1 if status in FAILURE_STATUSES else 0
                if health.get(job, 0) != streak:
                    mismatches.append((job, health.get(job, 0), streak))
            self.assertEqual(mismatches, [],
                             f"job_health.consecutive_failures (job, stored, recomputed) {note}")
            # Runs the kills left out of the per-job index were indexed at
            # the next start, and the clean stop indexed the rest.
            unindexed = con.execute(
                "SELECT COUNT(*) FROM runs r WHERE NOT EXISTS (SELECT 1 FROM run_index i "
                "WHERE i.job = r.job AND i.started_at = r.started_at AND i.id = r.id)").fetchone()[0]
            self.assertEqual(unindexed, 0, f"runs missing from run_index after a clean stop {note}")
            self.assertEqual(con.execute("SELECT since FROM run_index_pending").fetchone()[0], None)
            counts = dict(con.execute("SELECT status, COUNT(*) FROM runs GROUP BY status"))
            print(f"\n  kill -9 x{self.KILLS} {note}: runs by status {counts}",
                  file=sys.stderr)
            # The mix really happened: successes, failures, retries, queueing.
            self.assertGreater(counts.get("ok", 0), 0)
            self.assertGreater(counts.get("failed", 0), 0)
            self.assertGreater(con.execute(
                "SELECT COUNT(*) FROM runs WHERE trigger = 'retry'").fetchone()[0], 0)
        finally:
            con.close()

    def check_interrupted(self, db, pending, daemon, note):
        if not pending:
            return
        marks = ",".join("?" * len(pending))
        rows = dict(self.query(db, f"SELECT id, status FROM runs WHERE id IN ({marks})",
                               tuple(pending)))
        wrong = {i: rows.get(i) for i in pending if rows.get(i) != "interrupted"}
        self.assertEqual(wrong, {}, f"runs `running` at a kill, after the restart (id: status) "
                                    f"{note}; log:\n{daemon.tail()}")
        pending.clear()


# ---------------------------------------------------------------------------
# 2. Command faults


class CommandFaultsTest(DaemonTestCase):
    def test_command_faults(self):
        db = self.path("state", "jobsd.db")
        pids = self.path("pids")
        os.makedirs(pids)
        # Every fault job fires once, at the same second, a few seconds from
        # now (a daily 6-field cron); `heartbeat` runs every second throughout.
        fire = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=4)
        cron = f'"{fire.second} {fire.minute} {fire.hour} * * *"'
        config = self.write_config(f"""
state: {{path: {db}}}\nhttp: {{listen: ""}}
max_parallel_runs: 16
shutdown_grace: 2s
jobs:
  - name: heartbeat
    type: command
    every: 1s
    with: {{command: ["true"]}}
  - name: missing
    type: command
    cron: {cron}
    with: {{command: [/nonexistent/jobsd-no-such-program, --flag]}}
  - name: missing-on-path
    type: command
    cron: {cron}
    with: {{command: [jobsd-no-such-program-on-path]}}
  - name: hang
    type: command
    cron: {cron}
    timeout: 1s
    with: {{command: [sleep, "100"], kill_grace: 1s}}
  - name: ignores-term
    type: command
    cron: {cron}
    timeout: 1s
    with:
      shell: "trap '' TERM; echo $$$$ > {pids}/ignores-term.sh; sleep 100 & echo $! > {pids}/ignores-term.child; wait"
      kill_grace: 1s
  - name: leaves-child-on-pipe
    type: command
    cron: {cron}
    with:
      shell: "sleep 100 & echo $! > {pids}/pipe.child; echo parent done"
      kill_grace: 1s
  - name: leaves-child-detached
    type: command
    cron: {cron}
    with:
      shell: "sleep 100 >/dev/null 2>&1 </dev/null & echo $! > {pids}/detached.child; echo parent done"
      kill_grace: 1s
  - name: flood
    type: command
    cron: {cron}
    timeout: 60s
    with: {{shell: "yes | head -c 300M; echo the-very-end"}}
  - name: exit3
    type: command
    cron: {cron}
    with: {{shell: "echo about to fail; exit 3"}}
""")
        d = self.daemon(config).start()
        d.wait_started()
        base_hwm = vm_hwm_kib(d.pid)
        fault_jobs = ["missing", "missing-on-path", "hang", "ignores-term",
                      "leaves-child-on-pipe", "leaves-child-detached", "flood", "exit3"]

        def finished_faults():
            runs = {r["job"]: r for r in self.history(config)
                    if r["job"] in fault_jobs and r["status"] != "running"}
            return runs if len(runs) == len(fault_jobs) else None

        runs = wait_until(finished_faults, 40, interval=0.3, what="every fault job to finish")
        self.assertTrue(d.running(), f"the daemon died; log:\n{d.tail()}")
        hwm = vm_hwm_kib(d.pid)
        seconds = lambda r: (parse_time(r["finished_at"]) - parse_time(r["started_at"]))

        print(f"\n  daemon VmHWM {base_hwm} KiB at start, {hwm} KiB after the faults; "
              + ", ".join(f"{job} {r['status']} in {seconds(r):.2f}s"
                          for job, r in sorted(runs.items())), file=sys.stderr)

        with self.subTest("command that does not exist"):
            r = runs["missing"]
            self.assertEqual(r["status"], "failed")
            self.assertIn("/nonexistent/jobsd-no-such-program", r["error"])
            r = runs["missing-on-path"]
            self.assertEqual(r["status"], "failed")
            self.assertIn("jobsd-no-such-program-on-path", r["error"])

        with self.subTest("hang -> timeout"):
            r = runs["hang"]
            self.assertEqual(r["status"], "timeout", r)
            self.assertLess(seconds(r), 1.0 + 1.0 + 0.8, r)

        with self.subTest("ignores SIGTERM -> killed after kill_grace"):
            r = runs["ignores-term"]
            self.assertEqual(r["status"], "timeout", r)
            self.assertGreaterEqual(seconds(r), 1.0, r)
            self.assertLess(seconds(r), 1.0 + 1.0 + 0.8, r)  # timeout + kill_grace + slack
            for name in ("ignores-term.sh", "ignores-term.child"):
                pid = read_pid(os.path.join(pids, name))
                self.assertFalse(alive(pid), f"{name} (pid {pid}) survived the timeout")

        with self.subTest("leftover child holding the output pipe"):
            r = runs["leaves-child-on-pipe"]
            self.assertEqual(r["status"], "ok", r)
            self.assertLess(seconds(r), 1.5, f"the run waited for its leftover child: {r}")
            pid = read_pid(os.path.join(pids, "pipe.child"))
            self.assertTrue(wait_gone(pid, 3), f"leftover child {pid} still running")

        with self.subTest("leftover child detached from the output"):
            r = runs["leaves-child-detached"]
            self.assertEqual(r["status"], "ok", r)
            self.assertLess(seconds(r), 1.5, f"the run waited for its leftover child: {r}")
            pid = read_pid(os.path.join(pids, "detached.child"))
            self.assertTrue(wait_gone(pid, 3),
                            f"leftover child {pid} (stdout/stderr to /dev/null, same process "
                            f"group) still running after the run ended")

        with self.subTest("output flood"):
            r = runs["flood"]
            self.assertEqual(r["status"], "ok", r)
            # The rise, not the level: a sanitizer build starts above 100 MiB.
            self.assertLess(hwm - base_hwm, 64 * 1024,
                            f"daemon VmHWM {hwm} KiB after a 300 MB flood (at start {base_hwm})")
            output = self.query(db, "SELECT output FROM runs WHERE id = ?", (r["id"],))[0][0]
            self.assertLessEqual(len(output.encode()), 64 * 1024)
            self.assertGreater(len(output), 1000)
            self.assertTrue(output.rstrip().endswith("the-very-end"), output[-200:])
            # "logging stops after 1 MiB a run" (command_job.h): whole log
            # lines of that run, timestamps and tags included, 2 MiB at most.
            tag = f"job=flood run={r['id']} "
            lines = [line for line in d.log() if tag in line]
            logged = sum(len(line) + 1 for line in lines)
            self.assertLess(logged, 2 * 1024 * 1024,
                            f"the flood put {logged} bytes in {len(lines)} lines into the log")

        with self.subTest("exit 3"):
            r = runs["exit3"]
            self.assertEqual(r["status"], "failed", r)
            self.assertRegex(r["error"], r"\b3\b")
            self.assertIn("code 3", r["error"])

        with self.subTest("other jobs kept running"):
            start = min(parse_time(r["started_at"]) for r in runs.values())
            end = max(parse_time(r["finished_at"]) for r in runs.values())
            beats = [r for r in self.history(config, "heartbeat")
                     if r["status"] == "ok" and start <= parse_time(r["started_at"]) <= end]
            # Not one a second: on 2 cores a flood competes for the CPU and
            # for the log, but the heartbeat must not stall.
            self.assertGreaterEqual(len(beats), max(1, int(0.6 * (end - start)) - 1),
                                    f"heartbeat ran {len(beats)} times in {end - start:.1f}s "
                                    f"of faults")
            time.sleep(1.2)
            after = [r for r in self.history(config, "heartbeat")
                     if parse_time(r["started_at"]) > end and r["status"] == "ok"]
            self.assertTrue(after, "heartbeat stopped after the faults")

        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(10), 0, d.tail())


def parse_time(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def read_text(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except FileNotFoundError:
        return ""


def read_pid(path):
    return int(wait_until(lambda: read_text(path), 5, what=f"pid file {path}"))


def wait_gone(pid, timeout):
    try:
        wait_until(lambda: not alive(pid), timeout)
        return True
    except AssertionError:
        return False


# ---------------------------------------------------------------------------
# 3. Bad state


class BadStateTest(DaemonTestCase):
    def simple_config(self, db, extra_jobs=""):
        return self.write_config(f"""
state: {{path: {db}}}\nhttp: {{listen: ""}}
shutdown_grace: 2s
jobs:
  - name: tick
    type: command
    every: 1s
    with: {{shell: "echo tick"}}
{extra_jobs}""")

    def run_to_exit(self, argv, timeout=10):
        """Runs a daemon that is expected to refuse to start."""
        env = dict(os.environ)
        env[MARKER] = self.tmp
        try:
            return subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                                  env=env, cwd="/", preexec_fn=_die_with_parent)
        except subprocess.TimeoutExpired as e:
            for pid in marked_pids(self.tmp):
                os.kill(pid, signal.SIGKILL)
            out = (e.stdout or b"") + (e.stderr or b"")
            self.fail(f"jobsd kept running instead of refusing to start; output:\n"
                      f"{out.decode(errors='replace')[-3000:]}")

    def test_state_folder_not_writable(self):
        if os.geteuid() == 0:
            if not shutil.which("setpriv"):
                self.skipTest("running as root and setpriv(1) is missing")
            # Root ignores permissions: run as nobody, on a copy of the binary
            # it can surely reach, with a config it can read.
            prefix = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
            os.chmod(self.tmp, 0o755)
            binary = self.path("jobsd")
            shutil.copy2(JOBSD, binary)
            os.chmod(binary, 0o755)
        else:
            prefix = []
            binary = JOBSD
        ro = self.path("readonly")
        os.makedirs(ro)
        cases = {
            "file in a read-only folder": os.path.join(ro, "state.db"),
            "folder that cannot be created": os.path.join(ro, "sub", "state.db"),
        }
        if os.geteuid() == 0:
            # The file is the daemon's, its folder is not: no room for the
            # WAL and shm files next to it.
            owned = self.path("owned")
            os.makedirs(owned)
            seeded = os.path.join(owned, "state.db")
            r = self.jobsd("once", "-c", self.simple_config(seeded), "tick")
            self.assertEqual(r.returncode, 0, r.stderr)
            for name in os.listdir(owned):
                os.chown(os.path.join(owned, name), 65534, 65534)
            cases["daemon-owned file in a read-only folder"] = seeded
        os.chmod(ro, 0o555)
        for i, (what, db) in enumerate(cases.items()):
            with self.subTest(what):
                config = self.write_config(
                    f"state: {{path: {db}}}\nhttp: {{listen: ''}}\njobs:\n  - {{name: tick, type: command, "
                    f"every: 1s, with: {{command: [\"true\"]}}}}\n", name=f"ro{i}.yaml")
                os.chmod(config, 0o644)
                r = self.run_to_exit(prefix + [binary, "run", "-c", config])
                text = r.stdout + r.stderr
                self.assertGreater(r.returncode, 0,
                                   f"exit code {r.returncode} (<0: killed by a signal):\n{text}")
                self.assertTrue(db in text or os.path.dirname(db) in text,
                                f"the error does not name the state path:\n{text}")
                self.assertRegex(text, r"(?i)cannot|unable|permission|read-only|denied",
                                 f"not a clear error:\n{text}")
                self.assertLessEqual(len(text.strip().splitlines()), 5,
                                     f"more than a few lines for one error:\n{text}")

    def seed_history(self, config, db, runs=3):
        d = self.daemon(config, name="seed").start()
        d.wait_started()
        wait_until(lambda: os.path.exists(db) and self.query(
            db, "SELECT COUNT(*) FROM runs WHERE status = 'ok'")[0][0] >= runs, 10,
            what=f"{runs} ok runs")
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(10), 0, d.tail())
        return self.query(db, "SELECT * FROM runs WHERE status != 'running' ORDER BY id")

    def check_disk_full(self, prefix, db, label):
        config = self.simple_config(db, extra_jobs="""
  - name: writer
    type: command
    every: 1s
    with: {shell: "head -c 30000 /dev/urandom | od -An -tx1 | head -c 60000"}
""")
        before = self.seed_history(config, db)
        self.assertEqual(self.integrity(db), ["ok"])

        d = self.daemon(config, prefix=prefix, name=f"full-{label}").start()
        try:
            # Either it refuses to start with a clear message, or it runs and
            # reports every failed write of the state store in its log.
            def outcome():
                if not d.running():
                    return "exited"
                if any(re.search(r"state store", line) for line in d.log()):
                    return "reported"
                return None
            result = wait_until(outcome, 20, interval=0.1,
                                what=f"a state store error in the log ({label})")
        except AssertionError as e:
            self.fail(f"{e}; log:\n{d.tail()}")
        if result == "reported":
            time.sleep(1.5)  # a few more failing batches
            self.assertTrue(d.running(), f"the daemon died on a full disk; log:\n{d.tail()}")
            d.signal(signal.SIGTERM)
            rc = d.wait(10)
            self.assertGreaterEqual(rc, 0, f"killed by signal {-rc}; log:\n{d.tail()}")
        else:
            rc = d.wait(1)
            self.assertGreater(rc, 0, f"killed by signal {-rc}? log:\n{d.tail()}")
            self.assertRegex(d.log_text(), r"(?i)state|" + re.escape(db),
                             f"no clear message on exit; log:\n{d.tail()}")
        self.assertNotRegex(d.log_text(), r"(?i)segmentation|core dumped|terminate called",
                            d.tail())

        self.assertEqual(self.integrity(db), ["ok"], f"state file corrupted ({label})")
        after = {row[0]: row for row in
                 self.query(db, "SELECT * FROM runs WHERE id <= ?", (before[-1][0],))}
        for row in before:
            self.assertEqual(after.get(row[0]), row, f"run {row[0]} changed ({label})")
        return d

    def test_disk_full_file_size_limit(self):
        db = self.path("state", "jobsd.db")
        # SIGXFSZ is ignored by the daemon: writes past 128 KiB fail with EFBIG.
        self.check_disk_full(["bash", "-c", 'ulimit -f 128; exec "$0" "$@"'], db, "ulimit")
        # Room again: the next start works and closes what the full disk left open.
        again = self.daemon(self.path("jobsd.yaml"), name="after-full").start()
        again.wait_started()
        again.signal(signal.SIGTERM)
        self.assertEqual(again.wait(10), 0, again.tail())
        self.assertEqual(self.query(db, "SELECT COUNT(*) FROM runs WHERE status = 'running'"),
                         [(0,)])
        self.assertEqual(self.integrity(db), ["ok"])

    def test_disk_full_tmpfs(self):
        if os.geteuid() != 0:
            self.skipTest("mounting a tmpfs needs root")
        mnt = self.path("small")
        os.makedirs(mnt)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest(f"cannot mount a tmpfs here: {r.stderr.strip()}")
        self.addCleanup(lambda: subprocess.run(["umount", "-l", mnt], capture_output=True))
        self.check_disk_full([], os.path.join(mnt, "jobsd.db"), "tmpfs")

    def check_refuses(self, db, label):
        config = self.simple_config(db)
        digest = sha256(db)
        size = os.path.getsize(db)
        r = self.run_to_exit([JOBSD, "run", "-c", config, "--log-level", "info"])
        text = r.stdout + r.stderr
        self.assertGreater(r.returncode, 0, f"{label}: exit code {r.returncode}; output:\n{text}")
        self.assertIn(db, text, f"{label}: the error does not name the state file:\n{text}")
        self.assertRegex(text, r"(?i)corrupt|malformed|not a database|damaged|integrity",
                         f"{label}: no clear error:\n{text}")
        self.assertEqual(os.path.getsize(db), size, f"{label}: the file was changed")
        self.assertEqual(sha256(db), digest, f"{label}: the file was changed")

    def test_corrupt_state_random_bytes(self):
        db = self.path("state", "jobsd.db")
        os.makedirs(os.path.dirname(db))
        with open(db, "wb") as f:
            f.write(random.Random(7).randbytes(256 * 1024))
        self.check_refuses(db, "random bytes")

    def real_history(self, db):
        """A real state file of a few hundred KiB, checkpointed by a clean stop."""
        config = self.simple_config(db, extra_jobs="""
  - name: bulky
    type: command
    every: 1s
    with: {shell: "head -c 45000 /dev/urandom | od -An -tx1 | head -c 60000"}
""")
        d = self.daemon(config, name="seed").start()
        d.wait_started()
        wait_until(lambda: os.path.exists(db) and self.query(
            db, "SELECT COUNT(*) FROM runs WHERE job = 'bulky' AND status = 'ok'")[0][0] >= 4,
            15, what="4 bulky runs")
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(10), 0, d.tail())
        self.assertFalse(os.path.exists(db + "-wal") and os.path.getsize(db + "-wal") > 0,
                         "a WAL is left after a clean stop")
        self.assertEqual(self.integrity(db), ["ok"])
        size = os.path.getsize(db)
        self.assertGreater(size, 200 * 1024)
        return size

    def test_corrupt_state_truncated(self):
        db = self.path("state", "jobsd.db")
        size = self.real_history(db)
        with open(db, "r+b") as f:
            f.truncate(size // 2)
        self.check_refuses(db, "truncated")

    def test_corrupt_state_damaged_pages(self):
        # The header and schema (page 1) intact, pages 2-4 (the runs table
        # and its first indexes, as migration 1 lays them out) overwritten.
        db = self.path("state", "jobsd.db")
        self.real_history(db)
        with open(db, "r+b") as f:
            f.seek(4096)
            f.write(random.Random(11).randbytes(3 * 4096))
        self.assertNotEqual(self.integrity_ro(db), ["ok"])
        self.check_refuses(db, "damaged pages")

    def integrity_ro(self, db):
        con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
        try:
            return [row[0] for row in con.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as e:
            return [str(e)]
        finally:
            con.close()


# ---------------------------------------------------------------------------
# 4. End to end with the example config


class EndToEndTest(DaemonTestCase):
    def test_example_config_reload_and_stop(self):
        with open(os.path.join(SOURCE_DIR, "etc", "jobsd.yaml")) as f:
            example = f.read()
        # Keep it short: the heartbeat every second instead of every minute.
        every_minute = re.compile(r"(- name: heartbeat\n(?:[^\n]*\n)*?\s+every: )1m\b")
        self.assertRegex(example, every_minute, "etc/jobsd.yaml has no heartbeat every 1m")
        base = every_minute.sub(r"\g<1>1s", example, count=1)
        # The example listens on 127.0.0.1:8080; a test must not depend on that port.
        listen = re.compile(r"(\n\s+listen: )\S+")
        self.assertRegex(base, listen)
        base = listen.sub(r'\g<1>""', base, count=1)
        self.assertIn("path: state/jobsd.db", base)  # relative: lands in the temp folder
        config = self.write_config(base)
        db = self.path("state", "jobsd.db")

        r = self.jobsd("check", "-c", config)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

        d = self.daemon(config).start()
        _, line = d.wait_started()
        jobs = int(re.search(r"started: (\d+) jobs", line).group(1))
        beats = lambda: [r for r in self.history(config, "heartbeat") if r["status"] == "ok"]
        wait_until(lambda: len(beats()) >= 2, 6, what="two heartbeats")

        # A valid change: heartbeat removed, `added` added.
        changed = base.replace("jobs:\n", """jobs:
  - name: added
    type: command
    every: 1s
    with:
      command: [echo, "added by reload"]
""", 1)
        # Cut the heartbeat's block: from its "- name:" to the next job.
        begin = changed.index("  - name: heartbeat\n")
        end = changed.find("\n  - name: ", begin + 1)
        changed = changed[:begin] + (changed[end + 1:] if end >= 0 else "")
        self.assertNotIn("name: heartbeat", changed)
        self.write_config(changed)
        # `jobsd history` reads the config too; it gets this valid copy while
        # jobsd.yaml is broken below (same folder, so the same state file).
        reader = self.write_config(changed, name="reader.yaml")
        mark = len(d.log())
        d.signal(signal.SIGHUP)
        d.wait_log(rf"reloaded .*: {jobs} jobs", 5, since=mark)  # one added, one removed
        reloaded_at = micros_now()
        wait_until(lambda: len([r for r in self.history(config, "added")
                                if r["status"] == "ok"]) >= 2, 6, what="two runs of `added`")
        late_beats = [r for r in self.history(config, "heartbeat")
                      if micros_from(r["started_at"]) > reloaded_at + 100_000]
        self.assertEqual(late_beats, [], "the removed job still runs")

        # A broken config: refused, logged, the running config stays.
        self.write_config(changed.replace("every: 1s", "every: 1 fortnight", 1)
                          + "\nunknown_top_level_key: 1\n")
        r = self.jobsd("check", "-c", config)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertRegex(r.stdout + r.stderr, re.escape(config) + r":\d+:\d+: ")
        mark = len(d.log())
        d.signal(signal.SIGHUP)
        d.wait_log(r"reload refused", 5, since=mark)
        log = "\n".join(d.log()[mark:])
        self.assertIn("unknown_top_level_key", log, "the log does not say what is wrong")
        broken_at = micros_now()
        wait_until(lambda: [r for r in self.history(reader, "added")
                            if micros_from(r["started_at"]) > broken_at
                            and r["status"] == "ok"], 4,
                   what="`added` to keep running after a refused reload")
        self.assertTrue(d.running())

        mark = len(d.log())
        d.signal(signal.SIGTERM)
        rc = d.wait(10)
        self.assertEqual(rc, 0, d.tail())
        self.assertTrue(any("jobsd stopped" in line for line in d.log()[mark:]), d.tail())

        runs = self.history(reader)
        self.assertTrue(runs)
        for run in runs:
            missing = [k for k in RUN_FIELDS if k not in run]
            self.assertEqual(missing, [], f"run object without {missing}: {run}")
            self.assertIsInstance(run["id"], int)
            self.assertIsInstance(run["attempt"], int)
            self.assertIsInstance(run["error"], str)
            self.assertIsInstance(run["metrics"], dict)
            self.assertIn(run["trigger"], TRIGGERS)
            self.assertIn(run["status"], STATUSES)
            self.assertNotEqual(run["status"], "running", run)
            for key in ("scheduled_at", "started_at", "finished_at"):
                if run[key] is not None or key != "scheduled_at":
                    self.assertRegex(run[key] or "", RFC3339_MICROS, f"{key} of {run}")
        jobs = {r["job"] for r in runs}
        self.assertTrue({"heartbeat", "added"} <= jobs, jobs)
        started = [r["started_at"] for r in runs]
        self.assertEqual(started, sorted(started, reverse=True), "history is not newest first")
        self.assertEqual(self.integrity(db), ["ok"])


def micros_from(text):
    return int(round(parse_time(text) * 1_000_000))


# ---------------------------------------------------------------------------
# 5. Graceful stop


class GracefulStopTest(DaemonTestCase):
    def test_sigterm_cancels_after_grace(self):
        db = self.path("state", "jobsd.db")
        pidfile = self.path("child.pid")
        config = self.write_config(f"""
state: {{path: {db}}}\nhttp: {{listen: ""}}
shutdown_grace: 1s
jobs:
  - name: long-sleep
    type: sleep
    every: 1s
    with: {{duration: 5s}}
  - name: long-command
    type: command
    every: 1s
    with:
      shell: "sleep 5 & echo $! > {pidfile}; wait"
      kill_grace: 1s
""")
        d = self.daemon(config).start()
        d.wait_started()
        wait_until(lambda: os.path.exists(db) and self.query(
            db, "SELECT COUNT(DISTINCT job) FROM runs WHERE status = 'running'")[0][0] == 2,
            5, what="both jobs running")
        time.sleep(0.3)
        child = read_pid(pidfile)
        t0 = time.monotonic()
        d.signal(signal.SIGTERM)
        rc = d.wait(10)
        took = time.monotonic() - t0
        print(f"\n  stopped {took:.2f}s after SIGTERM", file=sys.stderr)
        self.assertEqual(rc, 0, d.tail())
        self.assertLess(took, 2.5, f"stop took {took:.2f}s with shutdown_grace 1s")
        self.assertGreaterEqual(took, 0.9, "stopped before the grace period was over")
        self.assertFalse(alive(child), "the command's child outlived the daemon")
        for job in ("long-sleep", "long-command"):
            runs = [r for r in self.history(config, job) if r["status"] != "skipped"]
            self.assertEqual(len(runs), 1, runs)
            self.assertEqual(runs[0]["status"], "cancelled", runs[0])
            self.assertIn("shutting down", runs[0]["error"])
        self.assertEqual(self.query(db, "SELECT COUNT(*) FROM runs WHERE status = 'running'"),
                         [(0,)])


# ---------------------------------------------------------------------------


def main():
    global JOBSD
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobsd", required=True, help="the jobsd binary to test")
    args, rest = parser.parse_known_args()
    JOBSD = os.path.abspath(args.jobsd)
    if not os.access(JOBSD, os.X_OK):
        parser.error(f"{JOBSD} is not an executable")
    started = time.monotonic()
    program = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    print(f"daemon_faults: {program.result.testsRun} tests in "
          f"{time.monotonic() - started:.1f}s", file=sys.stderr)
    sys.exit(0 if program.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
