#!/usr/bin/python3
"""Driver of bench/scheduler/run.sh: runs jobsd and the APScheduler peer one
after the other on the same workloads and prints one table.

    harness.py --jobsd BINARY --work DIR [--quick]
               [--rows 1,2,3,4] [--no-peer] [--jobs N] [--seconds S]

(--rows/--no-peer/--jobs/--seconds are for looking into one row: which rows,
without APScheduler, N jobs in rows 1-2, S-second windows in rows 1, 2, 4.)

Rows (full / --quick):
  1 staggered  10,000 / 1,000 jobs `every: 1s`, `jitter: 999ms`, sleep 0s,
               measured over 60 / 5 s after a warm-up of 2 / 1 s
  2 herd       the same jobs without jitter: all due at the same instant
  3 cron       100,000 / 10,000 jobs on `*/5 * * * *`: start -> ready, peak RSS
  4 idle       etc/jobsd.yaml (state moved into DIR) for 60 / 5 s: CPU, RSS

How it measures (the same for both schedulers):
  * CPU: the process's time on CPU between the start and the end of the
    measured window, over the window's wall time (% of one core): the sum of
    /proc/PID/task/*/schedstat (ns) when the threads stayed the same, else
    utime+stime from /proc/PID/stat (10 ms ticks).
  * peak RSS: VmHWM from /proc/PID/status just before the process is stopped.
  * window: [W0, W1), whole seconds, W1 = W0 + duration. W0 skips the first
    `warm-up` whole seconds of slots: counted from the second of jobsd's first
    recorded run, and from the peer's first slot (or the second after its
    start() returned, if later). A slot counts when its scheduled time is in
    the window; both processes get a grace period after W1 (1.5 s, quick 0.5
    s) before SIGTERM, so a late run of a slot near the end is still counted.
  * jobsd lateness: started_at - scheduled_at of `runs` rows (trigger
    schedule, status not skipped) read from the state DB after a graceful
    stop; missed = expected slots (jobs x window seconds: with a 1 s period
    every job has exactly one slot per whole second of the window, whatever
    its jitter offset) - distinct (job, slot) that ran (trigger schedule or
    catchup, status not skipped), so skipped rows count as missed.
  * peer lateness: the job function's time.time() (its return value) minus
    EVENT_JOB_EXECUTED's scheduled_run_time; missed = expected - executed.

Exit status: 0 when everything ran, whatever the figures; 1 when something
could not run (jobsd did not start or stop, the peer crashed); 2 on usage.
Child PIDs still alive are listed in DIR/pids (one per line) for run.sh's trap.
"""

import argparse
import array
import math
import os
import re
import select
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import (T0, BenchError, Children, fmt, free_port, loadavg, log,  # noqa: E402
                      percentile, tail)

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PYTHON = "/usr/bin/python3"
PEER = os.path.join(HERE, "apscheduler_peer.py")
TICK = os.sysconf("SC_CLK_TCK")
MiB = 1024.0 * 1024.0


# ---------------------------------------------------------------- processes


def cpu_sample(pid):
    """(utime+stime in s, {tid: ns on CPU from schedstat}) of a process."""
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    # fields[0] is field 3 (state): utime is field 14, stime field 15.
    ticks = (int(fields[11]) + int(fields[12])) / TICK
    threads = {}
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                threads[tid] = int(f.read().split()[0])
    except OSError:
        threads = None
    return ticks, threads


def cpu_between(a, b):
    """CPU seconds between two samples: from schedstat (nanoseconds) when the
    process had the same threads at both, else from utime+stime (10 ms ticks,
    which also count threads that ended in between)."""
    if a[1] is not None and b[1] is not None and a[1].keys() == b[1].keys():
        return sum(b[1][t] - a[1][t] for t in b[1]) / 1e9
    return b[0] - a[0]


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def sleep_until(t, p=None):
    """Sleeps until wall time t; raises if process p exits meanwhile."""
    while True:
        left = t - time.time()
        if p is not None and p.poll() is not None:
            raise BenchError("the process exited early (status %s)" % p.returncode)
        if left <= 0:
            return
        time.sleep(min(left, 0.25))


def window_cpu(p, w0, w1):
    """CPU % of one core over [w0, w1) (wall clock), sampled from /proc."""
    sleep_until(w0, p)
    c0, t0 = cpu_sample(p.pid), time.monotonic()
    sleep_until(w1, p)
    c1, t1 = cpu_sample(p.pid), time.monotonic()
    return 100.0 * cpu_between(c0, c1) / (t1 - t0)


# ---------------------------------------------------------------- jobsd

def measure_window(ctx, p, w0, errlog, who, stop_timeout):
    """CPU over [w0, w0 + duration] and peak RSS, then a graceful stop.

    Returns (w1, cpu, hwm). Late runs of the last slots get ctx.grace before
    the stop, so they still count."""
    try:
        w1 = w0 + ctx.duration
        cpu = window_cpu(p, w0, w1)
        sleep_until(w1 + ctx.grace, p)
        hwm = status_kib(p.pid, "VmHWM")
    except BaseException:
        ctx.children.stop(p, 10)
        raise
    if not ctx.children.stop(p, stop_timeout):
        raise BenchError("%s did not stop within %d s of SIGTERM:\n%s" % (who, stop_timeout, tail(errlog)))
    if p.returncode != 0:
        raise BenchError("%s exited with status %d:\n%s" % (who, p.returncode, tail(errlog)))
    return w1, cpu, hwm


def write_interval_config(path, db, jobs, jitter):
    with open(path, "w") as f:
        f.write("state: {path: %s, keep_runs: 1000}\n" % json_str(db))
        f.write("log: {level: warn}\n")
        f.write('http: {listen: ""}\n')
        f.write("defaults: {type: sleep, every: 1s%s}\n" % (", jitter: 999ms" if jitter else ""))
        f.write("jobs:\n")
        for i in range(jobs):
            f.write("  - {name: j%06d, with: {duration: 0s}}\n" % i)


def json_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def open_ro(db):
    return sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)


def first_run_time(db):
    """Seconds since the epoch of the first recorded run, or None yet."""
    try:
        con = open_ro(db)
        try:
            row = con.execute("SELECT MIN(started_at) FROM runs").fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return None
    return row[0] / 1e6 if row and row[0] is not None else None


def jobsd_interval(ctx, name, jobs, jitter):
    d = os.path.join(ctx.work, name + "-jobsd")
    os.makedirs(d)
    cfg, db, errlog = os.path.join(d, "jobsd.yaml"), os.path.join(d, "state.db"), os.path.join(d, "stderr.log")
    write_interval_config(cfg, db, jobs, jitter)
    with open(errlog, "w") as err:
        p = ctx.children.spawn([ctx.jobsd, "run", "-c", cfg], stdout=err, stderr=err, cwd=d)
    try:
        deadline = time.time() + 60
        first = None
        while first is None:
            if p.poll() is not None:
                raise BenchError("jobsd exited during start (status %s):\n%s" % (p.returncode, tail(errlog)))
            if time.time() > deadline:
                raise BenchError("jobsd recorded no run within 60 s of starting:\n" + tail(errlog))
            time.sleep(0.05)
            first = first_run_time(db)
        # Warm-up: the first `warmup` whole seconds of slots from the first run.
        w0 = math.ceil(first - 0.1) + ctx.warmup
    except BaseException:
        ctx.children.stop(p, 10)
        raise
    w1, cpu, hwm = measure_window(ctx, p, w0, errlog, "jobsd", 60)

    lo, hi = w0 * 1_000_000, w1 * 1_000_000
    con = open_ro(db)
    try:
        late = sorted(r[0] / 1000.0 for r in con.execute(
            "SELECT started_at - scheduled_at FROM runs WHERE trigger = 'schedule' "
            "AND status != 'skipped' AND scheduled_at >= ? AND scheduled_at < ?", (lo, hi)))
        ran = con.execute(
            "SELECT COUNT(*) FROM (SELECT DISTINCT job, scheduled_at FROM runs "
            "WHERE trigger IN ('schedule', 'catchup') AND status != 'skipped' "
            "AND scheduled_at >= ? AND scheduled_at < ?)", (lo, hi)).fetchone()[0]
        skipped = con.execute(
            "SELECT COUNT(*) FROM runs WHERE status = 'skipped' AND scheduled_at >= ? "
            "AND scheduled_at < ?", (lo, hi)).fetchone()[0]
        catchup = con.execute(
            "SELECT COUNT(*) FROM runs WHERE trigger = 'catchup' AND scheduled_at >= ? "
            "AND scheduled_at < ?", (lo, hi)).fetchone()[0]
        not_ok = con.execute(
            "SELECT COUNT(*) FROM runs WHERE status NOT IN ('ok', 'skipped') "
            "AND scheduled_at >= ? AND scheduled_at < ?", (lo, hi)).fetchone()[0]
        offsets = [r[0] for r in con.execute(
            "SELECT MIN(scheduled_at) % 1000000 FROM runs WHERE trigger = 'schedule' "
            "GROUP BY job ORDER BY job")]
    finally:
        con.close()
    with open(errlog, errors="replace") as f:
        # spdlog spells the levels warning, error, critical.
        warnings = sum(1 for line in f if re.search(r"Z (warning|warn|error|critical) ", line))
    expected = jobs * (w1 - w0)
    return {
        "p50": percentile(late, 0.50), "p99": percentile(late, 0.99), "max": late[-1] if late else None,
        "expected": expected, "missed": expected - ran, "skipped": skipped, "catchup": catchup,
        "not_ok": not_ok, "cpu": cpu, "rss": hwm / 1024.0, "warnings": warnings,
        "offsets": offsets if len(offsets) == jobs else None,
    }


def wait_for_log_line(p, path, needle, timeout):
    """The first line of `path` containing `needle`, waiting for it."""
    deadline = time.time() + timeout
    while True:
        with open(path, errors="replace") as f:
            for line in f:
                if needle in line:
                    return line
        if p.poll() is not None:
            raise BenchError("jobsd exited during start (status %s):\n%s" % (p.returncode, tail(path)))
        if time.time() > deadline:
            raise BenchError("jobsd did not log %r within %d s:\n%s" % (needle, timeout, tail(path)))
        time.sleep(0.005)


def log_time(line):
    """Seconds since the epoch of a text-format log line (UTC, microseconds)."""
    stamp = line.split()[0].rstrip("Z")
    return datetime.fromisoformat(stamp + "+00:00").timestamp()


def jobsd_cron(ctx, jobs):
    d = os.path.join(ctx.work, "cron-jobsd")
    os.makedirs(d)
    cfg, db, errlog = os.path.join(d, "jobsd.yaml"), os.path.join(d, "state.db"), os.path.join(d, "stderr.log")
    with open(cfg, "w") as f:
        f.write("state: {path: %s}\nlog: {level: info}\nhttp: {listen: \"\"}\n" % json_str(db))
        f.write('defaults: {type: sleep, cron: "*/5 * * * *"}\njobs:\n')
        for i in range(jobs):
            f.write("  - {name: j%06d, with: {duration: 0s}}\n" % i)
    skipped_slot = avoid_cron_slot(3 if ctx.quick else 40)
    with open(errlog, "w") as err:
        spawned = time.time()
        p = ctx.children.spawn([ctx.jobsd, "run", "-c", cfg], stdout=err, stderr=err, cwd=d)
    try:
        line = wait_for_log_line(p, errlog, " started: ", 120)
        ready = log_time(line) - spawned
        time.sleep(0.5)
        hwm = status_kib(p.pid, "VmHWM")
        rss_now = status_kib(p.pid, "VmRSS")
    except BaseException:
        ctx.children.stop(p, 10)
        raise
    if not ctx.children.stop(p, 60):
        raise BenchError("jobsd did not stop within 60 s of SIGTERM:\n" + tail(errlog))
    con = open_ro(db)
    try:
        fired = con.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
    finally:
        con.close()
    return {"ready": ready, "rss": hwm / 1024.0, "rss_now": rss_now / 1024.0, "fired": fired,
            "skipped_slot": skipped_slot}


def avoid_cron_slot(window):
    """If a */5 slot comes within `window` s, waits until just after it, so that
    100,000 runs at once do not land in a start-up measurement. Returns the
    slot waited for (or None)."""
    now = time.time()
    slot = (int(now) // 300 + 1) * 300
    if slot - now > window:
        return None
    log("  a */5 slot is %.0f s away: starting after it" % (slot - now))
    time.sleep(slot - now + 1.0)
    return slot


def idle_config(ctx, d):
    """etc/jobsd.yaml with the state file in `d` and the API on a free port."""
    with open(os.path.join(ROOT, "etc", "jobsd.yaml")) as f:
        text = f.read()
    text, n = re.subn(r"(?m)^(  path:\s*)\S+", lambda m: m.group(1) + json_str(os.path.join(d, "state", "jobsd.db")), text, count=1)
    if n != 1:
        raise BenchError("etc/jobsd.yaml: no `state: path:` line to point at the temp dir")
    text = re.sub(r"(?m)^(  listen:\s*)127\.0\.0\.1:\d+", lambda m: m.group(1) + "127.0.0.1:%d" % free_port(), text, count=1)
    cfg = os.path.join(d, "jobsd.yaml")
    with open(cfg, "w") as f:
        f.write(text)
    return cfg


# ---------------------------------------------------------------- the peer

def peer_available():
    return subprocess.run([PYTHON, "-c", "import apscheduler"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def spawn_peer(ctx, name, args):
    d = os.path.join(ctx.work, name + "-peer")
    os.makedirs(d, exist_ok=True)
    errlog = os.path.join(d, "stderr.log")
    with open(errlog, "w") as err:
        spawned = time.time()
        p = ctx.children.spawn([PYTHON, PEER] + args, stdout=subprocess.PIPE, stderr=err, cwd=d)
    return p, d, errlog, spawned


def wait_ready(ctx, p, errlog, timeout=180):
    deadline = time.time() + timeout
    buf = b""
    while b"\n" not in buf:
        left = deadline - time.time()
        if left <= 0:
            ctx.children.stop(p, 10)
            raise BenchError("the APScheduler peer was not ready within %d s:\n%s" % (timeout, tail(errlog)))
        r, _, _ = select.select([p.stdout], [], [], min(left, 1.0))
        if r:
            chunk = os.read(p.stdout.fileno(), 4096)
            if not chunk:
                p.wait()
                raise BenchError("the APScheduler peer exited during start (status %s):\n%s"
                                 % (p.returncode, tail(errlog)))
            buf += chunk
    line = buf.split(b"\n")[0].decode()
    if not line.startswith("ready "):
        raise BenchError("the APScheduler peer said %r, not `ready`" % line)
    words = line.split()
    return float(words[1]), (float(words[2]) if len(words) > 2 else None)


def peer_interval(ctx, name, jobs, offsets):
    d = os.path.join(ctx.work, name + "-peer")
    os.makedirs(d)
    out = os.path.join(d, "records.f64")
    args = ["interval", "--jobs", str(jobs), "--out", out]
    if offsets:
        off = os.path.join(d, "offsets.txt")
        with open(off, "w") as f:
            f.write("".join("%d\n" % o for o in offsets))
        args += ["--offsets", off]
    p, d, errlog, _ = spawn_peer(ctx, name, args)
    try:
        ready, base = wait_ready(ctx, p, errlog)
        # Warm-up: the first `warmup` whole seconds of slots (from base, the
        # first slot, or from start() returning when that was later).
        w0 = max(math.ceil(ready), int(base)) + ctx.warmup
    except BaseException:
        ctx.children.stop(p, 10)
        raise
    w1, cpu, hwm = measure_window(ctx, p, w0, errlog, "the APScheduler peer", 120)
    rec = array.array("d")
    with open(out, "rb") as f:
        rec.frombytes(f.read())
    late, executed, missed_events, max_inst = [], 0, 0, 0
    for i in range(0, len(rec) - 2, 3):
        kind, scheduled, started = rec[i], rec[i + 1], rec[i + 2]
        # Slots are whole microseconds; rounding undoes float noise at the edges.
        s_us = round(scheduled * 1e6)
        if not (w0 * 1_000_000 <= s_us < w1 * 1_000_000):
            continue
        if kind == 1.0:
            executed += 1
            late.append((started - scheduled) * 1000.0)
        elif kind == 2.0:
            missed_events += 1
        else:
            max_inst += 1
    late.sort()
    expected = jobs * (w1 - w0)
    return {
        "p50": percentile(late, 0.50), "p99": percentile(late, 0.99), "max": late[-1] if late else None,
        "expected": expected, "missed": expected - executed, "missed_events": missed_events,
        "max_instances": max_inst, "cpu": cpu, "rss": hwm / 1024.0,
    }


def peer_cron(ctx, jobs):
    skipped_slot = avoid_cron_slot(4 if ctx.quick else 90)
    p, d, errlog, spawned = spawn_peer(ctx, "cron", ["cron", "--jobs", str(jobs)])
    try:
        ready = wait_ready(ctx, p, errlog, timeout=600)[0] - spawned
        time.sleep(0.5)
        hwm = status_kib(p.pid, "VmHWM")
    finally:
        ctx.children.stop(p, 60)
    return {"ready": ready, "rss": hwm / 1024.0, "skipped_slot": skipped_slot}


def idle_both(ctx, with_peer):
    """jobsd on etc/jobsd.yaml and the peer's equivalent, side by side (both idle)."""
    d = os.path.join(ctx.work, "idle-jobsd")
    os.makedirs(d)
    cfg = idle_config(ctx, d)
    errlog = os.path.join(d, "stderr.log")
    env = {k: v for k, v in os.environ.items() if k not in ("JOBSD_LOG_LEVEL", "JOBSD_API_TOKEN")}
    with open(errlog, "w") as err:
        p = ctx.children.spawn([ctx.jobsd, "run", "-c", cfg], stdout=err, stderr=err, cwd=d, env=env)
    q = None
    try:
        wait_for_log_line(p, errlog, " started: ", 60)
        if with_peer:
            q, _, qlog, _ = spawn_peer(ctx, "idle", ["idle"])
            wait_ready(ctx, q, qlog)
        w0 = time.time() + (0.5 if ctx.quick else 1.0)
        w1 = w0 + ctx.idle
        sleep_until(w0, p)
        samples = [(x, cpu_sample(x.pid)) for x in (p, q) if x]
        t0 = time.monotonic()
        sleep_until(w1, p)
        t1 = time.monotonic()
        cpus = [100.0 * cpu_between(c0, cpu_sample(x.pid)) / (t1 - t0) for x, c0 in samples]
        rss = [(status_kib(x.pid, "VmHWM") / 1024.0, status_kib(x.pid, "VmRSS") / 1024.0) for x, _ in samples]
    finally:
        if q:
            ctx.children.stop(q, 30)
        clean = ctx.children.stop(p, 60)
    if not clean:
        raise BenchError("jobsd did not stop within 60 s of SIGTERM:\n" + tail(errlog))
    res = {"jobsd": {"cpu": cpus[0], "rss": rss[0][0], "rss_now": rss[0][1]}}
    if with_peer:
        res["peer"] = {"cpu": cpus[1], "rss": rss[1][0], "rss_now": rss[1][1]}
    return res


# ---------------------------------------------------------------- the table


def ratio(peer, mine):
    """peer / jobsd for lower-is-better figures: above 1x jobsd is ahead."""
    if peer is None or mine is None:
        return "n/a"
    if mine == 0:
        return "-" if peer == 0 else "inf"
    r = peer / mine
    return "%.0fx" % r if r >= 100 else "%.1fx" % r if r >= 0.095 else "%.2fx" % r if r >= 0.0095 else "%.3fx" % r


class Table:
    def __init__(self):
        self.lines = []
        self.targets = []  # (label, met)
        self.beats = []    # (label, jobsd better or equal)

    def section(self, title):
        self.lines.append(title)

    def row(self, metric, mine, peer, target=None, met=None, digits=2):
        cells = ["  " + metric, fmt(mine, digits), fmt(peer, digits), ratio(peer, mine),
                 target or "", "" if met is None else ("met" if met else "NOT met")]
        self.lines.append("%-28s %11s %12s %10s  %-10s %s" % tuple(cells))
        if met is not None:
            self.targets.append((metric, met))
        if peer is not None and mine is not None:
            self.beats.append(mine <= peer)

    def text(self):
        head = "%-28s %11s %12s %10s  %-10s %s" % ("row / metric", "jobsd", "APScheduler",
                                                   "APS/jobsd", "target", "jobsd")
        return "\n".join([head, "-" * len(head)] + self.lines)


def le(v, limit):
    return v is not None and v <= limit


def lt(v, limit):
    return v is not None and v < limit


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobsd", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--quick", action="store_true")
    # For investigating one row: --rows 1,3 --no-peer --jobs 5000 --seconds 20
    ap.add_argument("--rows", default="1,2,3,4")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--jobs", type=int)
    ap.add_argument("--seconds", type=int)
    args = ap.parse_args()
    rows = {int(r) for r in args.rows.split(",") if r}

    class Ctx:
        pass

    ctx = Ctx()
    ctx.jobsd, ctx.work, ctx.quick = os.path.abspath(args.jobsd), args.work, args.quick
    ctx.children = Children(os.path.join(args.work, "pids"))
    n_load = args.jobs or (1000 if args.quick else 10000)
    n_cron = 10000 if args.quick else 100000
    ctx.duration = args.seconds or (5 if args.quick else 60)
    ctx.warmup = 1 if args.quick else 2
    ctx.grace = 0.5 if args.quick else 1.5
    ctx.idle = args.seconds or (5 if args.quick else 60)

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    notes = []
    have_peer = not args.no_peer and peer_available()
    if not have_peer and not args.no_peer:
        notes.append("APScheduler: /usr/bin/python3 cannot import apscheduler "
                     "(Debian: python3-apscheduler); its column is n/a")
    load = {}  # what else the machine was doing: 1-minute load average after each run

    def measured(key, fn, *fargs, **fkw):
        result = fn(*fargs, **fkw)
        load[key] = loadavg()
        return result

    s_j = s_p = h_j = h_p = c_j = c_p = idle = None
    try:
        if 1 in rows:
            log("row 1 staggered, jobsd: %d jobs, %d s ..." % (n_load, ctx.duration))
            s_j = measured("1 jobsd", jobsd_interval, ctx, "staggered", n_load, jitter=True)
            if have_peer:
                log("row 1 staggered, APScheduler ...")
                s_p = measured("1 peer", peer_interval, ctx, "staggered", n_load, s_j["offsets"])
        if 2 in rows:
            log("row 2 herd, jobsd ...")
            h_j = measured("2 jobsd", jobsd_interval, ctx, "herd", n_load, jitter=False)
            if have_peer:
                log("row 2 herd, APScheduler ...")
                h_p = measured("2 peer", peer_interval, ctx, "herd", n_load, None)
        if 3 in rows:
            log("row 3 cron, jobsd: %d jobs ..." % n_cron)
            c_j = measured("3 jobsd", jobsd_cron, ctx, n_cron)
            if have_peer:
                log("row 3 cron, APScheduler ...")
                c_p = measured("3 peer", peer_cron, ctx, n_cron)
        if 4 in rows:
            log("row 4 idle, %d s (jobsd and the peer side by side) ..." % ctx.idle)
            idle = measured("4 both", idle_both, ctx, have_peer)
    except BenchError as e:
        log("scheduler bench: " + str(e))
        return 1
    finally:
        ctx.children.kill_all()

    t = Table()
    g = lambda d, k: d[k] if d else None
    for label, j, p, lat_target in (
            ("1 staggered: %d jobs every 1s, jitter 999ms, %d s" % (n_load, ctx.duration), s_j, s_p, "staggered"),
            ("2 herd: %d jobs every 1s, all due at once, %d s" % (n_load, ctx.duration), h_j, h_p, "herd")):
        if j is None:
            continue
        t.section(label)
        if lat_target == "staggered":
            t.row("lateness p50 (ms)", j["p50"], g(p, "p50"), digits=3)
            t.row("lateness p99 (ms)", j["p99"], g(p, "p99"), "<= 2 ms", le(j["p99"], 2.0), digits=3)
            t.row("lateness max (ms)", j["max"], g(p, "max"), "<= 20 ms", le(j["max"], 20.0), digits=3)
        else:
            t.row("lateness p50 (ms)", j["p50"], g(p, "p50"), digits=3)
            t.row("lateness p99 (ms)", j["p99"], g(p, "p99"), "<= 100 ms", le(j["p99"], 100.0), digits=3)
            t.row("lateness max (ms)", j["max"], g(p, "max"), digits=3)
        t.row("missed slots (of %d)" % j["expected"], j["missed"], g(p, "missed"), "0", j["missed"] == 0)
        if lat_target == "staggered":
            t.row("CPU (% of one core)", j["cpu"], g(p, "cpu"), "<= 15 %", le(j["cpu"], 15.0))
            t.row("peak RSS (MiB)", j["rss"], g(p, "rss"), "<= 60 MB", le(j["rss"], 60.0), digits=1)
        else:
            t.row("CPU (% of one core)", j["cpu"], g(p, "cpu"))
            t.row("peak RSS (MiB)", j["rss"], g(p, "rss"), digits=1)
    if c_j:
        t.section("3 %d jobs on */5 * * * *" % n_cron)
        t.row("start -> ready (s)", c_j["ready"], g(c_p, "ready"), "< 2 s", lt(c_j["ready"], 2.0), digits=3)
        t.row("peak RSS (MiB)", c_j["rss"], g(c_p, "rss"), "< 250 MB", lt(c_j["rss"], 250.0), digits=1)
    if idle:
        t.section("4 idle: etc/jobsd.yaml, %d s" % ctx.idle)
        ij, ip = idle["jobsd"], idle.get("peer")
        t.row("CPU (% of one core)", ij["cpu"], g(ip, "cpu"), "< 0.1 %", lt(ij["cpu"], 0.1), digits=3)
        t.row("peak RSS (MiB)", ij["rss"], g(ip, "rss"), "< 15 MB", lt(ij["rss"], 15.0), digits=1)

    print(t.text())
    print()
    met = sum(1 for _, m in t.targets if m)
    print("targets met: %d of %d%s" % (met, len(t.targets),
          "" if met == len(t.targets) else " (not met: " + ", ".join(
              sorted({m for m, ok in t.targets if not ok})) + ")"))
    if t.beats:
        print("jobsd at least as good as APScheduler on %d of %d compared figures"
              % (sum(t.beats), len(t.beats)))
    for label, j, p in (("staggered", s_j, s_p), ("herd", h_j, h_p)):
        if j is None:
            continue
        parts = ["%s: jobsd missed %d (%d of them recorded skipped); %d catch-up runs, "
                 "%d runs not ok, %d warn/error log lines" % (
                     label, j["missed"], j["skipped"], j["catchup"], j["not_ok"], j["warnings"])]
        if p:
            parts.append("APScheduler missed %d (%d EVENT_JOB_MISSED, %d max_instances skips, "
                         "the rest coalesced away)" % (p["missed"], p["missed_events"], p["max_instances"]))
        print("note: " + "; ".join(parts))
    if s_j and s_p:
        if s_j["offsets"] is None:
            print("note: jobsd's jitter offsets could not be read back; the staggered peer used none")
        else:
            print("note: the staggered peer used the very offsets jobsd's jitter gave each job name")
    if c_j:
        print("note: cron row: ready = the timestamp of jobsd's `started:` log line (log level "
              "info) minus the spawn time; the peer's = when it printed `ready` after start(). "
              "RSS = VmHWM 0.5 s after ready (jobsd's current RSS then: %.1f MiB); no slot was "
              "waited for (jobsd recorded %d runs)%s" % (
                  c_j["rss_now"], c_j["fired"],
                  "; a slot was close, so the run started after it" if c_j["skipped_slot"] or
                  (c_p and c_p["skipped_slot"]) else ""))
    if idle:
        ip = idle.get("peer")
        print("note: idle row: current RSS jobsd %.1f MiB%s; jobsd and the peer ran side by side"
              % (idle["jobsd"]["rss_now"], (", APScheduler %.1f MiB" % ip["rss_now"]) if ip else ""))
    print("note: APS/jobsd = APScheduler's figure / jobsd's (lower is better everywhere): above 1x "
          "jobsd is ahead. Peak RSS = VmHWM; CPU = time on CPU over the window, % of one core.")
    print("note: %d cores; 1-minute load average after each run: %s" % (
        os.cpu_count(), ", ".join("%s %.2f" % kv for kv in load.items())))
    if args.quick:
        print("(--quick: %d jobs, %d s windows, %d cron jobs, %d s idle: a smoke test, the figures "
              "are rough and the targets are for the full run; took %.0f s)"
              % (n_load, ctx.duration, n_cron, ctx.idle, time.monotonic() - T0))
    for n in notes:
        print("note: " + n)
    return 0


if __name__ == "__main__":
    sys.exit(main())
