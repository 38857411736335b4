#!/usr/bin/python3
"""The fake Athena (tests/fakes/fake_athena.py) writing its results into a
real S3-compatible server (s3rver, tests/support/s3_server.py), for jobsd's
tests and benchmarks.

As a module:

    with AthenaStack(rows=...) as stack:     # dataset: table forecast_data
        stack.athena_endpoint, stack.s3_endpoint
        stack.write_dataset(rows)            # replace the table's rows
        stack.scenario({"throttle": {...}})  # see fake_athena.py
        stack.stats()                        # what the fake saw

Both take the credentials ACCESS_KEY_ID / SECRET_ACCESS_KEY (s3rver only
knows S3RVER). Results go to the bucket RESULTS_BUCKET.

As a command, for the C++ tests tagged [.athena_fake]:

    athena_stack.py run -- build/tests/jobsd_tests "[.athena_fake]"

runs the command with JOBSD_TEST_ATHENA_ENDPOINT and JOBSD_TEST_S3_ENDPOINT
set and exits with its status.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from s3_server import S3Server  # noqa: E402

FAKE = HERE.parent / "fakes" / "fake_athena.py"
ACCESS_KEY_ID = "S3RVER"
SECRET_ACCESS_KEY = "S3RVER"
REGION = "us-east-2"
RESULTS_BUCKET = "athena-results"

# The seed's forecast table.
COLUMNS = [
    {"name": "restaurant_id", "type": "integer"},
    {"name": "inventory_item_id", "type": "integer"},
    {"name": "business_date", "type": "date"},
    {"name": "dma_id", "type": "varchar"},
    {"name": "dc_id", "type": "varchar"},
    {"name": "state", "type": "varchar"},
    {"name": "y_05", "type": "double"},
    {"name": "y_50", "type": "double"},
    {"name": "y_95", "type": "double"},
    {"name": "updated_at", "type": "timestamp"},
]


def forecast_rows(n, start=0, updated_at="2024-11-04 02:00:00.000", variant=0):
    """n rows of the forecast table, keys start..start+n; `variant` changes values."""
    out = []
    for i in range(start, start + n):
        base = (i * 7 + variant) % 1000
        out.append([str(1000 + i // 500), str(i % 500), "2024-11-%02d" % (1 + i % 28),
                    "dma-%d" % (i % 17), None if i % 11 == 0 else "dc-%d" % (i % 5),
                    "" if i % 13 == 0 else "OH",
                    "%.2f" % (base / 10), "%.2f" % (base / 10 + 1), "%.2f" % (base / 10 + 2),
                    updated_at])
    return out


class AthenaStack:
    def __init__(self, rows=None, columns=COLUMNS, table="forecast_data"):
        self.dir = tempfile.mkdtemp(prefix="jobsd-athena-")
        self.dataset = os.path.join(self.dir, "dataset.jsonl")
        self.columns = columns
        self.table = table
        self.write_dataset(rows if rows is not None else forecast_rows(2500))
        self.s3 = S3Server()
        self.proc = None

    def write_dataset(self, rows, columns=None):
        tmp = self.dataset + ".tmp"
        with open(tmp, "w") as f:
            f.write(json.dumps({"table": self.table, "columns": columns or self.columns}) + "\n")
            for row in rows:
                f.write(json.dumps(row) + "\n")
        os.replace(tmp, self.dataset)

    def __enter__(self):
        self.s3.start()
        self.s3.create_bucket(RESULTS_BUCKET)
        port_file = os.path.join(self.dir, "athena.port")
        self.log = open(os.path.join(self.dir, "fake_athena.log"), "w")
        self.proc = subprocess.Popen(
            ["/usr/bin/python3", str(FAKE), "--port-file", port_file, "--dataset", self.dataset,
             "--s3-endpoint", self.s3.endpoint, "--region", REGION,
             "--access-key-id", ACCESS_KEY_ID, "--secret-access-key", SECRET_ACCESS_KEY],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the fake Athena did not start: " + self.log_text())
            time.sleep(0.05)
        with open(port_file) as f:
            self.athena_endpoint = "http://127.0.0.1:%s" % f.read().strip()
        self.s3_endpoint = self.s3.endpoint
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.s3.stop()

    def log_text(self):
        with open(os.path.join(self.dir, "fake_athena.log")) as f:
            return f.read()

    def _call(self, method, path, body=None):
        request = urllib.request.Request(self.athena_endpoint + path, method=method,
                                         data=None if body is None else json.dumps(body).encode())
        with urllib.request.urlopen(request, timeout=10) as answer:
            return json.loads(answer.read() or b"{}")

    def scenario(self, scenario):
        self._call("POST", "/_fake/scenario", scenario)

    def stats(self):
        return self._call("GET", "/_fake/stats")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="verb", required=True)
    run = sub.add_parser("run")
    run.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    with AthenaStack() as stack:
        env = dict(os.environ, JOBSD_TEST_ATHENA_ENDPOINT=stack.athena_endpoint,
                   JOBSD_TEST_S3_ENDPOINT=stack.s3_endpoint)
        child = subprocess.Popen(command, env=env)
        signal.signal(signal.SIGTERM, lambda *_: child.terminate())
        code = child.wait()
        if code != 0:
            sys.stderr.write("fake Athena log:\n" + stack.log_text()[-4000:])
        return code


if __name__ == "__main__":
    sys.exit(main())
