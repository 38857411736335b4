"""What the benchmark harnesses share: child processes that are always
cleaned up, logging with elapsed time, and the small helpers for ports,
percentiles and printing. Standard library only (Debian's /usr/bin/python3)."""

import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

T0 = time.monotonic()


class BenchError(Exception):
    """Something could not run, or answered wrongly (not: something was slow)."""


def log(msg):
    print("[%5.1f s] %s" % (time.monotonic() - T0, msg), file=sys.stderr, flush=True)


class Children:
    """Every process this harness started; the live ones are listed in a file."""

    def __init__(self, pidfile):
        self.pidfile = pidfile
        self.live = {}
        self._write()

    def _write(self):
        tmp = self.pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write("".join("%d\n" % pid for pid in self.live))
        os.replace(tmp, self.pidfile)

    def spawn(self, argv, **kw):
        p = subprocess.Popen(argv, start_new_session=True, stdin=subprocess.DEVNULL, **kw)
        self.live[p.pid] = p
        self._write()
        return p

    def forget(self, p):
        self.live.pop(p.pid, None)
        self._write()

    def stop(self, p, timeout, sig=signal.SIGTERM):
        """`sig`, wait up to `timeout`; True if it exited by itself."""
        clean = True
        if p.poll() is None:
            p.send_signal(sig)
            try:
                p.wait(timeout)
            except subprocess.TimeoutExpired:
                clean = False
                p.kill()
                p.wait()
        self.forget(p)
        return clean

    def kill_all(self):
        for p in list(self.live.values()):
            if p.poll() is None:
                p.kill()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                pass
            self.forget(p)


def tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(sorted_values, q):
    """Nearest rank."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[k]


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def fmt(v, digits=2):
    if v is None:
        return "n/a"
    if isinstance(v, int):
        return str(v)
    if abs(v) >= 1000:
        return "%.0f" % v
    if abs(v) >= 100:
        return "%.1f" % v
    return ("%." + str(digits) + "f") % v


def run_measured(cmd, cwd):
    """Runs to completion; returns (seconds, peak RSS in MB, stdout).

    The peak comes from GNU time, not from wait4 here: a child forked from
    this (large) Python process keeps the parent's peak RSS across exec."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(mode="r") as rss:
        start = time.monotonic()
        proc = subprocess.Popen(["/usr/bin/time", "-f", "%M", "-o", rss.name] + cmd, cwd=cwd,
                                stdout=out, stderr=err)
        proc.wait()
        elapsed = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (cmd[0], proc.returncode,
                                                       err.read()[-2000:].decode()))
        peak_kb = int(rss.read().split()[-1])
        return elapsed, peak_kb / 1024.0, out.read().decode()
