#!/usr/bin/python3
"""The sql_import job beside what SQLite and PostgreSQL users do by hand, and
beside the seed's script, all measured in one run.

The data: N sales rows (sale_date, user_id, product_name, quantity,
unit_price, total_amount, region; a fixed seed, so the same file every run;
product names with commas, quotes and non-ASCII among them) in one CSV, every
row valid. Before each subject the target holds the even-numbered rows' keys
with other values (quantity and total_amount differ), the same start for
every subject, so an import inserts N/2 rows and updates N/2.

  SQLite (a copy of one prepared db per subject)
    jobsd     `jobsd once` of the job (target sqlite): the whole process, wall
              seconds and peak RSS
    sqlite3   the practical limit: the sqlite3 CLI, in one transaction:
              `.import --csv --skip 1` into a temporary table, DELETE the rows
              failing the job's check, INSERT ... ON CONFLICT DO UPDATE ...
              WHERE a value IS NOT the new one, COMMIT (default pragmas)
    seed      the seed's script: Python's csv module, one INSERT ... ON
              CONFLICT DO UPDATE and one commit() per row in try/except
              (sqlite3 module, default settings); run on the first SEED rows
              only, its rate compared
  PostgreSQL 15 (tests/support/pg_server.py; the table reset before each)
    jobsd     `jobsd once` of the job (target postgres)
    psql      `psql`: BEGIN, a temporary table, `\\copy ... CSV HEADER`, the
              DELETE of failing rows, INSERT ... ON CONFLICT DO UPDATE ...
              WHERE ... IS DISTINCT FROM ..., COMMIT

Targets: jobsd >= 0.8x the peer's rows/s on each target, >= 20x the seed's,
peak RSS <= 64 MB. Checked (a failure fails the harness; timing never does):
jobsd's table equals the peer's (EXCEPT both ways on SQLite, a checksum of
every row on PostgreSQL), each peer's table holds what the data implies, and
jobsd's counts (read N, inserted N/2, updated N/2, unchanged 0, invalid 0).
Until the job type exists jobsd's part fails; that is reported and the peers
still run (--peers-only skips jobsd).

    harness.py --jobsd PATH --work DIR [--rows N] [--seed-rows M] [--quick]
               [--peers-only]
"""

import argparse
import csv
import datetime
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "bench"))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
import benchlib  # noqa: E402
from pg_server import PostgresServer  # noqa: E402

SEED = 20240601
COLUMNS = ["sale_date", "user_id", "product_name", "quantity", "unit_price", "total_amount",
           "region"]
KEY = ["sale_date", "user_id", "product_name"]
OTHERS = [c for c in COLUMNS if c not in KEY]
CHECK = "abs(total_amount - quantity * unit_price) < 0.01"
REGIONS = ["North America", "Europe", "Asia"]
PRODUCTS = ["Widget", "Widget, large", 'Cable 2" USB-C', "Café au lait mug", "Desk lamp",
            "Office chair", "Notebook A5", "Stapler", "Monitor 27 inch", "Keyboard (DE)",
            "Mouse pad", "Paper, 500 sheets", "Pen 'gel' blue", "Headset", "Webcam HD",
            "Coffee beans 1kg", "Tea — green", "Water bottle", "Backpack", "USB hub 4-port"]

SQLITE_COLUMNS = ("sale_date TEXT NOT NULL, user_id INTEGER NOT NULL, product_name TEXT NOT NULL, "
                  "quantity INTEGER, unit_price NUMERIC, total_amount NUMERIC, region TEXT")
SQLITE_SCHEMA = ("CREATE TABLE sales (%s, PRIMARY KEY (sale_date, user_id, product_name))"
                 % SQLITE_COLUMNS)
PG_SCHEMA = (
    "CREATE TABLE sales (sale_date date NOT NULL, user_id integer NOT NULL, "
    "product_name text NOT NULL, quantity integer, unit_price numeric(12,2), "
    "total_amount numeric(14,2), region text, PRIMARY KEY (sale_date, user_id, product_name))")
# The same row whatever the storage class a value took (NUMERIC affinity
# keeps 12.00 as an integer, 12.5 as a real).
SQLITE_ROW = ("sale_date, user_id, product_name, quantity, printf('%.2f', unit_price), "
              "printf('%.2f', total_amount), region")
PG_CHECKSUM = ("SELECT count(*), md5(string_agg(s::text, '|' ORDER BY %s)) FROM sales s"
               % ", ".join(KEY))


def upsert(source, distinct):
    """INSERT ... SELECT FROM `source` ON CONFLICT DO UPDATE where a value differs."""
    cols = ", ".join(COLUMNS)
    changed = " OR ".join("sales.%s %s excluded.%s" % (c, distinct, c) for c in OTHERS)
    return ("INSERT INTO sales (%s) SELECT %s FROM %s WHERE true ON CONFLICT (%s) DO UPDATE SET "
            "%s WHERE %s" % (cols, cols, source, ", ".join(KEY),
                             ", ".join("%s = excluded.%s" % (c, c) for c in OTHERS), changed))


def make_data(n, sales_csv, initial_csv):
    """Writes the N rows and the prepared half; returns what the table holds
    after an import of all N: (rows, sum of quantity, sum of total in cents)."""
    rng = random.Random(SEED)
    first_day = datetime.date(2023, 1, 1)
    days = [(first_day + datetime.timedelta(d)).isoformat() for d in range(731)]
    sum_quantity = sum_cents = 0
    with open(sales_csv, "w", newline="", encoding="utf-8") as f, \
            open(initial_csv, "w", newline="", encoding="utf-8") as g:
        out, old = csv.writer(f, lineterminator="\n"), csv.writer(g, lineterminator="\n")
        out.writerow(COLUMNS)
        old.writerow(COLUMNS)
        for i in range(n):
            # (day, k) -> (sale_date, user_id) is one to one: the keys are unique.
            day, k = i % 731, i // 731
            user_id = 1 + (k * 7919) % 1000003
            product = PRODUCTS[rng.randrange(len(PRODUCTS))]
            quantity = rng.randint(1, 20)
            price = rng.randint(99, 99999)
            region = REGIONS[rng.randrange(3)]
            out.writerow([days[day], user_id, product, quantity, "%d.%02d" % divmod(price, 100),
                          "%d.%02d" % divmod(quantity * price, 100), region])
            sum_quantity += quantity
            sum_cents += quantity * price
            if i % 2 == 0:
                q = quantity % 20 + 1
                old.writerow([days[day], user_id, product, q, "%d.%02d" % divmod(price, 100),
                              "%d.%02d" % divmod(q * price, 100), region])
    return (n, sum_quantity, sum_cents)


def job_config(state_db, csv_path, target):
    columns = {
        "sale_date": "{type: date, required: true}",
        "user_id": "{type: integer, required: true}",
        "product_name": "{type: text, required: true, max_length: 200}",
        "quantity": "{type: integer, min: 1}",
        "unit_price": "{type: decimal, min: 0}",
        "total_amount": "{type: decimal, min: 0}",
        "region": "{type: text, in: [%s]}" % ", ".join(REGIONS),
    }
    return ("state:\n  path: %s\nhttp:\n  listen: ''\njobs:\n"
            "  - name: sales-import\n    type: sql_import\n    timeout: 1h\n    with:\n"
            "      source:\n        csv: '%s'\n"
            "      target: %s\n"
            "      table: sales\n"
            "      key: [%s]\n"
            "      columns:\n%s"
            "      checks: [\"%s\"]\n"
            "      on_invalid: skip\n"
            % (state_db, csv_path, target, ", ".join(KEY),
               "".join("        %s: %s\n" % kv for kv in columns.items()), CHECK))


class Bench:
    def __init__(self, args):
        self.args = args
        self.dir = args.work  # run_harness.sh makes it and removes it
        self.n = args.rows
        self.half = (self.n + 1) // 2  # the even-numbered rows are already there
        self.failures = []            # correctness: these fail the run
        self.jobsd_errors = {}        # target -> why jobsd's part did not run

    def path(self, name):
        return os.path.join(self.dir, name)

    def check(self, ok, what):
        if not ok:
            self.failures.append(what)
            benchlib.log("CHECK FAILED: " + what)

    # -- jobsd ----------------------------------------------------------------

    def run_jobsd(self, target_name, target_yaml):
        """`jobsd once` of the job; returns {seconds, rss, metrics} or None
        (the reason in self.jobsd_errors)."""
        config = "jobsd-%s.yaml" % target_name
        with open(self.path(config), "w") as f:
            f.write(job_config("state-%s.db" % target_name, self.sales_csv, target_yaml))
        benchlib.log("jobsd once (%s)" % target_name)
        try:
            wall, rss, out = benchlib.run_measured(
                [self.args.jobsd, "once", "-c", config, "sales-import", "--json"], cwd=self.dir)
        except RuntimeError as e:
            text = str(e)
            if "unknown job type" in text and "sql_import" in text:
                text = "this jobsd has no sql_import job type yet (%s)" % text.strip()
            self.jobsd_errors[target_name] = text
            benchlib.log("jobsd (%s) did not run: %s" % (target_name, text))
            return None
        run = None
        for line in reversed(out.splitlines()):
            try:
                run = json.loads(line)
                break
            except ValueError:
                continue
        if not isinstance(run, dict):
            self.jobsd_errors[target_name] = "`jobsd once --json` printed no JSON: %r" % out[-500:]
            return None
        metrics = run.get("metrics")
        if metrics is None:
            # `once --json` without metrics: the run as `history --json` has it.
            history = subprocess.run(
                [self.args.jobsd, "history", "-c", config, "sales-import", "--limit", "1",
                 "--json"], cwd=self.dir, capture_output=True, text=True)
            try:
                metrics = json.loads(history.stdout.splitlines()[0]).get("metrics")
            except (ValueError, IndexError):
                metrics = None
        if run.get("status") != "ok":
            self.jobsd_errors[target_name] = "the run ended %s: %s" % (run.get("status"),
                                                                      run.get("error"))
            return None
        metrics = metrics or {}
        expected = {"read": self.n, "inserted": self.n - self.half, "updated": self.half,
                    "unchanged": 0, "invalid": 0}
        got = {k: metrics.get(k) for k in expected}
        self.check(got == expected, "jobsd (%s): metrics %s, the data implies %s"
                   % (target_name, got, expected))
        return {"seconds": wall, "rss": rss, "metrics": metrics,
                "run_seconds": run.get("duration_seconds")}

    # -- SQLite ---------------------------------------------------------------

    def sqlite_copy(self, name):
        path = self.path(name)
        shutil.copyfile(self.prepared_db, path)
        return path

    def prepare_sqlite(self):
        self.prepared_db = self.path("prepared.db")
        script = self.path("prepare.sql")
        with open(script, "w") as f:
            f.write("%s;\n.import --csv --skip 1 '%s' sales\n" % (SQLITE_SCHEMA, self.initial_csv))
        subprocess.run(["/usr/bin/sqlite3", "-bail", self.prepared_db, ".read '%s'" % script],
                       check=True, capture_output=True)

    def sqlite_content(self, db):
        with sqlite3.connect(db) as conn:
            return conn.execute("SELECT count(*), sum(quantity), "
                                "sum(CAST(round(total_amount * 100) AS INTEGER)) FROM sales"
                                ).fetchone()

    def sqlite_same(self, a, b):
        """Rows in a but not in b, and in b but not in a."""
        conn = sqlite3.connect(a)
        conn.execute("ATTACH DATABASE ? AS other", (b,))
        counts = [conn.execute("SELECT count(*) FROM (SELECT %s FROM %s.sales EXCEPT SELECT %s "
                               "FROM %s.sales)" % (SQLITE_ROW, x, SQLITE_ROW, y)).fetchone()[0]
                  for x, y in (("main", "other"), ("other", "main"))]
        conn.close()
        return counts

    def sqlite_peer(self):
        db = self.sqlite_copy("peer.db")
        script = self.path("peer-sqlite.sql")
        with open(script, "w") as f:
            # At its best: the same page cache jobsd gives its connection
            # (SQLite's default of 2 MiB doubles the upsert's time).
            f.write("PRAGMA cache_size = -12288;\nBEGIN;\nCREATE TEMP TABLE staging (%s);\n"
                    ".import --csv --skip 1 '%s' staging\n"
                    "DELETE FROM staging WHERE NOT (%s);\n%s;\nCOMMIT;\n"
                    % (SQLITE_COLUMNS, self.sales_csv, CHECK, upsert("staging", "IS NOT")))
        benchlib.log("sqlite3 .import + INSERT ... ON CONFLICT")
        wall, rss, _ = benchlib.run_measured(
            ["/usr/bin/sqlite3", "-bail", db, ".read '%s'" % script], cwd=self.dir)
        content = self.sqlite_content(db)
        self.check(content == self.expected, "sqlite3 peer: the table holds %s, the data implies %s"
                   % (content, self.expected))
        return {"seconds": wall, "rss": rss, "db": db}

    def seed(self):
        db = self.sqlite_copy("seed.db")
        m = min(self.args.seed_rows, self.n)
        benchlib.log("the seed's script, first %d rows" % m)
        sql = ("INSERT INTO sales (%s) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (%s) DO UPDATE SET "
               "%s" % (", ".join(COLUMNS), ", ".join(KEY),
                       ", ".join("%s = excluded.%s" % (c, c) for c in OTHERS)))
        conn = sqlite3.connect(db)
        done = failed = 0
        start = time.monotonic()
        with open(self.sales_csv, newline="", encoding="utf-8") as f:
            for i, row in enumerate(csv.DictReader(f)):
                if i == m:
                    break
                try:
                    quantity = int(row["quantity"])
                    price, total = float(row["unit_price"]), float(row["total_amount"])
                    if abs(total - quantity * price) >= 0.01:
                        raise ValueError("total does not match")
                    conn.execute(sql, (row["sale_date"], int(row["user_id"]), row["product_name"],
                                       quantity, price, total, row["region"]))
                    conn.commit()
                    done += 1
                except (ValueError, sqlite3.Error):
                    conn.rollback()
                    failed += 1
        seconds = time.monotonic() - start
        count = conn.execute("SELECT count(*) FROM sales").fetchone()[0]
        conn.close()
        self.check(done == m and count == self.half + m // 2,
                   "seed: %d rows written, %d failed, %d in the table (expected %d, 0, %d)"
                   % (done, failed, count, m, self.half + m // 2))
        return {"seconds": seconds, "rows": m}

    def run_sqlite(self):
        self.prepare_sqlite()
        results = {}
        if not self.args.peers_only:
            db = self.sqlite_copy("jobsd.db")
            results["jobsd"] = self.run_jobsd("sqlite", "{sqlite: '%s'}" % db)
            if results["jobsd"]:
                results["jobsd"]["db"] = db
        results["peer"] = self.sqlite_peer()
        results["seed"] = self.seed()
        if results.get("jobsd"):
            missing, extra = self.sqlite_same(results["peer"]["db"], results["jobsd"]["db"])
            self.check((missing, extra) == (0, 0),
                       "SQLite: %d of the sqlite3 peer's rows are not in jobsd's table, %d of "
                       "jobsd's not in the peer's" % (missing, extra))
        return results

    # -- PostgreSQL -----------------------------------------------------------

    def psql(self, sql=None, file=None):
        env = dict(os.environ, PGPASSWORD=self.pg.password)
        argv = ["/usr/bin/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                "-p", str(self.pg.port), "-U", "postgres", "-d", "bench"]
        argv += ["-f", file] if file else ["-c", sql]
        return subprocess.run(argv, env=env, check=True, capture_output=True, text=True,
                              cwd=self.dir).stdout

    def pg_reset(self):
        """The target as every subject finds it: the even rows, other values."""
        self.psql("TRUNCATE sales")
        self.psql("\\copy sales (%s) FROM '%s' WITH (FORMAT csv, HEADER true)"
                  % (", ".join(COLUMNS), self.initial_csv))
        self.psql("VACUUM ANALYZE sales")
        self.psql("CHECKPOINT")

    def pg_content(self, who):
        row = self.psql("SELECT count(*), sum(quantity), (sum(total_amount) * 100)::bigint "
                        "FROM sales").strip().split("|")
        content = tuple(int(v) for v in row)
        self.check(content == self.expected, "%s: the PostgreSQL table holds %s, the data implies "
                   "%s" % (who, content, self.expected))
        return self.psql(PG_CHECKSUM).strip()

    def psql_peer(self):
        self.pg_reset()
        script = self.path("peer-pg.sql")
        cols = ", ".join(COLUMNS)
        with open(script, "w") as f:
            f.write("BEGIN;\nCREATE TEMP TABLE staging ON COMMIT DROP AS SELECT %s FROM sales "
                    "WITH NO DATA;\n\\copy staging (%s) FROM '%s' WITH (FORMAT csv, HEADER true)\n"
                    "DELETE FROM staging WHERE NOT (%s);\n%s;\nCOMMIT;\n"
                    % (cols, cols, self.sales_csv, CHECK, upsert("staging", "IS DISTINCT FROM")))
        benchlib.log("psql \\copy + INSERT ... ON CONFLICT")
        wall, rss, _ = benchlib.run_measured(
            ["/usr/bin/env", "PGPASSWORD=" + self.pg.password, "/usr/bin/psql", "-X", "-q", "-v",
             "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-p", str(self.pg.port), "-U", "postgres",
             "-d", "bench", "-f", script], cwd=self.dir)
        return {"seconds": wall, "rss": rss, "checksum": self.pg_content("psql peer")}

    def run_postgres(self):
        results = {}
        with PostgresServer() as pg:
            self.pg = pg
            pg.psql("CREATE DATABASE bench")
            self.psql(PG_SCHEMA)
            if not self.args.peers_only:
                self.pg_reset()
                url = "postgresql://postgres:%s@127.0.0.1:%d/bench" % (pg.password, pg.port)
                results["jobsd"] = self.run_jobsd("postgres", "{postgres: '%s'}" % url)
                if results["jobsd"]:
                    results["jobsd"]["checksum"] = self.pg_content("jobsd")
            results["peer"] = self.psql_peer()
        if results.get("jobsd"):
            self.check(results["jobsd"]["checksum"] == results["peer"]["checksum"],
                       "PostgreSQL: the tables after jobsd and after psql differ: %s vs %s"
                       % (results["jobsd"]["checksum"], results["peer"]["checksum"]))
        return results

    # -- the run --------------------------------------------------------------

    def run(self):
        self.sales_csv, self.initial_csv = self.path("sales.csv"), self.path("initial.csv")
        benchlib.log("making %d rows" % self.n)
        self.expected = make_data(self.n, self.sales_csv, self.initial_csv)
        size = os.path.getsize(self.sales_csv) / 1e6
        sqlite_results = self.run_sqlite()
        pg_results = self.run_postgres()
        self.report(size, sqlite_results, pg_results)
        for target, why in self.jobsd_errors.items():
            print("jobsd (%s) did not run: %s" % (target, why))
        for what in self.failures:
            print("CHECK FAILED: %s" % what)
        if self.failures or (self.jobsd_errors and not self.args.peers_only):
            return 1
        return 0

    def report(self, size, lite, pg):
        n = self.n
        none = "n/a" if self.args.peers_only else "did not run"

        def rate(r):
            return n / r["seconds"] if r else None

        def cell(v, unit=""):
            return none if v is None else benchlib.fmt(v) + unit

        def ratio(a, b):
            return "%.2fx" % (a / b) if a is not None and b else none

        print("sql_import, %d rows (%.0f MB of CSV; half the keys already present with other "
              "values), load average %.2f" % (n, size, benchlib.loadavg()))
        print("| measure | jobsd | peer | jobsd / peer | target |")
        print("| --- | --- | --- | --- | --- |")
        for label, peer_name, r in (("SQLite", "sqlite3 .import + upsert", lite),
                                    ("PostgreSQL", "psql \\copy + upsert", pg)):
            j, p = r.get("jobsd"), r["peer"]
            print("| %s: wall seconds (peer: %s) | %s | %s | | |"
                  % (label, peer_name, cell(j and j["seconds"]), cell(p["seconds"])))
            print("| %s: rows/s | %s | %s | %s | >= 0.8x |"
                  % (label, cell(rate(j)), cell(rate(p)), ratio(rate(j), rate(p))))
            print("| %s: peak RSS | %s | %s | | jobsd <= 64 MB |"
                  % (label, cell(j and j["rss"], " MB"), cell(p["rss"], " MB")))
        seed = lite["seed"]
        seed_rate = seed["rows"] / seed["seconds"]
        print("| seed (csv + sqlite3 module, commit per row; ran on the first %d rows only, "
              "%.1f s): rows/s, beside jobsd on SQLite | %s | %s | %s | >= 20x |"
              % (seed["rows"], seed["seconds"], cell(rate(lite.get("jobsd"))),
                 benchlib.fmt(seed_rate), ratio(rate(lite.get("jobsd")), seed_rate)))
        for label, r in (("SQLite", lite), ("PostgreSQL", pg)):
            j = r.get("jobsd")
            if j and j.get("run_seconds") is not None:
                print("jobsd on %s: the run itself took %.2f s of the process's %.2f s"
                      % (label, j["run_seconds"], j["seconds"]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobsd", required=True)
    parser.add_argument("--work", required=True, help="a scratch folder (run.sh gives one)")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed-rows", type=int, default=20_000,
                        help="rows the seed's script runs on (its rate is compared)")
    parser.add_argument("--quick", action="store_true", help="CI smoke: 20,000 rows")
    parser.add_argument("--peers-only", action="store_true", help="do not run jobsd")
    args = parser.parse_args()
    if args.quick:
        args.rows, args.seed_rows = 20_000, 1_000
    try:
        return Bench(args).run()
    except (benchlib.BenchError, RuntimeError, subprocess.CalledProcessError) as e:
        detail = getattr(e, "stderr", None)
        print("bench failed: %s%s" % (e, "\n" + detail if detail else ""), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
