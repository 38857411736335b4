#!/usr/bin/python3
"""A throwaway PostgreSQL 15 server on loopback, for jobsd's tests.

As a module (standard library only; run tests with /usr/bin/python3):

    from pg_server import PostgresServer

    with PostgresServer() as pg:      # initdb + start; stop + delete on exit
        pg.url                        # postgres://postgres:PASSWORD@127.0.0.1:PORT/postgres
        pg.port, pg.password, pg.dir  # the pieces
        pg.restart()                  # pg_ctl restart -m fast (same port, same data)
        pg.stop(); pg.start()         # down for a while, then up again
        pg.kill9()                    # SIGKILL the postmaster (crash); start() recovers
        pg.psql("SELECT 1")           # run SQL with psql, returns its stdout

    PostgresServer(password=None, port=None): a random password and a free
    port unless given. The superuser is `postgres`, authentication is
    scram-sha-256 for every connection (the password is always needed), the
    database `postgres`, encoding UTF8 with the C locale, fsync off. The
    server listens on 127.0.0.1 only, its socket in its own folder.

From the command line:

    pg_server.py run -- COMMAND ARGS...
        starts a server, runs COMMAND with JOBSD_TEST_PG_URL (the URL),
        JOBSD_TEST_PG_STATE (a state file, see below) and
        JOBSD_TEST_PG_SERVER (this script) in its environment, stops the
        server and exits with COMMAND's exit code. A watchdog stops the
        server should this script be killed first.
    pg_server.py start --state-file F
        starts a server, writes F (JSON: url, port, password, dir, pid) and
        prints the URL; the server keeps running after the script returns.
    pg_server.py stop --state-file F
        stops the server F describes and deletes its folder and F.
    pg_server.py down|up|restart|kill9 --state-file F
        acts on the server F describes and keeps it: `down` stops it, `up`
        starts it again (after down or kill9), `restart` does both.

As root, initdb, pg_ctl and postgres run as the `postgres` user (they
refuse root), in a folder owned by it under the system temp dir; as any
other user, as that user.
"""

import argparse
import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = "/usr/lib/postgresql/15/bin"


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _alive(pid):
    """Running (a zombie waiting for its reaper is not)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


class PostgresServer:
    def __init__(self, password=None, port=None):
        self.password = password or secrets.token_hex(16)
        self.port = port or _free_port()
        self.dir = None
        self._as_postgres = os.geteuid() == 0
        self._running = False

    # -- paths and URL ------------------------------------------------------

    @property
    def data_dir(self):
        return os.path.join(self.dir, "data")

    @property
    def log_file(self):
        return os.path.join(self.dir, "server.log")

    @property
    def url(self):
        return "postgres://postgres:%s@127.0.0.1:%d/postgres" % (self.password, self.port)

    @property
    def pid(self):
        """The postmaster's pid (None when it is not running)."""
        try:
            with open(os.path.join(self.data_dir, "postmaster.pid")) as f:
                return int(f.readline().strip())
        except (OSError, ValueError):
            return None

    # -- lifecycle ----------------------------------------------------------

    def __enter__(self):
        self.create()
        self.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def create(self):
        """initdb into a new folder (once)."""
        if self.dir is not None:
            return
        self.dir = tempfile.mkdtemp(prefix="jobsd-pg-")
        os.chmod(self.dir, 0o700)
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        pwfile = os.path.join(self.dir, "pwfile")
        self._write_owned(pwfile, self.password + "\n")
        try:
            self._run([BIN + "/initdb", "-D", self.data_dir, "-U", "postgres",
                       "--auth=scram-sha-256", "--pwfile=" + pwfile, "-E", "UTF8",
                       "--no-locale", "--no-sync"])
        finally:
            os.unlink(pwfile)

    def start(self, timeout=60):
        """Starts the server and waits until it takes connections (a no-op
        when it is running)."""
        self.create()
        if self.pid is not None and _alive(self.pid):
            self._running = True
            return
        options = ("-c listen_addresses=127.0.0.1 -p %d -c unix_socket_directories=%s "
                   "-c fsync=off -c full_page_writes=off" % (self.port, self.dir))
        deadline = time.monotonic() + timeout
        while True:
            # After kill9 the old backends may still hold the shared memory
            # for a moment; the new postmaster refuses to start until they go.
            result = self._run([BIN + "/pg_ctl", "-D", self.data_dir, "-l", self.log_file, "-w",
                                "-t", str(timeout), "-o", options, "start"], check=False)
            if result.returncode == 0:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("postgres did not start:\n%s\nlog:\n%s" %
                                   (result.stdout, self.log()))
            time.sleep(0.5)
        self._running = True

    def stop(self):
        """Stops the server (fast: sessions are disconnected)."""
        if self.dir is None or self.pid is None:
            self._running = False
            return
        self._run([BIN + "/pg_ctl", "-D", self.data_dir, "-m", "fast", "-w", "-t", "60", "stop"],
                  check=False)
        self._running = False

    def restart(self):
        """Stops and starts the server on the same port: every session is
        disconnected (57P01) and new ones succeed once it is back."""
        self.stop()
        self.start()

    def kill9(self):
        """SIGKILL to the postmaster, as in a crash; start() brings it back
        (with crash recovery)."""
        pid = self.pid
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            for _ in range(100):
                if not _alive(pid):
                    break
                time.sleep(0.05)
        self._running = False

    def close(self):
        """Stops the server and deletes its folder."""
        if self.dir is None:
            return
        self.stop()
        if self.pid is not None:  # stop failed: do not leave it running
            self.kill9()
        shutil.rmtree(self.dir, ignore_errors=True)
        self.dir = None

    # -- helpers ------------------------------------------------------------

    def psql(self, sql, database="postgres"):
        """Runs `sql` with psql as the superuser; returns stdout (unaligned,
        tuples only). Raises CalledProcessError on an error."""
        env = dict(os.environ, PGPASSWORD=self.password)
        out = subprocess.run(
            ["/usr/bin/psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(self.port), "-U", "postgres", "-d", database, "-c", sql],
            env=env, check=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return out.stdout

    def log(self):
        try:
            with open(self.log_file, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def state(self):
        return {"url": self.url, "port": self.port, "password": self.password, "dir": self.dir,
                "pid": self.pid}

    @classmethod
    def from_state(cls, state):
        server = cls(password=state["password"], port=state["port"])
        server.dir = state["dir"]
        server._running = server.pid is not None
        return server

    def _write_owned(self, path, text):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        if self._as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(path, user.pw_uid, user.pw_gid)

    def _run(self, argv, check=True):
        if self._as_postgres:
            argv = ["runuser", "-u", "postgres", "--"] + argv
        # cwd: the postgres user may not be able to read the caller's folder.
        result = subprocess.run(argv, cwd=self.dir, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if check and result.returncode != 0:
            sys.stderr.write(result.stdout)
            raise subprocess.CalledProcessError(result.returncode, argv, result.stdout)
        return result


def _write_state(path, server):
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(server.state(), f)
    os.replace(tmp, path)


def _read_state(path):
    with open(path) as f:
        return PostgresServer.from_state(json.load(f))


def _watchdog(server, parent):
    """Forks a process that closes `server` once `parent` has died without
    doing so (killed by a test runner's timeout). Returns its pid."""
    pid = os.fork()
    if pid != 0:
        return pid
    try:
        os.setsid()  # outlives a kill of the parent's process group
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        devnull = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(devnull, fd)
        while os.getppid() == parent:
            time.sleep(0.5)
        server.close()
    finally:
        os._exit(0)


def _run_command(command):
    if not command:
        sys.exit("pg_server.py run: no command (pg_server.py run -- COMMAND ARGS...)")
    server = PostgresServer()
    watchdog = None

    def on_signal(signum, _frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        server.create()
        server.start()
        watchdog = _watchdog(server, os.getpid())
        state_file = os.path.join(server.dir, "state.json")
        _write_state(state_file, server)
        env = dict(os.environ, JOBSD_TEST_PG_URL=server.url, JOBSD_TEST_PG_STATE=state_file,
                   JOBSD_TEST_PG_SERVER=os.path.abspath(__file__))
        return subprocess.call(command, env=env)
    finally:
        if watchdog is not None:
            os.kill(watchdog, signal.SIGTERM)
            os.waitpid(watchdog, 0)
        server.close()


def main(argv):
    command = []
    if "--" in argv:
        at = argv.index("--")
        argv, command = argv[:at], argv[at + 1:]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["run", "start", "stop", "down", "up", "restart", "kill9"])
    parser.add_argument("--state-file")
    args = parser.parse_args(argv)
    if args.action == "run":
        return _run_command(command)
    if not args.state_file:
        parser.error(args.action + " needs --state-file")
    if args.action == "start":
        server = PostgresServer()
        try:
            server.create()
            server.start()
        except BaseException:
            server.close()
            raise
        _write_state(args.state_file, server)
        print(server.url, flush=True)
        return 0
    server = _read_state(args.state_file)
    if args.action == "stop":
        server.close()
        os.unlink(args.state_file)
    elif args.action == "down":
        server.stop()
    elif args.action == "restart":
        server.restart()
    elif args.action == "kill9":
        server.kill9()
    elif args.action == "up":
        server.start()
    if args.action != "stop":
        _write_state(args.state_file, server)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
