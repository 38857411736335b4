#!/usr/bin/python3
"""The sql_import job end to end: the built daemon and `jobsd once` against
the fake ERP sales API (tests/fakes/fake_sales_api.py), CSV files, SQLite
and a real PostgreSQL 15.

    /usr/bin/python3 tests/integration/sql_import_test.py --jobsd PATH [-v] [-k PATTERN]

The kill -9 rounds print their seed; SQL_IMPORT_SEED=N replays the same delays.

One PostgreSQL server, one fake API and one generated 1,000,000-row CSV
serve the whole file; each test gets a folder (state, target) and a
PostgreSQL database of its own. Every scenario computes the rows the target
must hold from the data it generated and compares the table with them
exactly: what landed, what was rejected (with its source and reasons), and
what `jobsd_imported_files` says, whatever failed or was killed on the way.
"""

import argparse
import ctypes
import datetime
import hashlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request
import zoneinfo
from decimal import Decimal

import psycopg2

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from pg_server import PostgresServer  # noqa: E402

FAKE_API = os.path.join(HERE, "..", "fakes", "fake_sales_api.py")
BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
API_KEY = "sk-live-5a1e5-" + hashlib.sha256(os.urandom(16)).hexdigest()[:24]
JOBSD = None
PG = None
API = None        # the fake's base URL
DATA = None       # the folder holding the generated CSVs
BIG_ROWS = 1_000_000
KILL_ROWS = 200_000
REGIONS = ["North America", "Europe", "Asia"]
PRODUCTS = ["Espresso Machine", "Milk Frother", "Grinder", "Kettle", "Café Scale", "Tamper",
            "Descaler"]
BAD_KINDS = ["type", "required", "min", "max_length", "in", "check", "columns", "encoding"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def money(cents):
    return "%d.%02d" % (cents // 100, cents % 100)


# --- the sales CSV ---------------------------------------------------------------

def sales_row(i, variant=0):
    """Row i of the generated sales data: (CSV line as bytes, the row as the
    table must hold it or None, the reason it is rejected or None). One row
    in a hundred is bad, the bad kinds taking turns."""
    day = datetime.date(2026, 1, 1) + datetime.timedelta(days=i % 90)
    user = i + 1
    product = PRODUCTS[i % len(PRODUCTS)]
    quantity = 1 + (i + variant) % 9
    price = 100 + (i * 37 + variant * 11) % 9900
    total = quantity * price
    region = REGIONS[(i + variant) % 3]
    kind = BAD_KINDS[(i // 100) % len(BAD_KINDS)] if i % 100 == 37 else None
    fields = [day.isoformat(), str(user), product, str(quantity), money(price), money(total),
              region]
    if kind == "type":
        fields[3] = "abc"
    elif kind == "required":
        fields[1] = ""
    elif kind == "min":
        fields[3], fields[5] = "0", "0.00"
    elif kind == "max_length":
        fields[2] = "x" * 201
    elif kind == "in":
        fields[6] = "Atlantis"
    elif kind == "check":
        fields[5] = money(total + 100)
    elif kind == "columns":
        fields.append("extra")
    line = ",".join(fields).encode()
    if kind == "encoding":
        line = line.replace(product.encode(), b"Caf\xe9 " + str(i).encode(), 1)
    row = None if kind else (day.isoformat(), user, product, quantity, money(price),
                             money(total), region)
    return line + b"\n", row, kind


SALES_HEADER = b"sale_date,user_id,product_name,quantity,unit_price,total_amount,region\n"


def write_sales_csv(path, rows, start=0, variant=0, keep=True):
    """Writes rows [start, start+rows) and returns what the table gets from
    them: {"rows": {key: row} (None unless kept), "count", "quantity",
    "bad": {kind: n}}."""
    kept, bad, quantity = {} if keep else None, {k: 0 for k in BAD_KINDS}, 0
    with open(path, "wb") as f:
        f.write(SALES_HEADER)
        chunk = []
        for i in range(start, start + rows):
            line, row, kind = sales_row(i, variant)
            chunk.append(line)
            if kind:
                bad[kind] += 1
            else:
                quantity += row[3]
                if kept is not None:
                    kept[row[:3]] = row
            if len(chunk) >= 10000:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk))
    return {"rows": kept, "count": rows - sum(bad.values()), "quantity": quantity, "bad": bad}


SALES_COLUMNS = """\
      key: [sale_date, user_id, product_name]
      columns:
        sale_date: {type: date, required: true}
        user_id: {type: integer, required: true}
        product_name: {type: text, required: true, max_length: 200}
        quantity: {type: integer, min: 1}
        unit_price: {type: decimal, min: 0}
        total_amount: {type: decimal, min: 0}
        region: {type: text, in: [North America, Europe, Asia]}
      checks: ["abs(total_amount - quantity * unit_price) < 0.01"]
      create: true
"""


# --- the sales API's records ---------------------------------------------------------

def api_record(n, when, valid=None, quantity=None, region=None):
    """A sale as the ERP serves it, sold at `when` (an aware datetime); with
    `valid` one of type/required/in/check/min it breaks that rule."""
    quantity = quantity or 1 + n % 5
    price = 250 + n * 13
    record = {"id": "S-%05d" % n, "sold_at": when.isoformat(), "customer": {"id": 1000 + n},
              "product": PRODUCTS[n % len(PRODUCTS)], "quantity": quantity,
              "unit_price": money(price), "total": money(quantity * price),
              "region": region or REGIONS[n % 3]}
    if n % 3 == 0:  # some in UTC, the rest with Berlin's offset
        record["sold_at"] = when.astimezone(datetime.timezone.utc).isoformat().replace(
            "+00:00", "Z")
    if valid == "type":
        record["quantity"] = "three"
    elif valid == "required":
        del record["customer"]
    elif valid == "in":
        record["region"] = "Mars"
    elif valid == "check":
        record["total"] = money(quantity * price + 500)
    elif valid == "min":
        record["quantity"], record["total"] = 0, "0.00"
    return record


def api_row(record):
    """The row a valid record becomes, as read back from SQLite."""
    when = datetime.datetime.fromisoformat(record["sold_at"].replace("Z", "+00:00"))
    utc = when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return (record["id"], utc, record["customer"]["id"], record["product"], record["quantity"],
            record["unit_price"], record["total"], record["region"])


def berlin_midnight(day):
    return datetime.datetime(day.year, day.month, day.day, tzinfo=BERLIN)


def control(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(API + path, data=data, method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def argon2_verify(encoded, password):
    lib = ctypes.CDLL("libargon2.so.1")
    lib.argon2id_verify.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
    lib.argon2id_verify.restype = ctypes.c_int
    pwd = password.encode()
    return lib.argon2id_verify(encoded.encode(), pwd, len(pwd)) == 0


def norm(row):
    """A sales table row as comparable values, from SQLite or psycopg2."""
    date, user, product, quantity, price, total, region = row
    return (str(date), int(user), product, int(quantity), "%.2f" % Decimal(str(price)),
            "%.2f" % Decimal(str(total)), region)


class SqlImportTest(unittest.TestCase):
    counter = 0

    def setUp(self):
        SqlImportTest.counter += 1
        self.dir = tempfile.mkdtemp(prefix="jobsd-sqlimport-it-")
        self.procs = []
        self.api_port = None
        self.daemon_log_path = os.path.join(self.dir, "jobsd.log")
        control("PUT", "/_records", [])
        control("POST", "/_faults", {})
        control("DELETE", "/_requests")

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- helpers -------------------------------------------------------------------

    def write_config(self, jobs):
        listen = "127.0.0.1:%d" % self.api_port if self.api_port else ""
        with open(os.path.join(self.dir, "jobsd.yaml"), "w") as f:
            f.write("state:\n  path: state.db\nhttp:\n  listen: '%s'\n  token: http-token\n"
                    "jobs:\n%s" % (listen, jobs))

    def sales_job(self, retries="", page_size=5):
        return ("  - name: sales-sync\n    type: sql_import\n    timezone: Europe/Berlin\n"
                "    timeout: 120s\n%s    with:\n"
                "      source:\n        http:\n          url: %s/v1/sales\n"
                "          headers: {Authorization: \"Bearer ${SALES_API_KEY}\"}\n"
                "          params: {from: \"{window_start}\", to: \"{window_end}\", "
                "page_size: \"%d\"}\n"
                "          records: data.items\n          next: links.next\n"
                "      window: 1d\n      target: {sqlite: sales.db}\n      table: sales\n"
                "      key: [sale_id]\n      create: true\n"
                "      columns:\n"
                "        sale_id: {type: text, from: id, required: true}\n"
                "        sold_at: {type: timestamp, required: true}\n"
                "        user_id: {type: integer, from: customer.id, required: true}\n"
                "        product_name: {type: text, from: product, required: true, "
                "max_length: 200}\n"
                "        quantity: {type: integer, min: 1}\n"
                "        unit_price: {type: decimal, min: 0}\n"
                "        total_amount: {type: decimal, from: total, min: 0}\n"
                "        region: {type: text, in: [North America, Europe, Asia]}\n"
                "      checks: [\"abs(total_amount - quantity * unit_price) < 0.01\"]\n"
                % (retries, API, page_size))

    def csv_job(self, name, source, target, table="sales", extra=""):
        return ("  - name: %s\n    type: sql_import\n    timeout: 10m\n    with:\n"
                "      source: {csv: '%s'}\n      target: %s\n      table: %s\n%s%s"
                % (name, source, target, table, SALES_COLUMNS, extra))

    def env(self):
        env = dict(os.environ)
        env["SALES_API_KEY"] = API_KEY
        return env

    def jobsd(self, *args, check=None):
        r = subprocess.run([JOBSD] + list(args), cwd=self.dir, env=self.env(),
                           capture_output=True, text=True, timeout=300)
        if check is not None:
            self.assertEqual(r.returncode, check, r.stdout + r.stderr)
        return r

    def once(self, job, *extra, check=0):
        """`jobsd once --json`: the run's JSON line (and the process)."""
        r = self.jobsd("once", "-c", "jobsd.yaml", job, "--json", *extra, check=check)
        return json.loads(r.stdout.strip().splitlines()[-1]), r

    def history(self, job):
        r = self.jobsd("history", "-c", "jobsd.yaml", job, "--json", "--limit", "100", check=0)
        return r.stdout

    def start_daemon(self):
        """`jobsd run` with the HTTP API on a free port; its log in jobsd.log."""
        log = open(self.daemon_log_path, "a")
        self.addCleanup(log.close)
        daemon = subprocess.Popen([JOBSD, "run", "-c", "jobsd.yaml"], cwd=self.dir,
                                  env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(daemon)
        self.wait_for("the daemon's API", lambda: self.api("/readyz", check=False) is not None)
        return daemon

    def stop_daemon(self, daemon):
        daemon.send_signal(signal.SIGTERM)
        self.assertEqual(daemon.wait(timeout=60), 0)

    def api(self, path, post=False, check=True):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.api_port, path),
                                     method="POST" if post else "GET",
                                     headers={"Authorization": "Bearer http-token"} if post else {})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()
        except (urllib.error.URLError, ConnectionError):
            if check:
                raise
            return None

    def run_now(self, job):
        status, body = self.api("/api/jobs/%s/run" % job, post=True)
        self.assertEqual(status, 202, body)
        return json.loads(body)["id"]

    def api_runs(self, job):
        status, body = self.api("/api/jobs/%s/runs?limit=1000" % job)
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def wait_run(self, job, run_id, seconds=120):
        def finished():
            for r in self.api_runs(job):
                if r["id"] == run_id and r["status"] not in ("running", "queued"):
                    return r
            return None
        return self.wait_for("run %d of %s" % (run_id, job), finished, seconds)

    def wait_for(self, what, predicate, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        self.fail("timed out waiting for " + what)

    def daemon_log(self):
        with open(self.daemon_log_path, "rb") as f:
            return f.read()

    def file_bytes(self, name):
        """A SQLite file's bytes with its journal's or WAL's, if any."""
        out = b""
        for suffix in ("", "-journal", "-wal"):
            path = os.path.join(self.dir, name + suffix)
            if os.path.exists(path):
                with open(path, "rb") as f:
                    out += f.read()
        return out

    def sqlite(self, name, sql, args=()):
        db = sqlite3.connect(os.path.join(self.dir, name))
        try:
            return db.execute(sql, args).fetchall()
        finally:
            db.close()

    def requests(self):
        return [r for r in control("GET", "/_requests") if r["path"] == "/v1/sales"]

    # --- 1: the sales API, in the daemon and backfilled ---------------------------

    def sales_days(self):
        today = datetime.datetime.now(BERLIN).date()
        return [today - datetime.timedelta(days=2), today - datetime.timedelta(days=1), today]

    def sales_records(self, bad=True):
        """Records over the day before yesterday, yesterday and today (Berlin),
        with times at and next to each midnight; yesterday has one record of
        each bad kind, the day before one too."""
        records, n = [], 0
        times = [(0, 0, 0), (0, 0, 1), (3, 15, 0), (9, 30, 0), (12, 0, 0), (17, 45, 30),
                 (21, 0, 0), (23, 0, 0), (23, 59, 59)]
        for d, day in enumerate(self.sales_days()):
            for h, m, s in times:
                n += 1
                records.append(api_record(n, datetime.datetime(day.year, day.month, day.day, h, m,
                                                               s, tzinfo=BERLIN)))
                if h in (3, 12, 21):
                    n += 1
                    records.append(api_record(n, datetime.datetime(
                        day.year, day.month, day.day, h, m + 1, s, tzinfo=BERLIN)))
            if bad and d == 1:
                for kind in ("type", "required", "in", "check"):
                    n += 1
                    records.append(api_record(n, datetime.datetime(
                        day.year, day.month, day.day, 10, n % 60, tzinfo=BERLIN), valid=kind))
            if bad and d == 0:
                n += 1
                records.append(api_record(n, datetime.datetime(day.year, day.month, day.day, 8,
                                                               tzinfo=BERLIN), valid="min"))
        return records

    @staticmethod
    def in_window(records, start, end):
        """The fake's order: by instant, then by place in the dataset."""
        def instant(r):
            return datetime.datetime.fromisoformat(r["sold_at"].replace("Z", "+00:00"))
        chosen = [(instant(r), i, r) for i, r in enumerate(records) if start <= instant(r) < end]
        return [r for _, _, r in sorted(chosen, key=lambda c: (c[0], c[1]))]

    @staticmethod
    def is_valid(record):
        return (isinstance(record["quantity"], int) and record["quantity"] >= 1
                and "customer" in record and record["region"] in REGIONS
                and Decimal(record["total"]) == record["quantity"] * Decimal(record["unit_price"]))

    def sales_table(self):
        rows = self.sqlite("sales.db", "SELECT sale_id, sold_at, user_id, product_name, quantity, "
                                       "unit_price, total_amount, region FROM sales")
        return {r[0]: r[:5] + ("%.2f" % r[5], "%.2f" % r[6], r[7]) for r in rows}

    def expected_sales(self, records):
        return {r["id"]: api_row(r) for r in records if self.is_valid(r)}

    def sales_rejects(self, run_id=None):
        where, args = ("WHERE run_id = ?", (run_id,)) if run_id is not None else ("", ())
        out = {}
        for source, record, reasons, job in self.sqlite(
                "sales.db", "SELECT source, record, reasons, job FROM sales_rejects " + where,
                args):
            record = json.loads(record)
            self.assertEqual(job, "sales-sync")
            out[record.get("id", record.get("sale_id"))] = (source, json.loads(reasons))
        return out

    def expected_rejects(self, window_records, page_size=5):
        return {r["id"]: "page %d item %d" % (p // page_size + 1, p % page_size + 1)
                for p, r in enumerate(window_records) if not self.is_valid(r)}

    def test_sales_api_in_the_daemon_then_a_backfill(self):
        records = self.sales_records()
        control("PUT", "/_records", records)
        self.api_port = free_port()
        self.write_config(self.sales_job())
        daemon = self.start_daemon()
        before, yesterday, today = self.sales_days()
        start, end = berlin_midnight(yesterday), berlin_midnight(today)
        window = self.in_window(records, start, end)

        run = self.wait_run("sales-sync", self.run_now("sales-sync"))
        self.assertEqual(run["status"], "ok", run)
        self.assertEqual(self.sales_table(), self.expected_sales(window))
        rejects = self.sales_rejects()
        self.assertEqual({k: v[0] for k, v in rejects.items()}, self.expected_rejects(window))
        reasons = {k: " ".join(v[1]) for k, v in rejects.items()}
        by_kind = {r["quantity"] if r["quantity"] == "three" else
                   "required" if "customer" not in r else
                   "in" if r["region"] not in REGIONS else "check": r["id"]
                   for r in window if not self.is_valid(r)}
        self.assertIn("quantity", reasons[by_kind["three"]])
        self.assertIn("user_id", reasons[by_kind["required"]])
        self.assertIn("region", reasons[by_kind["in"]])
        self.assertIn("check failed: abs(total_amount", reasons[by_kind["check"]])
        self.assertTrue(all(len(v[1]) == 1 for v in rejects.values()), rejects)

        pages = -(-len(window) // 5)
        requests = self.requests()
        self.assertEqual(len(requests), pages)
        self.assertTrue(all(r["status"] == 200 and r["authorization"] for r in requests))
        self.assertEqual({(r["query"]["from"], r["query"]["to"]) for r in requests},
                         {(start.isoformat(), end.isoformat())})
        self.assertNotIn("cursor", requests[0]["query"])
        self.assertTrue(all("cursor" in r["query"] for r in requests[1:]))
        m = self.api_runs("sales-sync")[0]["metrics"]
        valid = len(self.expected_sales(window))
        self.assertEqual((m["read"], m["invalid"], m["inserted"], m["pages"]),
                         (len(window), 4, valid, pages))
        self.assertEqual((m["invalid_type"], m["invalid_required"], m["invalid_in"],
                          m["invalid_check"]), (1, 1, 1, 1))
        self.stop_daemon(daemon)
        self.assertNotIn(API_KEY.encode(), self.daemon_log())

        # Three days backfilled: the day before and today come, yesterday is unchanged.
        control("DELETE", "/_requests")
        out, _ = self.once("sales-sync", "--set", "window_start=%s" % before.isoformat(),
                           "--set", "window_end=%s" % (today + datetime.timedelta(days=1)))
        self.assertEqual(out["status"], "ok", out)
        start3, end3 = berlin_midnight(before), berlin_midnight(today + datetime.timedelta(days=1))
        three = self.in_window(records, start3, end3)
        self.assertEqual(self.sales_table(), self.expected_sales(three))
        m = out["metrics"]
        self.assertEqual((m["read"], m["invalid"], m["inserted"], m["unchanged"], m["updated"]),
                         (len(three), 5, len(self.expected_sales(three)) - valid, valid, 0))
        self.assertEqual({k: v[0] for k, v in self.sales_rejects(out["id"]).items()},
                         self.expected_rejects(three))
        self.assertEqual({(r["query"]["from"], r["query"]["to"]) for r in self.requests()},
                         {(start3.isoformat(), end3.isoformat())})

        # A backfill across the spring change: each end at its own offset, and
        # a record at 00:30 UTC+1 on the first day and at 23:30 UTC+2 on the
        # second (a 47-hour window) land.
        control("PUT", "/_records", [
            api_record(900, datetime.datetime(2026, 3, 28, 0, 30, tzinfo=BERLIN)),
            api_record(901, datetime.datetime(2026, 3, 29, 23, 30, tzinfo=BERLIN)),
            api_record(902, datetime.datetime(2026, 3, 30, 0, 0, tzinfo=BERLIN)),
            api_record(903, datetime.datetime(2026, 3, 27, 23, 59, 59, tzinfo=BERLIN))])
        control("DELETE", "/_requests")
        out, _ = self.once("sales-sync", "--set", "window_start=2026-03-28",
                           "--set", "window_end=2026-03-30")
        self.assertEqual([(r["query"]["from"], r["query"]["to"]) for r in self.requests()],
                         [("2026-03-28T00:00:00+01:00", "2026-03-30T00:00:00+02:00")])
        self.assertEqual((out["metrics"]["read"], out["metrics"]["inserted"]), (2, 2))
        self.assertEqual(self.sales_table()["S-00901"][1], "2026-03-29T21:30:00.000000Z")

    # --- 2: the API's faults -------------------------------------------------------

    def assert_key_nowhere(self, *texts):
        for text in texts:
            self.assertNotIn(API_KEY.encode(), text if isinstance(text, bytes) else text.encode())
        self.assertNotIn(API_KEY.encode(), self.file_bytes("state.db"))
        self.assertNotIn(API_KEY, self.history("sales-sync"))

    def test_api_faults_retried_refused_and_never_half_imported(self):
        records = self.sales_records(bad=False)
        control("PUT", "/_records", records)
        self.write_config(self.sales_job())
        _, yesterday, today = self.sales_days()
        start, end = berlin_midnight(yesterday), berlin_midnight(today)
        window = self.in_window(records, start, end)
        pages = -(-len(window) // 5)
        self.assertGreaterEqual(pages, 3)  # a fault on the third page below

        # Two 500s: the HTTP client retries them and the run succeeds.
        control("POST", "/_faults", {"status_500": 2})
        out, r = self.once("sales-sync")
        self.assertEqual(self.sales_table(), self.expected_sales(window))
        self.assertEqual([q["status"] for q in self.requests()], [500, 500] + [200] * pages)
        self.assert_key_nowhere(r.stdout + r.stderr)

        # A 429 with Retry-After: 1 is waited out.
        control("DELETE", "/_requests")
        control("POST", "/_faults", {"status_429": 1})
        t0 = time.monotonic()
        out, r = self.once("sales-sync")
        self.assertGreaterEqual(time.monotonic() - t0, 1.0)
        self.assertEqual([q["status"] for q in self.requests()], [429] + [200] * pages)
        self.assertEqual(out["metrics"]["unchanged"], len(window))

        # A 401 fails the run in the daemon, and no retry follows, neither the
        # client's nor the job's (retries: max 2).
        for i, rec in enumerate(records):
            rec["quantity"] = 9 - (i % 3)
            rec["total"] = money(int(Decimal(rec["unit_price"]) * 100) * rec["quantity"])
        control("PUT", "/_records", records)
        before = self.sales_table()
        self.api_port = free_port()
        self.write_config(self.sales_job(retries="    retries: {max: 2, backoff: 1s}\n"))
        daemon = self.start_daemon()
        control("DELETE", "/_requests")
        control("POST", "/_faults", {"status_401": 1})
        run = self.wait_run("sales-sync", self.run_now("sales-sync"))
        time.sleep(3)  # a retry, were one coming, would have started
        runs = self.api_runs("sales-sync")
        self.assertEqual([x["status"] for x in runs if x["id"] >= run["id"]], ["failed"], runs)
        self.assertEqual([q["status"] for q in self.requests()], [401])
        self.assertIn("HTTP 401", run["error"])
        self.assertIn("GET %s/v1/sales?from=" % API, run["error"])
        self.assertEqual(self.sales_table(), before)
        self.stop_daemon(daemon)
        self.assert_key_nowhere(self.daemon_log(), json.dumps(runs))

        # A body cut in the middle is a transport error: the client tries again
        # (once cut: the run succeeds); cut every time, the run fails after the
        # client's 4 attempts and the table stays as it was.
        control("DELETE", "/_requests")
        control("POST", "/_faults", {"truncated": 10})
        out, r = self.once("sales-sync", check=1)
        self.assertEqual(out["status"], "failed")
        self.assertIn("before the response was complete", out["error"])
        self.assertEqual(self.sales_table(), before)
        self.assertEqual([q["fault"] for q in self.requests()], ["truncated"] * 4)
        self.assert_key_nowhere(r.stdout + r.stderr)
        control("DELETE", "/_requests")
        control("POST", "/_faults", {"truncated": 1})
        self.once("sales-sync")
        self.assertEqual([q["fault"] for q in self.requests()], ["truncated"] + [None] * pages)
        self.assertEqual(self.sales_table(), self.expected_sales(window))

        # An HTML error page with a 200 is not JSON: failed, the table unchanged.
        for rec in records:
            rec["product"] += " v2"
        control("PUT", "/_records", records)
        before = self.sales_table()
        control("DELETE", "/_requests")
        control("POST", "/_faults", {"html": 1})
        out, r = self.once("sales-sync", check=1)
        self.assertIn("not JSON", out["error"])
        self.assertIn("text/html", out["error"])
        self.assertEqual(self.sales_table(), before)
        self.assertEqual(len(self.requests()), 1)
        # The same on the third page, after two pages were read and staged:
        # nothing of them lands either.
        control("DELETE", "/_requests")
        control("POST", "/_faults", {"after": 2, "html": 1})
        out, r = self.once("sales-sync", check=1)
        self.assertIn("not JSON", out["error"])
        self.assertEqual([q["status"] for q in self.requests()], [200, 200, 200])
        self.assertEqual([q["fault"] for q in self.requests()], [None, None, "html"])
        self.assertEqual(self.sales_table(), before)
        out, r = self.once("sales-sync")
        self.assertEqual(self.sales_table(), self.expected_sales(window))
        self.assertEqual(out["metrics"]["updated"], len(window))
        self.assert_key_nowhere(r.stdout + r.stderr, self.daemon_log())

    # --- 3: a million CSV rows, a percent of them bad --------------------------------

    def run_measured(self, *args):
        """`jobsd ARGS` with its peak RSS (KiB) from wait4."""
        with open(os.path.join(self.dir, "once.err"), "w+b") as err:
            p = subprocess.Popen([JOBSD] + list(args), cwd=self.dir, env=self.env(),
                                 stdout=subprocess.PIPE, stderr=err)
            self.addCleanup(lambda: p.poll() is None and p.kill())
            out = p.stdout.read()
            p.stdout.close()
            _, status, usage = os.wait4(p.pid, 0)
            p.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
            err.seek(0)
            text = (out + err.read()).decode(errors="replace")
        self.assertEqual(os.waitstatus_to_exitcode(status), 0, text)
        return json.loads(out.decode().strip().splitlines()[-1]), usage.ru_maxrss

    def check_big_import(self, out, rss_kib):
        facts = big_csv()
        m = out["metrics"]
        self.assertEqual(out["status"], "ok", out)
        self.assertEqual(m["read"], BIG_ROWS)
        self.assertEqual(m["invalid"], 10000)
        self.assertEqual({k: m.get("invalid_" + k, 0) for k in BAD_KINDS}, facts["bad"])
        self.assertEqual(set(k for k in m if k.startswith("invalid_")),
                         set("invalid_" + k for k in BAD_KINDS))
        self.assertEqual((m["inserted"], m["updated"], m["unchanged"]), (facts["count"], 0, 0))
        self.assertEqual(m["files"], 1)
        self.assertLessEqual(rss_kib, 64 * 1024, "peak RSS %d KiB" % rss_kib)
        sys.stderr.write("[1M rows: %.1f s, peak RSS %.1f MiB] " % (out["duration_seconds"],
                                                                     rss_kib / 1024))

    def test_a_million_rows_into_sqlite(self):
        big_csv()
        self.write_config(self.csv_job("big", os.path.join(DATA, "big.csv"), "{sqlite: big.db}"))
        out, rss = self.run_measured("once", "-c", "jobsd.yaml", "big", "--json")
        self.check_big_import(out, rss)
        self.assertEqual(self.sqlite("big.db", "SELECT count(*), sum(quantity) FROM sales"),
                         [(big_csv()["count"], big_csv()["quantity"])])
        self.assertEqual(self.sqlite("big.db", "SELECT count(*) FROM sales_rejects"), [(10000,)])
        self.assertEqual(self.sqlite("big.db", "SELECT file, rows FROM jobsd_imported_files"),
                         [(os.path.join(DATA, "big.csv"), BIG_ROWS)])

    def test_a_million_rows_into_postgres(self):
        big_csv()
        db = "big_%d" % SqlImportTest.counter
        PG.psql("CREATE DATABASE %s" % db)
        self.write_config(self.csv_job("big", os.path.join(DATA, "big.csv"),
                                       "{postgres: '%s'}" % pg_url(db)))
        out, rss = self.run_measured("once", "-c", "jobsd.yaml", "big", "--json")
        self.check_big_import(out, rss)
        self.assertEqual(PG.psql("SELECT count(*), sum(quantity) FROM sales", db).strip(),
                         "%d|%d" % (big_csv()["count"], big_csv()["quantity"]))
        self.assertEqual(PG.psql("SELECT count(*) FROM sales_rejects", db).strip(), "10000")

    # --- 4: kill -9 in the middle of an import ---------------------------------------

    def kill_rounds(self, target_kind, rounds):
        seed = int(os.environ.get("SQL_IMPORT_SEED") or random.randrange(1 << 30))
        print("kill -9 rounds (%s): seed %d" % (target_kind, seed), file=sys.stderr)
        rng = random.Random(seed)
        kill_csv()
        big = os.path.join(DATA, "kill.csv")
        duration = None
        for round_ in range(rounds):
            with self.subTest(round=round_):
                self.kill_round(target_kind, rng, big, duration, round_)
                duration = self.full_duration

    def kill_round(self, target_kind, rng, big, duration, round_):
        folder = os.path.join(self.dir, "r%d" % round_)
        os.makedirs(os.path.join(folder, "in"))
        base = write_sales_csv(os.path.join(folder, "in", "a-base.csv"), 1000, start=0, variant=1)
        extra = write_sales_csv(os.path.join(folder, "in", "a-extra.csv"), 500,
                                start=KILL_ROWS + 10, variant=0)
        if target_kind == "sqlite":
            target = "{sqlite: r%d/sales.db}" % round_
            table = self.sqlite_reader(os.path.join(folder, "sales.db"))
        else:
            db = "kill_%d_%d" % (SqlImportTest.counter, round_)
            PG.psql("CREATE DATABASE %s" % db)
            target = "{postgres: '%s'}" % pg_url(db)
            table = self.pg_reader(db)
        self.api_port = free_port()
        self.write_config(self.csv_job("load", os.path.join(folder, "in", "*.csv"), target))
        self.once("load")
        first = dict(base["rows"])
        first.update(extra["rows"])
        before = table()
        self.assertEqual(before["rows"], first)
        self.assertEqual(before["rejects"], 15)  # 10 in a-base, 5 in a-extra
        after_rows = dict(first)
        after_rows.update(kill_csv()["rows"])

        shutil.copy(big, os.path.join(folder, "in", "b-big.csv"))
        daemon = self.start_daemon()
        if duration is None:  # the first round measures a whole run, then kills the next ones
            t0 = time.monotonic()
            run = self.wait_run("load", self.run_now("load"), seconds=300)
            self.full_duration = time.monotonic() - t0
            self.assertEqual(run["status"], "ok", run)
            self.stop_daemon(daemon)
            self.check_imported(table(), after_rows, before, True)
            return
        self.full_duration = duration
        # Early, middle and late in turn, each at a random moment of its part.
        part = [(0.0, 0.4), (0.4, 0.8), (0.8, 1.1)][(round_ - 1) % 3]
        delay = duration * rng.uniform(*part)
        self.run_now("load")
        time.sleep(delay)
        daemon.send_signal(signal.SIGKILL)
        daemon.wait()
        if target_kind == "postgres":
            self.wait_for("the killed connection to end", lambda: PG.psql(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = '%s' AND "
                "pid <> pg_backend_pid()" % db).strip() == "0")
        state = table()
        done = state["rows"] == after_rows
        sys.stderr.write("[%s round %d: killed after %.2f s of ~%.2f s: %s] " % (
            target_kind, round_, delay, duration, "imported" if done else "not imported"))
        self.check_imported(state, after_rows if done else first, before, done)
        # Again: by the daemon restarted in odd rounds, by `jobsd once` in even ones.
        if round_ % 2:
            daemon = self.start_daemon()
            run = self.wait_run("load", self.run_now("load"), seconds=300)
            self.assertEqual(run["status"], "ok", run)
            self.stop_daemon(daemon)
        else:
            out, _ = self.once("load")
            self.assertEqual(out["metrics"].get("files_skipped", 0), 3 if done else 2)
        self.check_imported(table(), after_rows, before, True)
        out, _ = self.once("load")
        self.assertEqual(out["metrics"]["files_skipped"], 3)
        self.assertEqual(out["metrics"].get("inserted", 0), 0)
        self.check_imported(table(), after_rows, before, True)

    def check_imported(self, state, rows, before, big_done):
        self.assertEqual(len(state["rows"]), len(rows))
        self.assertEqual(state["rows"], rows)
        self.assertEqual(state["rejects"], before["rejects"] + (2000 if big_done else 0))
        names = sorted(os.path.basename(f) for f, _ in state["files"])
        self.assertEqual(names, ["a-base.csv", "a-extra.csv"] + (["b-big.csv"] if big_done else []))
        self.assertEqual(len(set(state["files"])), len(state["files"]))  # each once

    def sqlite_reader(self, path):
        def read():
            db = sqlite3.connect(path)
            try:
                rows = db.execute("SELECT sale_date, user_id, product_name, quantity, unit_price, "
                                  "total_amount, region FROM sales").fetchall()
                rejects = db.execute("SELECT count(*) FROM sales_rejects").fetchone()[0]
                files = db.execute("SELECT file, sha256 FROM jobsd_imported_files").fetchall()
            finally:
                db.close()
            return {"rows": {n[:3]: n for n in map(norm, rows)}, "rejects": rejects,
                    "files": files}
        return read

    def pg_reader(self, db):
        def read():
            conn = psycopg2.connect(pg_url(db))
            try:
                cur = conn.cursor()
                cur.execute("SELECT sale_date, user_id, product_name, quantity, unit_price, "
                            "total_amount, region FROM sales")
                rows = cur.fetchall()
                cur.execute("SELECT count(*) FROM sales_rejects")
                rejects = cur.fetchone()[0]
                cur.execute("SELECT file, sha256 FROM jobsd_imported_files")
                files = cur.fetchall()
            finally:
                conn.close()
            return {"rows": {n[:3]: n for n in map(norm, rows)}, "rejects": rejects,
                    "files": files}
        return read

    def test_kill_9_mid_import_into_sqlite(self):
        self.kill_rounds("sqlite", 4)

    def test_kill_9_mid_import_into_postgres(self):
        self.kill_rounds("postgres", 4)

    # --- 5: users with passwords ---------------------------------------------------

    USERS = [("alice", "alice@example.com", "admin", "Pw-alice-Q7v2kx9"),
             ("bob", "bob@example.com", "analyst", "Pw-bob-M3n8zr4"),
             ("carol", "carol@example.org", "viewer", "Pw-carol-T5w1hy6"),
             ("dave", "dave.example.com", "viewer", "Pw-dave-K9p4ls2"),  # no @: rejected
             ("erin", "erin@example.net", "analyst", "Pw-erin-B2c6jd8")]

    def users_job(self):
        return ("  - name: users\n    type: sql_import\n    timeout: 60s\n    with:\n"
                "      source: {csv: users.csv}\n      target: {sqlite: users.db}\n"
                "      table: users\n      key: [username]\n      create: true\n"
                "      columns:\n"
                "        username: {type: text, required: true}\n"
                "        email: {type: text, required: true, pattern: '[^@ ]+@[^@ ]+\\.[a-z]+'}\n"
                "        role: {type: text, in: [admin, analyst, viewer]}\n"
                "      password: {column: password_hash, from: initial_password, memory: 1MiB, "
                "iterations: 1}\n"
                "      keep_on_update: [password_hash]\n")

    def write_users(self, users):
        with open(os.path.join(self.dir, "users.csv"), "w") as f:
            f.write("username,email,role,initial_password\n")
            f.writelines(",".join(u) + "\n" for u in users)

    def users_table(self):
        return {r[0]: r[1:] for r in self.sqlite(
            "users.db", "SELECT username, email, role, password_hash FROM users")}

    def assert_no_clear_text(self, passwords, *texts):
        places = {"users.db": self.file_bytes("users.db"), "state.db": self.file_bytes("state.db"),
                  "history": self.history("users").encode(),
                  "rejects": json.dumps(self.sqlite("users.db", "SELECT * FROM users_rejects"))
                  .encode()}
        places.update(("text %d" % i, t if isinstance(t, bytes) else t.encode())
                      for i, t in enumerate(texts))
        for password in passwords:
            for where, data in places.items():
                self.assertNotIn(password.encode(), data, where)

    def test_users_with_passwords_hashed_and_never_shown(self):
        self.write_users(self.USERS)
        self.api_port = free_port()
        self.write_config(self.users_job())
        daemon = self.start_daemon()
        run = self.wait_run("users", self.run_now("users"))
        self.assertEqual(run["status"], "ok", run)
        self.stop_daemon(daemon)
        users = self.users_table()
        valid = [u for u in self.USERS if "@" in u[1]]
        self.assertEqual({k: v[:2] for k, v in users.items()},
                         {u[0]: (u[1], u[2]) for u in valid})
        for name, email, role, password in valid:
            encoded = users[name][2]
            self.assertTrue(encoded.startswith("$argon2id$v=19$m=1024,t=1,p=1$"), encoded)
            self.assertTrue(argon2_verify(encoded, password), name)
            self.assertFalse(argon2_verify(encoded, password + "x"), name)
            self.assertFalse(argon2_verify(encoded, "Pw-bob-M3n8zr4" if name != "bob" else
                                           "Pw-alice-Q7v2kx9"), name)
        self.assertEqual(len({u[2] for u in users.values()}), len(valid))  # salts differ
        [(source, record, reasons)] = self.sqlite(
            "users.db", "SELECT source, record, reasons FROM users_rejects")
        self.assertEqual(source, "users.csv line 5")
        self.assertEqual(json.loads(record)["username"], "dave")
        self.assertEqual(json.loads(record)["initial_password"], "[hidden]")
        self.assertIn("email", json.loads(reasons)[0])
        self.assertEqual(run["metrics"]["invalid_pattern"], 1)
        passwords = [u[3] for u in self.USERS]
        self.assert_no_clear_text(passwords, self.daemon_log(), json.dumps(run))

        # Alice's role changes and the file brings her a new initial password:
        # the role is updated, the hash kept (her first password still opens it).
        changed = [("alice", "alice@example.com", "viewer", "Pw-alice-NEW-r8e3")] + \
            [u for u in self.USERS[1:]]
        self.write_users(changed)
        out, r = self.once("users")
        m = out["metrics"]
        self.assertEqual((m["read"], m["inserted"], m["updated"], m["unchanged"], m["invalid"]),
                         (5, 0, 1, 3, 1))
        after = self.users_table()
        self.assertEqual(after["alice"][:2], ("alice@example.com", "viewer"))
        self.assertEqual({k: v[2] for k, v in after.items()}, {k: v[2] for k, v in users.items()})
        self.assertTrue(argon2_verify(after["alice"][2], "Pw-alice-Q7v2kx9"))
        self.assertFalse(argon2_verify(after["alice"][2], "Pw-alice-NEW-r8e3"))
        self.assert_no_clear_text(passwords + ["Pw-alice-NEW-r8e3"], self.daemon_log(),
                                  r.stdout + r.stderr)

    # --- 6: dry run ------------------------------------------------------------------

    def test_dry_run_reports_and_writes_nothing(self):
        write_sales_csv(os.path.join(self.dir, "s1.csv"), 3000, variant=0)
        self.write_config(self.csv_job("dry", "s*.csv", "{sqlite: dry.db}"))
        self.once("dry")
        # A second file: 2000 rows again as they were, 1000 changed, 500 new.
        second = os.path.join(self.dir, "s2.csv")
        with open(second, "wb") as f:
            f.write(SALES_HEADER)
            for i in range(3500):
                f.write(sales_row(i, variant=1 if 2000 <= i < 3000 else 0)[0])
        bad = sum(1 for i in range(3500) if i % 100 == 37)
        valid = 3500 - bad
        new = sum(1 for i in range(3000, 3500) if i % 100 != 37)
        changed = sum(1 for i in range(2000, 3000) if i % 100 != 37)
        before = self.file_bytes("dry.db")
        before_table = self.sqlite("dry.db", "SELECT * FROM sales ORDER BY 1, 2, 3")
        out, r = self.once("dry", "--set", "dry_run=true")
        self.assertEqual(out["status"], "ok", out)
        self.assertEqual(self.file_bytes("dry.db"), before)
        self.assertEqual(self.sqlite("dry.db", "SELECT * FROM sales ORDER BY 1, 2, 3"),
                         before_table)
        m = out["metrics"]
        self.assertEqual((m["dry_run"], m["read"], m["invalid"]), (1, 3500, bad))
        self.assertIn("would have inserted %d, would have updated %d, %d unchanged"
                      % (new, changed, valid - new - changed), out["output"])
        self.assertIn("dry run: nothing written", out["output"])
        self.assertEqual(self.sqlite("dry.db", "SELECT count(*) FROM jobsd_imported_files"),
                         [(1,)])
        # Then for real: exactly what the dry run announced.
        out, r = self.once("dry")
        self.assertEqual((out["metrics"]["inserted"], out["metrics"]["updated"],
                          out["metrics"]["unchanged"]), (new, changed, valid - new - changed))

    def test_dry_run_counts_are_metrics_too(self):
        # Known gap: a dry run puts its would-be counts in the output only;
        # the metrics lack inserted/updated/unchanged.
        write_sales_csv(os.path.join(self.dir, "s1.csv"), 500)
        self.write_config(self.csv_job("dry", "s1.csv", "{sqlite: dry.db}"))
        out, _ = self.once("dry", "--set", "dry_run=true")
        self.assertEqual(out["metrics"]["dry_run"], 1)
        self.assertEqual(out["metrics"]["inserted"], 495)


def pg_url(db):
    return "postgres://postgres:%s@127.0.0.1:%d/%s" % (PG.password, PG.port, db)


_CSVS = {}


def big_csv():
    """The 1,000,000-row CSV, written the first time a test asks for it."""
    if "big" not in _CSVS:
        t0 = time.monotonic()
        _CSVS["big"] = write_sales_csv(os.path.join(DATA, "big.csv"), BIG_ROWS, keep=False)
        sys.stderr.write("[big.csv written in %.1f s] " % (time.monotonic() - t0))
    return _CSVS["big"]


def kill_csv():
    if "kill" not in _CSVS:
        _CSVS["kill"] = write_sales_csv(os.path.join(DATA, "kill.csv"), KILL_ROWS)
    return _CSVS["kill"]


def main():
    global JOBSD, PG, API, DATA
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobsd", required=True)
    args, rest = parser.parse_known_args()
    JOBSD = os.path.abspath(args.jobsd)
    DATA = tempfile.mkdtemp(prefix="jobsd-sqlimport-data-")
    fake = subprocess.Popen([sys.executable, FAKE_API, "--port", "0", "--api-key", API_KEY],
                            stdout=subprocess.PIPE, text=True)
    try:
        API = "http://127.0.0.1:%s" % fake.stdout.readline().strip().partition("=")[2]
        with PostgresServer() as pg:
            PG = pg
            program = unittest.main(argv=[sys.argv[0]] + rest, exit=False)
    finally:
        fake.terminate()
        fake.wait(10)
        shutil.rmtree(DATA, ignore_errors=True)
    sys.exit(0 if program.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
