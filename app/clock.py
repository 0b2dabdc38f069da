"""Business time: timestamps are stored in UTC, business dates are in Asia/Shanghai.

Tests and benchmarks never read the wall clock for business time: they pin it.
`pin(at)` sets the moment the clock reads now; from there it runs on at real speed
(so timestamps written one after the other still come in order), or stands still
with `frozen=True`. `travel(delta)` moves it forward or back on top of a pin.
`reset()` takes the travel away and keeps the pin; `unpin()` goes back to the wall clock.

A process started with `ZRT_CLOCK_AT` set (an ISO 8601 moment with its offset, e.g.
`ZRT_CLOCK_AT=2026-11-25T15:00+08:00`) is pinned there at import: the benchmarks run
their servers so. Unset (the normal case), the clock is the wall clock.
"""
import datetime as dt
import os
import time
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
_offset = dt.timedelta(0)
_pin = None  # (naive UTC moment, time.monotonic() when pinned, frozen) or None for the wall clock


def now():
    """The current moment as a naive UTC datetime (how timestamps are stored)."""
    if _pin is None:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None) + _offset
    at, since, frozen = _pin
    if frozen:
        return at + _offset
    return at + dt.timedelta(seconds=time.monotonic() - since) + _offset


def local_now():
    return now().replace(tzinfo=dt.UTC).astimezone(BUSINESS_TZ)


def today():
    """Today's business date in Asia/Shanghai, whatever the server's zone."""
    return local_now().date()


def to_local(utc_naive):
    return utc_naive.replace(tzinfo=dt.UTC).astimezone(BUSINESS_TZ)


def week_bounds(day=None):
    """Monday and Sunday of the ISO week holding day."""
    day = day or today()
    monday = day - dt.timedelta(days=day.weekday())
    return monday, monday + dt.timedelta(days=6)


def local_day_start_utc(day):
    """The UTC moment a business day begins."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=BUSINESS_TZ)
    return start.astimezone(dt.UTC).replace(tzinfo=None)


def parse_moment(text):
    """An ISO 8601 moment as a naive UTC datetime; one without an offset is business time."""
    moment = dt.datetime.fromisoformat(text.strip())
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=BUSINESS_TZ)
    return moment.astimezone(dt.UTC).replace(tzinfo=None)


def pin(at, frozen=False):
    """Make the clock read `at` now (tests and benchmarks only), and drop any travel.

    `at` is an aware datetime, a naive UTC one, or ISO 8601 text (see parse_moment).
    The clock runs on from there at real speed, or stands still when `frozen`.
    """
    global _pin, _offset
    if isinstance(at, str):
        at = parse_moment(at)
    elif at.tzinfo is not None:
        at = at.astimezone(dt.UTC).replace(tzinfo=None)
    _pin = (at, time.monotonic(), frozen)
    _offset = dt.timedelta(0)


def unpin():
    """Back to the wall clock, with no travel."""
    global _pin, _offset
    _pin = None
    _offset = dt.timedelta(0)


def state():
    """The clock's whole setting, for `restore` (a fixture that lends the clock out)."""
    return _pin, _offset


def restore(saved):
    global _pin, _offset
    _pin, _offset = saved


def travel(delta):
    """Move the clock by delta (tests only)."""
    global _offset
    _offset += delta


def reset():
    """Take away any travel; a pin stays."""
    global _offset
    _offset = dt.timedelta(0)


if os.environ.get("ZRT_CLOCK_AT"):
    pin(os.environ["ZRT_CLOCK_AT"])
