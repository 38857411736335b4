#!/usr/bin/python3
"""bench/github_artifact: the github_artifact job beside `curl` + `unzip`, against the same fake.

    harness.py --jobsd PATH --fake PATH [--quick] [--repeat N] [--workdir DIR]

Rows (the issue's targets in brackets: jobsd at least 0.8x the peer's speed,
peak RSS at most 64 MB):
  large files   1 GiB of incompressible data in 4 files
  small files   100,000 files of 1 KiB

Both take the artifact from tests/fakes' fake_github on 127.0.0.1. The peer is
what a script around the API does at its best: `curl -sS -L` of
/actions/artifacts/{id}/zip with the token (curl drops the Authorization
header on the redirect to the blob host, which refuses it), then
`unzip -q -o` into the folder; its wall time is the two together, its RSS the
larger peak. jobsd runs `jobsd once` from an empty state each time, so every
run lists, downloads, hashes, extracts and swaps (and fsyncs the new tree's
folders, which the peer does not). Times are the median of --repeat runs
(default 3), alternating which side goes first; RSS is GNU time's peak. Both
trees are compared file by file after every run, so a broken run cannot
print a figure. --quick (CI smoke) uses 16 MiB and 2,000 files, one run each,
and fails only when something cannot run or the trees differ.
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import benchlib  # noqa: E402

TOKEN = "bench-token"
REPO = "acme/aqi-pipeline"


def make_zip(path, files):
    """files: (name, size, compressible); deflate level 6, as upload-artifact."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=6) as z:
        for name, size, compressible in files:
            with z.open(zipfile.ZipInfo(name, date_time=(2026, 11, 1, 6, 0, 0)), "w",
                        force_zip64=size >= (1 << 31)) as out:
                left = size
                while left:
                    n = min(left, 1 << 20)
                    out.write((b"%08d," % (left % 99999999)) * (n // 9) + b"x" * (n % 9)
                              if compressible else os.urandom(n))
                    left -= n


def digest(folder):
    """(files, bytes, sha256 over every path and content): the tree's identity."""
    h = hashlib.sha256()
    files = total = 0
    for root, dirs, names in os.walk(folder):
        dirs.sort()
        for name in sorted(names):
            path = os.path.join(root, name)
            h.update(os.path.relpath(path, folder).encode() + b"\0")
            with open(path, "rb") as f:
                while True:
                    chunk = f.read(1 << 20)
                    if not chunk:
                        break
                    h.update(chunk)
                    total += len(chunk)
            files += 1
    return files, total, h.hexdigest()


class Fake:
    def __init__(self, binary, folder):
        port_file = os.path.join(folder, "fake.json")
        self.proc = subprocess.Popen([binary, "--port-file", port_file, "--token", TOKEN,
                                      "--repo", REPO], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not os.path.exists(port_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise benchlib.BenchError("fake_github did not start")
            time.sleep(0.02)
        time.sleep(0.05)
        with open(port_file) as f:
            self.api = "http://127.0.0.1:%d" % json.load(f)["api"]

    def post(self, path, body):
        import urllib.request
        req = urllib.request.Request(self.api + path, data=json.dumps(body).encode(), method="POST")
        urllib.request.urlopen(req, timeout=10).read()

    def publish(self, artifact_id, zip_path):
        self.post("/_fake/run", {"id": artifact_id, "head_branch": "main"})
        self.post("/_fake/artifact", {"id": artifact_id, "run_id": artifact_id,
                                      "name": "bench-%d" % artifact_id, "file": zip_path,
                                      "digest": False})

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def run_jobsd(args, fake, folder):
    os.makedirs(folder)
    with open(os.path.join(folder, "jobsd.yaml"), "w") as f:
        f.write("state:\n  path: state.db\njobs:\n  - name: pull\n    type: github_artifact\n"
                "    timeout: 30m\n    with:\n      token: %s\n      repo: %s\n"
                "      artifact: 'bench-*'\n      dest: data\n      max_bytes: 4GiB\n"
                "      api_url: %s\n" % (TOKEN, REPO, fake.api))
    seconds, rss, _ = benchlib.run_measured(
        [args.jobsd, "once", "-c", "jobsd.yaml", "pull", "--log-level", "warn"], folder)
    return seconds, rss, os.path.join(folder, "data")


def run_peer(fake, artifact_id, folder):
    os.makedirs(folder)
    url = "%s/repos/%s/actions/artifacts/%d/zip" % (fake.api, REPO, artifact_id)
    curl_s, curl_rss, _ = benchlib.run_measured(
        ["curl", "-sS", "-f", "-L", "-H", "Authorization: Bearer " + TOKEN,
         "-H", "X-GitHub-Api-Version: 2022-11-28", "-o", "artifact.zip", url], folder)
    unzip_s, unzip_rss, _ = benchlib.run_measured(
        ["unzip", "-q", "-o", "artifact.zip", "-d", "data"], folder)
    return curl_s + unzip_s, max(curl_rss, unzip_rss), os.path.join(folder, "data")


def scenario(args, fake, work, label, artifact_id, files):
    zip_path = os.path.join(work, "%d.zip" % artifact_id)
    benchlib.log("%s: writing the zip" % label)
    make_zip(zip_path, files)
    fake.publish(artifact_id, zip_path)
    expected = None
    results = {"jobsd": [], "peer": []}
    for i in range(args.repeat):
        order = ("jobsd", "peer") if i % 2 == 0 else ("peer", "jobsd")
        for side in order:
            folder = os.path.join(work, "%s-%d-%d" % (side, artifact_id, i))
            if side == "jobsd":
                seconds, rss, tree = run_jobsd(args, fake, folder)
            else:
                seconds, rss, tree = run_peer(fake, artifact_id, folder)
            got = digest(tree)
            if expected is None:
                expected = got
            if got != expected:
                raise benchlib.BenchError("%s: %s extracted %s, expected %s" % (label, side, got,
                                                                                expected))
            benchlib.log("%s: %s %.2f s, %.0f MB" % (label, side, seconds, rss))
            results[side].append((seconds, rss))
            shutil.rmtree(folder)
    os.remove(zip_path)
    row = {side: (statistics.median(s for s, _ in runs), max(r for _, r in runs))
           for side, runs in results.items()}
    row["files"], row["bytes"] = expected[0], expected[1]
    return label, row


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobsd", required=True)
    parser.add_argument("--fake", required=True)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    args.repeat = args.repeat or (1 if args.quick else 3)
    args.jobsd, args.fake = os.path.abspath(args.jobsd), os.path.abspath(args.fake)
    for tool in ("curl", "unzip"):
        if not shutil.which(tool):
            raise benchlib.BenchError("%s is not installed (scripts/bootstrap installs it)" % tool)
    work = tempfile.mkdtemp(prefix="jobsd-bench-github-", dir=args.workdir)
    fake = Fake(args.fake, work)
    try:
        large = 16 << 20 if args.quick else 1 << 30
        small = 2000 if args.quick else 100000
        rows = [
            scenario(args, fake, work, "large files", 1, [("features-%d.bin" % i, large // 4, False)
                                                          for i in range(4)]),
            scenario(args, fake, work, "small files", 2,
                     [("shard-%03d/part-%06d.csv" % (i // 1000, i), 1024, True)
                      for i in range(small)]),
        ]
    finally:
        fake.stop()
        shutil.rmtree(work, ignore_errors=True)
    print("\ngithub_artifact vs curl -L + unzip -o (median of %d, load average %s)\n"
          % (args.repeat, benchlib.loadavg()))
    print("| artifact | jobsd | peer | peer time / jobsd time [>= 0.8] | jobsd peak RSS [<= 64 MB] |")
    print("| --- | --- | --- | --- | --- |")
    for label, row in rows:
        (js, jr), (ps, pr) = row["jobsd"], row["peer"]
        print("| %s: %d files, %.0f MiB | %.2f s, %.0f MB | %.2f s, %.0f MB | %.2fx | %.0f MB |"
              % (label, row["files"], row["bytes"] / (1 << 20), js, jr, ps, pr, ps / js, jr))


if __name__ == "__main__":
    try:
        main()
    except benchlib.BenchError as e:
        print("bench/github_artifact: %s" % e, file=sys.stderr)
        sys.exit(1)
