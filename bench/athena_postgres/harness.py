#!/usr/bin/python3
"""The athena_postgres job's load beside what PostgreSQL users do by hand,
all measured in one run on one PostgreSQL 15 (tests/support/pg_server.py).

The result: N rows of the seed's forecast table (10 columns, NULLs and empty
strings among them), written by the fake Athena into s3rver as Athena writes
its CSV. Before each subject the target holds N/2 of those keys with other
values (the same start for every subject), so a load inserts N/2 rows and
updates N/2.

  jobsd       `jobsd once` (mode full): its fetch_seconds + load_seconds, from
              the S3 CSV to committed rows (S3 GetObject, COPY into a temporary
              table, INSERT ... ON CONFLICT DO UPDATE where a value differs,
              the status row, COMMIT); peak RSS of the whole process
  psql        the practical limit: `psql` running `\\copy` of the same CSV
              (already on local disk: the download is not counted) into a
              temporary table and the same INSERT ... ON CONFLICT, one
              transaction
  row-at-a-time  what a sync without batching does (the seed's Lambda with
              psycopg2): one INSERT ... ON CONFLICT per row and a commit each;
              measured on the first ROWWISE rows, its rate extrapolated

Targets (the issue's): jobsd >= 0.8x psql's rate, >= 40x row-at-a-time, peak
RSS <= 64 MB whatever N. The tables after jobsd and after psql are compared
(a checksum of every row): a difference fails the harness.

    harness.py --jobsd PATH [--rows N] [--rowwise M] [--quick]
"""

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
import benchlib  # noqa: E402
from athena_stack import (AthenaStack, forecast_rows, ACCESS_KEY_ID, SECRET_ACCESS_KEY,  # noqa: E402
                          RESULTS_BUCKET)
from pg_server import PostgresServer  # noqa: E402

import psycopg2  # noqa: E402

COLUMNS = ("restaurant_id, inventory_item_id, business_date, dma_id, dc_id, state, y_05, y_50, "
           "y_95, updated_at")
KEY = "restaurant_id, inventory_item_id, business_date"
OTHERS = ["dma_id", "dc_id", "state", "y_05", "y_50", "y_95", "updated_at"]
UPSERT = (
    "INSERT INTO forecast_data AS t (%s) SELECT %s FROM load "
    "ON CONFLICT (%s) DO UPDATE SET %s WHERE (%s) IS DISTINCT FROM (%s)"
    % (COLUMNS, COLUMNS, KEY, ", ".join("%s = EXCLUDED.%s" % (c, c) for c in OTHERS),
       ", ".join("t." + c for c in OTHERS), ", ".join("EXCLUDED." + c for c in OTHERS)))
CHECKSUM = ("SELECT count(*), md5(string_agg(f::text, '|' ORDER BY %s)) FROM forecast_data f" % KEY)


def csv_field(v):
    return "" if v is None else '"' + v.replace('"', '""') + '"'


def write_csv(path, rows):
    with open(path, "w") as f:
        f.write(",".join('"%s"' % c.strip() for c in COLUMNS.split(",")) + "\n")
        for row in rows:
            f.write(",".join(csv_field(v) for v in row) + "\n")


class Bench:
    def __init__(self, args):
        self.args = args
        self.dir = args.work  # run_harness.sh makes it and removes it

    def psql(self, sql=None, file=None):
        env = dict(os.environ, PGPASSWORD=self.pg.password)
        argv = ["/usr/bin/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                "-p", str(self.pg.port), "-U", "postgres", "-d", "bench"]
        argv += ["-f", file] if file else ["-c", sql]
        return subprocess.run(argv, env=env, check=True, capture_output=True, text=True,
                              cwd=self.dir).stdout

    def reset(self):
        """The target as every subject finds it: N/2 keys, other values."""
        self.psql("TRUNCATE forecast_data")
        self.psql("\\copy forecast_data (%s) FROM '%s' WITH (FORMAT csv, HEADER true)"
                  % (COLUMNS, self.initial_csv))
        self.psql("VACUUM ANALYZE forecast_data")
        self.psql("CHECKPOINT")

    def run(self):
        n = self.args.rows
        benchlib.log("making %d rows" % n)
        rows = forecast_rows(n, variant=0)
        self.initial_csv = os.path.join(self.dir, "initial.csv")
        write_csv(self.initial_csv, forecast_rows(n // 2, variant=5))
        with PostgresServer() as pg, AthenaStack(rows=rows) as stack:
            self.pg = pg
            pg.psql("CREATE DATABASE bench")
            self.psql(
                "CREATE TABLE forecast_data (restaurant_id integer, inventory_item_id integer, "
                "business_date date, dma_id text, dc_id text, state text, y_05 double precision, "
                "y_50 double precision, y_95 double precision, updated_at timestamp, "
                "UNIQUE (restaurant_id, inventory_item_id, business_date))")
            del rows
            results = {"jobsd": self.jobsd(stack), "psql": self.psql_peer(stack),
                       "rowwise": self.rowwise(n)}
        self.report(results)

    def jobsd(self, stack):
        self.reset()
        with open(os.path.join(self.dir, "jobsd.yaml"), "w") as f:
            f.write(
                "state:\n  path: state.db\nhttp:\n  listen: ''\njobs:\n"
                "  - name: sync\n    type: athena_postgres\n    timeout: 30m\n    with:\n"
                "      aws: {region: us-east-2, access_key_id: %s, secret_access_key: %s, "
                "endpoint: '%s', s3_endpoint: '%s'}\n"
                "      athena: {database: forecasts, output_location: 's3://%s/bench/'}\n"
                "      query: SELECT %s FROM forecast_data\n"
                "      postgres: {url: '%s', table: forecast_data, key: [%s], create: true}\n"
                % (ACCESS_KEY_ID, SECRET_ACCESS_KEY, stack.athena_endpoint, stack.s3_endpoint,
                   RESULTS_BUCKET, COLUMNS, self.pg.url.rsplit("/", 1)[0] + "/bench", KEY))
        benchlib.log("jobsd once")
        wall, rss, _ = benchlib.run_measured(
            [self.args.jobsd, "once", "-c", "jobsd.yaml", "sync"], cwd=self.dir)
        history = subprocess.run([self.args.jobsd, "history", "-c", "jobsd.yaml", "sync", "--json"],
                                 cwd=self.dir, check=True, capture_output=True, text=True).stdout
        m = json.loads(history.splitlines()[0])["metrics"]
        half = self.args.rows // 2
        if (m["inserted"], m["updated"], m["unchanged"]) != (self.args.rows - half, half, 0):
            raise benchlib.BenchError("jobsd's counts are wrong: %s" % m)
        checksum = self.psql(CHECKSUM)
        # The CSV jobsd read, for the peer (taken from s3rver, not timed).
        s3 = stack.s3.client()
        listing = s3.list_objects_v2(Bucket=RESULTS_BUCKET, Prefix="bench/")["Contents"]
        newest = max(listing, key=lambda o: o["LastModified"])
        self.result_csv = os.path.join(self.dir, "result.csv")
        with open(self.result_csv, "wb") as f:
            f.write(s3.get_object(Bucket=RESULTS_BUCKET, Key=newest["Key"])["Body"].read())
        seconds = m["fetch_seconds"] + m["load_seconds"]
        return {"seconds": seconds, "load_only": m["load_seconds"], "wall": wall, "rss": rss,
                "checksum": checksum}

    def psql_peer(self, stack):
        self.reset()
        script = os.path.join(self.dir, "peer.sql")
        with open(script, "w") as f:
            f.write("BEGIN;\nCREATE TEMP TABLE load ON COMMIT DROP AS SELECT %s FROM forecast_data "
                    "WITH NO DATA;\n\\copy load (%s) FROM '%s' WITH (FORMAT csv, HEADER true)\n"
                    "%s;\nCOMMIT;\n" % (COLUMNS, COLUMNS, self.result_csv, UPSERT))
        benchlib.log("psql \\copy + INSERT ... ON CONFLICT")
        env_cmd = ["/usr/bin/env", "PGPASSWORD=" + self.pg.password, "/usr/bin/psql", "-X", "-q",
                   "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.pg.port), "-U",
                   "postgres", "-d", "bench", "-f", script]
        wall, rss, _ = benchlib.run_measured(env_cmd, cwd=self.dir)
        return {"seconds": wall, "rss": rss, "checksum": self.psql(CHECKSUM)}

    def rowwise(self, n):
        self.reset()
        m = min(self.args.rowwise, n)
        rows = forecast_rows(m, variant=0)
        benchlib.log("row-at-a-time, %d rows" % m)
        conn = psycopg2.connect(host="127.0.0.1", port=self.pg.port, user="postgres",
                                password=self.pg.password, dbname="bench")
        sql = UPSERT.replace("SELECT %s FROM load" % COLUMNS,
                             "VALUES (%s)" % ", ".join(["%s"] * 10))
        cur = conn.cursor()
        start = time.monotonic()
        for row in rows:
            cur.execute(sql, row)
            conn.commit()
        seconds = time.monotonic() - start
        conn.close()
        return {"seconds": seconds * n / m, "measured_rows": m, "measured_seconds": seconds}

    def report(self, r):
        n = self.args.rows
        rate = {k: n / v["seconds"] for k, v in r.items()}
        if r["jobsd"]["checksum"] != r["psql"]["checksum"]:
            raise benchlib.BenchError("the tables after jobsd and after psql differ: %s vs %s"
                                      % (r["jobsd"]["checksum"], r["psql"]["checksum"]))
        print("athena_postgres load, %d rows (half already present with other values), "
              "load average %s" % (n, benchlib.loadavg()))
        print("| subject | seconds | rows/s | peak RSS |")
        print("| --- | --- | --- | --- |")
        print("| jobsd (S3 CSV to committed rows) | %.2f | %.0f | %.0f MB |"
              % (r["jobsd"]["seconds"], rate["jobsd"], r["jobsd"]["rss"]))
        print("| jobsd, load only (COPY + upsert + commit) | %.2f | %.0f | |"
              % (r["jobsd"]["load_only"], n / r["jobsd"]["load_only"]))
        print("| psql \\copy + INSERT ON CONFLICT (local file) | %.2f | %.0f | %.0f MB |"
              % (r["psql"]["seconds"], rate["psql"], r["psql"]["rss"]))
        print("| row-at-a-time, commit each (%d rows measured in %.1f s) | %.0f | %.0f | |"
              % (r["rowwise"]["measured_rows"], r["rowwise"]["measured_seconds"],
                 r["rowwise"]["seconds"], rate["rowwise"]))
        print("jobsd / psql: %.2fx (target >= 0.8); jobsd / row-at-a-time: %.0fx (target >= 40); "
              "jobsd peak RSS %.0f MB (target <= 64); jobsd's whole run %.2f s"
              % (rate["jobsd"] / rate["psql"], rate["jobsd"] / rate["rowwise"], r["jobsd"]["rss"],
                 r["jobsd"]["wall"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobsd", required=True)
    parser.add_argument("--work", required=True, help="a scratch folder (run.sh gives one)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rowwise", type=int, default=20_000)
    parser.add_argument("--quick", action="store_true", help="CI smoke: 20,000 rows")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.rowwise = 20_000, 500
    try:
        Bench(args).run()
    except benchlib.BenchError as e:
        print("bench failed: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
