#!/usr/bin/python3
"""The APScheduler side of bench/scheduler/run.sh: one process per measured row.

    apscheduler_peer.py interval --jobs N [--offsets FILE] --out FILE
    apscheduler_peer.py cron --jobs N
    apscheduler_peer.py idle

Set up the way the peer is run at its best: a BackgroundScheduler with a
ThreadPoolExecutor(10), misfire_grace_time=1, coalesce=True, max_instances=1,
jobs added before start() (into the pending list, then the memory job store in
one go).

interval: N jobs on IntervalTrigger(seconds=1). start_date is a whole second
plus the job's offset: from --offsets (one line per job, microseconds within
the second; run.sh passes the offsets jobsd's `jitter: 999ms` gave the same
job names, so both schedulers see the same timetable) or 0 for every job (the
herd). The job function only returns time.time(), its first timestamp. An
EVENT_JOB_EXECUTED listener receives that value as event.retval together with
event.scheduled_run_time, the slot the executor ran it for, so each execution
carries its own slot (no guessing from the clock, no race with the job's next
run). Executions and EVENT_JOB_MISSED events go to --out as float64 triples
(kind, scheduled, started; kind 1 executed, 2 missed by the executor, 3
skipped as max_instances), written in 64 KiB chunks so the buffer does not
inflate the RSS that is being measured.

cron: N jobs on CronTrigger(minute='*/5'); prints `ready` once start()
returned (how long the peer takes to come up with that many jobs).
idle: the jobs of etc/jobsd.yaml (heartbeat every minute running `echo`, two
cron jobs with time zones, one interval job with a start offset); the
scheduler just waits.

Every mode prints `ready <unix time> [<first slot's second>]` on stdout after start() and runs until
SIGTERM or SIGINT, then shuts the scheduler down (waiting for running jobs) and
exits 0. Warnings (missed runs, max instances) go to stderr as APScheduler logs
them, like jobsd's warn-level log.
"""

import argparse
import array
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES, EVENT_JOB_MISSED
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

UTC = timezone.utc


def tick():
    return time.time()


def heartbeat():
    subprocess.run(["echo", "apscheduler heartbeat"], stdout=subprocess.DEVNULL, check=False)


def noop():
    return None


class Recorder:
    """Execution records as float64 triples, flushed to a file in chunks."""

    CHUNK = 8192  # doubles: 64 KiB

    def __init__(self, path):
        self.file = open(path, "wb")
        self.buf = array.array("d")
        self.lock = threading.Lock()

    def add(self, kind, scheduled, started):
        with self.lock:
            self.buf.append(kind)
            self.buf.append(scheduled)
            self.buf.append(started)
            if len(self.buf) >= self.CHUNK:
                self.buf.tofile(self.file)
                del self.buf[:]

    def close(self):
        with self.lock:
            self.buf.tofile(self.file)
            del self.buf[:]
            self.file.close()

    def listener(self, event):
        if event.code == EVENT_JOB_MAX_INSTANCES:
            # A submission event: the slots that were not submitted.
            for run_time in event.scheduled_run_times:
                self.add(3.0, run_time.timestamp(), 0.0)
        elif event.code == EVENT_JOB_MISSED:
            self.add(2.0, event.scheduled_run_time.timestamp(), 0.0)
        else:
            self.add(1.0, event.scheduled_run_time.timestamp(), event.retval)


def make_scheduler():
    return BackgroundScheduler(
        executors={"default": ThreadPoolExecutor(10)},
        job_defaults={"misfire_grace_time": 1, "coalesce": True, "max_instances": 1},
        timezone=UTC,
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["interval", "cron", "idle"])
    parser.add_argument("--jobs", type=int, default=0)
    parser.add_argument("--offsets")
    parser.add_argument("--out")
    args = parser.parse_args()

    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    # Blocked here, before any thread exists, so every thread inherits the
    # mask and the main thread takes them with sigwait. (A handler would run
    # only once the main thread wakes: a signal the kernel hands to a worker
    # thread would not interrupt its wait.) No polling, so idle stays idle.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})

    scheduler = make_scheduler()
    recorder = None
    base = None
    if args.mode == "interval":
        offsets = [0] * args.jobs
        if args.offsets:
            with open(args.offsets) as f:
                given = [int(line) for line in f if line.strip()]
            for i in range(min(len(given), args.jobs)):
                offsets[i] = given[i]
        # The first slot: the next whole second. Slots that pass while the
        # jobs are added run at start (late); run.sh's warm-up skips them.
        base = int(time.time()) + 1
        first = datetime.fromtimestamp(base, UTC)
        for i in range(args.jobs):
            start = first + timedelta(microseconds=offsets[i])
            scheduler.add_job(tick, IntervalTrigger(seconds=1, start_date=start, timezone=UTC),
                              id="j%06d" % i)
        recorder = Recorder(args.out)
        scheduler.add_listener(recorder.listener,
                               EVENT_JOB_EXECUTED | EVENT_JOB_MISSED | EVENT_JOB_MAX_INSTANCES)
    elif args.mode == "cron":
        for i in range(args.jobs):
            scheduler.add_job(noop, CronTrigger(minute="*/5", timezone=UTC), id="j%06d" % i)
    else:
        scheduler.add_job(heartbeat, IntervalTrigger(minutes=1, timezone=UTC), id="heartbeat")
        scheduler.add_job(noop, CronTrigger(minute=5, timezone="Europe/Berlin"), id="disk-report")
        scheduler.add_job(noop, IntervalTrigger(minutes=15, timezone=UTC,
                                                start_date=datetime.fromtimestamp(37, UTC)),
                          id="demo-sync")
        scheduler.add_job(noop, CronTrigger(minute=30, hour=7, day_of_week="mon-fri",
                                            timezone="America/New_York"), id="morning-summary")

    scheduler.start()
    # `ready TIME [BASE]`: BASE is the whole second of the interval jobs' first slot.
    print("ready %.6f%s" % (time.time(), "" if base is None else " %d" % base), flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    scheduler.shutdown(wait=True)
    if recorder:
        recorder.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
