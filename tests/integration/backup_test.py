#!/usr/bin/python3
"""The backup job, `jobsd backups` and `jobsd restore` end to end: the built
daemon against a real PostgreSQL 15 (pg_dump, pg_restore) and s3rver.

    /usr/bin/python3 tests/integration/backup_test.py --jobsd PATH [-v] [-k PATTERN]
"""

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "support"))
from pg_server import PostgresServer  # noqa: E402
from s3_server import S3Server, ACCESS_KEY_ID, SECRET_ACCESS_KEY  # noqa: E402

JOBSD = None
PG = None
S3 = None
BUCKET = "acme-backups"


class BackupTest(unittest.TestCase):
    counter = 0

    def setUp(self):
        BackupTest.counter += 1
        self.dir = tempfile.mkdtemp(prefix="jobsd-backup-it-")
        self.prefix = "jobsd-%d/" % BackupTest.counter
        os.makedirs(os.path.join(self.dir, "data", "features"))
        with open(os.path.join(self.dir, "data", "features", "f.parquet"), "wb") as f:
            f.write(os.urandom(100000))
        db = sqlite3.connect(os.path.join(self.dir, "data", "dashboard.db"))
        db.execute("CREATE TABLE sales (id INTEGER PRIMARY KEY, amount REAL)")
        db.executemany("INSERT INTO sales (amount) VALUES (?)", [(i * 1.5,) for i in range(5000)])
        db.commit()
        db.close()
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def write_config(self, sources, keep="{last: 2}", s3=True, verify="true"):
        s3_block = ("      s3: {bucket: %s, prefix: %s, region: us-east-1, endpoint: '%s', "
                    "access_key_id: %s, secret_access_key: %s}\n"
                    % (BUCKET, self.prefix, S3.endpoint, ACCESS_KEY_ID, SECRET_ACCESS_KEY)) if s3 else ""
        with open(os.path.join(self.dir, "jobsd.yaml"), "w") as f:
            f.write("state:\n  path: state.db\nhttp:\n  listen: ''\njobs:\n"
                    "  - name: nightly\n    type: backup\n    timeout: 10m\n    with:\n"
                    "      sources:\n%s"
                    "      dest: backups\n      keep: %s\n      verify: %s\n%s"
                    % ("".join("        - %s\n" % s for s in sources), keep, verify, s3_block))

    def jobsd(self, *args, check=None):
        r = subprocess.run([JOBSD] + list(args), cwd=self.dir, capture_output=True, text=True,
                           timeout=300)
        if check is not None:
            self.assertEqual(r.returncode, check, r.stdout + r.stderr)
        return r

    def once(self, check=0):
        return self.jobsd("once", "-c", "jobsd.yaml", "nightly", check=check)

    def backups(self):
        r = self.jobsd("backups", "-c", "jobsd.yaml", "nightly", "--json", check=0)
        return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]

    def s3_keys(self):
        out = S3.client().list_objects_v2(Bucket=BUCKET, Prefix=self.prefix)
        return sorted(o["Key"][len(self.prefix):] for o in out.get("Contents", []))

    # --- PostgreSQL, SQLite, state and a folder, uploaded, restored --------------

    def test_every_source_backed_up_uploaded_and_restored(self):
        db = "shop_%d" % BackupTest.counter
        PG.psql("CREATE DATABASE %s" % db)
        PG.psql("CREATE TABLE orders (id int PRIMARY KEY, note text); "
                "INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 2000) g", db)
        url = "postgres://postgres:%s@127.0.0.1:%d/%s" % (PG.password, PG.port, db)
        self.write_config(["{postgres: '%s', name: shop}" % url, "{state: true}",
                           "{sqlite: data/dashboard.db}", "{files: data/features}"])
        r = self.once()
        self.assertNotIn(PG.password, r.stdout + r.stderr)
        with open(os.path.join(self.dir, "state.db"), "rb") as f:
            self.assertNotIn(PG.password.encode(), f.read())
        [backup] = self.backups()
        self.assertTrue(backup["verified"])
        self.assertEqual(sorted(s["source"] for s in backup["sources"]),
                         ["dashboard.db", "features", "shop", "state"])
        self.assertEqual(len(backup["where"]), 2)
        folder = os.path.basename(backup["folder"])
        self.assertEqual(self.s3_keys(), sorted("nightly/%s/%s" % (folder, n) for n in
                                                ["MANIFEST.json"] + [s["file"] for s in backup["sources"]]))
        m = json.loads(self.jobsd("history", "-c", "jobsd.yaml", "nightly", "--json",
                                  check=0).stdout.splitlines()[0])["metrics"]
        self.assertEqual(m["files"], 4)
        self.assertGreater(m["uploaded_bytes"], m["bytes_stored"])  # the manifest too
        # The PostgreSQL dump goes back with pg_restore into a new database.
        dump = os.path.join(self.dir, "shop.dump")
        self.jobsd("restore", "-c", "jobsd.yaml", "nightly", "--source", "shop", "--to", dump,
                   check=0)
        PG.psql("CREATE DATABASE %s_restored" % db)
        subprocess.run(["pg_restore", "--no-owner", "-h", "127.0.0.1", "-p", str(PG.port), "-U",
                        "postgres", "-d", db + "_restored", dump], check=True,
                       env=dict(os.environ, PGPASSWORD=PG.password))
        self.assertEqual(PG.psql("SELECT count(*), sum(id) FROM orders", db + "_restored").strip(),
                         "2000|2001000")
        # The SQLite file and the folder come back whole.
        restored = os.path.join(self.dir, "restored.db")
        self.jobsd("restore", "-c", "jobsd.yaml", "nightly", "--source", "dashboard.db", "--to",
                   restored, check=0)
        rdb = sqlite3.connect(restored)
        self.assertEqual(rdb.execute("SELECT count(*) FROM sales").fetchone()[0], 5000)
        rdb.close()
        self.jobsd("restore", "-c", "jobsd.yaml", "nightly", "--source", "features", "--to",
                   os.path.join(self.dir, "features-back"), check=0)
        with open(os.path.join(self.dir, "data", "features", "f.parquet"), "rb") as a, \
                open(os.path.join(self.dir, "features-back", "f.parquet"), "rb") as b:
            self.assertEqual(a.read(), b.read())
        # Not over an existing file without --force.
        r = self.jobsd("restore", "-c", "jobsd.yaml", "nightly", "--source", "dashboard.db",
                       "--to", restored, check=1)
        self.assertIn("--force", r.stderr)

    def test_retention_deletes_locally_and_in_s3(self):
        self.write_config(["{sqlite: data/dashboard.db}"], keep="{last: 2}")
        for _ in range(4):
            self.once()
        backups = self.backups()
        self.assertEqual(len(backups), 2)
        folders = sorted({k.split("/")[1] for k in self.s3_keys()})
        self.assertEqual(folders, sorted(os.path.basename(b["folder"]) for b in backups))

    # --- faults -----------------------------------------------------------------

    def test_a_wrong_postgres_password_fails_clearly_and_leaves_nothing(self):
        secret = "N0t-The-Pa55word"
        url = "postgres://postgres:%s@127.0.0.1:%d/postgres" % (secret, PG.port)
        self.write_config(["{postgres: '%s', name: shop}" % url], s3=False)
        r = self.once(check=1)
        self.assertIn("password authentication failed", r.stdout + r.stderr)
        self.assertNotIn(secret, r.stdout + r.stderr)
        self.assertEqual(self.backups(), [])
        self.assertEqual(os.listdir(os.path.join(self.dir, "backups", "nightly")), [])

    def test_kill_9_during_a_backup_leaves_no_half_backup(self):
        big = os.path.join(self.dir, "data", "big.db")
        db = sqlite3.connect(big)
        db.execute("CREATE TABLE blobs (b BLOB)")
        for _ in range(60):
            db.executemany("INSERT INTO blobs VALUES (?)", [(os.urandom(1 << 20),)] * 4)
        db.commit()
        db.close()
        self.write_config(["{sqlite: data/big.db}"], s3=False)
        self.once()
        before = self.backups()
        p = subprocess.Popen([JOBSD, "once", "-c", "jobsd.yaml", "nightly"], cwd=self.dir,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        folder = os.path.join(self.dir, "backups", "nightly")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and p.poll() is None and \
                not any(n.startswith(".building-") for n in os.listdir(folder)):
            time.sleep(0.002)
        time.sleep(0.2)
        self.assertIsNone(p.poll(), "the backup ended before the kill")
        p.send_signal(signal.SIGKILL)
        p.wait()
        self.assertEqual(self.backups(), before)  # the dot-folder is no backup
        r = self.once()
        self.assertIn("left by an interrupted run", r.stdout + r.stderr)
        self.assertEqual(len(self.backups()), 2)
        self.assertFalse(any(n.startswith(".") for n in os.listdir(folder)))

    def test_a_damaged_backup_is_refused_by_restore(self):
        self.write_config(["{sqlite: data/dashboard.db}"], s3=False)
        self.once()
        [backup] = self.backups()
        path = os.path.join(self.dir, backup["folder"], backup["sources"][0]["file"])
        with open(path, "r+b") as f:
            f.seek(100)
            byte = f.read(1)
            f.seek(100)
            f.write(bytes([byte[0] ^ 0xFF]))
        r = self.jobsd("restore", "-c", "jobsd.yaml", "nightly", "--to",
                       os.path.join(self.dir, "r.db"), check=1)
        self.assertIn("SHA-256", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "r.db")))


def main():
    global JOBSD, PG, S3
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobsd", required=True)
    args, rest = parser.parse_known_args()
    JOBSD = os.path.abspath(args.jobsd)
    with PostgresServer() as pg, S3Server() as s3:
        PG, S3 = pg, s3
        s3.create_bucket(BUCKET)
        program = unittest.main(argv=[sys.argv[0]] + rest, exit=False)
    sys.exit(0 if program.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
