#!/usr/bin/python3
"""The status page at GET /, tested in headless chromium on a running daemon.

    /usr/bin/python3 tests/browser/ui_test.py --jobsd PATH [--artifacts DIR] [-v] [-k PATTERN]

Starts `jobsd run` on a free loopback port with a token and eight jobs in
known states (ok, failing 3 in a row, running, stale, disabled, never run,
one printing HTML and one with 35 runs), a webhook alert channel that cannot
deliver (so there is an alert, pending), then drives the page through
tests/support/cdp.py: the jobs view, states in words, filters, "run now"
without and with the token, the job page (runs, output, chart, config, older
runs), the alerts view, escaping of job output, the keyboard, and no console
error (a CSP violation is one) on any view. Screenshots go to --artifacts
(default: test-artifacts/ui in the build tree), and so does a screenshot and
the page's HTML of every failed test. Needs chromium and python3-websocket;
without them it fails, it does not skip. About 40 s.
"""

import ctypes
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
import cdp  # noqa: E402

JOBSD = None
ARTIFACTS = None
TOKEN = "ui-t0ken-for-tests"
MANY_RUNS = 35
XSS_LINES = ["<script>alert(1)</script>", '"><img src=x onerror=alert(2)>']
FAILING_ERROR = "<img src=x onerror=alert(3)> disk on fire"

_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent():
    _libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(what, predicate, timeout=20, step=0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        time.sleep(step)


def q(s):
    """A Python string as a JavaScript string literal."""
    return json.dumps(s)


def config_text(port, dead_port, ui=""):
    # Values that need quoting are written as JSON strings, which YAML reads as they are.
    xss_shell = "printf '%%s\\n' %s %s" % tuple("'" + line.replace("'", "'\\''") + "'"
                                               for line in XSS_LINES)
    failing_shell = "echo %s >&2; exit 1" % ("'" + FAILING_ERROR + "'")
    return (
        "state: {path: state.db}\n"
        "http: {listen: '127.0.0.1:%d', token: %s%s}\n"
        "alerts:\n"
        "  channels:\n"
        "    hook: {type: webhook, url: 'http://127.0.0.1:%d/hook', timeout: 2s}\n"
        "  rules: {consecutive_failures: {threshold: 3, severity: critical}}\n"
        "jobs:\n"
        "  - {name: passing, type: sleep, every: 1h, with: {duration: 0s}}\n"
        "  - {name: failing, type: command, every: 1h, with: {shell: %s}}\n"
        "  - {name: running, type: sleep, every: 1h, with: {duration: 600s}}\n"
        "  - {name: stale, type: sleep, every: 1h, max_age: 2s, with: {duration: 0s}}\n"
        "  - {name: disabled, type: sleep, every: 1h, enabled: false, with: {duration: 0s}}\n"
        "  - {name: never, type: sleep, every: 1h, with: {duration: 0s}}\n"
        "  - {name: xss, type: command, every: 1h, with: {shell: %s}}\n"
        "  - {name: many, type: sleep, every: 1h, overlap: queue, with: {duration: 0s}}\n"
        % (port, TOKEN, ui, dead_port, json.dumps(failing_shell), json.dumps(xss_shell)))


EXPECTED_STATES = {"passing": "ok", "failing": "failing", "running": "running",
                   "stale": "stale", "disabled": "disabled", "never": "never",
                   "xss": "ok", "many": "ok"}
STATE_WORDS = {"ok": r"\bok\b", "failing": r"failing \(3 in a row\)", "running": r"running \d",
               "stale": r"\bstale\b", "disabled": r"\bdisabled\b", "never": r"\bnever\b"}


def page_errors(errors):
    """The console errors that are the page's: all but two kinds of line that
    chromium logs by itself. An API answer the page handles (a 401 or 409 from
    run now) is logged as a failed load although nothing failed; and chromium
    asks for /favicon.ico on its own. A 404 for the page's own files, a CSP
    violation, an exception or a console.error still count."""
    def handled(e):
        return e.startswith("log (network): Failed to load resource: the server responded"
                            " with a status of") and ("/api/" in e or e.endswith("/favicon.ico"))
    return [e for e in errors if not handled(e)]


class Daemon:
    """One `jobsd run` in a temp folder, and a small client for its API."""

    def __init__(self, ui=""):
        self.dir = tempfile.mkdtemp(prefix="jobsd-ui-")
        self.port = free_port()
        with open(os.path.join(self.dir, "jobsd.yaml"), "w") as f:
            f.write(config_text(self.port, free_port(), ui))
        self.log_path = os.path.join(self.dir, "jobsd.log")
        log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([JOBSD, "run", "-c", "jobsd.yaml"], cwd=self.dir,
                                     stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent)
        log.close()
        self.url = "http://127.0.0.1:%d/" % self.port
        wait_until("jobsd to answer /healthz", lambda: self.alive_and_answering(), 20)

    def alive_and_answering(self):
        if self.proc.poll() is not None:
            raise AssertionError("jobsd exited with %s:\n%s" % (self.proc.returncode,
                                                                 self.log_tail()))
        try:
            return self.request("GET", "/healthz")[0] == 200
        except OSError:
            return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if os.environ.get("JOBSD_UI_KEEP"):
            print("kept", self.dir, file=sys.stderr)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()[-3000:]
        except OSError:
            return "(no log)"

    def request(self, method, path, token=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {"Authorization": "Bearer " + token} if token else {}
            conn.request(method, path, headers=headers)
            response = conn.getresponse()
            return response.status, response, response.read()
        finally:
            conn.close()

    def get(self, path):
        status, _, body = self.request("GET", path)
        if status != 200:
            raise AssertionError("GET %s: %s %s" % (path, status, body[:200]))
        return json.loads(body)

    def runs(self, job):
        return self.get("/api/jobs/%s/runs?limit=1000" % job)

    def start_run(self, job):
        status, _, body = self.request("POST", "/api/jobs/%s/run" % job, token=TOKEN)
        if status != 202:
            raise AssertionError("POST run %s: %s %s" % (job, status, body[:200]))
        return json.loads(body)

    def run_to_end(self, job):
        run_id = self.start_run(job)["id"]
        wait_until("run %s of %s to end" % (run_id, job), lambda: any(
            r["id"] == run_id and r["finished_at"] for r in self.runs(job)), 20)


class StatusPageTest(unittest.TestCase):
    daemon = None

    @classmethod
    def setUpClass(cls):
        cls.daemon = d = Daemon()
        try:
            for job in ("failing", "failing", "failing", "passing", "stale", "xss"):
                d.run_to_end(job)
            for _ in range(MANY_RUNS):  # overlap: queue, so they run one after another
                d.start_run("many")
            d.start_run("running")
            wait_until("35 runs of many", lambda: len(
                [r for r in d.runs("many") if r["finished_at"]]) == MANY_RUNS, 30)
            wait_until("stale to be stale", lambda: not d.get("/api/jobs/stale")["healthy"], 10)
            wait_until("running to run", lambda: d.get("/api/jobs/running")["running"], 10)
        except BaseException:
            print(d.log_tail(), file=sys.stderr)
            d.stop()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.daemon:
            cls.daemon.stop()

    def setUp(self):
        self.browser = cdp.Browser(width=1280, height=900)
        self.addCleanup(self.browser.close)
        self.browser.start()

    def tearDown(self):
        result = getattr(self._outcome, "result", None)
        failed = result is not None and any(
            test is self for test, _ in result.failures + result.errors)
        if failed and self.browser.proc is not None:
            name = self.id().rsplit(".", 1)[-1]
            try:
                self.browser.screenshot(os.path.join(ARTIFACTS, "FAILED-%s.png" % name))
                html = self.browser.evaluate("document.documentElement.outerHTML")
                with open(os.path.join(ARTIFACTS, "FAILED-%s.txt" % name), "w") as f:
                    f.write("url: %s\nconsole errors:\n%s\ndialogs: %s\n\n%s\n" % (
                        self.browser.evaluate("location.href"),
                        "\n".join(self.browser.console_errors()), self.browser.dialogs(), html))
            except Exception as e:
                print("could not save the failed page: %s" % e, file=sys.stderr)

    # --- helpers ----------------------------------------------------------

    def open(self, route="#/"):
        """Loads the page at `route` (a full load) and waits for the first data."""
        self.browser.navigate(self.daemon.url + route)
        self.wait_loaded()

    def go(self, route):
        """Moves to `route` within the page (a hash change, no reload)."""
        self.browser.evaluate("location.hash = %s" % q(route))

    def wait_loaded(self):
        self.browser.wait_for("document.body && document.body.dataset.loaded === 'true'",
                              timeout=15, what="body[data-loaded=true] (the page's first data)")

    def wait_job_page(self, job):
        self.browser.wait_for(
            "document.querySelector('h1#job-name').textContent.trim() === %s &&"
            " document.querySelectorAll('table#runs tr[data-run-id]').length > 0" % q(job),
            timeout=15, what="the job page of %s with its runs" % job)

    def rows(self):
        return self.browser.evaluate("""[...document.querySelectorAll('table#jobs tr[data-job]')]
          .map(tr => ({
            job: tr.dataset.job, state: tr.dataset.state,
            visible: tr.getClientRects().length > 0,
            words: (tr.querySelector('td.state') || {textContent: null}).textContent,
            schedule: (tr.querySelector('td.schedule') || {textContent: null}).textContent,
            lastRun: !!tr.querySelector('td.last-run'),
            nextRun: !!tr.querySelector('td.next-run'),
            strip: [...tr.querySelectorAll('.strip span.run')].map(s => s.dataset.status),
            button: !!tr.querySelector('button.run-now[data-job="' + tr.dataset.job + '"]'),
          }))""")

    def visible_jobs(self):
        return [r["job"] for r in self.rows() if r["visible"]]

    def wait_visible(self, jobs):
        """Waits until exactly `jobs` (in any order) are the visible rows."""
        self.browser.wait_for(
            "JSON.stringify([...document.querySelectorAll('table#jobs tr[data-job]')]"
            ".filter(tr => tr.getClientRects().length > 0).map(tr => tr.dataset.job).sort())"
            " === %s" % q(json.dumps(sorted(jobs), separators=(",", ":"))), timeout=5,
            what="visible rows %s (visible: %s)" % (sorted(jobs), self.visible_jobs()))

    def message_kind(self, kind):
        self.browser.wait_for(
            "document.querySelector('#message').dataset.kind === %s" % q(kind), timeout=10,
            what="#message[data-kind=%s]" % kind)

    def assert_no_console_errors(self):
        self.assertEqual(page_errors(self.browser.console_errors()), [],
                         "console errors on the page")

    # --- tests ------------------------------------------------------------

    def test_served_with_a_strict_content_security_policy(self):
        status, response, body = self.daemon.request("GET", "/")
        self.assertEqual(status, 200, body[:200])
        self.assertTrue(response.getheader("Content-Type", "").startswith("text/html"))
        policy = response.getheader("Content-Security-Policy")
        self.assertTrue(policy, "GET / has no Content-Security-Policy")
        directives = {}
        for part in policy.split(";"):
            words = part.split()
            if words:
                directives[words[0].lower()] = set(words[1:])
        for kind in ("script-src", "style-src"):
            allowed = directives.get(kind, directives.get("default-src"))
            self.assertEqual(allowed, {"'self'"}, "%s in %r" % (kind, policy))
        for path, kind in (("/ui/app.js", "javascript"), ("/ui/app.css", "text/css")):
            status, response, _ = self.daemon.request("GET", path)
            self.assertEqual(status, 200, path)
            self.assertIn(kind, response.getheader("Content-Type", ""), path)

    def test_jobs_view_shows_each_state_in_words_failing_first(self):
        self.open()
        rows = self.rows()
        self.assertEqual(sorted(r["job"] for r in rows), sorted(EXPECTED_STATES), rows)
        for row in rows:
            job, state = row["job"], EXPECTED_STATES[row["job"]]
            self.assertEqual(row["state"], state, row)
            self.assertIsNotNone(row["words"], "%s has no td.state" % job)
            self.assertRegex(row["words"].strip().lower(), STATE_WORDS[state], row)
            self.assertIn("1h", row["schedule"] or "", "%s: td.schedule" % job)
            self.assertTrue(row["lastRun"] and row["nextRun"], "%s: td.last-run, td.next-run"
                            % job)
            self.assertTrue(row["button"], "%s: button.run-now[data-job]" % job)
        self.assertEqual(rows[0]["job"], "failing", "failing first: %s"
                         % [r["job"] for r in rows])
        strips = {r["job"]: r["strip"] for r in rows}
        self.assertEqual(strips["failing"], ["failed"] * 3)
        self.assertEqual(strips["passing"], ["ok"])
        self.assertEqual(strips["never"], [])
        self.assertEqual(len(strips["many"]), 30, "the strip shows the last 30 runs")
        self.assertEqual(set(strips["many"]), {"ok"})
        self.assert_no_console_errors()

    def test_filters_by_name_and_state_and_keep_filtering_across_polls(self):
        self.open()
        self.browser.type("input#filter", "fail")
        self.wait_visible(["failing"])
        self.browser.type("input#filter", "")
        self.wait_visible(EXPECTED_STATES)
        options = self.browser.evaluate(
            "[...document.querySelectorAll('select#state-filter option')].map(o => o.value)")
        for state in ("ok", "failing", "stale", "running", "disabled", "never"):
            self.assertIn(state, options, "select#state-filter options")
        self.browser.evaluate("""(() => { const s = document.querySelector('select#state-filter');
          s.value = 'disabled'; s.dispatchEvent(new Event('change', {bubbles: true}));
          s.dispatchEvent(new Event('input', {bubbles: true})); })()""")
        self.wait_visible(["disabled"])
        time.sleep(2.5)  # a poll re-renders the table: the filter still holds
        self.assertEqual(self.visible_jobs(), ["disabled"])
        self.assert_no_console_errors()

    def test_run_now_needs_the_token_then_starts_a_run(self):
        before = len(self.daemon.runs("passing"))
        self.open()
        self.assertEqual(self.browser.evaluate("document.querySelector('input#token').type"),
                         "password")
        self.browser.click('button.run-now[data-job="passing"]')
        self.message_kind("unauthorized")
        time.sleep(1)
        self.assertEqual(len(self.daemon.runs("passing")), before, "a run without the token")

        self.browser.type("input#token", TOKEN)
        self.browser.click("button#token-save")
        self.browser.wait_for("Object.values(sessionStorage).some(v => v.includes(%s))"
                              % q(TOKEN), timeout=5, what="the token in sessionStorage")
        self.assertFalse(self.browser.evaluate(
            "Object.values(localStorage).some(v => v.includes(%s)) || document.cookie.includes(%s)"
            % (q(TOKEN), q(TOKEN))), "the token is kept in sessionStorage only")
        self.browser.click('button.run-now[data-job="passing"]')
        self.message_kind("started")
        runs = wait_until("the new run in the API",
                          lambda: [r for r in self.daemon.runs("passing")][:1]
                          if len(self.daemon.runs("passing")) == before + 1 else None, 10)
        self.assertEqual(runs[0]["trigger"], "manual")
        # The page polls: the run shows up in the strip without a reload.
        self.browser.wait_for(
            "document.querySelectorAll('tr[data-job=\"passing\"] .strip span.run').length === %d"
            % (before + 1), timeout=8, what="the new run in passing's strip")
        self.assert_no_console_errors()

    def test_job_output_and_errors_are_shown_as_text(self):
        self.open()
        own_scripts = self.browser.evaluate("[...document.scripts].map(s => s.src)")
        self.assertTrue(own_scripts and all(s.startswith(self.daemon.url) for s in own_scripts),
                        "only the page's own script files: %s" % own_scripts)
        self.go("#/job/xss")
        self.wait_job_page("xss")
        outputs = self.browser.wait_for(
            "(() => { const t = [...document.querySelectorAll('pre.output')]"
            ".map(p => p.textContent).join('\\n'); return t.includes('alert(1)') && t; })()",
            timeout=10, what="the xss run's output in pre.output")
        for line in XSS_LINES:
            self.assertIn(line, outputs)
        self.go("#/job/failing")
        self.wait_job_page("failing")
        self.assertIn(FAILING_ERROR, self.browser.evaluate(
            "document.querySelector('table#runs').textContent"), "the error column")
        self.go("#/")
        self.browser.wait_for("document.querySelector('table#jobs')", timeout=10)
        time.sleep(2.5)  # and after a poll
        for view in ("#/job/xss", "#/job/failing", "#/"):
            self.go(view)
            time.sleep(0.5)
            self.assertEqual(self.browser.evaluate(
                "document.querySelectorAll('[onerror], img[src=\"x\"]').length"), 0, view)
            self.assertEqual(self.browser.evaluate("[...document.scripts].map(s => s.src)"),
                             own_scripts, "no script element was added (%s)" % view)
        self.assertEqual(self.browser.dialogs(), [], "a dialog opened: job output ran")
        self.assert_no_console_errors()

    def test_job_page_shows_runs_chart_config_and_older_runs(self):
        api_ids = [r["id"] for r in self.daemon.runs("many")]
        self.open("#/job/many")
        self.wait_job_page("many")
        ids = self.browser.evaluate(
            "[...document.querySelectorAll('table#runs tr[data-run-id]')]"
            ".map(tr => Number(tr.dataset.runId))")
        self.assertLessEqual(len(ids), MANY_RUNS)
        self.assertEqual(ids, api_ids[:len(ids)], "newest first, as the API")
        first = self.browser.evaluate(
            "document.querySelector('table#runs tr[data-run-id]').textContent")
        self.assertIn("manual", first)
        self.assertIn("ok", first)
        shapes = self.browser.evaluate(
            "document.querySelectorAll('#duration-chart svg :is(rect, circle, line, path,"
            " polyline, polygon, ellipse)').length")
        self.assertGreaterEqual(shapes, 1, "#duration-chart svg has no shapes")
        config = json.loads(self.browser.evaluate(
            "document.querySelector('#job-config').textContent"))
        self.assertEqual((config["name"], config["overlap"]), ("many", "queue"))
        for _ in range(MANY_RUNS):
            count = len(ids)
            if count >= MANY_RUNS:
                break
            self.browser.click("button#older")
            self.browser.wait_for(
                "document.querySelectorAll('table#runs tr[data-run-id]').length > %d" % count,
                timeout=10, what="older runs after button#older")
            ids = self.browser.evaluate(
                "[...document.querySelectorAll('table#runs tr[data-run-id]')]"
                ".map(tr => Number(tr.dataset.runId))")
        self.assertEqual(ids, api_ids, "all runs, once each, newest first")

        self.go("#/job/failing")
        self.wait_job_page("failing")
        rows = self.browser.evaluate(
            "[...document.querySelectorAll('table#runs tr[data-run-id]')].map(tr => tr.textContent)")
        self.assertEqual(len(rows), 3)
        for text in rows:
            self.assertIn("manual", text)
            self.assertIn("failed", text)
        self.assert_no_console_errors()

    def test_alerts_view_shows_the_alert_and_its_delivery(self):
        self.open("#/alerts")
        rows = self.browser.wait_for(
            "(() => { const r = [...document.querySelectorAll('table#alerts tr[data-alert-id]')];"
            " return r.length && r.map(tr => tr.textContent); })()", timeout=15,
            what="table#alerts tr[data-alert-id]")
        firing = [t for t in rows if "firing" in t]
        self.assertTrue(firing, rows)
        self.assertIn("critical", firing[0])
        self.assertRegex(firing[0], r"pending|failed|retry", "the hook channel's delivery state")
        self.assert_no_console_errors()

    def test_screenshots_of_the_views(self):
        shots = []
        for width, height, route, name in ((390, 844, "#/", "jobs-390.png"),
                                           (1440, 900, "#/", "jobs-1440.png"),
                                           (1440, 900, "#/job/failing", "job-failing-1440.png"),
                                           (390, 844, "#/job/failing", "job-failing-390.png"),
                                           (1440, 900, "#/alerts", "alerts-1440.png")):
            self.browser.set_viewport(width, height, mobile=width < 600)
            self.open(route)
            if route.startswith("#/job/"):
                self.wait_job_page(route.rsplit("/", 1)[1])
            path = os.path.join(ARTIFACTS, name)
            size = self.browser.screenshot(path)
            self.assertGreater(size, 1000, path)
            self.assertEqual(cdp.png_size(path), (width, height), path)
            shots.append(path)
        print("screenshots: %s" % " ".join(shots), file=sys.stderr)
        self.assert_no_console_errors()

    def test_no_console_errors_on_any_view(self):
        self.open()
        for route, ready in (("#/job/failing", "document.querySelector('table#runs tr')"),
                             ("#/job/xss", "document.querySelector('pre.output')"),
                             ("#/alerts", "document.querySelector('table#alerts')"),
                             ("#/", "document.querySelector('table#jobs tr[data-job]')")):
            self.go(route)
            self.browser.wait_for(ready, timeout=10, what="%s for %s" % (ready, route))
            time.sleep(2.5)  # a poll on each view
        self.open("#/alerts")  # and each view loaded directly
        self.open("#/job/never")
        time.sleep(1)
        self.assert_no_console_errors()
        self.assertEqual(self.browser.dialogs(), [])

    def test_tab_reaches_run_now_and_enter_presses_it(self):
        self.open()
        path = []
        for _ in range(40):
            self.browser.press("Tab")
            focused = self.browser.evaluate(
                "(() => { const e = document.activeElement; return e.tagName.toLowerCase() +"
                " (e.id ? '#' + e.id : '') + (e.className ? '.' + e.className : ''); })()")
            path.append(focused)
            if self.browser.evaluate("document.activeElement.matches('button.run-now')"):
                break
        else:
            self.fail("40 Tabs did not reach a button.run-now: %s" % path)
        self.browser.press("Enter")
        self.message_kind("unauthorized")  # no token in this browser yet
        self.assert_no_console_errors()


class TokenRequiredTest(unittest.TestCase):
    """http.ui.token_required: the page loads, but shows no job until the
    token is pasted; the API refuses reads without it."""

    def test_the_page_asks_for_the_token_and_then_shows_the_jobs(self):
        daemon = Daemon(ui=", ui: {token_required: true}")
        self.addCleanup(daemon.stop)
        self.assertEqual(daemon.request("GET", "/")[0], 200)  # the page itself holds no data
        self.assertEqual(daemon.request("GET", "/api/jobs")[0], 401)
        self.assertEqual(daemon.request("GET", "/api/jobs", token=TOKEN)[0], 200)
        browser = cdp.Browser(width=1280, height=900)
        self.addCleanup(browser.close)
        browser.start()
        browser.navigate(daemon.url + "#/")
        browser.wait_for("document.querySelector('#message[data-kind=unauthorized]')",
                         timeout=15, what="the page asking for the token")
        self.assertEqual(browser.evaluate("document.querySelectorAll('tr[data-job]').length"), 0)
        browser.type("#token", TOKEN)
        browser.click("#token-save")
        browser.wait_for("document.querySelectorAll('table#jobs tr[data-job]').length === %d"
                         % len(EXPECTED_STATES), timeout=15, what="every job once the token is in")
        self.assertEqual(page_errors(browser.console_errors()), [])


def main():
    import argparse
    global JOBSD, ARTIFACTS
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobsd", required=True, help="the jobsd binary to test")
    parser.add_argument("--artifacts", help="where screenshots go (default: "
                        "test-artifacts/ui beside the jobsd binary's build folder)")
    args, rest = parser.parse_known_args()
    JOBSD = os.path.abspath(args.jobsd)
    ARTIFACTS = os.path.abspath(args.artifacts or os.path.join(
        os.path.dirname(os.path.dirname(JOBSD)), "test-artifacts", "ui"))
    os.makedirs(ARTIFACTS, exist_ok=True)
    try:
        cdp.find_chromium()
        if cdp.websocket is None:
            raise cdp.BrowserMissing("python3-websocket is not installed; install it with "
                                     "`apt-get install python3-websocket` (scripts/bootstrap does)")
    except cdp.BrowserMissing as e:
        print("ui_test: FAIL: %s" % e, file=sys.stderr)
        sys.exit(1)
    # ctest's timeout and Ctrl-C end the run through the cleanups (chromium, jobsd).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    started = time.monotonic()
    program = unittest.main(argv=[sys.argv[0]] + rest, exit=False, verbosity=2)
    print("ui: %d tests in %.1fs, artifacts in %s" % (program.result.testsRun,
                                                      time.monotonic() - started, ARTIFACTS),
          file=sys.stderr)
    sys.exit(0 if program.result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
