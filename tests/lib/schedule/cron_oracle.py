#!/usr/bin/python3
"""Checks jobsd's cron engine against independent oracles.

Runs tests/tools/cron_next (schedule::NextCronFire) on ten thousand random
cases and on hand-written fixed cases, and compares every answer with
  (a) a brute-force implementation in this file: walk local calendar days,
      walk the wall times whose fields match, map each to UTC with zoneinfo
      under the DST rules of lib/schedule/schedule.h, sort, take the first 5;
  (b) python3-croniter 1.3.5, where its rules agree with ours.
A difference from (a) is a failure. A difference between croniter and (a) is
classified; a difference that no documented kind below explains is a failure.

Run with Debian's interpreter, which has croniter:
  /usr/bin/python3 tests/lib/schedule/cron_oracle.py --cron-next build-oracle/tests/cron_next
Options: --cases N (default 10000), --seed S (printed on every run), --jobs N,
--no-croniter, --show N (mismatches printed in full).

jobsd refuses an expression that can never fire ("0 0 30 2 *") when parsing
it, as lib/schedule's own tests intend; that answer is accepted when the brute
force confirms no day ever matches.

Why croniter 1.3.5 differs (the kinds in the summary table):
  dst-gap         croniter does its arithmetic on wall times and converts
                  with the pre-transition offset, and its "DST lag" fix-up
                  compares offsets with the *start* instant; around a
                  spring-forward it skips or shifts fires by the gap's length
                  (often on the day after the change, not only in the gap).
                  Our rule: a fixed-time job fires once at the gap's end.
  dst-repeat      the same fix-up around a fall-back: croniter may fire a
                  fixed-time job twice, at the second occurrence, or an hour
                  late the next day; and an all-hours job does not fire in
                  both occurrences of the repeated hour.
  dom-dow-or      croniter decides "restricted" on the expanded value list,
                  Vixie (and jobsd) on the text: "*/2" in day-of-month is a
                  restriction for croniter (so it ORs with day-of-week) but
                  not for Vixie (AND); "1-31" or "0-6" are unrestricted for
                  croniter but restricted for Vixie.
  L-#-combined    croniter supports "L" in day-of-month and "n#k" in
                  day-of-week, but applies the nth-weekday filter even in the
                  OR branch meant for day-of-month only, and ignores "L" in
                  lists with other days when the month's last day passes;
                  combinations with a restricted other day field come out
                  wrong.
  six-field-sun7  croniter's second field is the 6th (we move it there), and
                  in 6-field mode it skips its 7->0 weekday mapping: a 7 in
                  the expanded weekdays ("7", "5-7", and "*/1" or "1/2",
                  which it expands over 0-7) never matches Sunday, and as an
                  8th value makes "*/1" count as restricted (OR rule).
  refused-*       syntax croniter 1.3.5 does not have: "?" (refused-?),
                  "nW", "LW" and "L-n" (refused-W/LW/L-n), "nL" in
                  day-of-week (it spells it "Ln"), and "n#k" mixed with
                  plain weekdays in one list (refused-#-mixed).
  bad-date-or-branch  with both day fields restricted croniter computes the
                  next match of each alone and raises CroniterBadDateError
                  when one of them never matches ("31 FEB" OR Sundays),
                  instead of using the other.
  dom-past-month-end  a day-of-month list with a day the current month lacks
                  ("1,31" in February): croniter adds (31 - today) days and
                  lands past the 1st of the next month, skipping it.
"""

import argparse
import bisect
import calendar
import datetime as dt
import multiprocessing
import os
import random
import re
import subprocess
import sys
import time
from zoneinfo import ZoneInfo

N_FIRES = 5
DAY = 86400
UTC = dt.timezone.utc
EPOCH_NAIVE = dt.datetime(1970, 1, 1)
# Fires are compared only before this instant: the zone files carry explicit
# transitions up to 2037 and the brute force stops scanning there.
CAP = int(dt.datetime(2037, 1, 1, tzinfo=UTC).timestamp())
START_LO = int(dt.datetime(2024, 1, 1, tzinfo=UTC).timestamp())
START_HI = int(dt.datetime(2031, 1, 1, tzinfo=UTC).timestamp())

# Weighted: the first ones (with DST, odd offsets) are what the rules are about.
ZONE_WEIGHTS = [
    ("Europe/Berlin", 12),
    ("America/New_York", 10),
    ("America/Sao_Paulo", 3),  # no DST since 2019: offsets only
    ("Australia/Lord_Howe", 10),  # 30-minute DST
    ("Asia/Kolkata", 3),
    ("Pacific/Chatham", 8),  # +12:45/+13:45, changes at 02:45
    ("UTC", 8),
    ("Europe/London", 4),
    ("America/Santiago", 6),  # changes at midnight
    ("Africa/Cairo", 5),  # changes at midnight
    ("America/Havana", 4),  # gap at midnight, repeat at 01:00
    ("America/Nuuk", 5),  # changes at 23:00 local: gap and repeat touch midnight
    ("Antarctica/Troll", 4),  # 2-hour DST
    ("Australia/Sydney", 4),
    ("America/St_Johns", 3),
    ("Asia/Kathmandu", 2),
    ("Pacific/Kiritimati", 2),
    ("America/Los_Angeles", 4),
]

MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DOW_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


# --------------------------------------------------------------------------
# Zones: offsets and transitions found by sampling zoneinfo.


class ZoneData:
    """Offsets of one zone over 2022-2037, used to skip zoneinfo far from
    transitions and to bias start instants towards them."""

    def __init__(self, name):
        self.name = name
        self.z = ZoneInfo(name)
        self.transitions = []  # UTC epoch of each offset change
        self.after = []  # offset (s) from that instant on
        lo = int(dt.datetime(2022, 6, 1, tzinfo=UTC).timestamp())
        hi = CAP + 200 * DAY
        step = 6 * 3600
        self.off0 = self.offset_slow(lo)
        prev = self.off0
        t = lo
        while t < hi:
            off = self.offset_slow(t + step)
            if off != prev:
                a, b = t, t + step  # offset(a) == prev, offset(b) != prev
                while b - a > 1:
                    mid = (a + b) // 2
                    if self.offset_slow(mid) == prev:
                        a = mid
                    else:
                        b = mid
                self.transitions.append(b)
                self.after.append(off)
                prev = off
            t += step
        offs = [self.off0] + self.after
        self.min_off = min(offs)
        self.max_off = max(offs)

    def offset_slow(self, u):
        return int(dt.datetime.fromtimestamp(u, self.z).utcoffset().total_seconds())

    def offset_at(self, u):
        i = bisect.bisect_right(self.transitions, u)
        return self.after[i - 1] if i else self.off0

    def has_transition(self, a, b):
        i = bisect.bisect_left(self.transitions, a)
        return i < len(self.transitions) and self.transitions[i] <= b

    def offset_bounds(self, a, b):
        offs = [self.offset_at(a)]
        i = bisect.bisect_right(self.transitions, a)
        while i < len(self.transitions) and self.transitions[i] <= b:
            offs.append(self.after[i])
            i += 1
        return min(offs), max(offs)

    def transitions_between(self, a, b):
        i = bisect.bisect_left(self.transitions, a)
        out = []
        while i < len(self.transitions) and self.transitions[i] <= b:
            before = self.after[i - 1] if i else self.off0
            out.append((self.transitions[i], before, self.after[i]))
            i += 1
        return out


ZONES = {}


def zone_data(name):
    if name not in ZONES:
        ZONES[name] = ZoneData(name)
    return ZONES[name]


# --------------------------------------------------------------------------
# Oracle (a): the brute force. Parses the grammar of cron_expression.h on its
# own, plainly; no code shared with lib/schedule.


class BadExpression(ValueError):
    pass


def parse_value(text, lo, hi, names):
    t = text.lower()
    if names and t in names:
        return names.index(t) + (1 if names is MONTH_NAMES else 0)
    if not t.isdigit():
        raise BadExpression("bad value %r" % text)
    v = int(t)
    if v < lo or v > hi:
        raise BadExpression("value %r out of range" % text)
    return v


def parse_set(text, lo, hi, names=None):
    """Plain values: * ? n a-b */s a-b/s a/s and lists of them."""
    values = set()
    for part in text.split(","):
        base, step = part, 1
        if "/" in part:
            base, step_text = part.split("/", 1)
            if not step_text.isdigit() or int(step_text) == 0:
                raise BadExpression("bad step in %r" % part)
            step = int(step_text)
        if base in ("*", "?"):
            a, b = lo, hi
        elif "-" in base:
            x, y = base.split("-", 1)
            a, b = parse_value(x, lo, hi, names), parse_value(y, lo, hi, names)
            if a > b:
                raise BadExpression("reversed range %r" % part)
        else:
            a = parse_value(base, lo, hi, names)
            b = hi if "/" in part else a
        values.update(range(a, b + 1, step))
    return values


class DomField:
    def __init__(self, text):
        self.restricted = not text.startswith(("*", "?"))
        self.values = set()
        self.last = False
        self.last_offsets = set()
        self.nearest = set()
        self.last_weekday = False
        plain = []
        for part in text.split(","):
            p = part.upper()
            if p == "L":
                self.last = True
            elif p == "LW":
                self.last_weekday = True
            elif re.fullmatch(r"L-\d+", p):
                self.last_offsets.add(int(p[2:]))
            elif re.fullmatch(r"\d+W", p):
                n = int(p[:-1])
                if not 1 <= n <= 31:
                    raise BadExpression("bad nW %r" % part)
                self.nearest.add(n)
            else:
                plain.append(part)
        if plain:
            self.values = parse_set(",".join(plain), 1, 31)

    def matches(self, d, last, weekday_of):
        if d in self.values:
            return True
        if self.last and d == last:
            return True
        for n in self.last_offsets:
            if d == last - n:
                return True
        for n in self.nearest:
            if n > last:
                continue
            w = weekday_of(n)
            target = n
            if w == 6:  # Saturday: the Friday before, or Monday if that leaves the month
                target = n - 1 if n > 1 else n + 2
            elif w == 0:  # Sunday: the Monday after, or Friday if that leaves the month
                target = n + 1 if n < last else n - 2
            if d == target:
                return True
        if self.last_weekday:
            w = weekday_of(last)
            target = last - 1 if w == 6 else last - 2 if w == 0 else last
            if d == target:
                return True
        return False


class DowField:
    def __init__(self, text):
        self.restricted = not text.startswith(("*", "?"))
        self.values = set()
        self.last = set()  # weekday w: "wL"
        self.nth = set()  # (w, k): "w#k"
        plain = []
        for part in text.split(","):
            p = part.upper()
            if re.fullmatch(r"\d+L", p):
                self.last.add(parse_value(p[:-1], 0, 7, None) % 7)
            elif re.fullmatch(r"\d+#\d+", p):
                w, k = p.split("#")
                k = int(k)
                if not 1 <= k <= 5:
                    raise BadExpression("bad #k %r" % part)
                self.nth.add((parse_value(w, 0, 7, None) % 7, k))
            else:
                plain.append(part)
        if plain:
            self.values = {v % 7 for v in parse_set(",".join(plain), 0, 7, DOW_NAMES)}

    def matches(self, d, last, w):
        if w in self.values:
            return True
        if w in self.last and d + 7 > last:
            return True
        if (w, (d - 1) // 7 + 1) in self.nth:
            return True
        return False


class BruteCron:
    def __init__(self, text):
        expanded = MACROS.get(text.strip(), text) if text.strip().startswith("@") else text
        if expanded.startswith("@"):
            raise BadExpression("unknown macro %r" % text)
        fields = expanded.split()
        if len(fields) == 5:
            fields = ["0"] + fields
        elif len(fields) != 6:
            raise BadExpression("need 5 or 6 fields")
        self.six = len(expanded.split()) == 6
        self.seconds = sorted(parse_set(fields[0], 0, 59))
        self.minutes = sorted(parse_set(fields[1], 0, 59))
        self.hours = sorted(parse_set(fields[2], 0, 23))
        self.dom = DomField(fields[3])
        self.months = parse_set(fields[4], 1, 12, MONTH_NAMES)
        self.dow = DowField(fields[5])
        self.all_hours = len(self.hours) == 24
        self.either = self.dom.restricted and self.dow.restricted
        self.text = text

    def days(self, y, m):
        """Days of month m of year y that match (the Vixie OR/AND rule)."""
        first_w, last = calendar.monthrange(y, m)
        return self.days_of_month_shape((first_w + 1) % 7, last)

    def days_of_month_shape(self, first_w, last):
        """Matching days of a month whose 1st is weekday first_w (Sunday 0)
        and that has `last` days."""

        def weekday_of(day):
            return (first_w + day - 1) % 7

        out = []
        for d in range(1, last + 1):
            w = weekday_of(d)
            a = self.dom.matches(d, last, weekday_of)
            b = self.dow.matches(d, last, w)
            if (a or b) if self.either else (a and b):
                out.append(d)
        return out


def never_fires(cron):
    """True when no day ever matches. A month's matching days depend only on
    its length and the weekday of its 1st, and the 400-year Gregorian cycle
    has every such pair, so trying them all is exact."""
    for m in cron.months:
        lengths = (28, 29) if m == 2 else (calendar.monthrange(2001, m)[1],)
        for last in lengths:
            for first_w in range(7):
                if cron.days_of_month_shape(first_w, last):
                    return False
    return True


def days_from_civil(y, m, d):
    return dt.date(y, m, d).toordinal() - 719163


def wall_times(cron, after):
    """Matching wall times W > after (naive epoch seconds), in order."""
    day = after // DAY
    date = dt.date.fromordinal(day + 719163)
    y, m = date.year, date.month
    while True:
        if days_from_civil(y, m, 1) * DAY > CAP + 2 * DAY:
            return
        if m in cron.months:
            mstart = days_from_civil(y, m, 1)
            for d in cron.days(y, m):
                d0 = (mstart + d - 1) * DAY
                if d0 + DAY <= after:
                    continue
                for h in cron.hours:
                    h0 = d0 + h * 3600
                    if h0 + 3600 <= after:
                        continue
                    for mi in cron.minutes:
                        m0 = h0 + mi * 60
                        if m0 + 60 <= after:
                            continue
                        for s in cron.seconds:
                            w = m0 + s
                            if w > after:
                                yield w
        m += 1
        if m == 13:
            y, m = y + 1, 1


def fires_of_wall(zd, wall, all_hours):
    """UTC instants at which wall time `wall` fires under schedule.h's rules."""
    if not zd.has_transition(wall - zd.max_off - DAY, wall - zd.min_off + DAY):
        return [wall - zd.offset_at(wall - zd.max_off)]
    naive = EPOCH_NAIVE + dt.timedelta(seconds=wall)
    occurrences = set()
    for fold in (0, 1):
        u = int(naive.replace(tzinfo=zd.z, fold=fold).timestamp())
        if dt.datetime.fromtimestamp(u, zd.z).replace(tzinfo=None) == naive:
            occurrences.add(u)
    if occurrences:
        occ = sorted(occurrences)
        return occ if all_hours else occ[:1]
    if all_hours:
        return []  # inside a gap: skipped
    # In a gap: fire once when the gap ends, the instant the offset changes.
    u0 = int(naive.replace(tzinfo=zd.z, fold=0).timestamp())
    u1 = int(naive.replace(tzinfo=zd.z, fold=1).timestamp())
    lo, hi = min(u0, u1), max(u0, u1)
    off_lo = zd.offset_slow(lo)
    while hi - lo > 1:  # offset(lo) == off_lo, offset(hi) != off_lo
        mid = (lo + hi) // 2
        if zd.offset_slow(mid) == off_lo:
            lo = mid
        else:
            hi = mid
    return [hi]


def brute_force(cron, zone, start, n=N_FIRES):
    """The first n fire instants strictly after `start`, those before CAP."""
    zd = zone_data(zone)
    off_lo, _ = zd.offset_bounds(start - 2 * DAY, start + 2 * DAY)
    # A wall time W that fires after `start` has W > start + (its offset).
    after = start + off_lo
    fires = []
    limit = CAP + zd.max_off
    for wall in wall_times(cron, after):
        if wall > limit:
            break
        for f in fires_of_wall(zd, wall, cron.all_hours):
            if start < f < CAP:
                i = bisect.bisect_left(fires, f)
                if i == len(fires) or fires[i] != f:
                    fires.insert(i, f)
        if len(fires) >= n:
            del fires[n:]
            kth = fires[-1]
            # Wall times later than this can only fire after the kth fire.
            _, hi = zd.offset_bounds(kth - 2 * DAY, kth + 2 * DAY)
            limit = min(limit, kth + hi)
    return fires


# --------------------------------------------------------------------------
# Oracle (b): croniter.


def croniter_form(expr):
    """croniter wants the seconds field last."""
    f = expr.split()
    if len(f) == 6:
        return " ".join(f[1:] + f[:1])
    return expr


def croniter_fires(expr, zone, start, n=N_FIRES):
    """(fires before CAP, error text or None); the error text starts with
    "parse" when croniter refused the expression, "next" when it gave up."""
    from croniter import croniter

    z = ZoneInfo(zone)
    try:
        it = croniter(croniter_form(expr), dt.datetime.fromtimestamp(start, z))
    except Exception as e:  # noqa: BLE001 - croniter raises even NameError here
        return [], "parse %s: %s" % (type(e).__name__, e)
    fires = []
    try:
        for _ in range(n):
            u = int(it.get_next(dt.datetime).timestamp())
            if u >= CAP:
                break
            fires.append(u)
    except Exception as e:  # noqa: BLE001 - every croniter failure is classified
        return fires, "next %s: %s" % (type(e).__name__, e)
    return fires, None


def never_matches_alone(field, cron):
    """True when the day field alone matches no day of the expression's
    months (e.g. day 30 in February)."""
    for y in range(2024, 2033):
        for m in cron.months:
            first_w, last = calendar.monthrange(y, m)
            first_w = (first_w + 1) % 7
            for d in range(1, last + 1):
                w = (first_w + d - 1) % 7
                if field is cron.dom and cron.dom.matches(d, last, lambda x: (first_w + x - 1) % 7):
                    return False
                if field is cron.dow and cron.dow.matches(d, last, w):
                    return False
    return True


def croniter_kind(expr, cron, zone, start, expected, got, error):
    """Why croniter's answer differs from the brute force; None = unexplained."""
    f = (MACROS.get(expr, expr)).split()
    if len(f) == 5:
        f = ["0"] + f
    dom, dow = f[3].upper(), f[5].upper()
    dom_parts, dow_parts = dom.split(","), dow.split(",")
    if error and error.startswith("parse"):
        if "?" in dom or "?" in dow:
            return "refused-?"
        if any(re.fullmatch(r"\d+W|LW|L-\d+", p) for p in dom_parts):
            return "refused-W/LW/L-n"
        if any(re.fullmatch(r"\d+L", p) for p in dow_parts):
            return "refused-nL"
        if "#" in dow and any("#" not in p for p in dow_parts):
            return "refused-#-mixed"
        return None
    if cron.six and dow not in ("*", "?") and "#" not in dow and "L" not in dow:
        if 7 in parse_set(dow, 0, 7, DOW_NAMES):  # "7", "5-7", "*/1", "1/2"...
            return "six-field-sun7"
    # croniter's notion of "restricted": the expanded set is not everything.
    c_dom = not (dom == "*" or (set(range(1, 32)) <= cron.dom.values))
    c_dow = not (dow == "*" or cron.dow.values == set(range(7)))
    if (c_dom and c_dow) != cron.either:
        return "dom-dow-or"
    if cron.either and ("L" in dom or "#" in dow):
        return "L-#-combined"
    if error and cron.either and (never_matches_alone(cron.dom, cron)
                                  or never_matches_alone(cron.dow, cron)):
        return "bad-date-or-branch"
    zd = zone_data(zone)
    parted = [min(a, b) for a, b in zip(expected, got) if a != b]
    missed = [a for a, b in zip(expected, got) if a < b]
    if c_dom and missed and cron.dom.values and max(cron.dom.values) > 28:
        # croniter skipped a whole day: the first listed day after a month
        # shorter than the largest listed day.
        day = dt.datetime.fromtimestamp(missed[0], zd.z).date()
        prev_len = (day.replace(day=1) - dt.timedelta(days=1)).day
        got_days = {dt.datetime.fromtimestamp(u, zd.z).date() for u in got}
        if (day.day == min(cron.dom.values) and prev_len < max(cron.dom.values)
                and day not in got_days):
            return "dom-past-month-end"
    # A DST change after the first fire where the two lists part cannot be
    # the cause.
    if parted:
        last = parted[0]
    else:
        last = max(expected + got + [start])
    trans = zd.transitions_between(start - DAY, last + DAY)
    if trans:
        gap = any(a > b for _, b, a in trans)
        rep = any(a < b for _, b, a in trans)
        return "dst-gap" if gap and not rep else "dst-repeat" if rep and not gap else "dst-both"
    return None


# --------------------------------------------------------------------------
# Random cases.


def mixed_case(rng, s):
    return "".join(c.upper() if rng.random() < 0.5 else c.lower() for c in s)


def pick(rng, weighted):
    total = sum(w for _, w in weighted)
    x = rng.random() * total
    for item, w in weighted:
        x -= w
        if x < 0:
            return item
    return weighted[-1][0]


def gen_plain(rng, lo, hi, favored, kinds):
    def num():
        return rng.choice(favored) if favored and rng.random() < 0.5 else rng.randint(lo, hi)

    def rpair():
        a, b = num(), num()
        while a == b:
            b = rng.randint(lo, hi)
        return min(a, b), max(a, b)

    kind = pick(rng, kinds)
    if kind == "*":
        return "*"
    if kind == "n":
        return str(num())
    if kind == "list":
        vals = sorted({num() for _ in range(rng.randint(2, 4))})
        if rng.random() < 0.3:
            rng.shuffle(vals)
        return ",".join(map(str, vals))
    if kind == "range":
        a, b = rpair()
        return "%d-%d" % (a, b)
    if kind == "*/s":
        return "*/%d" % rng.randint(1, hi - lo)
    if kind == "a-b/s":
        a, b = rpair()
        return "%d-%d/%d" % (a, b, rng.randint(1, max(1, b - a)))
    if kind == "a/s":
        return "%d/%d" % (num(), rng.randint(1, hi - lo))
    if kind == "mixed":
        parts = []
        for _ in range(rng.randint(2, 3)):
            k = rng.choice(["n", "range", "a-b/s"])
            parts.append(gen_plain(rng, lo, hi, favored, [(k, 1)]))
        return ",".join(parts)
    if kind == "full":
        return "%d-%d" % (lo, hi)
    raise AssertionError(kind)


SEC_KINDS = [("*", 1), ("n", 6), ("list", 3), ("range", 1), ("*/s", 3), ("a-b/s", 1),
             ("a/s", 1), ("mixed", 1)]
MIN_KINDS = [("*", 2), ("n", 8), ("list", 3), ("range", 1), ("*/s", 4), ("a-b/s", 1),
             ("a/s", 1), ("mixed", 1)]
HOUR_KINDS = [("*", 6), ("n", 8), ("list", 3), ("range", 3), ("*/s", 2), ("a-b/s", 1),
              ("a/s", 1), ("mixed", 1), ("full", 1)]
DOM_KINDS = [("*", 30), ("n", 4), ("list", 2), ("range", 2), ("*/s", 2), ("a-b/s", 1),
             ("a/s", 1), ("mixed", 1), ("full", 1)]
MONTH_KINDS = [("*", 30), ("n", 3), ("list", 2), ("range", 3), ("*/s", 2), ("a-b/s", 1),
               ("a/s", 1)]


def gen_minute(rng):
    return gen_plain(rng, 0, 59, [0, 15, 30, 45, 59, 1], MIN_KINDS)


def gen_hour(rng, favored):
    return gen_plain(rng, 0, 23, favored, HOUR_KINDS)


def gen_dom(rng):
    r = rng.random()
    if r < 0.04:
        return "?"
    if r < 0.08:
        return "L"
    if r < 0.11:
        return "L-%d" % rng.randint(1, 15)
    if r < 0.15:
        return "%dW" % rng.choice([1, 1, 15, 28, rng.randint(1, 28)])
    if r < 0.17:
        return "LW"
    if r < 0.19:
        return rng.choice(["1,L", "L,15", "1,15,L", "15W,L", "L-1,L", "1W,15"])
    if r < 0.20:
        return rng.choice(["29", "30", "31", "30,31"])
    return gen_plain(rng, 1, 31, [1, 15, 28, 29, 30, 31], DOM_KINDS)


def gen_month(rng):
    r = rng.random()
    if r < 0.06:
        return mixed_case(rng, rng.choice(MONTH_NAMES))
    if r < 0.10:
        a, b = sorted(rng.sample(range(12), 2))
        return "%s-%s" % (mixed_case(rng, MONTH_NAMES[a]), mixed_case(rng, MONTH_NAMES[b]))
    if r < 0.13:
        names = [MONTH_NAMES[i] for i in sorted(rng.sample(range(12), rng.randint(2, 4)))]
        return ",".join(mixed_case(rng, x) for x in names)
    if r < 0.17:
        return rng.choice(["2", "FEB", "3,10", "MAR,OCT", "3-4,9-11", "4", "9-10"])
    return gen_plain(rng, 1, 12, [2, 3, 4, 9, 10, 11], MONTH_KINDS)


def gen_dow(rng):
    r = rng.random()
    if r < 0.55:
        return "*"
    if r < 0.58:
        return "?"
    if r < 0.64:
        return mixed_case(rng, rng.choice(DOW_NAMES))
    if r < 0.69:
        a, b = sorted(rng.sample(range(7), 2))
        return "%s-%s" % (mixed_case(rng, DOW_NAMES[a]), mixed_case(rng, DOW_NAMES[b]))
    if r < 0.71:
        names = [DOW_NAMES[i] for i in sorted(rng.sample(range(7), rng.randint(2, 3)))]
        return ",".join(mixed_case(rng, x) for x in names)
    if r < 0.75:
        return rng.choice(["0", "7", "5-7", "1-7", "0-7", "6,7", "0,7", "6-7"])
    if r < 0.79:
        return "%dL" % rng.randint(0, 7)
    if r < 0.84:
        return "%d#%d" % (rng.randint(0, 7), rng.randint(1, 5))
    if r < 0.85:
        return rng.choice(["1#1,5L", "0#2,0#4", "MON-FRI,0#1"])
    if r < 0.87:
        s = rng.randint(1, 6)
        a = rng.randint(1, 6)
        if (7 - a) % s == 0:  # "a/s" reaching 7: Sunday or not depends on 0-6 vs 0-7
            a = 0
        return rng.choice(["*/%d" % s, "%d/%d" % (a, s)])
    return gen_plain(rng, 0, 6, [0, 1, 5, 6], [("n", 4), ("list", 2), ("range", 3),
                                                ("a-b/s", 1), ("full", 1)])


def dst_hours(zd):
    """Local hours that fall in a gap or a repeated hour of the zone."""
    hours = set()
    for t, before, after in zd.transitions_between(START_LO, START_HI):
        lo, hi = t + min(before, after), t + max(before, after)
        for w in range(lo - lo % 3600, hi, 3600):
            hours.add(w // 3600 % 24)
    return sorted(hours)


def gen_expression(rng, favored_hours):
    r = rng.random()
    if r < 0.06:
        return rng.choice(list(MACROS))
    fields = [gen_minute(rng), gen_hour(rng, favored_hours), gen_dom(rng), gen_month(rng),
              gen_dow(rng)]
    if rng.random() < 0.2:
        fields.insert(0, gen_plain(rng, 0, 59, [0, 30, 59], SEC_KINDS))
    return " ".join(fields)


def too_sparse(cron):
    """A few matching days over 2024-2030: fine but slow; keep them rare."""
    count = 0
    for y in (2025, 2026, 2027, 2028):
        for m in cron.months:
            count += len(cron.days(y, m))
    return count < 4


def gen_cases(rng, count):
    zones = [z for z, _ in ZONE_WEIGHTS]
    cases = []
    sparse_allowed = max(1, count // 100)
    favored = {z: (dst_hours(zone_data(z)) or [0, 1, 2, 3, 22, 23]) for z in zones}
    while len(cases) < count:
        zone = pick(rng, ZONE_WEIGHTS)
        zd = zone_data(zone)
        trans = zd.transitions_between(START_LO, START_HI)
        expr = gen_expression(rng, favored[zone])
        cron = BruteCron(expr)
        if too_sparse(cron):
            if sparse_allowed == 0:
                continue
            sparse_allowed -= 1
        for _ in range(rng.randint(1, 3)):  # a few starts per expression
            if trans and rng.random() < 0.6:
                t = rng.choice(trans)[0]
                # Half just before the change, so even frequent jobs reach it
                # within their first five fires.
                r = rng.random()
                if r < 0.1:  # right at the change: off-by-one territory
                    start = t - rng.choice([0, 1, 2, 59, 60, 61, 1799, 1800, 3599, 3600])
                else:
                    start = t - rng.randint(0, DAY if r < 0.55 else 2 * 3600)
            else:
                start = rng.randint(START_LO, START_HI)
            if start % 60 == 0 or start % 60 > 58:
                pass
            elif rng.random() < 0.3:
                start -= start % 60
            elif rng.random() < 0.1:
                start -= start % 3600
            tz = zone
            if zone == "UTC" and rng.random() < 0.3:
                tz = ""  # cron_next: empty zone means UTC
            cases.append((expr, tz, start))
            if len(cases) == count:
                break
    assert len(zones) > 0
    return cases


# --------------------------------------------------------------------------
# Running.


def run_cron_next(path, cases, n=N_FIRES):
    text = "".join("%s\t%s\t%d\t%d\n" % (e, z, s, n) for e, z, s in cases)
    proc = subprocess.run([path], input=text, capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        sys.exit("cron_next exited %d: %s" % (proc.returncode, proc.stderr.strip()))
    lines = proc.stdout.split("\n")
    if len(lines) < len(cases):
        sys.exit("cron_next answered %d lines for %d cases" % (len(lines), len(cases)))
    out = []
    for line in lines[: len(cases)]:
        if line.startswith("error"):
            out.append(("error", line))
            continue
        fires = []
        for tok in line.split():
            if tok == "none":
                break
            fires.append(int(tok))
        out.append(("ok", fires))
    return out


def worker(chunk):
    results = []
    for expr, tz, start, with_croniter in chunk:
        zone = tz or "UTC"
        cron = BruteCron(expr)
        expected = brute_force(cron, zone, start)
        c = croniter_fires(expr, zone, start) if with_croniter else None
        results.append((expected, c))
    return results


def fmt(u, zone):
    z = ZoneInfo(zone or "UTC")
    d = dt.datetime.fromtimestamp(u, UTC)
    loc = dt.datetime.fromtimestamp(u, z)
    return "%s (%s)" % (d.strftime("%Y-%m-%dT%H:%M:%SZ"), loc.isoformat())


def describe(expr, tz, start, expected, got):
    lines = ["  expr %r  tz %r  start %s" % (expr, tz or "UTC", fmt(start, tz))]
    lines.append("    expected: " + (", ".join(fmt(u, tz) for u in expected) or "none"))
    if isinstance(got, str):
        lines.append("    got:      " + got)
    else:
        lines.append("    got:      " + (", ".join(fmt(u, tz) for u in got) or "none"))
    return "\n".join(lines)


def compare(expected, answer, cron):
    """True when jobsd's answer equals the brute force's (fires before CAP).
    jobsd refuses an expression that can never fire at parse time (a config
    mistake caught at load); that is accepted when it really never fires."""
    status, got = answer
    if status == "error":
        return (not expected and "never fires" in got and never_fires(cron)), got
    got = [u for u in got if u < CAP][:N_FIRES]
    return got == expected, got


def rfc(text):
    return int(dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


# Hand-written expected values: (expr, zone, start, [first fires]).
FIXED = [
    ("0 0 29 2 *", "UTC", "2025-01-01T00:00:00Z",
     ["2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z", "2036-02-29T00:00:00Z"]),
    ("0 0 31 * *", "UTC", "2026-01-31T00:00:00Z",
     ["2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z", "2026-07-31T00:00:00Z",
      "2026-08-31T00:00:00Z", "2026-10-31T00:00:00Z"]),
    ("@yearly", "UTC", "2026-06-15T12:00:00Z",
     ["2027-01-01T00:00:00Z", "2028-01-01T00:00:00Z", "2029-01-01T00:00:00Z"]),
    ("@annually", "Europe/Berlin", "2026-12-31T22:59:59Z",
     ["2026-12-31T23:00:00Z", "2027-12-31T23:00:00Z"]),
    ("@monthly", "UTC", "2026-01-01T00:00:00Z", ["2026-02-01T00:00:00Z", "2026-03-01T00:00:00Z"]),
    ("@weekly", "UTC", "2026-01-01T00:00:00Z", ["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"]),
    ("@daily", "Asia/Kolkata", "2026-01-01T00:00:00Z",
     ["2026-01-01T18:30:00Z", "2026-01-02T18:30:00Z"]),
    ("@midnight", "UTC", "2026-01-01T00:00:00Z", ["2026-01-02T00:00:00Z"]),
    ("@hourly", "Asia/Kathmandu", "2026-01-01T00:00:00Z",
     ["2026-01-01T00:15:00Z", "2026-01-01T01:15:00Z"]),
    # 2026-01-01 is a Thursday.
    ("0 9 * JAN-mar Mon,fri", "UTC", "2026-01-01T00:00:00Z",
     ["2026-01-02T09:00:00Z", "2026-01-05T09:00:00Z", "2026-01-09T09:00:00Z",
      "2026-01-12T09:00:00Z"]),
    ("0 9 * Apr-Dec sat", "UTC", "2026-01-01T00:00:00Z",
     ["2026-04-04T09:00:00Z", "2026-04-11T09:00:00Z"]),
    ("0 0 * * 7", "UTC", "2026-01-01T00:00:00Z", ["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"]),
    ("0 0 * * 0", "UTC", "2026-01-01T00:00:00Z", ["2026-01-04T00:00:00Z", "2026-01-11T00:00:00Z"]),
    ("0 0 * * 5-7", "UTC", "2026-01-01T00:00:00Z",
     ["2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", "2026-01-04T00:00:00Z",
      "2026-01-09T00:00:00Z"]),
    # Strictly after: a start on a fire time does not return it.
    ("*/15 * * * *", "UTC", "2026-01-01T00:15:00Z",
     ["2026-01-01T00:30:00Z", "2026-01-01T00:45:00Z"]),
    ("*/20 0 12 * * *", "UTC", "2026-01-01T00:00:00Z",
     ["2026-01-01T12:00:00Z", "2026-01-01T12:00:20Z", "2026-01-01T12:00:40Z",
      "2026-01-02T12:00:00Z"]),
    # Vixie OR: the 13th or any Friday; "*/2" is unrestricted, so AND.
    ("0 0 13 * 5", "UTC", "2026-02-01T00:00:00Z",
     ["2026-02-06T00:00:00Z", "2026-02-13T00:00:00Z", "2026-02-20T00:00:00Z",
      "2026-02-27T00:00:00Z", "2026-03-06T00:00:00Z"]),
    ("0 0 */2 * 5", "UTC", "2026-02-01T00:00:00Z",
     ["2026-02-13T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-13T00:00:00Z"]),
    ("0 0 ? * 5", "UTC", "2026-02-01T00:00:00Z", ["2026-02-06T00:00:00Z"]),
    # L, L-n, nW, LW, nL, n#k. Jan 31 2026 is a Saturday, Feb 28 a Saturday.
    ("0 0 L * *", "UTC", "2026-01-15T00:00:00Z",
     ["2026-01-31T00:00:00Z", "2026-02-28T00:00:00Z", "2026-03-31T00:00:00Z"]),
    ("0 0 L 2 *", "UTC", "2027-03-01T00:00:00Z", ["2028-02-29T00:00:00Z"]),
    ("0 0 L-2 * *", "UTC", "2026-01-15T00:00:00Z",
     ["2026-01-29T00:00:00Z", "2026-02-26T00:00:00Z", "2026-03-29T00:00:00Z"]),
    ("0 0 LW * *", "UTC", "2026-01-15T00:00:00Z",
     ["2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-31T00:00:00Z"]),
    # Feb 15 and Mar 15 2026 are Sundays, Aug 15 a Saturday, Aug 1 a Saturday.
    ("0 0 15W * *", "UTC", "2026-02-01T00:00:00Z",
     ["2026-02-16T00:00:00Z", "2026-03-16T00:00:00Z", "2026-04-15T00:00:00Z"]),
    ("0 0 15W 8 *", "UTC", "2026-01-01T00:00:00Z", ["2026-08-14T00:00:00Z"]),
    ("0 0 1W 8 *", "UTC", "2026-01-01T00:00:00Z", ["2026-08-03T00:00:00Z"]),
    ("0 0 * * 5L", "UTC", "2026-01-01T00:00:00Z",
     ["2026-01-30T00:00:00Z", "2026-02-27T00:00:00Z", "2026-03-27T00:00:00Z"]),
    ("0 0 * * 1#2", "UTC", "2026-01-01T00:00:00Z",
     ["2026-01-12T00:00:00Z", "2026-02-09T00:00:00Z", "2026-03-09T00:00:00Z"]),
    ("0 0 * * 4#5", "UTC", "2026-01-01T00:00:00Z",
     ["2026-01-29T00:00:00Z", "2026-04-30T00:00:00Z"]),
    # Europe/Berlin: spring forward 2026-03-29 02:00 CET -> 03:00 CEST.
    ("30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z",
     ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]),
    ("0,30 2 * * *", "Europe/Berlin", "2026-03-28T12:00:00Z",
     ["2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z", "2026-03-30T00:30:00Z"]),
    # One second before the change: the gap's fire is at the very next instant.
    ("30 2 * * *", "Europe/Berlin", "2026-03-29T00:59:59Z",
     ["2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"]),
    ("59 59 1 * * *", "Europe/Berlin", "2026-03-29T00:00:00Z",
     ["2026-03-29T00:59:59Z", "2026-03-29T23:59:59Z"]),
    ("59 59 1,2 * * *", "Europe/Berlin", "2026-03-29T00:00:00Z",
     ["2026-03-29T00:59:59Z", "2026-03-29T01:00:00Z", "2026-03-29T23:59:59Z"]),
    ("30 * * * *", "Europe/Berlin", "2026-03-29T00:00:00Z",
     ["2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z", "2026-03-29T02:30:00Z"]),
    # Fall back 2026-10-25 03:00 CEST -> 02:00 CET.
    ("30 2 * * *", "Europe/Berlin", "2026-10-24T12:00:00Z",
     ["2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"]),
    ("30 2 * * *", "Europe/Berlin", "2026-10-25T00:45:00Z", ["2026-10-26T01:30:00Z"]),
    ("30 * * * *", "Europe/Berlin", "2026-10-24T23:00:00Z",
     ["2026-10-24T23:30:00Z", "2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z",
      "2026-10-25T02:30:00Z"]),
    # America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.
    ("15 2 * * *", "America/New_York", "2026-03-07T12:00:00Z",
     ["2026-03-08T07:00:00Z", "2026-03-09T06:15:00Z"]),
    ("30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z",
     ["2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"]),
    # Australia/Lord_Howe (+10:30 / +11:00): 2026-10-04 02:00 -> 02:30; 2026-04-05 02:00 -> 01:30.
    ("15 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00:00Z",
     ["2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z"]),
    ("15,45 * * * *", "Australia/Lord_Howe", "2026-10-03T14:00:00Z",
     ["2026-10-03T14:15:00Z", "2026-10-03T14:45:00Z", "2026-10-03T15:15:00Z",
      "2026-10-03T15:45:00Z", "2026-10-03T16:15:00Z"]),
    ("45 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00:00Z",
     ["2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z"]),
    ("45 * * * *", "Australia/Lord_Howe", "2026-04-04T14:00:00Z",
     ["2026-04-04T14:45:00Z", "2026-04-04T15:15:00Z", "2026-04-04T16:15:00Z"]),
    # Pacific/Chatham (+12:45 / +13:45): 2026-09-27 02:45 -> 03:45 (2026-09-26T14:00Z).
    ("0 3 * * *", "Pacific/Chatham", "2026-09-26T12:00:00Z",
     ["2026-09-26T14:00:00Z", "2026-09-27T13:15:00Z"]),
    # America/Santiago: 2026-09-06 00:00 -04 -> 01:00 -03 (04:00Z): midnight is in the gap.
    ("0 0 * * *", "America/Santiago", "2026-09-05T12:00:00Z",
     ["2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z"]),
    ("0 0 * * *", "America/Santiago", "2026-09-06T03:59:59Z",
     ["2026-09-06T04:00:00Z", "2026-09-07T03:00:00Z"]),
]

# Refused: (expr, zone).
REFUSED = [
    ("60 * * * *", "UTC"), ("* 24 * * *", "UTC"), ("* * 0 * *", "UTC"), ("* * 32 * *", "UTC"),
    ("* * * 13 *", "UTC"), ("* * * * 8", "UTC"), ("* * * *", "UTC"), ("* * * * * * *", "UTC"),
    ("@reboot", "UTC"), ("*/0 * * * *", "UTC"), ("foo * * * *", "UTC"), ("* * * * 1#6", "UTC"),
    ("* * * FOO *", "UTC"), ("0 0 * * *", "Mars/Olympus_Mons"),
    # Never fire: refused at parse (cron_expression.cpp), not a nullopt from NextMatch.
    ("0 0 30 2 *", "UTC"), ("0 0 31 4,6,9,11 *", "UTC"), ("0 0 */23 * 5#3", "UTC"),
]


def check_fixed(cron_next):
    cases = [(e, z, rfc(s)) for e, z, s, _ in FIXED]
    answers = run_cron_next(cron_next, cases)
    refused = run_cron_next(cron_next, [(e, z, 0) for e, z in REFUSED])
    failures = []
    for (expr, zone, start_text, want_text), (_, _, start), ans in zip(FIXED, cases, answers):
        want = [rfc(w) for w in want_text]
        status, got = ans
        ok = status == "ok" and got[: len(want)] == want and (want or not got)
        if not ok:
            failures.append("fixed case, jobsd:\n" + describe(expr, zone, start, want, got))
        brute = brute_force(BruteCron(expr), zone, start)
        if brute[: len(want)] != want or (not want and brute):
            failures.append("fixed case, brute force (oracle bug):\n"
                            + describe(expr, zone, start, want, brute))
    for (expr, zone), (status, got) in zip(REFUSED, refused):
        if status != "error":
            failures.append("expected refusal: %r in %s, got %r" % (expr, zone, got))
    return len(FIXED) + len(REFUSED), failures


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cron-next", default="build-oracle/tests/cron_next")
    ap.add_argument("--cases", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=None)
    ap.add_argument("--jobs", type=int, default=min(4, os.cpu_count() or 1))
    ap.add_argument("--no-croniter", action="store_true", help="skip oracle (b)")
    ap.add_argument("--show", type=int, default=8, help="mismatches printed in full")
    args = ap.parse_args()
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 32)
    print("seed %d (reproduce with --seed %d --cases %d)" % (seed, seed, args.cases), flush=True)
    t0 = time.monotonic()

    for zone, _ in ZONE_WEIGHTS:
        zone_data(zone)
    rng = random.Random(seed)
    cases = gen_cases(rng, args.cases)

    n_fixed, failures = check_fixed(args.cron_next)
    answers = run_cron_next(args.cron_next, cases)

    work = [(e, z, s, not args.no_croniter) for e, z, s in cases]
    chunks = [work[i:i + 200] for i in range(0, len(work), 200)]
    with multiprocessing.get_context("fork").Pool(args.jobs) as pool:
        results = [r for part in pool.map(worker, chunks) for r in part]

    mismatches = []
    kinds = {}
    unexplained = []
    agree = 0
    plain_cases = plain_agree = 0  # no DST change in reach, syntax croniter has
    refused_never = 0
    failed_cases = set()
    for i, ((expr, tz, start), ans, (expected, cr)) in enumerate(zip(cases, answers, results)):
        cron = BruteCron(expr)
        ok, got = compare(expected, ans, cron)
        if ok and ans[0] == "error":
            refused_never += 1
        if not ok:
            mismatches.append(describe(expr, tz, start, expected, got))
            failed_cases.add(i)
        if cr is None:
            continue
        c_fires, c_error = cr
        plain = not (c_error and c_error.startswith("parse")) and not zone_data(
            tz or "UTC").has_transition(start - DAY, max(expected + [start]) + DAY)
        plain_cases += plain
        if c_fires == expected and not c_error:
            agree += 1
            plain_agree += plain
            continue
        if not expected and not c_fires and c_error and "BadDate" in c_error:
            agree += 1  # both: never (before 2037; croniter gives up after 50 years)
            plain_agree += plain
            continue
        kind = croniter_kind(expr, cron, tz or "UTC", start, expected, c_fires, c_error)
        got = c_fires if not c_error else "%s after %s" % (
            c_error[:120], [fmt(u, tz) for u in c_fires])
        if kind is None:
            unexplained.append(describe(expr, tz, start, expected, got))
            failed_cases.add(i)
            kind = "UNEXPLAINED"
        kinds.setdefault(kind, [0, None])
        kinds[kind][0] += 1
        if kinds[kind][1] is None:
            kinds[kind][1] = describe(expr, tz, start, expected, got)

    zones_hit = sum(1 for e, z, s in cases
                    if zone_data(z or "UTC").has_transition(s, s + DAY))
    print("%d random cases (%d start within a day before a DST transition), %d fixed"
          % (len(cases), zones_hit, n_fixed))
    print("%d random cases never fire: jobsd refuses them at parse, as its tests intend"
          % refused_never)
    if not args.no_croniter:
        print("\ncroniter 1.3.5 agrees with the brute force on %d of %d cases; differences:"
              % (agree, len(cases)))
        print("(on the %d cases with no DST change in reach and only syntax croniter has, it "
              "agrees on %d)" % (plain_cases, plain_agree))
        print("%-20s %7s  example" % ("kind", "count"))
        for kind, (count, example) in sorted(kinds.items(), key=lambda kv: -kv[1][0]):
            ex = example.split("\n")
            print("%-20s %7d  %s" % (kind, count, ex[0].strip()))
            for line in ex[1:]:
                print("%-20s %7s  %s" % ("", "", line.strip()))
    for text in failures:
        print("\nFAIL " + text)
    if mismatches:
        print("\nFAIL: jobsd differs from the brute force on %d cases; the first ones:"
              % len(mismatches))
        for text in mismatches[: args.show]:
            print(text)
    if unexplained:
        print("\nFAIL: croniter differs from the brute force on %d cases no documented kind "
              "explains; the first ones:" % len(unexplained))
        for text in unexplained[: args.show]:
            print(text)
    failed = len(failed_cases) + len(failures)
    passed = len(cases) + n_fixed - failed
    print("\n(%.1f s, seed %d)" % (time.monotonic() - t0, seed))
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
