#!/usr/bin/python3
"""bench/openaq: the openaq job beside its Python peer, against the same fake.

    harness.py --jobsd PATH --fake PATH [--quick] [--ten-million] [--peer-sleep S]

Rows (the issue's targets in brackets):
  first load   1,000,000 measurements over 20 sensors, from empty
               [jobsd >= 100,000 records/s end to end, >= 20x the peer, RSS <= 64 MB]
  incremental  1,000 new records on top of a 100k and a 1M history (and 10M
               with --ten-million, jobsd only: that history is written into the
               database directly) [jobsd < 0.5 s, flat in the history size]

Both fetch from the fake OpenAQ (tests/fakes) on 127.0.0.1 without rate
limits. The peer (peer_openaq.py) runs twice per row: with no sleep between
requests, its most favourable setting, and as the approach being replaced
actually runs, with a fixed sleep between requests (--peer-sleep, default
0.1 s: the shortest pause such a script takes to stay polite without a rate
limiter; the free tier's 60/min would need 1 s). The peer/jobsd ratios are
printed for both. Times are wall clock of the whole process (start-up,
fetch, store, exit); RSS is the peak of the process (GNU time). --quick (CI
smoke) uses 20,000 records and checks only that everything runs and the data
is complete.
"""

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import benchlib  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SENSORS_PER_LOCATION = 2
LOCATIONS = 10
HEADROOM_HOURS = 500  # the fake's newest record is this far in the past


class Fake:
    def __init__(self, binary, records):
        now_h = int(time.time()) // 3600 * 3600
        self.start = now_h - (records + HEADROOM_HOURS) * 3600
        self.records = records
        self.proc = subprocess.Popen(
            [binary, "--locations", str(LOCATIONS), "--sensors", str(SENSORS_PER_LOCATION),
             "--records", str(records), "--start", str(self.start), "--api-key", "bench"],
            stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        self.port = int(line.split()[1])
        self.base = "http://127.0.0.1:%d" % self.port

    def extend(self, count):
        import urllib.request
        req = urllib.request.Request(self.base + "/_fake/extend?count=%d" % count, method="POST",
                                     data=b"")
        urllib.request.urlopen(req).read()

    def stop(self):
        self.proc.terminate()
        self.proc.wait()
        self.proc.stdout.close()


def locations():
    return [100201 + i for i in range(LOCATIONS)]


def write_config(folder, fake, start):
    with open(os.path.join(folder, "jobsd.yaml"), "w") as f:
        f.write("state:\n  path: state.db\nhttp:\n  listen: ''\njobs:\n"
                "  - name: aq\n    type: openaq\n    timeout: 1h\n    with:\n"
                "      api_key: bench\n      base_url: %s\n      locations: %s\n"
                "      start: %s\n      lookback: 0s\n      page_size: 1000\n      concurrency: 4\n"
                "      rate_limit: {per_minute: 0, per_hour: 0}\n"
                % (fake.base, json.dumps(locations()),
                   time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start - 3600))))


def jobsd_count(folder):
    db = sqlite3.connect(os.path.join(folder, "openaq-aq.db"))
    try:
        return db.execute("SELECT count(*) FROM measurements").fetchone()[0]
    finally:
        db.close()


def peer_count(folder):
    n = 0
    for loc in locations():
        with open(os.path.join(folder, "location-%d.json" % loc)) as f:
            n += len(json.load(f))
    return n


def jobsd_once(args, folder):
    return benchlib.run_measured([args.jobsd, "once", "-c", "jobsd.yaml", "aq", "--log-level", "warn"], folder)


def peer_once(folder, fake, sleep=0.0):
    return benchlib.run_measured([sys.executable, os.path.join(HERE, "peer_openaq.py"), "--base-url", fake.base,
                         "--api-key", "bench", "--folder", folder, "--locations",
                         ",".join(map(str, locations())), "--start", str(fake.start - 3600),
                         "--sleep", str(sleep)], folder)


def history_size(records_per_sensor):
    return records_per_sensor * LOCATIONS * SENSORS_PER_LOCATION


def scenario(args, per_sensor, with_peer=True):
    """First load of per_sensor x 20 records, then +50 per sensor (1,000).
    The peer runs without and with its fixed sleep, each in its own folder."""
    fake = Fake(args.fake, per_sensor)
    jdir = tempfile.mkdtemp(prefix="jobsd-bench-openaq-")
    pdir = tempfile.mkdtemp(prefix="jobsd-bench-openaq-peer-")
    sdir = tempfile.mkdtemp(prefix="jobsd-bench-openaq-peer-sleep-")
    peers = [("peer", pdir, 0.0)]
    if args.peer_sleep > 0:
        peers.append(("peer_sleep", sdir, args.peer_sleep))
    try:
        write_config(jdir, fake, fake.start)
        total = history_size(per_sensor)
        first = {"jobsd": jobsd_once(args, jdir)}
        assert jobsd_count(jdir) == total, (jobsd_count(jdir), total)
        if with_peer:
            for name, folder, sleep in peers:
                first[name] = peer_once(folder, fake, sleep)
                assert peer_count(folder) == total, (peer_count(folder), total)
        fake.extend(50)
        inc = {"jobsd": jobsd_once(args, jdir)}
        assert jobsd_count(jdir) == total + 1000
        if with_peer:
            for name, folder, sleep in peers:
                inc[name] = peer_once(folder, fake, sleep)
                assert peer_count(folder) == total + 1000
        return total, first, inc
    finally:
        fake.stop()
        for folder in (jdir, pdir, sdir):
            shutil.rmtree(folder, ignore_errors=True)


def ten_million(args):
    """jobsd only: a 10M-record history written straight into the database,
    cursors at its end, then one incremental run of 1,000 records."""
    per_sensor = 500_000
    fake = Fake(args.fake, per_sensor)
    jdir = tempfile.mkdtemp(prefix="jobsd-bench-openaq-10m-")
    try:
        write_config(jdir, fake, fake.start)
        # A first run creates the schema and the sensors; 10M rows then go in by SQL.
        subprocess.run([args.jobsd, "once", "-c", "jobsd.yaml", "aq", "--set",
                        "from=2000-01-01", "--set", "to=2000-01-02"], cwd=jdir, check=True,
                       capture_output=True)
        db = sqlite3.connect(os.path.join(jdir, "openaq-aq.db"))
        sensors = [r[0] for r in db.execute("SELECT id FROM sensors ORDER BY id")]
        last = fake.start + (per_sensor - 1) * 3600
        for s in sensors:
            db.execute("WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n < ?) "
                       "INSERT OR IGNORE INTO measurements SELECT ?, 'raw', ? + n * 3600, ? + n * 3600 - 3600, "
                       "5.0 + ((? * 31 + n * 7919) % 2000) / 10.0, 0 FROM i",
                       (per_sensor - 1, s, fake.start, fake.start, s))
            db.execute("INSERT OR REPLACE INTO cursors VALUES (?, 'raw', ?)", (s, last))
        db.commit()
        db.close()
        fake.extend(50)
        inc = jobsd_once(args, jdir)
        assert jobsd_count(jdir) == history_size(per_sensor) + 1000
        return inc
    finally:
        fake.stop()
        shutil.rmtree(jdir, ignore_errors=True)


def fmt_row(name, row):
    """One line: jobsd, the peer without and with its sleep, and the ratios."""
    def cell(m):
        return "%8.2f s %5.0f MB" % (m[0], m[1]) if m else "%17s" % "n/a"

    def ratio(m):
        return "%7.1fx" % (m[0] / row["jobsd"][0]) if m else "%8s" % "n/a"

    p, ps = row.get("peer"), row.get("peer_sleep")
    return "%-32s %s   %s   %s   %s %s" % (name, cell(row["jobsd"]), cell(p), cell(ps), ratio(p),
                                           ratio(ps))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobsd", required=True)
    parser.add_argument("--fake", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--ten-million", action="store_true")
    parser.add_argument("--peer-sleep", type=float, default=None,
                        help="the peer's fixed sleep between requests in its second run, seconds "
                        "(default 0.1; 0.01 with --quick, to keep CI fast; 0: skip that run)")
    args = parser.parse_args()
    if args.peer_sleep is None:
        args.peer_sleep = 0.01 if args.quick else 0.1
    args.jobsd = os.path.abspath(args.jobsd)
    args.fake = os.path.abspath(args.fake)

    small, big = (100, 1000) if args.quick else (5_000, 50_000)
    print("openaq benchmark: jobsd once vs the Python peer (requests + JSON files), same fake,")
    if args.peer_sleep > 0:
        print("loopback, no rate limits; wall time and peak RSS per process; the peer without and")
        print("with a fixed %.2f s sleep between requests\n" % args.peer_sleep)
    else:
        print("loopback, no rate limits; wall time and peak RSS per process; the peer without a")
        print("sleep between requests only (--peer-sleep 0)\n")
    print("%-32s %19s   %19s   %19s   %s" % ("", "jobsd", "peer, no sleep", "peer, %.2f s sleep"
                                             % args.peer_sleep, "peer/jobsd"))
    t_small, first_small, inc_small = scenario(args, small)
    t_big, first_big, inc_big = scenario(args, big)
    j, p = first_big["jobsd"], first_big["peer"]
    ps = first_big.get("peer_sleep")
    print(fmt_row("first load, %d records" % t_big, first_big))
    print("%-32s %8.0f rec/s      %8.0f rec/s      %s" % (
        "  throughput", t_big / j[0], t_big / p[0],
        "%8.0f rec/s" % (t_big / ps[0]) if ps else "n/a"))
    print(fmt_row("incremental +1,000 on %d" % t_small, inc_small))
    print(fmt_row("incremental +1,000 on %d" % t_big, inc_big))
    if args.ten_million:
        inc = ten_million(args)
        print(fmt_row("incremental +1,000 on 10000000", {"jobsd": inc}))
    if not args.quick:
        rate = t_big / j[0]
        print("\ntargets: first load >= 100,000 rec/s: %s; >= 20x peer: %s without its sleep, %s "
              "with it; RSS <= 64 MB: %s; incremental < 0.5 s: %s"
              % ("met" if rate >= 100_000 else "NOT met (%.0f)" % rate,
                 "met" if p[0] / j[0] >= 20 else "NOT met (%.1fx)" % (p[0] / j[0]),
                 ("met" if ps[0] / j[0] >= 20 else "NOT met (%.1fx)" % (ps[0] / j[0])) if ps
                 else "not measured",
                 "met" if j[1] <= 64 else "NOT met (%.0f MB)" % j[1],
                 "met" if inc_big["jobsd"][0] < 0.5 else "NOT met (%.2f s)" % inc_big["jobsd"][0]))


if __name__ == "__main__":
    main()
