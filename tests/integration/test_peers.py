"""What the integration tests share: a throwaway CA and a localhost
certificate made with the openssl command, and peer processes (fakes, SMTP
sink) that write their port to a file. Standard library only.
"""

import json
import os
import signal
import subprocess
import time
import urllib.request

SMTP_SINK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fakes", "smtp_sink.py")


def make_test_ca(folder):
    """Writes ca.pem, server.pem and server.key (for localhost and 127.0.0.1)
    into `folder`; returns (ca, cert, key) paths."""
    script = (
        "set -e; cd '%s'; "
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 "
        "-subj '/CN=jobsd test CA' >/dev/null 2>&1; "
        "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr "
        "-subj '/CN=localhost' >/dev/null 2>&1; "
        "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext; "
        "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
        "-out server.pem -days 2 -extfile san.ext >/dev/null 2>&1" % folder)
    subprocess.run(["/bin/sh", "-c", script], check=True)
    return tuple(os.path.join(folder, name) for name in ("ca.pem", "server.pem", "server.key"))


def wait_for_file(path, proc, timeout=10):
    """The port a peer wrote to `path` (it appears whole, by rename)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            with open(path) as f:
                return int(f.read().strip())
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %s" % (proc.args[0], proc.returncode))
        time.sleep(0.02)
    raise RuntimeError("no port file %s" % path)


def read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class Peers:
    """Peer processes in `folder`, stopped by stop()."""

    def __init__(self, folder):
        self.folder = folder
        self.procs = []

    def start(self, argv, name):
        """Starts argv + --port-file; returns the port. Output goes to NAME.log."""
        path = os.path.join(self.folder, name + ".port")
        with open(os.path.join(self.folder, name + ".log"), "w") as log:
            proc = subprocess.Popen(argv + ["--port-file", path], stdout=log, stderr=log)
        self.procs.append(proc)
        return wait_for_file(path, proc)

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        self.procs = []


def script_receiver(port, path, responses, scheme="http"):
    """Tells fake_alert_receiver how to answer the next requests on `path`."""
    body = json.dumps({"path": path, "responses": responses}).encode()
    request = urllib.request.Request("%s://127.0.0.1:%d/_control" % (scheme, port), data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        answer.read()
