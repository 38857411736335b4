#!/usr/bin/python3
"""The backup job beside `sqlite3 db ".backup x" && zstd -3 x`, on the same
SQLite database, measured in one run: wall time and peak RSS.

The database: rows of text and numbers (compressible, like a dashboard's
tables), about 2 GiB (--quick: 20 MiB). jobsd runs `jobsd once` on a backup
job with that one source, zstd level 3, once with verify off (the same work
as the peer: a consistent copy, compressed) and once with verify on (the
copy also read back, decompressed and integrity-checked). The peer is what
a cron line does: the sqlite3 shell's online backup, then zstd -3.

    harness.py --jobsd PATH [--mib N] [--quick]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE)))
import benchlib  # noqa: E402


def make_database(path, mib):
    """Rows of about 1 KiB until the file is `mib` MiB."""
    rows = mib * 1280
    sql = ("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; "
           "CREATE TABLE sales (id INTEGER PRIMARY KEY, day TEXT, region TEXT, product TEXT, "
           "amount REAL, note TEXT); "
           "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d) "
           "INSERT INTO sales (day, region, product, amount, note) SELECT "
           "printf('2026-%%02d-%%02d', i %% 12 + 1, i %% 28 + 1), "
           "CASE i %% 3 WHEN 0 THEN 'Europe' WHEN 1 THEN 'Asia' ELSE 'North America' END, "
           "'product-' || (i %% 997), (i %% 10007) / 100.0, "
           "printf('%%s %%s', hex(randomblob(120)), substr('lorem ipsum dolor sit amet consectetur "
           "adipiscing elit sed do eiusmod tempor incididunt ut labore et dolore magna aliqua "
           "ut enim ad minim veniam quis nostrud exercitation ullamco laboris nisi ut aliquip ex "
           "ea commodo consequat duis aute irure dolor in reprehenderit in voluptate velit esse "
           "cillum dolore eu fugiat nulla pariatur excepteur sint occaecat cupidatat non proident "
           "sunt in culpa qui officia deserunt mollit anim id est laborum', 1, 400 + i %% 300)) "
           "FROM n;" % rows)
    subprocess.run(["sqlite3", path, sql], check=True)


def jobsd_run(args, work, verify):
    folder = os.path.join(work, "jobsd-%s" % ("verify" if verify else "plain"))
    os.makedirs(folder)
    with open(os.path.join(folder, "jobsd.yaml"), "w") as f:
        f.write("state:\n  path: state.db\nhttp:\n  listen: ''\njobs:\n"
                "  - name: b\n    type: backup\n    timeout: 1h\n    with:\n"
                "      sources: [{sqlite: %s}]\n      dest: backups\n"
                "      compress: {codec: zstd, level: 3}\n      verify: %s\n"
                % (os.path.join(work, "db.sqlite"), "true" if verify else "false"))
    wall, rss, _ = benchlib.run_measured([args.jobsd, "once", "-c", "jobsd.yaml", "b"], cwd=folder)
    out = subprocess.run([args.jobsd, "backups", "-c", "jobsd.yaml", "b", "--json"], cwd=folder,
                         check=True, capture_output=True, text=True).stdout
    backup = json.loads(out.splitlines()[-1])
    stored = backup["stored_bytes"]
    shutil.rmtree(folder)
    return wall, rss, stored


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobsd", required=True)
    parser.add_argument("--work", required=True, help="a scratch folder (run.sh gives one)")
    parser.add_argument("--mib", type=int, default=2048)
    parser.add_argument("--quick", action="store_true", help="CI smoke: 20 MiB")
    args = parser.parse_args()
    if args.quick:
        args.mib = 20
    for tool in ("sqlite3", "zstd"):
        if shutil.which(tool) is None:
            print("bench failed: %s is not installed" % tool, file=sys.stderr)
            return 1
    work = args.work  # run_harness.sh makes it and removes it
    try:
        benchlib.log("making a %d MiB database" % args.mib)
        db = os.path.join(work, "db.sqlite")
        make_database(db, args.mib)
        size = os.path.getsize(db)
        subprocess.run(["sync"], check=True)
        benchlib.log("jobsd, verify off")
        j_wall, j_rss, j_stored = jobsd_run(args, work, False)
        benchlib.log("sqlite3 .backup && zstd -3")
        copy = os.path.join(work, "copy.sqlite")
        p_wall, p_rss, _ = benchlib.run_measured(
            ["/bin/sh", "-c", "sqlite3 '%s' \".backup '%s'\" && zstd -q -3 --rm '%s' -o '%s.zst'"
             % (db, copy, copy, copy)], cwd=work)
        p_stored = os.path.getsize(copy + ".zst")
        benchlib.log("jobsd, verify on")
        v_wall, v_rss, _ = jobsd_run(args, work, True)
    finally:
        for name in ("db.sqlite", "copy.sqlite.zst"):
            if os.path.exists(os.path.join(work, name)):
                os.remove(os.path.join(work, name))  # GiBs: gone before the report
    print("backup of a %.0f MiB SQLite database, zstd -3, load average %s"
          % (size / 2**20, benchlib.loadavg()))
    print("| subject | seconds | peak RSS | stored |")
    print("| --- | --- | --- | --- |")
    print("| jobsd backup (verify off) | %.2f | %.0f MB | %.0f MiB |" % (j_wall, j_rss, j_stored / 2**20))
    print("| sqlite3 .backup && zstd -3 | %.2f | %.0f MB | %.0f MiB |" % (p_wall, p_rss, p_stored / 2**20))
    print("| jobsd backup (verify on: read back, integrity_check) | %.2f | %.0f MB | |" % (v_wall, v_rss))
    print("jobsd speed / peer's: %.2fx (target >= 0.8); jobsd peak RSS %.0f MB (target <= 64)"
          % (p_wall / j_wall, max(j_rss, v_rss)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
