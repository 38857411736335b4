#!/usr/bin/python3
"""A fake ERP sales API (paginated JSON over HTTP) on 127.0.0.1, for the
sql_import job's integration tests. Standard library only.

What it serves, as the ERP does:
  GET /v1/sales?from=RFC3339&to=RFC3339[&page_size=N][&cursor=C]
      with `Authorization: Bearer <api key>`; answers
        {"data": {"items": [...]}, "links": {"next": URL or null},
         "meta": {"total": n}}
      the records whose `sold_at` (RFC 3339, any offset) is in [from, to),
      ordered by sold_at (as an instant), then by their place in the dataset.
      page_size defaults to 100 (1..1000). `next` is an absolute URL (from
      the request's Host header) carrying from, to, page_size and an opaque
      `cursor`. A missing or malformed from/to/page_size/cursor is a 400 with
      {"error": "..."}; a wrong or missing key a 401 {"error": "invalid api
      key"}. Note: a `+` in an offset must be sent as %2B (a bare `+` in a
      query string is a space, and the time is then malformed, as upstream).
      A record whose sold_at is missing or not RFC 3339 belongs to every
      window (served first), so a test can serve one for the job to reject.

How a test drives it (control endpoints; no key needed, never faulted):
  PUT /_records      a JSON list of record objects: replaces the dataset
                     (the test decides the data, bad records included)
  GET /_requests     a JSON list of the requests to /v1/... so far: method,
                     path, query (name -> value), authorization (whether an
                     Authorization header was present; never its value),
                     status (what was answered) and fault (its kind or null)
  DELETE /_requests  clears that list
  POST /_faults      e.g. {"status_500": 2, "status_429": 1, "status_401": 1,
                     "truncated": 1, "html": 1}: the next data requests fail
                     that way, the kinds always in this order (500 with a
                     JSON error body; 429 with Retry-After: 1; 401; a 200 whose
                     body is cut in the middle and the connection closed,
                     Content-Length announcing the whole body; a 200 with
                     Content-Type text/html and an HTML error page). Replaces
                     any faults still pending; {} clears them. "after": N
                     lets N data requests through first (a fault on page 3).
  GET /_faults       the faults still pending, in order

Run: fake_sales_api.py [--port N] [--api-key KEY] [--verbose]
     prints `port=N` as its first stdout line once it listens (--port 0, the
     default, picks a free port); stops on SIGTERM or SIGINT.
     fake_sales_api.py --self-test: starts itself as a child process, pages
     through a dataset and triggers each fault once; exits 0 or 1.
"""

import argparse
import base64
import datetime
import http.server
import json
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

FAULT_KINDS = ("status_500", "status_429", "status_401", "truncated", "html")
MAX_PAGE_SIZE = 1000


def parse_time(text):
    """An aware datetime for an RFC 3339 timestamp, else None."""
    if not isinstance(text, str) or len(text) < 20 or text[10] not in "Tt":
        return None
    try:
        t = datetime.datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo is not None else None


def encode_cursor(offset):
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode().rstrip("=")


def decode_cursor(text):
    """The offset a cursor stands for, else None."""
    try:
        value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        offset = value["o"]
    except (ValueError, TypeError, KeyError):
        return None
    return offset if isinstance(offset, int) and offset >= 0 else None


class State:
    """The dataset, the faults pending and the request log; shared by the
    handler threads, so every access holds the lock."""

    def __init__(self, api_key):
        self.api_key = api_key
        self.lock = threading.Lock()
        self.records = []   # (sort key, record) in serving order
        self.faults = []    # kinds, next first
        self.after = 0      # data requests served before the faults start
        self.requests = []

    def put_records(self, records):
        keyed = []
        for i, record in enumerate(records):
            t = parse_time(record.get("sold_at")) if isinstance(record, dict) else None
            keyed.append(((t is not None, t.timestamp() if t else 0.0, i), t, record))
        keyed.sort(key=lambda k: k[0])
        with self.lock:
            self.records = [(t, record) for _, t, record in keyed]

    def window(self, start, end):
        with self.lock:
            return [r for t, r in self.records if t is None or start <= t < end]

    def set_faults(self, counts):
        with self.lock:
            self.faults = [kind for kind in FAULT_KINDS for _ in range(int(counts.get(kind, 0)))]
            self.after = int(counts.get("after", 0))

    def next_fault(self):
        with self.lock:
            if self.faults and self.after > 0:
                self.after -= 1
                return None
            return self.faults.pop(0) if self.faults else None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the ERP does
    server_version = "FakeSalesAPI/1"

    @property
    def state(self):
        return self.server.state

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)

    # -- answers --------------------------------------------------------------

    def send(self, status, body, content_type="application/json", headers=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
        return status

    def send_error_json(self, status, message, headers=None):
        return self.send(status, {"error": message}, headers=headers)

    def read_json(self):
        length = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(length) or b"null")

    # -- routing --------------------------------------------------------------

    def do_GET(self):
        self.route("GET")

    def do_PUT(self):
        self.route("PUT")

    def do_POST(self):
        self.route("POST")

    def do_DELETE(self):
        self.route("DELETE")

    def route(self, method):
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/_"):
            self.control(method, url.path)
            return
        query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        entry = {"method": method, "path": url.path, "query": query,
                 "authorization": "Authorization" in self.headers, "status": None, "fault": None}
        with self.state.lock:
            self.state.requests.append(entry)
        if url.path != "/v1/sales":
            entry["status"] = self.send_error_json(404, "no such endpoint")
        elif method != "GET":
            entry["status"] = self.send_error_json(405, "method not allowed")
        else:
            entry["fault"] = self.state.next_fault()
            entry["status"] = self.fault(entry["fault"]) if entry["fault"] else self.sales(query)

    def control(self, method, path):
        try:
            if (method, path) == ("PUT", "/_records"):
                records = self.read_json()
                if not isinstance(records, list):
                    self.send_error_json(400, "PUT /_records wants a JSON list")
                    return
                self.state.put_records(records)
                self.send(200, {"records": len(records)})
            elif (method, path) == ("GET", "/_requests"):
                with self.state.lock:
                    requests = list(self.state.requests)
                self.send(200, requests)
            elif (method, path) == ("DELETE", "/_requests"):
                with self.state.lock:
                    self.state.requests.clear()
                self.send(200, {})
            elif (method, path) == ("POST", "/_faults"):
                counts = self.read_json()
                unknown = (set(counts or {}) - set(FAULT_KINDS) - {"after"}
                           if isinstance(counts, dict) else {""})
                if unknown:
                    self.send_error_json(400, "unknown fault kinds %s (known: %s)"
                                         % (sorted(unknown), ", ".join(FAULT_KINDS)))
                    return
                self.state.set_faults(counts)
                self.send(200, {"pending": len(self.state.faults)})
            elif (method, path) == ("GET", "/_faults"):
                with self.state.lock:
                    faults = list(self.state.faults)
                self.send(200, faults)
            else:
                self.send_error_json(404, "no such control endpoint")
        except (ValueError, TypeError) as e:
            self.send_error_json(400, "bad request body: %s" % e)

    # -- /v1/sales ------------------------------------------------------------

    def sales(self, query):
        auth = self.headers.get("Authorization", "")
        if auth != "Bearer " + self.state.api_key:
            return self.send_error_json(401, "invalid api key")
        start, end = parse_time(query.get("from")), parse_time(query.get("to"))
        if start is None or end is None:
            return self.send_error_json(400, "from and to are required, as RFC 3339 timestamps")
        try:
            page_size = int(query.get("page_size", "100"))
        except ValueError:
            page_size = 0
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            return self.send_error_json(400, "page_size must be 1..%d" % MAX_PAGE_SIZE)
        offset = 0
        if "cursor" in query:
            offset = decode_cursor(query["cursor"])
            if offset is None:
                return self.send_error_json(400, "invalid cursor")
        records = self.state.window(start, end)
        items = records[offset:offset + page_size]
        next_url = None
        if offset + page_size < len(records):
            params = {"from": query["from"], "to": query["to"], "page_size": str(page_size),
                      "cursor": encode_cursor(offset + page_size)}
            host = self.headers.get("Host") or "127.0.0.1:%d" % self.server.server_address[1]
            next_url = "http://%s/v1/sales?%s" % (host, urllib.parse.urlencode(params))
        return self.send(200, {"data": {"items": items}, "links": {"next": next_url},
                               "meta": {"total": len(records)}})

    def fault(self, kind):
        if kind == "status_500":
            return self.send_error_json(500, "internal server error")
        if kind == "status_429":
            return self.send_error_json(429, "too many requests", headers={"Retry-After": "1"})
        if kind == "status_401":
            return self.send_error_json(401, "invalid api key")
        if kind == "html":
            page = (b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n"
                    b"<body><h1>502 Bad Gateway</h1><p>The upstream server is unavailable."
                    b"</p></body></html>\n")
            return self.send(200, page, content_type="text/html; charset=utf-8")
        # truncated: the whole length announced, half of the body sent.
        body = json.dumps({"data": {"items": [{"sold_at": "2024-01-01T00:00:00Z"}] * 20},
                           "links": {"next": None}, "meta": {"total": 20}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[:len(body) // 2])
        self.wfile.flush()
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        return 200


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port, api_key, verbose):
        super().__init__(("127.0.0.1", port), Handler)
        self.state = State(api_key)
        self.verbose = verbose


# -- self-test ----------------------------------------------------------------


def self_test():
    child = subprocess.Popen([sys.executable, __file__, "--port", "0", "--api-key", "k1"],
                             stdout=subprocess.PIPE, text=True)
    failures = []

    def check(ok, what):
        print("%s %s" % ("ok  " if ok else "FAIL", what))
        if not ok:
            failures.append(what)

    try:
        first = child.stdout.readline().strip()
        check(first.startswith("port="), "first line is port=N (%r)" % first)
        base = "http://127.0.0.1:%s" % first.partition("=")[2]

        def call(method, path, body=None, key="k1"):
            data = None if body is None else json.dumps(body).encode()
            req = urllib.request.Request(base + path, data=data, method=method)
            if key:
                req.add_header("Authorization", "Bearer " + key)
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    return resp.status, resp.headers, resp.read()
            except urllib.error.HTTPError as e:
                return e.code, e.headers, e.read()

        records = [{"id": i, "sold_at": "2024-03-01T%02d:00:00+02:00" % (i % 24), "amount": i}
                   for i in range(250)]
        records.append({"id": "bad", "sold_at": "yesterday"})
        records.append({"id": "outside", "sold_at": "2024-02-29T21:59:59Z"})  # 23:59:59+02:00
        check(call("PUT", "/_records", records)[0] == 200, "PUT /_records")

        window = "from=%s&to=%s" % (urllib.parse.quote("2024-03-01T00:00:00+02:00"),
                                    urllib.parse.quote("2024-03-02T00:00:00+02:00"))
        url, ids, pages = "/v1/sales?%s&page_size=40" % window, [], 0
        while url:
            status, _, body = call("GET", url)
            if status != 200:
                check(False, "page %d answers 200 (%d)" % (pages, status))
                break
            page = json.loads(body)
            ids += [r["id"] for r in page["data"]["items"]]
            total = page["meta"]["total"]
            url = page["links"]["next"]
            if url:
                check(url.startswith(base) and "cursor=" in url, "next is absolute, has a cursor")
                url = url[len(base):]
            pages += 1
        expected = ["bad"] + sorted(range(250), key=lambda i: (i % 24, i))
        check(ids == expected, "paging returns each record in the window once, in order")
        check(pages == 7 and total == 251, "7 pages, total 251 (%d, %d)" % (pages, total))

        check(call("GET", "/v1/sales?" + window, key="wrong")[0] == 401, "wrong key: 401")
        check(call("GET", "/v1/sales?" + window, key=None)[0] == 401, "no key: 401")
        check(call("GET", "/v1/sales?from=2024-03-01")[0] == 400, "no to, bad from: 400")
        check(call("GET", "/v1/sales?%s&cursor=zz" % window)[0] == 400, "bad cursor: 400")

        faults = {"status_500": 1, "status_429": 1, "status_401": 1, "truncated": 1, "html": 1}
        check(call("POST", "/_faults", faults)[0] == 200, "POST /_faults")
        check(call("GET", "/_requests")[0] == 200, "control endpoints are not faulted")
        status, _, body = call("GET", "/v1/sales?" + window)
        check(status == 500 and "error" in json.loads(body), "fault 1: 500 with a JSON error")
        status, headers, _ = call("GET", "/v1/sales?" + window)
        check(status == 429 and headers.get("Retry-After") == "1", "fault 2: 429, Retry-After: 1")
        check(call("GET", "/v1/sales?" + window)[0] == 401, "fault 3: 401")
        try:
            call("GET", "/v1/sales?" + window)
            check(False, "fault 4: truncated body")
        except Exception as e:  # http.client.IncompleteRead, or a reset
            check(True, "fault 4: truncated body (%s)" % type(e).__name__)
        status, headers, body = call("GET", "/v1/sales?" + window)
        check(status == 200 and headers.get_content_type() == "text/html"
              and body.startswith(b"<!DOCTYPE html>"), "fault 5: 200 text/html")
        check(call("GET", "/v1/sales?" + window)[0] == 200, "faults used up: 200 again")

        log = json.loads(call("GET", "/_requests")[2])
        check(all(set(r) == {"method", "path", "query", "authorization", "status", "fault"}
                  for r in log), "the request log has its fields")
        check("k1" not in json.dumps(log), "the request log never holds the key")
        check([r["fault"] for r in log if r["fault"]] == list(FAULT_KINDS),
              "the log names each fault, in order")
        check(log[0]["query"]["page_size"] == "40" and log[0]["authorization"],
              "the log has the query and whether a key was sent")
        call("DELETE", "/_requests")
        check(json.loads(call("GET", "/_requests")[2]) == [], "DELETE /_requests clears it")
    except Exception as e:  # a self-test reports, it does not crash
        check(False, "unexpected %s: %s" % (type(e).__name__, e))
    finally:
        child.terminate()
        child.wait(10)
    print("self-test: %s" % ("ok" if not failures else "%d failed" % len(failures)))
    return 0 if not failures else 1


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0, help="0: pick a free port")
    parser.add_argument("--api-key", default="test-key")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    parser.add_argument("--self-test", action="store_true")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    server = Server(args.port, args.api_key, args.verbose)

    def stop(*_):
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    print("port=%d" % server.server_address[1], flush=True)
    server.serve_forever()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
