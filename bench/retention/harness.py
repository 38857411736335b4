#!/usr/bin/python3
"""bench/retention: the retention job beside `find -type f -mtime +7 -delete`.

    harness.py --jobsd PATH [--quick] [--files N] --work DIR   (run.sh gives a scratch folder)

Two identical trees, A and B, of N files each (default 1,000,000; --quick
20,000) in folders of 1,000, every tenth file modified 30 days ago and the
rest a day ago (os.utime). Both are made by this script the same way, not
by `cp -a`, which gives some sparse files data blocks and so makes deleting
them dearer. The files are sparse, 0..4095 bytes: a million of them cost
inodes but no data blocks, and deleting one frees no data, so what is
measured is the walk and the unlinks. Then:
  first pass   the peer `find B -type f -mtime +7 -delete` on B, then jobsd
               on A (`jobsd once`, max_age 7d, its size report of files
               and bytes before and after included): each deletes the
               tenth that is old;
  second pass  the same again on what is left, jobsd first: nothing is due,
               so this is the walk alone.
Wall time of the whole process and GNU time's peak RSS (benchlib.run_measured).
Before each measured run everything dirty is written back (sync), so
neither side pays for the writeback of what came before it; both run with
the trees' metadata in the page cache (they were just made and compared).
One run each: making the trees is what takes the time. After each pass both
trees are compared entry by entry (path, size, mtime), and jobsd's run metrics
(`jobsd history --json`) are checked against what the tree holds, so a
broken run cannot print a figure. The target: jobsd at least as fast as
find on the first pass (find's time / jobsd's >= 1.0). --quick (CI smoke)
fails only when something cannot run or the trees differ.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import benchlib  # noqa: E402

DAY = 86400
PER_FOLDER = 1000


def make_tree(root, files, now):
    """Every tenth file old; returns (old files, their bytes, all bytes)."""
    old = old_bytes = total = 0
    for i in range(files):
        if i % PER_FOLDER == 0:
            folder = os.path.join(root, "shard-%04d" % (i // PER_FOLDER))
            os.makedirs(folder)
        path = os.path.join(folder, "part-%07d.bin" % i)
        size = (i * 2654435761) % 4096
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        os.ftruncate(fd, size)
        os.close(fd)
        is_old = i % 10 == 3
        t = now - (30 * DAY if is_old else DAY) - (i % 3600)
        os.utime(path, (t, t))
        total += size
        if is_old:
            old += 1
            old_bytes += size
    return old, old_bytes, total


def snapshot(root):
    """Every entry as (relative path, size, mtime in ns); folders with size -1."""
    out = []
    for top, dirs, names in os.walk(root):
        rel = os.path.relpath(top, root)
        for name in dirs:
            out.append((os.path.join(rel, name), -1, 0))
        for name in names:
            st = os.lstat(os.path.join(top, name))
            out.append((os.path.join(rel, name), st.st_size, st.st_mtime_ns))
    out.sort()
    return out


def settle():
    """Writes back what the last step left dirty (making a tree, the other
    side's deletions), so that neither side pays for the other's I/O."""
    os.sync()
    time.sleep(1)


def run_jobsd(args, work, folder):
    config = os.path.join(work, "jobsd.yaml")
    with open(config, "w") as f:
        f.write("state: {path: state/jobsd.db}\njobs:\n  - name: prune\n    type: retention\n"
                "    timeout: 1h\n    with:\n      folders: [{path: %s, max_age: 7d}]\n"
                % json.dumps(folder))
    settle()
    seconds, rss, _ = benchlib.run_measured(
        [args.jobsd, "once", "-c", config, "prune", "--log-level", "warn"], work)
    r = subprocess.run([args.jobsd, "history", "-c", config, "prune", "--json", "--limit", "1"],
                       cwd=work, capture_output=True, text=True, check=True)
    run = json.loads(r.stdout.splitlines()[0])
    if run["status"] != "ok":
        raise benchlib.BenchError("jobsd's run ended %s: %s" % (run["status"], run["error"]))
    return seconds, rss, run["metrics"]


def run_find(work, folder):
    settle()
    seconds, rss, _ = benchlib.run_measured(
        ["find", folder, "-type", "f", "-mtime", "+7", "-delete"], work)
    return seconds, rss


def check_metrics(metrics, files, total, deleted, deleted_bytes):
    want = {"files_before": files, "bytes_before": total, "files_deleted": deleted,
            "bytes_deleted": deleted_bytes, "files": files - deleted,
            "bytes": total - deleted_bytes, "errors": 0}
    got = {k: metrics.get(k) for k in want}
    if got != want:
        raise benchlib.BenchError("jobsd reported %s, expected %s" % (got, want))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobsd", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--files", type=int, default=None)
    parser.add_argument("--work", required=True, help="a scratch folder (run.sh gives one)")
    args = parser.parse_args()
    args.jobsd = os.path.abspath(args.jobsd)
    files = args.files or (20000 if args.quick else 1000000)
    for tool in ("find", "/usr/bin/time"):
        if not shutil.which(tool):
            raise benchlib.BenchError("%s is not installed" % tool)
    work = args.work
    a, b = os.path.join(work, "a"), os.path.join(work, "b")
    try:
        # Both made the same way, not by cp: `cp -a` gives some sparse files
        # data blocks, which makes deleting them cost more.
        now = time.time()
        benchlib.log("making %d files in %s" % (files, a))
        old, old_bytes, total = make_tree(a, files, now)
        benchlib.log("making them again in %s" % b)
        make_tree(b, files, now)
        if snapshot(a) != snapshot(b):
            raise benchlib.BenchError("the two trees differ")

        benchlib.log("first pass: find on b, jobsd on a")
        f1, f1_rss = run_find(work, b)
        j1, j1_rss, m1 = run_jobsd(args, work, a)
        check_metrics(m1, files, total, old, old_bytes)
        left = snapshot(a)
        if left != snapshot(b):
            raise benchlib.BenchError("after the first pass the trees differ")
        kept = sum(1 for _, size, _ in left if size >= 0)
        if kept != files - old:
            raise benchlib.BenchError("the first pass left %d files, expected %d"
                                      % (kept, files - old))
        benchlib.log("first pass: jobsd %.2f s, %.0f MB; find %.2f s, %.0f MB"
                     % (j1, j1_rss, f1, f1_rss))

        benchlib.log("second pass (nothing due): jobsd on a, find on b")
        j2, j2_rss, m2 = run_jobsd(args, work, a)
        f2, f2_rss = run_find(work, b)
        check_metrics(m2, files - old, total - old_bytes, 0, 0)
        if snapshot(a) != left or snapshot(b) != left:
            raise benchlib.BenchError("the second pass changed a tree")
        benchlib.log("second pass: jobsd %.2f s, %.0f MB; find %.2f s, %.0f MB"
                     % (j2, j2_rss, f2, f2_rss))
    finally:
        benchlib.log("removing the trees")
        subprocess.run(["rm", "-rf", a, b])

    print("\nretention vs find -type f -mtime +7 -delete (%d files in folders of %d, one run "
          "each, load average %s)\n" % (files, PER_FOLDER, benchlib.loadavg()))
    print("| pass | jobsd (with its size report) | find -delete | find time / jobsd time "
          "[>= 1.0] |")
    print("| --- | --- | --- | --- |")
    print("| first: %d of %d files due (%.0f MiB of %.0f MiB) | %.2f s, %.0f MB | %.2f s, %.0f MB "
          "| %.2fx |" % (old, files, old_bytes / (1 << 20), total / (1 << 20), j1, j1_rss, f1,
                         f1_rss, f1 / j1))
    print("| second: %d files, nothing due | %.2f s, %.0f MB | %.2f s, %.0f MB | %.2fx |"
          % (files - old, j2, j2_rss, f2, f2_rss, f2 / j2))
    print("\njobsd's report of the first pass: %d files, %d bytes before; %d files, %d bytes "
          "deleted; %d files, %d bytes left" % (m1["files_before"], m1["bytes_before"],
                                                m1["files_deleted"], m1["bytes_deleted"],
                                                m1["files"], m1["bytes"]))


if __name__ == "__main__":
    try:
        main()
    except (benchlib.BenchError, subprocess.CalledProcessError, RuntimeError) as e:
        print("bench/retention: %s" % e, file=sys.stderr)
        sys.exit(1)
