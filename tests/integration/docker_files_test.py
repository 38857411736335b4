#!/usr/bin/python3
"""Checks the docker packaging as far as it can be checked without a Docker
engine: the compose file validates under Debian's docker-compose (v1 schema),
the Dockerfile builds with the scripts CI runs and its runtime stage is
non-root with a HEALTHCHECK and every shared library the binary links, and
the container config passes `jobsd check` and listens on 0.0.0.0.

    /usr/bin/python3 tests/integration/docker_files_test.py --jobsd build/daemon/jobsd

Standard library only; a few seconds.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
JOBSD = None
CONTAINER_CONFIG = "etc/jobsd.docker.yaml"
# In every Debian image (Essential or required): never listed in the runtime stage.
BASE_PACKAGES = {"libc6", "libgcc-s1"}
# A sanitizer build's runtimes: the image's build stage never sanitizes, so a
# test run in such a tree does not ask the runtime stage for them.
SANITIZER_PACKAGES = {"libasan8", "libubsan1", "libtsan2", "liblsan0"}


def read(rel):
    with open(os.path.join(ROOT, rel)) as f:
        return f.read()


def dockerfile_stages():
    """[(from-line, [instruction lines])], continuation lines joined."""
    text = read("Dockerfile").replace("\\\n", " ")
    stages = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if re.match(r"(?i)FROM\s", line):
            stages.append((line, []))
        elif stages:
            stages[-1][1].append(line)
    return stages


def instructions(stage, keyword):
    return [line[len(keyword):].strip() for line in stage[1]
            if line.upper().startswith(keyword + " ")]


class ComposeTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="jobsd-compose-")
        # A throwaway project folder: the compose file plus .env.example as its
        # env file, so no real .env is needed (or read).
        shutil.copy(os.path.join(ROOT, "docker-compose.yml"), self.dir)
        shutil.copy(os.path.join(ROOT, ".env.example"), os.path.join(self.dir, ".env"))

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def compose(self, *args):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COMPOSE_", "DOCKER_"))}
        return subprocess.run(["docker-compose", "-f", "docker-compose.yml"] + list(args),
                              cwd=self.dir, env=env, capture_output=True, text=True, timeout=60)

    def test_config_validates(self):
        r = self.compose("config", "-q")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_services_as_operated(self):
        r = self.compose("config")
        self.assertEqual(r.returncode, 0, r.stderr)
        out = "\n" + r.stdout
        body = out.split("\nservices:\n", 1)[1].split("\nvolumes:\n")[0].split("\nversion:")[0]
        by_name = {s.split(":", 1)[0].strip(): s for s in re.split(r"\n(?=  \S)", body) if s.strip()}
        self.assertIn("jobsd", by_name)
        self.assertIn("postgres", by_name)
        jobsd, pg = by_name["jobsd"], by_name["postgres"]
        self.assertIn("restart: unless-stopped", jobsd)
        self.assertIn("restart: unless-stopped", pg)
        self.assertIn("healthcheck:", jobsd)
        self.assertIn("/healthz", jobsd)
        self.assertIn("context: " + self.dir, jobsd)  # build: .
        # Published on the host's loopback only.
        ports = re.findall(r"(?m)^    - (\S*:8080/tcp)$", jobsd)
        self.assertTrue(ports, jobsd)
        for port in ports:
            self.assertTrue(port.startswith("127.0.0.1:"), port)
        for volume in ("/var/lib/jobsd", "/data"):
            self.assertRegex(jobsd, r"(?m)^    - [a-z-]+:%s:rw$" % volume)
        self.assertRegex(pg, r"(?m)^    - [a-z-]+:/var/lib/postgresql/data:rw$")
        # Secrets come from the env file, not from the compose file.
        self.assertIn("POSTGRES_PASSWORD: change-me", pg)
        self.assertNotRegex(read("docker-compose.yml"), r"(?i)password\s*[:=]\s*\S")

    def test_env_example_holds_no_real_secrets(self):
        for line in read(".env.example").splitlines():
            if re.match(r"\s*(#|$)", line):
                continue
            key, _, value = line.partition("=")
            if re.search(r"TOKEN|PASSWORD|SECRET|KEY", key):
                self.assertIn(value, ("", "change-me"), key)


class DockerfileTest(unittest.TestCase):
    def setUp(self):
        self.stages = dockerfile_stages()
        self.assertGreaterEqual(len(self.stages), 2, "a multi-stage Dockerfile")
        self.build, self.runtime = self.stages[0], self.stages[-1]

    def test_based_on_bookworm_slim(self):
        for from_line, _ in self.stages:
            self.assertRegex(from_line, r"(?i)^FROM\s+debian:bookworm-slim\b")

    def test_build_stage_runs_the_ci_scripts(self):
        runs = " ".join(instructions(self.build, "RUN"))
        self.assertIn("scripts/bootstrap", runs)
        self.assertIn("scripts/build", runs)
        self.assertIn("-DJOBSD_TESTS=OFF", runs)
        self.assertIn("-DJOBSD_BENCH=OFF", runs)
        # ... the scripts CI itself runs: .ci/run -> scripts/test -> both.
        ci = read(".ci/run") + read("scripts/test")
        self.assertIn("scripts/test", ci)
        self.assertIn("bootstrap", read("scripts/test"))
        self.assertIn("build", read("scripts/test"))

    def test_copied_files_exist_and_are_not_ignored(self):
        ignored = [p.strip().rstrip("/") for p in read(".dockerignore").splitlines()
                   if p.strip() and not p.startswith("#")]
        for want in ("build*", "node_modules", ".git"):
            self.assertIn(want, ignored)
        for _, body in self.stages:
            for args in [line[5:].split() for line in body if line.upper().startswith("COPY ")]:
                if any(a.startswith("--from") for a in args) or args[:2] == [".", "."]:
                    continue
                for src in [a for a in args if not a.startswith("--")][:-1]:
                    self.assertTrue(os.path.exists(os.path.join(ROOT, src)), src)
                    for pattern in ignored:
                        self.assertFalse(re.fullmatch(pattern.replace(".", r"\.").replace("*", ".*"),
                                                      src.split("/")[0]), src + " is in .dockerignore")

    def test_runtime_stage_is_operable(self):
        users = instructions(self.runtime, "USER")
        self.assertTrue(users, "the runtime stage sets USER")
        self.assertNotIn(users[-1].split(":")[0], ("root", "0"))
        self.assertIn(users[-1].split(":")[0], " ".join(instructions(self.runtime, "RUN")),
                      "the user is created in the runtime stage")
        health = " ".join(instructions(self.runtime, "HEALTHCHECK"))
        self.assertRegex(health, r"CMD .*http://127\.0\.0\.1:8080/healthz")
        self.assertIn("8080", instructions(self.runtime, "EXPOSE"))
        self.assertEqual(instructions(self.runtime, "STOPSIGNAL"), ["SIGTERM"])
        volumes = " ".join(instructions(self.runtime, "VOLUME"))
        self.assertIn("/var/lib/jobsd", volumes)
        self.assertIn("/data", volumes)
        copies = " ".join(instructions(self.runtime, "COPY"))
        self.assertIn("--from=", copies)
        self.assertIn(CONTAINER_CONFIG, copies)
        # The health check's tool is installed in the runtime stage.
        self.assertIn("curl", self.runtime_packages())

    def runtime_packages(self):
        runs = " ".join(instructions(self.runtime, "RUN"))
        m = re.search(r"apt-get install ((?:\s*-\S+)*)((?:\s+[a-z0-9][a-z0-9.+-]+)+)", runs)
        self.assertIsNotNone(m, "an apt-get install in the runtime stage")
        return set(m.group(2).split())

    def test_runtime_stage_installs_every_linked_library(self):
        # The direct dependencies (DT_NEEDED) of the binary as built, each
        # mapped to its Debian package: a library added to the build without
        # its runtime package in the Dockerfile fails here, not in production.
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]",
                            subprocess.run(["readelf", "-d", JOBSD], capture_output=True,
                                           text=True, check=True).stdout)
        self.assertTrue(needed)
        resolved = dict(re.findall(r"^\s*(\S+) => (\S+)", subprocess.run(
            ["ldd", JOBSD], capture_output=True, text=True, check=True).stdout, re.M))
        have = self.runtime_packages()
        missing = []
        for lib in needed:
            path = resolved.get(lib)
            self.assertIsNotNone(path, "ldd cannot find " + lib)
            owner = None
            for candidate in (path, os.path.realpath(path)):
                r = subprocess.run(["dpkg", "-S", candidate], capture_output=True, text=True)
                if r.returncode == 0:
                    owner = r.stdout.split(":")[0].strip()
                    break
            self.assertIsNotNone(owner, "no Debian package owns %s (%s)" % (lib, path))
            if owner not in have and owner not in BASE_PACKAGES | SANITIZER_PACKAGES:
                missing.append("%s (%s)" % (owner, lib))
        self.assertEqual(missing, [], "runtime stage lacks these packages")


class ContainerConfigTest(unittest.TestCase):
    def test_passes_jobsd_check(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("JOBSD_")}
        r = subprocess.run([JOBSD, "check", "-c", os.path.join(ROOT, CONTAINER_CONFIG)],
                           capture_output=True, text=True, timeout=30, env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_listens_on_all_interfaces_with_state_in_the_volume(self):
        text = read(CONTAINER_CONFIG)
        self.assertRegex(text, r"(?m)^\s+listen:\s*\"?0\.0\.0\.0:8080\"?")
        self.assertRegex(text, r"(?m)^\s+path:\s*/var/lib/jobsd/")


def main():
    global JOBSD
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobsd", required=True)
    args, rest = parser.parse_known_args()
    JOBSD = os.path.abspath(args.jobsd)
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
