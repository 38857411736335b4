#!/usr/bin/python3
"""Driver of bench/http/run.sh: jobsd's HTTP server under wrk, beside nginx
serving the same bytes, while jobsd keeps a busy schedule; one table.

    harness.py --jobsd BINARY --work DIR [--smoke] [--jobs N] [--seconds S]
               [--no-auto] [--paths /healthz,/metrics,/api/jobs]

(--jobs/--seconds/--no-auto/--paths are for looking into one thing: N jobs,
S seconds per wrk run, without nginx's `auto` runs, other GET endpoints.)

What runs (full / --smoke):
  * jobsd with 1,000 / 100 jobs `type: sleep, duration: 0s, every: 1s,
    jitter: 999ms` (staggered over each second), log level warn, its HTTP
    server on a free loopback port. It runs for the whole benchmark.
  * Debian's nginx on another free loopback port, `worker_processes 1`
    (and, full run only, `auto` afterwards), access_log off, keep-alive
    without a request cap, serving two static files: the bytes of jobsd's
    /healthz answer and of a /metrics answer captured after the warm-up
    (so the same size; jobsd's own /metrics grows a few bytes as counters
    grow).
  * windows, one after the other: no load (10 / 2 s), then
    `wrk -t2 -c50 -d20s --latency` (smoke: -d2s) against jobsd /healthz,
    nginx /healthz, jobsd /metrics, nginx /metrics (then nginx auto); after
    each, a pause until jobsd answers /healthz within 20 ms again, plus 2 s
    (smoke 0.3 s), so that requests wrk left queued in jobsd are not counted
    against the next window.

How it measures:
  * req/s and latency p50/p99: wrk's own figures (its latency distribution).
  * schedule lateness in each window: started_at - scheduled_at of the `runs`
    rows (trigger schedule, not skipped) whose scheduled_at lies in
    [start + 0.2 s, end - 0.2 s) of the wrk run, read from the state file
    after jobsd has stopped gracefully. Missed = the slots due in that window
    (each job has one per second, at its jitter offset, read back from its
    runs) - distinct (job, slot) that ran (schedule or catchup, not skipped).
  * jobsd CPU: its time on CPU (utime+stime) over the window, % of one core.

Exit status: 0 when everything ran, whatever the figures; 1 when something
could not run or answered wrongly (a daemon did not start, wrk got no
answers or a non-2xx answer, jobsd recorded no runs); 2 on usage. The
targets are printed, met or not, and never fail the run. Child PIDs still
alive are listed in DIR/pids for run.sh's trap.
"""

import argparse
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchlib import (T0, BenchError, Children, fmt, free_port, loadavg, log,  # noqa: E402
                      percentile, tail)

TICK = os.sysconf("SC_CLK_TCK")
NGINX = "/usr/sbin/nginx"
WRK = "/usr/bin/wrk"


def get(url, timeout=5):
    """(status, body bytes), or (None, b"") when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError):
        return None, b""


def wait_until(what, predicate, timeout, p, errlog):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if p.poll() is not None:
            raise BenchError("%s exited (status %s):\n%s" % (what, p.returncode, tail(errlog)))
        if time.monotonic() > deadline:
            raise BenchError("%s: nothing within %d s:\n%s" % (what, timeout, tail(errlog)))
        time.sleep(0.05)


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        stat = f.read()
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK


# ---------------------------------------------------------------- jobsd

def start_jobsd(ctx):
    d = os.path.join(ctx.work, "jobsd")
    os.makedirs(d)
    cfg, ctx.db, errlog = (os.path.join(d, "jobsd.yaml"), os.path.join(d, "state.db"),
                           os.path.join(d, "stderr.log"))
    port = free_port()
    with open(cfg, "w") as f:
        f.write("state: {path: state.db}\n")
        # warn: two info lines per run would be 2,000 log lines a second.
        f.write("log: {level: warn}\n")
        f.write("http: {listen: 127.0.0.1:%d}\n" % port)
        f.write("shutdown_grace: 5s\n")
        f.write("defaults: {type: sleep, every: 1s, jitter: 999ms}\n")
        f.write("jobs:\n")
        for i in range(ctx.jobs):
            f.write("  - {name: j%05d, with: {duration: 0s}}\n" % i)
    env = {k: v for k, v in os.environ.items() if not k.startswith("JOBSD_")}
    with open(errlog, "w") as err:
        p = ctx.children.spawn([ctx.jobsd, "run", "-c", cfg], stdout=err, stderr=err, cwd=d, env=env)
    base = "http://127.0.0.1:%d" % port
    wait_until("jobsd /readyz", lambda: get(base + "/readyz")[0] == 200, 60, p, errlog)
    wait_until("jobsd's first recorded run", lambda: first_run(ctx.db), 30, p, errlog)
    return p, port, errlog


def first_run(db):
    try:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=10)
        try:
            return con.execute("SELECT MIN(started_at) FROM runs").fetchone()[0]
        finally:
            con.close()
    except sqlite3.Error:
        return None


def job_offsets(ctx):
    """Each job's slot offset within the second (us): its jitter."""
    con = sqlite3.connect("file:%s?mode=ro" % ctx.db, uri=True, timeout=10)
    try:
        return [r[0] for r in con.execute(
            "SELECT MIN(scheduled_at) % 1000000 FROM runs WHERE trigger = 'schedule' GROUP BY job")]
    finally:
        con.close()


def lateness(ctx, offsets, lo, hi):
    """Lateness figures (ms) of the slots scheduled in [lo, hi) (us since the epoch)."""
    con = sqlite3.connect("file:%s?mode=ro" % ctx.db, uri=True, timeout=10)
    try:
        late = sorted(r[0] / 1000.0 for r in con.execute(
            "SELECT started_at - scheduled_at FROM runs WHERE trigger = 'schedule' "
            "AND status != 'skipped' AND scheduled_at >= ? AND scheduled_at < ?", (lo, hi)))
        ran = con.execute(
            "SELECT COUNT(*) FROM (SELECT DISTINCT job, scheduled_at FROM runs "
            "WHERE trigger IN ('schedule', 'catchup') AND status != 'skipped' "
            "AND scheduled_at >= ? AND scheduled_at < ?)", (lo, hi)).fetchone()[0]
        not_ok = con.execute(
            "SELECT COUNT(*) FROM runs WHERE status NOT IN ('ok', 'skipped') "
            "AND scheduled_at >= ? AND scheduled_at < ?", (lo, hi)).fetchone()[0]
    finally:
        con.close()
    # Every job has one slot per second, at its offset: count those in [lo, hi).
    second = 1_000_000
    expected = sum((hi - 1 - off) // second - -((lo - off) // -second) + 1 for off in offsets)
    if len(offsets) < ctx.jobs:  # a job that never ran has no known offset
        expected += (ctx.jobs - len(offsets)) * (hi - lo) // second
    return {"p50": percentile(late, 0.5), "p99": percentile(late, 0.99),
            "max": late[-1] if late else None, "expected": expected, "missed": expected - ran,
            "not_ok": not_ok, "seconds": (hi - lo) / 1e6}


# ---------------------------------------------------------------- nginx

def start_nginx(ctx, name, workers, port):
    prefix = os.path.join(ctx.work, name)
    os.makedirs(os.path.join(prefix, "logs"))
    conf, errlog = os.path.join(prefix, "nginx.conf"), os.path.join(prefix, "logs", "error.log")
    with open(conf, "w") as f:
        # Run as root by the benchmark: the workers stay root too, so that
        # they can read the files under the private temp folder.
        if os.geteuid() == 0:
            f.write("user root root;\n")
        f.write("daemon off;\nmaster_process on;\nworker_processes %s;\n" % workers)
        f.write("pid %s;\nerror_log %s warn;\n" % (os.path.join(prefix, "nginx.pid"), errlog))
        f.write("events { worker_connections 1024; }\n")
        f.write("http {\n  access_log off;\n  sendfile on;\n  tcp_nopush on;\n  tcp_nodelay on;\n"
                "  keepalive_requests 1000000;\n  keepalive_timeout 60s;\n  types { }\n")
        for t in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            f.write("  %s_temp_path %s;\n" % (t, os.path.join(prefix, t + "_temp")))
        f.write("  server {\n    listen 127.0.0.1:%d;\n    root %s;\n" % (port, ctx.www))
        for path in ctx.paths:
            kind = "\"text/plain; version=0.0.4\"" if path == "/metrics" else "application/json"
            f.write("    location = %s { default_type %s; }\n" % (path, kind))
        f.write("  }\n}\n")
    with open(os.path.join(prefix, "stderr.log"), "w") as err:
        p = ctx.children.spawn([NGINX, "-p", prefix, "-c", conf, "-e", errlog],
                               stdout=err, stderr=err)
    base = "http://127.0.0.1:%d" % port
    wait_until("nginx (%s)" % name, lambda: get(base + "/healthz")[0] == 200, 20, p, errlog)
    return p


# ---------------------------------------------------------------- wrk

UNIT = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def to_ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * UNIT[m.group(2)] if m else None


def run_wrk(ctx, label, url, proc_cpu):
    """wrk against url; returns its figures and the wall-clock window it ran in."""
    argv = [WRK, "-t%d" % ctx.threads, "-c%d" % ctx.connections, "-d%ds" % ctx.seconds,
            "--latency", url]
    log("%s: %s" % (label, " ".join(argv[1:])))
    start = time.time()
    c0 = cpu_seconds(proc_cpu.pid)
    p = ctx.children.spawn(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = p.communicate(timeout=ctx.seconds + 60)
    except subprocess.TimeoutExpired:
        ctx.children.stop(p, 5, signal.SIGKILL)
        raise BenchError("%s: wrk did not finish" % label)
    ctx.children.forget(p)
    end = time.time()
    cpu = 100.0 * (cpu_seconds(proc_cpu.pid) - c0) / (end - start)
    if p.returncode != 0:
        raise BenchError("%s: wrk exited with status %d:\n%s" % (label, p.returncode, out))
    r = {"label": label, "start": start, "end": end, "cpu": cpu, "raw": out}
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    r["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in", out)
    r["requests"] = int(m.group(1)) if m else 0
    for q in ("50", "99"):
        m = re.search(r"^\s+%s(?:\.000)?%%\s+(\S+)" % q, out, re.M)
        r["p" + q] = to_ms(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["socket_errors"] = tuple(int(x) for x in m.groups()) if m else (0, 0, 0, 0)
    m = re.search(r"Transfer/sec:\s+(\S+)", out)
    r["transfer"] = m.group(1) if m else "?"
    if r["requests"] == 0:
        raise BenchError("%s: wrk got no answers:\n%s" % (label, out))
    if r["non2xx"]:
        raise BenchError("%s: %d answers were not 2xx:\n%s" % (label, r["non2xx"], out))
    return r


def settle(ctx, jport, jobsd, pause, limit):
    """Waits until jobsd answers /healthz within 20 ms again (requests wrk left
    queued are worked off), then `pause`: one window's load never spills into
    the next window's figures."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and jobsd.poll() is None:
        t = time.monotonic()
        status, _ = get("http://127.0.0.1:%d/healthz" % jport, timeout=10)
        if status == 200 and time.monotonic() - t < 0.020:
            break
        time.sleep(0.1)
    time.sleep(pause)


def inner_window(start, end):
    """[start + 0.2 s, end - 0.2 s) in us: wrk's load is fully on in there."""
    return int((start + 0.2) * 1e6), int((end - 0.2) * 1e6)


# ---------------------------------------------------------------- the table


def size(n):
    return "%d B" % n if n < 10240 else "%.0f KiB" % (n / 1024.0) if n < 10 * 1048576 else \
        "%.1f MiB" % (n / 1048576.0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobsd", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--jobs", type=int)
    ap.add_argument("--seconds", type=int, help="per wrk run")
    ap.add_argument("--no-auto", action="store_true", help="skip nginx worker_processes auto")
    ap.add_argument("--paths", default="/healthz,/metrics",
                    help="endpoints to load, e.g. /healthz,/metrics,/api/jobs (GET, 200)")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)

    class Ctx:
        pass

    ctx = Ctx()
    ctx.jobsd, ctx.work = os.path.abspath(args.jobsd), args.work
    ctx.children = Children(os.path.join(args.work, "pids"))
    ctx.jobs = args.jobs or (100 if args.smoke else 1000)
    ctx.seconds = args.seconds or (2 if args.smoke else 20)
    ctx.threads, ctx.connections = 2, 50
    ctx.paths = [p for p in args.paths.split(",") if p]
    if "/healthz" not in ctx.paths:
        ctx.paths.insert(0, "/healthz")
    idle_seconds = 2 if args.smoke else 10
    warmup = 1 if args.smoke else 3
    pause = 0.3 if args.smoke else 2.0
    settle_limit = 5 if args.smoke else 60  # the smoke run stays well inside ctest's timeout
    with_auto = not args.smoke and not args.no_auto

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    for tool in (NGINX, WRK):
        if not os.access(tool, os.X_OK):
            log("%s is missing (scripts/bootstrap installs nginx-light and wrk)" % tool)
            return 1

    runs, windows, load = [], [], []
    load_before = loadavg()
    try:
        log("jobsd: %d jobs every 1s (jitter 999ms) ..." % ctx.jobs)
        jobsd, jport, jlog = start_jobsd(ctx)
        time.sleep(warmup)
        ctx.www = os.path.join(ctx.work, "www")
        os.makedirs(ctx.www)
        bodies = {}
        for path in ctx.paths:
            status, body = get("http://127.0.0.1:%d%s" % (jport, path))
            if status != 200 or not body:
                raise BenchError("jobsd %s answered %s" % (path, status))
            bodies[path] = body
            file = os.path.join(ctx.www, path.lstrip("/"))
            os.makedirs(os.path.dirname(file), exist_ok=True)
            with open(file, "wb") as f:
                f.write(body)

        nport = free_port()
        nginx = start_nginx(ctx, "nginx-1", 1, nport)

        log("no load, %d s ..." % idle_seconds)
        c0, s = cpu_seconds(jobsd.pid), time.time()
        time.sleep(idle_seconds)
        e = time.time()
        windows.append(("no load", s, e, 100.0 * (cpu_seconds(jobsd.pid) - c0) / (e - s)))

        plan = [(path, who, port) for path in ctx.paths
                for who, port in (("jobsd", jport), ("nginx (1 worker)", nport))]
        for path, who, port in plan:
            r = run_wrk(ctx, "%s %s" % (who, path), "http://127.0.0.1:%d%s" % (port, path), jobsd)
            r.update(path=path, who=who)
            runs.append(r)
            windows.append(("wrk -> %s %s" % (who, path), r["start"], r["end"], r["cpu"]))
            load.append(loadavg())
            settle(ctx, jport, jobsd, pause, settle_limit)
            if jobsd.poll() is not None:
                raise BenchError("jobsd exited under load (status %s):\n%s"
                                 % (jobsd.returncode, tail(jlog)))
        ctx.children.stop(nginx, 10, signal.SIGQUIT)
        if with_auto:
            nport = free_port()
            nginx = start_nginx(ctx, "nginx-auto", "auto", nport)
            for path in ctx.paths:
                who = "nginx (auto: %d workers)" % os.cpu_count()
                r = run_wrk(ctx, "%s %s" % (who, path), "http://127.0.0.1:%d%s" % (nport, path), jobsd)
                r.update(path=path, who=who)
                runs.append(r)
                windows.append(("wrk -> %s %s" % (who, path), r["start"], r["end"], r["cpu"]))
                load.append(loadavg())
                settle(ctx, jport, jobsd, pause, settle_limit)
            ctx.children.stop(nginx, 10, signal.SIGQUIT)

        # Late runs of the last window's slots are recorded before the stop.
        time.sleep(1.5)
        if not ctx.children.stop(jobsd, 30):
            raise BenchError("jobsd did not stop within 30 s of SIGTERM:\n" + tail(jlog))
        if jobsd.returncode != 0:
            raise BenchError("jobsd exited with status %d:\n%s" % (jobsd.returncode, tail(jlog)))
        if not first_run(ctx.db):
            raise BenchError("jobsd recorded no runs")
        with open(jlog, errors="replace") as f:
            warnings = [l for l in f if re.search(r"Z (warning|error|critical) ", l)
                        and "no http.token" not in l]
    except BenchError as e:
        log("http bench: " + str(e))
        return 1
    finally:
        ctx.children.kill_all()

    # ------------------------------------------------------------ report
    offsets = job_offsets(ctx)
    lat = []
    for label, s, e, cpu in windows:
        lo, hi = inner_window(s, e)
        lat.append((label, lateness(ctx, offsets, lo, hi) if hi > lo else None, cpu))

    print("jobsd HTTP server beside nginx: wrk -t%d -c%d -d%ds --latency, loopback, while jobsd "
          "runs %d jobs every 1s" % (ctx.threads, ctx.connections, ctx.seconds, ctx.jobs))
    print()
    head = "%-9s %9s | %11s %8s %8s | %-22s %11s %8s %8s | %8s" % (
        "endpoint", "body", "jobsd req/s", "p50 ms", "p99 ms", "nginx", "req/s", "p50 ms",
        "p99 ms", "j/n req/s")
    print(head)
    print("-" * len(head))
    for path in ctx.paths:
        mine = next(r for r in runs if r["path"] == path and r["who"] == "jobsd")
        first = True
        for peer in (r for r in runs if r["path"] == path and r["who"] != "jobsd"):
            left = ((path, size(len(bodies[path])), fmt(mine["rps"]), fmt(mine["p50"], 3),
                     fmt(mine["p99"], 3)) if first else ("", "", "", "", ""))
            first = False
            print("%-9s %9s | %11s %8s %8s | %-22s %11s %8s %8s | %7.2fx" % (left + (
                peer["who"], fmt(peer["rps"]), fmt(peer["p50"], 3), fmt(peer["p99"], 3),
                mine["rps"] / peer["rps"] if peer["rps"] else 0)))
    print()
    head = "%-40s %7s %8s %8s %8s %16s %10s" % (
        "schedule lateness while ...", "seconds", "p50 ms", "p99 ms", "max ms", "missed slots",
        "jobsd CPU")
    print(head)
    print("-" * len(head))
    for label, l, cpu in lat:
        if l is None:
            print("%-40s (window too short)" % label)
            continue
        print("%-40s %7.1f %8s %8s %8s %16s %9.0f%%" % (
            label, l["seconds"], fmt(l["p50"], 3), fmt(l["p99"], 3), fmt(l["max"], 3),
            "%d of %d" % (l["missed"], l["expected"]), cpu))
    print()

    targets = []
    hz = next(r for r in runs if r["path"] == "/healthz" and r["who"] == "jobsd")
    targets.append(("/healthz >= 20,000 req/s", hz["rps"] >= 20000, fmt(hz["rps"])))
    targets.append(("/healthz p99 < 5 ms", hz["p99"] is not None and hz["p99"] < 5.0,
                    fmt(hz["p99"], 3) + " ms"))
    for label, l, _ in lat:
        if label.startswith("wrk -> jobsd") and l is not None:
            targets.append(("lateness p99 < 5 ms under %s" % label[7:],
                            l["p99"] is not None and l["p99"] < 5.0, fmt(l["p99"], 3) + " ms"))
    for name, met, value in targets:
        print("target %-44s %-12s %s" % (name, value, "met" if met else "NOT met"))
    print("targets met: %d of %d" % (sum(1 for t in targets if t[1]), len(targets)))
    for r in runs:
        if any(r["socket_errors"]):
            print("note: %s: wrk socket errors connect %d, read %d, write %d, timeout %d"
                  % ((r["label"],) + r["socket_errors"]))
    not_ok = sum(l["not_ok"] for _, l, _ in lat if l)
    print("note: jobsd logged %d warning/error lines%s; %d runs in the windows ended other than ok"
          % (len(warnings), (" (first: %s)" % warnings[0].strip()) if warnings else "", not_ok))
    print("note: nginx serves the bytes of jobsd's answers as static files (keep-alive uncapped, "
          "access_log off); j/n = jobsd req/s over nginx req/s; the load generator (wrk, %d "
          "threads) shares the machine's %d cores with both servers" % (ctx.threads, os.cpu_count()))
    print("note: 1-minute load average before the run %.2f, after each wrk run: %s"
          % (load_before, ", ".join("%.2f" % x for x in load)))
    if args.smoke:
        print("(--smoke: %d jobs, %d s per wrk run: checks that everything answers, the figures "
              "are rough and the targets are for the full run; took %.0f s)"
              % (ctx.jobs, ctx.seconds, time.monotonic() - T0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
