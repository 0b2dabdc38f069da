"""Business time: timestamps are stored in UTC, business dates are in Asia/Shanghai.

Tests move the clock with `travel()` instead of waiting.
"""
import datetime as dt
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Shanghai")
_offset = dt.timedelta(0)


def now():
    """The current moment as a naive UTC datetime (how timestamps are stored)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None) + _offset


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


def travel(delta):
    """Move the clock by delta (tests only)."""
    global _offset
    _offset += delta


def reset():
    global _offset
    _offset = dt.timedelta(0)
