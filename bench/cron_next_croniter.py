#!/usr/bin/python3
"""croniter's side of bench/cron_next.sh: nanoseconds per next-fire call for
the rows of bench/cron_expressions.txt, timed like bench/cron_next_bench.cpp.

  /usr/bin/python3 bench/cron_next_croniter.py [--quick] [--file PATH]

Debian's /usr/bin/python3 has python3-croniter. Output, one line per row:
  label<TAB>median ns per call<TAB>first fire (epoch seconds)
or label<TAB>n/a<TAB>reason. croniter takes 6-field expressions with the
seconds last, so they are moved there. Calls are chained through one
croniter object (get_next with float results, its cheapest form), which
starts over from the fixed start when a result reaches 2037.
"""

import argparse
import datetime as dt
import os
import sys
import time
from zoneinfo import ZoneInfo

START = 1767225600  # 2026-01-01T00:00:00Z
HORIZON = 2114380800  # 2037-01-01T00:00:00Z


def rows(path, column):
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            parts = line.split("\t")
            spelling = parts[column] if len(parts) > column else "="
            yield parts[0], parts[1], parts[2] if spelling == "=" else spelling


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--file", default=os.path.join(here, "cron_expressions.txt"))
    args = ap.parse_args()
    try:
        from croniter import croniter
    except ImportError as e:
        sys.exit("croniter is not installed (Debian: python3-croniter): %s" % e)
    calls, reps = (50, 3) if args.quick else (2000, 15)
    try:
        from importlib.metadata import version as package_version

        version = package_version("croniter")
    except Exception:  # noqa: BLE001 - the version is only printed
        version = "?"
    print("# croniter %s, %d chained calls x %d batches per row, median" % (version, calls, reps))
    for label, zone, expr in rows(args.file, 3):
        if expr == "-":
            print("%s\tn/a\tno such syntax in croniter" % label)
            continue
        fields = expr.split()
        if len(fields) == 6:
            expr = " ".join(fields[1:] + fields[:1])
        tz = dt.timezone.utc if zone == "UTC" else ZoneInfo(zone)
        start = dt.datetime.fromtimestamp(START, tz)
        try:
            it = croniter(expr, start)
            first = int(it.get_next(float))
        except Exception as e:  # noqa: BLE001 - any refusal is reported as n/a
            print("%s\tn/a\t%s: %s" % (label, type(e).__name__, e))
            continue
        samples = []
        for rep in range(reps + 1):  # the first batch warms up, untimed
            it.set_current(start, force=True)
            begin = time.perf_counter_ns()
            for _ in range(calls):
                if it.get_next(float) >= HORIZON:
                    it.set_current(start, force=True)
            if rep > 0:
                samples.append((time.perf_counter_ns() - begin) / calls)
        samples.sort()
        print("%s\t%.1f\t%d" % (label, samples[len(samples) // 2], first))


if __name__ == "__main__":
    main()
