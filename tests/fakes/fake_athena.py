#!/usr/bin/python3
"""A fake Amazon Athena (JSON 1.1 protocol) on 127.0.0.1, for jobsd's tests.

What it does as Athena does (../shared/testdata/athena and its README):
  - POST / with X-Amz-Target AmazonAthena.<Op>; answers StartQueryExecution,
    GetQueryExecution, GetQueryResults and StopQueryExecution;
  - checks every request's SigV4 signature for the service "athena" with
    botocore's signer (an implementation independent of jobsd's): a request
    it cannot verify gets 403 InvalidSignatureException, and is counted;
  - ClientRequestToken: the same token with the same query answers the same
    QueryExecutionId; the same token with another query is an
    InvalidRequestException;
  - a query passes through QUEUED and RUNNING (or the states a scenario
    lists, QUEUED after RUNNING included) before it ends;
  - a SUCCEEDED query's result is written, as Athena writes it (header line,
    values in double quotes, NULL an empty unquoted field), to
    OutputLocation/<id>.csv in a real S3-compatible server (--s3-endpoint),
    and served by GetQueryResults pages (the header as the first row of the
    first page, NULL as {}, MaxResults at most 1000, NextToken);
  - errors as Athena sends them: 400 with __type ThrottlingException
    ("message") or TooManyRequestsException ("Message"), 500
    InternalServerException, FAILED with AthenaError.Retryable.

The "table" it queries is a dataset file in JSON lines: the first line
{"table": "forecast_data", "columns": [{"name": ..., "type": ...}, ...]},
then one JSON array per row (strings or null). It is read again whenever the
file changes. Queries it understands, which is all the tests send:
  SELECT <*|col, col, ...> FROM <table> [WHERE <col> > <literal>] [ORDER BY ...]
where the literal is TIMESTAMP '...', '...' or a number; values compare as
strings for timestamps and text, as numbers otherwise. A column it does not
know fails the query (COLUMN_NOT_FOUND, not retryable), as Athena does.

Scenario (--scenario JSON, or POST /_fake/scenario with a JSON body; every key
optional):
  states:             the states each submission goes through before its end
                      (default ["QUEUED", "RUNNING"]); one per poll
  fail_retryable:     the first N submissions end FAILED, Retryable: true
  fail_final:         a reason: every submission ends FAILED, not retryable
  cancel:             true: submissions end CANCELLED
  throttle:           {"<Op>": N}: the first N calls of Op answer throttling,
                      both shapes in turn
  internal_errors:    {"<Op>": N}: the first N calls of Op answer 500
  lose_answers:       {"<Op>": N}: the first N calls of Op are carried out,
                      then the connection is closed without an answer
  no_s3_result:       true: the result is not written to S3 (a reader must
                      fall back to GetQueryResults)
  running_seconds:    how long a query stays RUNNING at least (default 0)
GET /_fake/stats answers what happened: calls per operation, submissions,
executions made, tokens, stopped ids, bad signatures, the query texts.

Run: fake_athena.py --port-file F --dataset D [--s3-endpoint URL]
     [--region us-east-2] [--access-key-id K --secret-access-key S]
It prints nothing on success but writes its port to F once it listens.
"""

import argparse
import datetime
import hashlib
import http.server
import json
import os
import re
import sys
import threading
import time
import uuid

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.session import Session


class Dataset:
    def __init__(self, path):
        self.path = path
        self.mtime = None
        self.table = ""
        self.columns = []
        self.rows = []
        self.bytes = 0

    def refresh(self):
        stat = os.stat(self.path)
        if (stat.st_mtime_ns, stat.st_size) == self.mtime:
            return
        with open(self.path, "rb") as f:
            head = json.loads(f.readline())
            rows = [json.loads(line) for line in f if line.strip()]
        self.table = head["table"]
        self.columns = head["columns"]
        self.rows = rows
        self.bytes = stat.st_size
        self.mtime = (stat.st_mtime_ns, stat.st_size)


QUERY = re.compile(
    r"^\s*SELECT\s+(?P<cols>.+?)\s+FROM\s+(?P<table>[\w.\"]+)"
    r"(?:\s+WHERE\s+(?P<col>\w+)\s*>\s*(?P<lit>TIMESTAMP\s+'[^']*'|'[^']*'|[-\d.]+))?"
    r"(?:\s+ORDER\s+BY\s+.+?)?\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
NUMERIC = {"tinyint", "smallint", "integer", "int", "bigint", "double", "float", "real", "decimal"}


def run_query(dataset, text):
    """(columns, rows) or raises ValueError(reason) as Athena's FAILED would."""
    m = QUERY.match(text)
    if not m:
        raise ValueError("SYNTAX_ERROR: line 1:1: the fake Athena does not understand this query")
    dataset.refresh()
    table = m.group("table").replace('"', "").split(".")[-1]
    if table != dataset.table:
        raise ValueError(f"TABLE_NOT_FOUND: line 1:1: Table '{table}' does not exist")
    names = [c["name"] for c in dataset.columns]
    wanted = names if m.group("cols").strip() == "*" else [c.strip().strip('"') for c in m.group("cols").split(",")]
    for name in wanted + ([m.group("col")] if m.group("col") else []):
        if name not in names:
            raise ValueError(f"COLUMN_NOT_FOUND: line 1:8: Column '{name}' cannot be resolved")
    index = [names.index(n) for n in wanted]
    rows = dataset.rows
    if m.group("col"):
        i = names.index(m.group("col"))
        lit = m.group("lit")
        numeric = dataset.columns[i]["type"].split("(")[0] in NUMERIC
        if lit.upper().startswith("TIMESTAMP"):
            lit = lit[lit.index("'") + 1 : -1]
        elif lit.startswith("'"):
            lit = lit[1:-1]
        if numeric:
            bound = float(lit)
            rows = [r for r in rows if r[i] is not None and float(r[i]) > bound]
        else:
            rows = [r for r in rows if r[i] is not None and r[i] > lit]
    columns = [dataset.columns[i] for i in index]
    return columns, [[r[i] for i in index] for r in rows]


def csv_text(columns, rows):
    def field(v):
        return "" if v is None else '"' + v.replace('"', '""') + '"'

    lines = [",".join('"' + c["name"] + '"' for c in columns)]
    lines.extend(",".join(field(v) for v in row) for row in rows)
    return ("\n".join(lines) + "\n").encode()


class Fake:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.dataset = Dataset(args.dataset)
        self.scenario = json.loads(args.scenario) if args.scenario else {}
        self.executions = {}
        self.tokens = {}
        self.stats = {"calls": {}, "submissions": 0, "executions": 0, "tokens": [], "stopped": [],
                      "bad_signatures": 0, "queries": [], "results_written": 0}
        self.credentials = Credentials(args.access_key_id, args.secret_access_key)
        self.s3 = None
        if args.s3_endpoint:
            self.s3 = Session().create_client(
                "s3", region_name=args.region, endpoint_url=args.s3_endpoint,
                aws_access_key_id="S3RVER", aws_secret_access_key="S3RVER")

    def counted(self, kind, op):
        """True while the scenario still asks for `kind` on `op` (and counts it down)."""
        left = self.scenario.get(kind, {})
        if left.get(op, 0) > 0:
            left[op] -= 1
            return True
        return False

    def verify(self, handler, body):
        auth = handler.headers.get("Authorization", "")
        m = re.match(r"AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, "
                     r"SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$", auth)
        if not m:
            return "no SigV4 Authorization header"
        key, day, region, service, signed, signature = m.groups()
        if key != self.credentials.access_key or region != self.args.region or service != "athena":
            return f"wrong credential scope {key}/{day}/{region}/{service}"
        amz_date = handler.headers.get("X-Amz-Date", "")
        if not amz_date.startswith(day):
            return "X-Amz-Date does not match the credential scope"
        skew = abs((datetime.datetime.utcnow() - datetime.datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ")).total_seconds())
        if skew > 300:
            return "request time too skewed"
        names = signed.split(";")
        headers = {}
        for name in names:
            value = handler.headers.get_all(name)
            if value is None:
                return f"signed header {name} missing"
            headers[name] = ",".join(value)
        request = AWSRequest(method=handler.command, url=f"http://{headers.get('host', '')}{handler.path}",
                             data=body, headers=headers)
        request.context["timestamp"] = amz_date
        signer = SigV4Auth(self.credentials, "athena", region)
        canonical = signer.canonical_request(request)
        expected = signer.signature(signer.string_to_sign(request, canonical), request)
        return "" if expected == signature else "signature mismatch"

    # --- operations -------------------------------------------------------

    def start(self, body):
        token = body.get("ClientRequestToken", "")
        query = body.get("QueryString", "")
        if not 32 <= len(token) <= 128:
            return 400, {"__type": "InvalidRequestException",
                         "Message": "ClientRequestToken must be 32 to 128 characters"}
        self.stats["submissions"] += 1
        self.stats["tokens"].append(token)
        if token in self.tokens:
            known = self.executions[self.tokens[token]]
            if known["query"] != query:
                return 400, {"__type": "InvalidRequestException", "AthenaErrorCode": "INVALID_INPUT",
                             "Message": "Idempotent parameters do not match"}
            return 200, {"QueryExecutionId": known["id"]}
        location = body.get("ResultConfiguration", {}).get("OutputLocation", "")
        if not location:
            return 400, {"__type": "InvalidRequestException", "AthenaErrorCode": "INVALID_INPUT",
                         "Message": "No output location provided. An output location is required "
                                    "either through the Workgroup result configuration setting or "
                                    "as an API input."}
        qid = str(uuid.uuid4())
        number = self.stats["executions"]
        self.stats["executions"] += 1
        self.stats["queries"].append(query)
        states = list(self.scenario.get("states", ["QUEUED", "RUNNING"]))
        end = "SUCCEEDED"
        reason = ""
        retryable = False
        if self.scenario.get("cancel"):
            end, reason = "CANCELLED", "Query was cancelled by user"
        elif number < self.scenario.get("fail_retryable", 0):
            end, reason, retryable = "FAILED", "GENERIC_INTERNAL_ERROR: worker node lost", True
        elif self.scenario.get("fail_final"):
            end, reason = "FAILED", self.scenario["fail_final"]
        columns, rows = [], []
        if end == "SUCCEEDED":
            try:
                columns, rows = run_query(self.dataset, query)
            except ValueError as e:
                end, reason = "FAILED", str(e)
        self.executions[qid] = {
            "id": qid, "query": query, "token": token, "states": states, "end": end,
            "reason": reason, "retryable": retryable, "columns": columns, "rows": rows,
            "location": location.rstrip("/") + "/" + qid + ".csv", "submitted": time.time(),
            "database": body.get("QueryExecutionContext", {}).get("Database", ""),
            "workgroup": body.get("WorkGroup", "primary"), "written": False,
        }
        self.tokens[token] = qid
        return 200, {"QueryExecutionId": qid}

    def state_of(self, ex):
        if ex["states"]:
            if ex["states"][0] == "RUNNING" and len(ex["states"]) == 1 and \
                    time.time() - ex["submitted"] < self.scenario.get("running_seconds", 0):
                return "RUNNING"
            return ex["states"].pop(0)
        if ex["end"] == "SUCCEEDED" and not ex["written"]:
            ex["written"] = True
            if self.s3 and not self.scenario.get("no_s3_result"):
                bucket, key = ex["location"][len("s3://"):].split("/", 1)
                self.s3.put_object(Bucket=bucket, Key=key, Body=csv_text(ex["columns"], ex["rows"]))
                self.stats["results_written"] += 1
        return ex["end"]

    def get(self, body):
        ex = self.executions.get(body.get("QueryExecutionId", ""))
        if not ex:
            return 400, {"__type": "InvalidRequestException", "Message": "QueryExecution was not found"}
        state = self.state_of(ex)
        status = {"State": state, "SubmissionDateTime": ex["submitted"]}
        if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
            status["CompletionDateTime"] = time.time()
        if state in ("FAILED", "CANCELLED") and ex["reason"]:
            status["StateChangeReason"] = ex["reason"]
        if state == "FAILED":
            status["AthenaError"] = {"ErrorCategory": 2 if not ex["retryable"] else 1, "ErrorType": 1006,
                                     "Retryable": ex["retryable"], "ErrorMessage": ex["reason"]}
        scanned = self.dataset.bytes if state == "SUCCEEDED" else 0
        return 200, {"QueryExecution": {
            "QueryExecutionId": ex["id"], "Query": ex["query"], "StatementType": "DML",
            "ResultConfiguration": {"OutputLocation": ex["location"]},
            "QueryExecutionContext": {"Database": ex["database"], "Catalog": "awsdatacatalog"},
            "Status": status, "WorkGroup": ex["workgroup"], "SubstatementType": "SELECT",
            "Statistics": {"EngineExecutionTimeInMillis": 40, "DataScannedInBytes": scanned,
                           "TotalExecutionTimeInMillis": 60, "QueryQueueTimeInMillis": 5}}}

    def results(self, body):
        ex = self.executions.get(body.get("QueryExecutionId", ""))
        if not ex:
            return 400, {"__type": "InvalidRequestException", "Message": "QueryExecution was not found"}
        if ex["end"] != "SUCCEEDED" or ex["states"]:
            return 400, {"__type": "InvalidRequestException",
                         "Message": "Query has not yet finished. Current state: RUNNING"}
        limit = body.get("MaxResults", 1000)
        if not 1 <= limit <= 1000:
            return 400, {"__type": "InvalidRequestException",
                         "Message": "MaxResults must be between 1 and 1000"}
        start = int(body.get("NextToken", "0") or 0)
        # Row 0 of the listing is the header; data row i is listing row i + 1.
        listing_end = min(start + limit, len(ex["rows"]) + 1)
        out = []
        for i in range(start, listing_end):
            values = [c["name"] for c in ex["columns"]] if i == 0 else ex["rows"][i - 1]
            out.append({"Data": [{} if v is None else {"VarCharValue": v} for v in values]})
        answer = {"UpdateCount": 0, "ResultSet": {"Rows": out, "ResultSetMetadata": {"ColumnInfo": [
            {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": c["name"], "Label": c["name"],
             "Type": c["type"].split("(")[0], "Precision": c.get("precision", 0), "Scale": c.get("scale", 0),
             "Nullable": "UNKNOWN", "CaseSensitive": c["type"] == "varchar"} for c in ex["columns"]]}}}
        if listing_end < len(ex["rows"]) + 1:
            answer["NextToken"] = str(listing_end)
        return 200, answer

    def stop(self, body):
        qid = body.get("QueryExecutionId", "")
        ex = self.executions.get(qid)
        if not ex:
            return 400, {"__type": "InvalidRequestException", "Message": "QueryExecution was not found"}
        self.stats["stopped"].append(qid)
        ex["states"] = []
        ex["end"] = "CANCELLED"
        ex["reason"] = "Query was cancelled by user"
        return 200, {}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body, ctype="application/x-amz-json-1.1"):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        fake = self.server.fake
        if self.path == "/_fake/stats":
            with fake.lock:
                return self.answer(200, fake.stats, "application/json")
        self.answer(404, {"__type": "UnknownOperationException"})

    def do_POST(self):
        fake = self.server.fake
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.path == "/_fake/scenario":
            with fake.lock:
                fake.scenario = json.loads(body or b"{}")
            return self.answer(200, {}, "application/json")
        with fake.lock:
            problem = fake.verify(self, body)
            target = self.headers.get("X-Amz-Target", "")
            op = target.split(".", 1)[1] if target.startswith("AmazonAthena.") else ""
            fake.stats["calls"][op] = fake.stats["calls"].get(op, 0) + 1
            if problem:
                fake.stats["bad_signatures"] += 1
                return self.answer(403, {"__type": "InvalidSignatureException", "message": problem})
            if self.headers.get("Content-Type") != "application/x-amz-json-1.1":
                return self.answer(400, {"__type": "SerializationException", "Message": "bad Content-Type"})
            if fake.counted("throttle", op):
                left = fake.scenario["throttle"][op]
                return self.answer(400, {"__type": "ThrottlingException", "message": "Rate exceeded"}
                                   if left % 2 == 0 else
                                   {"__type": "TooManyRequestsException", "Message": "You have exceeded the "
                                    "limit for the number of queries you can run concurrently.",
                                    "Reason": "CONCURRENT_QUERY_LIMIT_EXCEEDED"})
            if fake.counted("internal_errors", op):
                return self.answer(500, {"__type": "InternalServerException", "Message": "Internal error"})
            handlers = {"StartQueryExecution": fake.start, "GetQueryExecution": fake.get,
                        "GetQueryResults": fake.results, "StopQueryExecution": fake.stop}
            if op not in handlers:
                return self.answer(400, {"__type": "UnknownOperationException", "Message": target})
            try:
                request = json.loads(body)
            except ValueError:
                return self.answer(400, {"__type": "SerializationException", "Message": "not JSON"})
            status, answer = handlers[op](request)
            if fake.counted("lose_answers", op):
                self.close_connection = True
                self.connection.shutdown(2)
                return
        self.answer(status, answer)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--port-file", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--s3-endpoint", default="")
    parser.add_argument("--region", default="us-east-2")
    parser.add_argument("--access-key-id", default="AKIDJOBSDTEST")
    parser.add_argument("--secret-access-key", default="jobsd/test/secret/key")
    parser.add_argument("--scenario", default="")
    args = parser.parse_args()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    server.fake = Fake(args)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.replace(tmp, args.port_file)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
