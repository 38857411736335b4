#!/usr/bin/python3
"""A small Chrome DevTools Protocol client for the browser tests.

    from cdp import Browser
    with Browser() as b:
        b.navigate("http://127.0.0.1:8080/")
        b.wait_for("document.body.dataset.loaded === 'true'")
        b.click("button.run-now")
        b.console_errors()   # [] unless something went wrong

    /usr/bin/python3 tests/support/cdp.py --self-test [-v]

Starts Debian's chromium headless with a throwaway profile, reads the
DevTools port from the profile's DevToolsActivePort file (so the port is
never guessed), and speaks CDP to the page target over one websocket
(python3-websocket). A reader thread receives everything: answers are
matched to calls by id, events are recorded as they come. What the tests
want from events is recorded for them: console errors (console.error,
uncaught exceptions, and the browser's own error log, which is where a
Content-Security-Policy violation shows), and JavaScript dialogs, which are
dismissed at once so that a stray alert() cannot hang the page (a dialog
blocks the renderer, and with it every evaluate, until it is handled).

Chromium runs in a process group of its own; close() (also on `with` exit,
at interpreter exit, and when the test runner dies: PDEATHSIG) kills the
group and removes the profile. A missing chromium raises BrowserMissing,
whose message says how to install it: the browser tests fail, never skip.
"""

import atexit
import base64
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

try:
    import websocket  # python3-websocket (websocket-client)
except ImportError:  # reported by Browser.start(), so that --help still works
    websocket = None

CHROMIUM_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = "install it with `apt-get install chromium` (scripts/bootstrap does)"

_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1


class BrowserMissing(RuntimeError):
    """No chromium (or no python3-websocket) on this machine."""


class CdpError(RuntimeError):
    """A CDP call answered with an error, or the browser went away."""


class JsError(RuntimeError):
    """The evaluated JavaScript threw (or its promise rejected)."""


def find_chromium():
    """The chromium binary: $CHROMIUM if set, else the first candidate on PATH.
    Raises BrowserMissing with what was looked for."""
    explicit = os.environ.get("CHROMIUM")
    if explicit:
        if os.access(explicit, os.X_OK):
            return explicit
        raise BrowserMissing(f"CHROMIUM={explicit} is not an executable; {INSTALL_HINT}")
    for name in CHROMIUM_CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    raise BrowserMissing("no chromium found (looked for %s on PATH and $CHROMIUM); %s"
                         % (", ".join(CHROMIUM_CANDIDATES), INSTALL_HINT))


def _die_with_parent():
    # Chromium must not outlive a test runner that was itself killed.
    os.setsid()
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _js_string(s):
    return json.dumps(s)


class Browser:
    """One headless chromium and its first page. Not thread-safe: call it from
    one thread (the reader thread is internal)."""

    def __init__(self, width=1280, height=800, timeout=30.0, chromium=None, verbose=False):
        self.default_timeout = timeout
        self.verbose = verbose
        self._chromium = chromium
        self._size = (width, height)
        self.proc = None
        self.profile = None
        self._ws = None
        self._reader = None
        self._send_lock = threading.Lock()
        # Shared with the reader thread, under _cond.
        self._cond = threading.Condition()
        self._next_id = 0
        self._answers = {}
        self._closed = False
        self._loads = 0
        self.events = []          # every event as (method, params), in order
        self._console_errors = []
        self._dialogs = []

    # --- start and stop ---------------------------------------------------

    def start(self):
        if websocket is None:
            raise BrowserMissing("python3-websocket is not installed; install it with "
                                 "`apt-get install python3-websocket` (scripts/bootstrap does)")
        binary = self._chromium or find_chromium()
        self.profile = tempfile.mkdtemp(prefix="jobsd-chromium-")
        atexit.register(self.close)
        log = open(os.path.join(self.profile, "chromium.log"), "wb")
        args = [binary, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--remote-debugging-port=0",
                "--user-data-dir=" + self.profile, "--no-first-run",
                "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync", "--mute-audio", "--hide-scrollbars",
                "--window-size=%d,%d" % self._size, "about:blank"]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                     preexec_fn=_die_with_parent)
        log.close()
        port = self._devtools_port(self.default_timeout)
        target = self._page_target(port, self.default_timeout)
        # Chromium refuses websocket upgrades that carry an Origin it was not
        # told to allow (--remote-allow-origins); sending none is allowed.
        self._ws = websocket.create_connection(target["webSocketDebuggerUrl"],
                                               timeout=self.default_timeout,
                                               suppress_origin=True, enable_multithread=True)
        self._ws.settimeout(None)
        self._reader = threading.Thread(target=self._read_loop, name="cdp-reader", daemon=True)
        self._reader.start()
        for domain in ("Page", "Runtime", "Log"):
            self.call(domain + ".enable")
        self.set_viewport(*self._size)
        return self

    def close(self):
        """Kills chromium's process group and removes the profile. Idempotent."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._ws is not None:
            try:
                self._ws.close(timeout=1)
            except Exception:
                pass
            self._ws = None
        if self.proc is not None:
            if self.proc.poll() is None:
                try:
                    os.killpg(self.proc.pid, signal.SIGTERM)
                    self.proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    pass
                except ProcessLookupError:
                    pass
            try:  # whatever is left of the group (renderers, zygote)
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            self.proc = None
        if self.profile is not None:
            shutil.rmtree(self.profile, ignore_errors=True)
            self.profile = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()

    def chromium_log(self):
        try:
            with open(os.path.join(self.profile, "chromium.log"), errors="replace") as f:
                return f.read()[-3000:]
        except (OSError, TypeError):
            return "(no log)"

    def _devtools_port(self, timeout):
        path = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CdpError("chromium exited with %s before DevTools was up:\n%s"
                               % (self.proc.returncode, self.chromium_log()))
            try:
                with open(path) as f:
                    first = f.readline().strip()
                if first.isdigit():
                    return int(first)
            except FileNotFoundError:
                pass
            time.sleep(0.05)
        raise CdpError("no DevToolsActivePort after %ss:\n%s" % (timeout, self.chromium_log()))

    def _page_target(self, port, timeout):
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port,
                                            timeout=5) as r:
                    targets = json.loads(r.read())
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    return pages[0]
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise CdpError("chromium shows no page target")
            time.sleep(0.1)

    # --- the protocol -----------------------------------------------------

    def _read_loop(self):
        while True:
            try:
                raw = self._ws.recv()
            except Exception:
                break
            if not raw:
                break
            message = json.loads(raw)
            if "id" in message:
                with self._cond:
                    self._answers[message["id"]] = message
                    self._cond.notify_all()
            else:
                self._on_event(message.get("method"), message.get("params", {}))
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def _send(self, method, params):
        with self._cond:
            if self._closed:
                raise CdpError("the browser is gone (calling %s)" % method)
            self._next_id += 1
            call_id = self._next_id
        with self._send_lock:
            self._ws.send(json.dumps({"id": call_id, "method": method, "params": params}))
        return call_id

    def call(self, method, timeout=None, **params):
        """One CDP command; returns its result object or raises CdpError."""
        call_id = self._send(method, params)
        deadline = time.monotonic() + (timeout or self.default_timeout)
        with self._cond:
            while call_id not in self._answers:
                if self._closed:
                    raise CdpError("the browser went away during %s:\n%s"
                                   % (method, self.chromium_log()))
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CdpError("no answer to %s in %ss" % (method, timeout
                                                                or self.default_timeout))
                self._cond.wait(left)
            answer = self._answers.pop(call_id)
        if "error" in answer:
            raise CdpError("%s: %s" % (method, answer["error"].get("message", answer["error"])))
        return answer.get("result", {})

    def _on_event(self, method, params):
        # Reader thread: record, and answer dialogs without waiting for the answer.
        if self.verbose:
            print("cdp event:", method, json.dumps(params)[:300], file=sys.stderr)
        error = None
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            error = "console.%s: %s" % (params["type"], " ".join(
                _remote_text(a) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            exception = details.get("exception", {})
            error = "uncaught: %s" % (exception.get("description") or details.get("text"))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            entry = params["entry"]
            error = "log (%s): %s%s" % (entry.get("source"), entry.get("text"),
                                        " at " + entry["url"] if entry.get("url") else "")
        elif method == "Page.javascriptDialogOpening":
            with self._cond:
                self._dialogs.append({"type": params.get("type"),
                                      "message": params.get("message"),
                                      "url": params.get("url")})
            try:
                self._send("Page.handleJavaScriptDialog", {"accept": False})
            except Exception:
                pass
        with self._cond:
            self.events.append((method, params))
            if error is not None:
                self._console_errors.append(error)
            if method == "Page.loadEventFired":
                self._loads += 1
            self._cond.notify_all()

    # --- what the tests use -----------------------------------------------

    def console_errors(self):
        """Every console error so far, as one line of text each: console.error
        and console.assert, uncaught exceptions, and the browser's error log
        (CSP violations, failed loads)."""
        with self._cond:
            return list(self._console_errors)

    def dialogs(self):
        """Every JavaScript dialog (alert, confirm, prompt, beforeunload) opened
        so far, as {type, message, url}; each was dismissed at once."""
        with self._cond:
            return list(self._dialogs)

    def clear_events(self):
        with self._cond:
            self.events.clear()
            self._console_errors.clear()
            self._dialogs.clear()

    def navigate(self, url, timeout=None):
        """Goes to `url` and waits for its load event. A change of the hash
        only (a same-document navigation, no load event) returns at once."""
        timeout = timeout or self.default_timeout
        with self._cond:
            loads_before = self._loads
        result = self.call("Page.navigate", timeout=timeout, url=url)
        if result.get("errorText"):
            raise CdpError("navigating to %s: %s" % (url, result["errorText"]))
        if not result.get("loaderId"):
            return
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._loads == loads_before:
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    raise CdpError("%s did not load in %ss" % (url, timeout))
                self._cond.wait(left)

    def evaluate(self, expression, timeout=None):
        """The value of a JavaScript expression (awaited if it is a promise),
        as JSON gives it back; raises JsError if it throws."""
        result = self.call("Runtime.evaluate", timeout=timeout, expression=expression,
                           returnByValue=True, awaitPromise=True, userGesture=True)
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise JsError("%s\n  in: %s" % (text, expression[:200]))
        return result.get("result", {}).get("value")

    def wait_for(self, predicate, timeout=None, interval=0.1, what=None):
        """Evaluates `predicate` (a JavaScript expression) until it is truthy
        and returns its value (True for a value that is truthy in JavaScript
        but not in Python, such as an element). A predicate that throws counts as false (the
        element may not be there yet). On timeout raises AssertionError naming
        what was waited for, the last error, and the console errors."""
        timeout = timeout or self.default_timeout
        deadline = time.monotonic() + timeout
        last = None
        # Truthiness is JavaScript's: an element comes back by value as {}.
        wrapped = "(() => { const v = (%s); return {ok: !!v, v: v}; })()" % predicate
        while True:
            try:
                answer = self.evaluate(wrapped)
                if answer["ok"]:
                    return answer.get("v") or True
                last = "last value: %r" % (answer.get("v"),)
            except JsError as e:
                last = "last error: %s" % str(e).splitlines()[0]
            if time.monotonic() > deadline:
                errors = self.console_errors()
                raise AssertionError("timed out after %ss waiting for %s (%s)%s" % (
                    timeout, what or predicate, last,
                    "; console errors: %s" % errors if errors else ""))
            time.sleep(interval)

    def click(self, selector):
        """element.click() on the first match; raises JsError if there is none."""
        self.evaluate("(() => { const el = document.querySelector(%s);"
                      " if (!el) throw new Error('no element matches ' + %s);"
                      " el.click(); return true; })()" % (_js_string(selector),
                                                          _js_string(selector)))

    def type(self, selector, text):
        """Focuses the first match, clears it, and types `text` into it as the
        keyboard would (Input.insertText: real input events), then fires change."""
        self.evaluate("(() => { const el = document.querySelector(%s);"
                      " if (!el) throw new Error('no element matches ' + %s);"
                      " el.focus(); el.value = ''; return true; })()"
                      % (_js_string(selector), _js_string(selector)))
        self.call("Input.insertText", text=text)
        self.evaluate("document.activeElement.dispatchEvent(new Event('change',"
                      " {bubbles: true}))")

    _KEYS = {
        "Tab": {"code": "Tab", "windowsVirtualKeyCode": 9},
        "Enter": {"code": "Enter", "windowsVirtualKeyCode": 13, "text": "\r"},
        "Escape": {"code": "Escape", "windowsVirtualKeyCode": 27},
        " ": {"code": "Space", "windowsVirtualKeyCode": 32, "text": " "},
        "ArrowDown": {"code": "ArrowDown", "windowsVirtualKeyCode": 40},
        "ArrowUp": {"code": "ArrowUp", "windowsVirtualKeyCode": 38},
    }

    def press(self, key, shift=False):
        """A key press (down and up) through Input.dispatchKeyEvent, so the
        browser's default actions happen: Tab moves focus, Enter and Space
        activate a focused button. Keys: Tab, Enter, Escape, " ", ArrowUp/Down."""
        spec = dict(self._KEYS[key])
        text = spec.pop("text", None)
        common = dict(key=key, modifiers=8 if shift else 0, **spec)
        if text:
            self.call("Input.dispatchKeyEvent", type="keyDown", text=text,
                      unmodifiedText=text, **common)
        else:
            self.call("Input.dispatchKeyEvent", type="rawKeyDown", **common)
        self.call("Input.dispatchKeyEvent", type="keyUp", **common)

    def set_viewport(self, width, height, scale=1, mobile=False):
        """Emulates a viewport of width x height CSS pixels."""
        self._size = (width, height)
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=scale, mobile=mobile)

    def screenshot(self, path, full_page=False):
        """Saves the viewport (or, with full_page, the whole page) as PNG at
        `path`; returns the number of bytes written."""
        params = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
            metrics = self.call("Page.getLayoutMetrics")
            size = metrics.get("cssContentSize") or metrics["contentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"],
                              "height": size["height"], "scale": 1}
        data = base64.b64decode(self.call("Page.captureScreenshot", **params)["data"])
        directory = os.path.dirname(os.path.abspath(path))
        os.makedirs(directory, exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        return len(data)


def _remote_text(arg):
    if "value" in arg:
        return str(arg["value"])
    return arg.get("description") or arg.get("type", "?")


def _raises(kind, fn):
    """None if fn() raises `kind`, else what it returned (for the self-test)."""
    try:
        return fn() or "returned"
    except kind:
        return None


def live_in_group(pgid):
    """Pids of processes in process group `pgid` that are not zombies (a
    killed renderer stays a zombie until init reaps it)."""
    live = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] not in ("Z", "X"):
            live.append(int(entry))
    return live


def png_size(path):
    """(width, height) of a PNG file, or None if it is not a PNG."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n" or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


# --- self-test ------------------------------------------------------------

SELF_TEST_HTML = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>cdp self-test</title>
<script src="/app.js"></script></head>
<body>
<input id="name"><button id="go">go</button> <button id="warn">warn</button>
<a id="link" href="#/other">other</a>
<p id="out"></p>
<script>document.title = "inline script ran";</script>
</body></html>
"""

SELF_TEST_JS = b"""
document.addEventListener("DOMContentLoaded", () => {
  const out = document.getElementById("out");
  document.getElementById("go").addEventListener("click", () => {
    out.textContent = "clicked " + document.getElementById("name").value;
  });
  document.getElementById("warn").addEventListener("click", () => {
    alert("hello from alert");
    out.textContent = "after alert";
  });
  document.getElementById("name").addEventListener("change", (e) => {
    document.body.dataset.changed = e.target.value;
  });
  console.error("self-test console error");
  setTimeout(() => { document.body.dataset.late = "yes"; }, 300);
  setTimeout(() => { throw new Error("self-test uncaught"); }, 10);
});
"""


def self_test(verbose=False):
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body, kind = ((SELF_TEST_JS, "text/javascript") if self.path == "/app.js"
                          else (SELF_TEST_HTML, "text/html; charset=utf-8"))
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            # Only 'self' scripts: the inline <script> is a CSP violation.
            self.send_header("Content-Security-Policy",
                             "default-src 'self'; script-src 'self'; style-src 'self'")
            self.end_headers()
            try:
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # chromium gave up on a request it no longer needs

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/" % server.server_address[1]
    failures = []

    def check(name, condition, detail=""):
        print("%s %s%s" % ("ok  " if condition else "FAIL", name,
                           "" if condition or not detail else ": %s" % detail))
        if not condition:
            failures.append(name)

    started = time.monotonic()
    browser = Browser(verbose=verbose)
    profile = None
    pid = None
    try:
        browser.start()
        profile, pid = browser.profile, browser.proc.pid
        check("start: DevToolsActivePort read, page target connected", browser._ws is not None)
        browser.navigate(url)
        check("navigate waits for load",
              browser.evaluate("document.readyState") == "complete")
        check("evaluate returns values",
              browser.evaluate("({a: [1, 'two', null], b: 1 + 1})") ==
              {"a": [1, "two", None], "b": 2})
        check("evaluate awaits promises",
              browser.evaluate("new Promise(r => setTimeout(() => r(42), 50))") == 42)
        try:
            browser.evaluate("(() => { throw new Error('boom') })()")
            check("evaluate raises JsError on a throw", False)
        except JsError as e:
            check("evaluate raises JsError on a throw", "boom" in str(e), e)
        check("wait_for returns the truthy value",
              browser.wait_for("document.body.dataset.late", timeout=5) == "yes")
        check("wait_for an element (truthy in JavaScript, {} by value)",
              browser.wait_for("document.querySelector('#go')", timeout=5) is True)
        check("wait_for sees JavaScript's falsy values as false",
              not _raises(AssertionError, lambda: browser.wait_for("0 || '' || null || NaN",
                                                                   timeout=0.3)))
        try:
            browser.wait_for("document.querySelector('#nothing').id", timeout=0.5,
                             what="#nothing")
            check("wait_for times out with AssertionError", False)
        except AssertionError as e:
            check("wait_for times out with AssertionError", "#nothing" in str(e), e)
        browser.type("#name", "Ada <b>")
        check("type: input events set the value",
              browser.evaluate("document.getElementById('name').value") == "Ada <b>")
        check("type: change fired", browser.evaluate("document.body.dataset.changed")
              == "Ada <b>")
        browser.click("#go")
        check("click", browser.evaluate("document.getElementById('out').textContent")
              == "clicked Ada <b>")
        try:
            browser.click("#missing")
            check("click on a missing element raises", False)
        except JsError as e:
            check("click on a missing element raises", "#missing" in str(e), e)
        browser.click("#warn")
        check("alert() is recorded and dismissed (the page goes on)",
              browser.wait_for("document.getElementById('out').textContent === 'after alert'",
                               timeout=5) and
              [d["message"] for d in browser.dialogs()] == ["hello from alert"],
              browser.dialogs())
        errors = browser.console_errors()
        check("console.error recorded",
              any("self-test console error" in e for e in errors), errors)
        check("uncaught exception recorded",
              any("self-test uncaught" in e for e in errors), errors)
        check("CSP violation recorded",
              any("Content Security Policy" in e for e in errors), errors)
        check("the blocked inline script did not run",
              browser.evaluate("document.title") == "cdp self-test")
        browser.navigate(url + "#/other")
        check("navigate to a hash returns without a load",
              browser.evaluate("location.hash") == "#/other")
        browser.navigate(url)  # a fresh document: focus starts at the top
        focused = []
        for _ in range(3):
            browser.press("Tab")
            focused.append(browser.evaluate("document.activeElement.id"))
        check("press Tab moves focus", focused == ["name", "go", "warn"], focused)
        browser.press("Tab", shift=True)
        check("press Shift+Tab moves focus back",
              browser.evaluate("document.activeElement.id") == "go")
        browser.type("#name", "kbd")
        browser.evaluate("document.getElementById('go').focus()")
        browser.press("Enter")
        check("press Enter activates a focused button",
              browser.evaluate("document.getElementById('out').textContent") == "clicked kbd")
        browser.clear_events()
        check("clear_events", browser.console_errors() == [] and browser.dialogs() == [])
        shots = tempfile.mkdtemp(prefix="cdp-self-test-")
        try:
            for width, height in ((390, 844), (1440, 900)):
                browser.set_viewport(width, height)
                check("set_viewport %d" % width,
                      browser.evaluate("innerWidth") == width, browser.evaluate("innerWidth"))
                path = os.path.join(shots, "shot-%d.png" % width)
                size = browser.screenshot(path)
                check("screenshot %d is a PNG of that size" % width,
                      size > 100 and png_size(path) == (width, height), png_size(path))
        finally:
            shutil.rmtree(shots, ignore_errors=True)
    except Exception as e:  # a harness failure is a test failure, with its text
        check("no unexpected error", False, "%s: %s" % (type(e).__name__, e))
    finally:
        browser.close()
        server.shutdown()
    left = live_in_group(pid) if pid is not None else None
    check("close: no process of chromium's group is left", left == [], left)
    check("close: the profile is removed", profile is not None and not os.path.exists(profile))
    print("cdp self-test: %d failed, %.1fs" % (len(failures), time.monotonic() - started))
    return 0 if not failures else 1


def main():
    import argparse
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--self-test", action="store_true",
                        help="check every feature against a local page; exit 0/1")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every CDP event")
    args = parser.parse_args()
    if not args.self_test:
        parser.print_help()
        return 2
    try:
        find_chromium()
    except BrowserMissing as e:
        print("cdp self-test: FAIL: %s" % e, file=sys.stderr)
        return 1
    return self_test(args.verbose)


if __name__ == "__main__":
    sys.exit(main())
