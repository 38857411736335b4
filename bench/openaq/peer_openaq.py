#!/usr/bin/python3
"""The approach the openaq job replaces, as the peer of bench/openaq.

A single-threaded Python fetcher with the requests module: one JSON file per
location holding every record fetched so far; each run loads the file, pages
through each sensor's measurements since the newest stored record (page
numbers, a fixed sleep between requests: --sleep, after every request but
the last), merges with deduplication on (sensor, datetime) and rewrites the
whole file.

    peer_openaq.py --base-url URL --api-key KEY --folder DIR --locations 1,2
                   [--page-size 1000] [--sleep 0] [--start EPOCH]
"""

import argparse
import datetime
import json
import os
import time

import requests


def utc(t):
    return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--api-key", required=True)
    p.add_argument("--folder", required=True)
    p.add_argument("--locations", required=True)
    p.add_argument("--page-size", type=int, default=1000)
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--start", type=int, default=0)
    a = p.parse_args()
    session = requests.Session()
    session.headers.update({"X-API-Key": a.api_key, "Accept": "application/json"})
    now = int(time.time())
    fetched = 0
    requests_sent = [0]

    def get(url, **kwargs):
        # The fixed pause goes before every request but the first.
        if requests_sent[0] and a.sleep > 0:
            time.sleep(a.sleep)
        requests_sent[0] += 1
        return session.get(url, **kwargs)

    for location in a.locations.split(","):
        path = os.path.join(a.folder, "location-%s.json" % location)
        records = []
        if os.path.exists(path):
            with open(path) as f:
                records = json.load(f)
        seen = {(r["sensor"], r["datetime"]) for r in records}
        newest = {}
        for r in records:
            newest[r["sensor"]] = max(newest.get(r["sensor"], ""), r["datetime"])
        loc = get("%s/v3/locations/%s" % (a.base_url, location), timeout=30)
        loc.raise_for_status()
        for sensor in loc.json()["results"][0]["sensors"]:
            sid = sensor["id"]
            since = newest.get(sid) or utc(a.start)
            page = 1
            while True:
                r = get("%s/v3/sensors/%d/measurements" % (a.base_url, sid),
                                params={"datetime_from": since, "datetime_to": utc(now),
                                        "limit": a.page_size, "page": page}, timeout=60)
                r.raise_for_status()
                results = r.json()["results"]
                for m in results:
                    key = (sid, m["period"]["datetimeTo"]["utc"])
                    fetched += 1
                    if key in seen or m["value"] is None:
                        continue
                    seen.add(key)
                    records.append({"sensor": sid, "parameter": m["parameter"]["name"],
                                    "datetime": key[1], "value": m["value"]})
                if len(results) < a.page_size:
                    break
                page += 1
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(records, f)
        os.replace(tmp, path)
    print(json.dumps({"fetched": fetched, "requests": requests_sent[0]}))


if __name__ == "__main__":
    main()
