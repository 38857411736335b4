#!/usr/bin/python3
"""An S3-compatible server for tests: s3rver (npm, pinned in package.json) on
127.0.0.1 and a free port, with its data in a temporary folder.

As a module:

    with S3Server() as s3:
        s3.create_bucket("b")
        s3.put("b", "k", b"bytes")
        ... s3.endpoint ...          # http://127.0.0.1:PORT

As a command, it starts the server, runs a command with
JOBSD_TEST_S3_ENDPOINT (and JOBSD_TEST_S3_ACCESS_KEY_ID /
JOBSD_TEST_S3_SECRET_ACCESS_KEY, s3rver's fixed S3RVER/S3RVER) in its
environment, stops the server and exits with the command's status:

    s3_server.py run [--bucket NAME ...] -- build/tests/jobsd_tests "[.s3]"

s3rver checks that the access key id is S3RVER but not SigV4 signatures (the
signer is checked against botocore instead). Needs node and `npm ci` in the
repository; standard library and botocore only.
"""

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
S3RVER = REPO / "node_modules" / "s3rver" / "bin" / "s3rver.js"
ACCESS_KEY_ID = "S3RVER"
SECRET_ACCESS_KEY = "S3RVER"
REGION = "us-east-1"


def _node_flags(node):
    # s3rver makes ListObjectsV2 continuation tokens with DES, which OpenSSL 3
    # (Node 17 and later) keeps in its legacy provider only.
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True,
                                 check=True).stdout.strip()
        major = int(version.lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.CalledProcessError):
        return []
    return ["--openssl-legacy-provider"] if major >= 17 else []


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class S3Server:
    """s3rver for the lifetime of a `with` block."""

    def __init__(self, directory=None, node=None, start_timeout=30.0):
        self._directory_arg = directory
        self._node = node or shutil.which("node") or "node"
        self._start_timeout = start_timeout
        self._temp = None
        self._process = None
        self._client = None
        self.port = None
        self.directory = None

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def start(self):
        if not S3RVER.exists():
            raise RuntimeError("%s is missing: run `npm ci` in %s" % (S3RVER, REPO))
        self._temp = tempfile.mkdtemp(prefix="jobsd-s3rver-")
        self.directory = Path(self._directory_arg or os.path.join(self._temp, "data"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self._log = open(os.path.join(self._temp, "s3rver.log"), "wb")
        # A free port can be taken between the probe and s3rver's bind: try a
        # few times.
        for _ in range(5):
            self.port = _free_port()
            self._process = subprocess.Popen(
                [self._node] + _node_flags(self._node) + [str(S3RVER), "--address", "127.0.0.1", "--port", str(self.port),
                 "--directory", str(self.directory), "--silent"],
                stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
                start_new_session=True)
            if self._wait_ready():
                return
            self._kill()
        raise RuntimeError("s3rver did not start; its output:\n" + self.log_text())

    def _wait_ready(self):
        deadline = time.monotonic() + self._start_timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                # Any HTTP answer (an unsigned ListBuckets is refused) means it serves.
                try:
                    urllib.request.urlopen(self.endpoint + "/", timeout=2).close()
                except urllib.error.HTTPError:
                    pass
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def log_text(self):
        try:
            return Path(self._temp, "s3rver.log").read_text(errors="replace")
        except OSError:
            return ""

    def _kill(self):
        if self._process is None:
            return
        if self._process.poll() is None:
            try:
                os.killpg(self._process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self._process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(self._process.pid, signal.SIGKILL)
                self._process.wait()
        self._process = None

    def stop(self):
        self._kill()
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None
        if self._temp:
            shutil.rmtree(self._temp, ignore_errors=True)
            self._temp = None

    def client(self):
        """A botocore S3 client for this server (path-style)."""
        if self._client is None:
            import botocore.session
            from botocore.config import Config
            session = botocore.session.get_session()
            self._client = session.create_client(
                "s3", endpoint_url=self.endpoint, region_name=REGION,
                aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY,
                config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        return self._client

    def create_bucket(self, name):
        self.client().create_bucket(Bucket=name)

    def put(self, bucket, key, data):
        self.client().put_object(Bucket=bucket, Key=key, Body=data)

    def get(self, bucket, key):
        return self.client().get_object(Bucket=bucket, Key=key)["Body"].read()


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    run = sub.add_parser("run", help="start s3rver, run a command, stop it")
    run.add_argument("--bucket", action="append", default=[],
                     help="create this bucket first (repeatable)")
    run.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("run needs a command after --")

    with S3Server() as server:
        for bucket in args.bucket:
            server.create_bucket(bucket)
        env = dict(os.environ)
        env["JOBSD_TEST_S3_ENDPOINT"] = server.endpoint
        env["JOBSD_TEST_S3_ACCESS_KEY_ID"] = ACCESS_KEY_ID
        env["JOBSD_TEST_S3_SECRET_ACCESS_KEY"] = SECRET_ACCESS_KEY
        env["JOBSD_TEST_S3_REGION"] = REGION
        status = subprocess.call(command, env=env)
        if status != 0:
            print("s3_server.py: the command exited %d; s3rver's output:\n%s"
                  % (status, server.log_text()[-4000:]), file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
