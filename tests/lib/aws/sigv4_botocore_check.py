#!/usr/bin/python3
"""Cross-checks jobsd's SigV4 signer against botocore's, an independent one.

Each case is signed twice: by aws_sign_tool (aws::SignRequest on the URL
S3Client builds) and by botocore's SigV4Auth / S3SigV4Auth at the same fixed
time; the Authorization, X-Amz-Date, X-Amz-Content-SHA256 and
X-Amz-Security-Token headers must agree. Run by ctest:

    sigv4_botocore_check.py --signer build/tests/aws_sign_tool
"""

import argparse
import datetime
import subprocess
import sys
import types
from urllib.parse import quote

import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

TIME = datetime.datetime(2024, 5, 6, 7, 8, 9)
AMZ_DATE = TIME.strftime("%Y%m%dT%H%M%SZ")
CREDENTIALS = {"akid": "AKIDEXAMPLE", "secret": "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"}
TOKEN = "FwoGZXIvYXdzEJr//////////wEaDOS+token/with+special=chars"


class _FixedDatetime(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return TIME


# botocore reads the clock as datetime.datetime.utcnow() inside botocore.auth.
botocore.auth.datetime = types.SimpleNamespace(datetime=_FixedDatetime)

CASES = [
    {
        "name": "s3 PUT with a body, reserved characters in the key, a session token",
        "service": "s3", "region": "us-east-2", "method": "PUT",
        "endpoint": "http://127.0.0.1:4568", "bucket": "my-bucket",
        "key": "dir/a b+c&d=e/\u00fc~*'().txt",
        "headers": [("Content-Type", "text/plain"), ("x-amz-meta-note", "  a   b  ")],
        "body": b"hello, world\n", "token": TOKEN,
    },
    {
        "name": "s3 ListObjectsV2 with reserved characters in the query",
        "service": "s3", "region": "eu-west-1", "method": "GET",
        "endpoint": "https://s3.eu-west-1.amazonaws.com", "bucket": "b.with.dots", "key": "",
        "params": [("list-type", "2"), ("max-keys", "1000"),
                   ("prefix", "a b/c+d&e=f*~!'()\u00e9"),
                   ("continuation-token", "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")],
    },
    {
        "name": "s3 UploadPart with UNSIGNED-PAYLOAD over https",
        "service": "s3", "region": "us-east-1", "method": "PUT",
        "endpoint": "https://s3.us-east-1.amazonaws.com", "bucket": "bucket",
        "key": "big/object.bin",
        "params": [("partNumber", "3"), ("uploadId", "VXBsb2FkIElE+/=")],
        "body": b"\x00\x01binary part", "unsigned": True,
    },
    {
        "name": "s3 key with // and .. is not normalised",
        "service": "s3", "region": "us-east-1", "method": "GET",
        "endpoint": "https://s3.us-east-1.amazonaws.com", "bucket": "bucket",
        "key": "x//y/../z/./w", "headers": [("Range", "bytes=0-9")],
    },
    {
        "name": "s3 CreateMultipartUpload (?uploads, no value)",
        "service": "s3", "region": "us-east-1", "method": "POST",
        "endpoint": "http://localhost:9000", "bucket": "bucket", "key": "k",
        "raw_query": "uploads",
    },
    {
        "name": "athena POST with a JSON body and a session token",
        "service": "athena", "region": "us-east-2", "method": "POST",
        "endpoint": "https://athena.us-east-2.amazonaws.com", "path": "/",
        "headers": [("Content-Type", "application/x-amz-json-1.1"),
                    ("X-Amz-Target", "AmazonAthena.StartQueryExecution")],
        "body": b'{"QueryString":"SELECT * FROM t WHERE x = \'a b\'","WorkGroup":"primary"}',
        "token": TOKEN,
    },
    {
        "name": "non-s3 path normalised and encoded again, query with reserved characters",
        "service": "execute-api", "region": "us-west-2", "method": "GET",
        "endpoint": "https://api.example.com:8443", "path": "/a/./b//c/../%20d~e/",
        "params": [("q", "x y/z?&=+"), ("a", ""), ("Z", "1")],
    },
]


def run_ours(signer, case):
    lines = [
        "service\t" + case["service"], "region\t" + case["region"], "time\t" + AMZ_DATE,
        "akid\t" + CREDENTIALS["akid"], "secret\t" + CREDENTIALS["secret"],
        "method\t" + case["method"], "endpoint\t" + case["endpoint"],
    ]
    if case.get("token"):
        lines.append("token\t" + case["token"])
    if "bucket" in case:
        lines += ["bucket\t" + case["bucket"], "key\t" + case["key"]]
    else:
        lines.append("path\t" + case["path"])
    for name, value in case.get("params", []):
        lines.append("param\t%s\t%s" % (name, value))
    for name, value in case.get("headers", []):
        lines.append("header\t%s\t%s" % (name, value))
    if case.get("body"):
        lines.append("body-hex\t" + case["body"].hex())
    if case.get("unsigned"):
        lines.append("payload-hash\tUNSIGNED-PAYLOAD")
    if case.get("raw_query"):
        # A bare subresource: our tool encodes params as name=value, so pass it
        # as a param with an empty value (S3 signs "uploads=" either way).
        lines.append("param\t%s\t" % case["raw_query"])
    out = subprocess.run([signer], input="\n".join(lines) + "\n", capture_output=True,
                         text=True, check=True).stdout
    url, headers = None, {}
    for line in out.splitlines():
        parts = line.split("\t")
        if parts[0] == "url":
            url = parts[1]
        elif parts[0] == "header":
            headers[parts[1].lower()] = parts[2]
    return url, headers


def run_botocore(case):
    if "bucket" in case:
        url = case["endpoint"] + "/" + case["bucket"]
        if case["key"]:
            url += "/" + quote(case["key"], safe="/~")
    else:
        url = case["endpoint"] + case["path"]
    if case.get("raw_query"):
        url += "?" + case["raw_query"]
    request = AWSRequest(method=case["method"], url=url, data=case.get("body"),
                         headers=dict(case.get("headers", [])),
                         params=dict(case.get("params", [])))
    if case.get("unsigned"):
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    credentials = Credentials(CREDENTIALS["akid"], CREDENTIALS["secret"], case.get("token"))
    signer_class = botocore.auth.S3SigV4Auth if case["service"] == "s3" else botocore.auth.SigV4Auth
    signer_class(credentials, case["service"], case["region"]).add_auth(request)
    return {name.lower(): value for name, value in request.headers.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--signer", required=True)
    args = parser.parse_args()
    passed = failed = 0
    for case in CASES:
        url, ours = run_ours(args.signer, case)
        theirs = run_botocore(case)
        problems = []
        if not ours.get("authorization", "").startswith("AWS4-HMAC-SHA256 Credential="):
            problems.append("no Authorization header from our signer")
        for name in ("authorization", "x-amz-date", "x-amz-content-sha256",
                     "x-amz-security-token"):
            if ours.get(name) != theirs.get(name):
                problems.append("%s: ours %r, botocore %r" % (name, ours.get(name),
                                                              theirs.get(name)))
        if "bucket" in case and case["key"]:
            expected_path = "/" + case["bucket"] + "/" + quote(case["key"], safe="/~")
            if expected_path not in url:
                problems.append("url %r does not hold %r" % (url, expected_path))
        if problems:
            failed += 1
            print("FAIL %s\n  %s\n  url %s" % (case["name"], "\n  ".join(problems), url))
        else:
            passed += 1
            print("ok   %s" % case["name"])
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
