"""The benchmarks' business clock: a Wednesday afternoon in Asia/Shanghai, whatever the day.

Today's server time depends on the hour and weekday (on a Monday before dawn "this week"
holds no visits yet: 10 ms at 100k/1M against 45 ms mid-week), so every bench reads the
same moment. The runner (`python -m tests.bench`) pins its own clock at MOMENT before any
module runs; fixtures are built relative to it (their cache names carry MOMENT); a server
it starts gets `env()`, and a load generator that stamps check-ins itself adds
`shift_seconds()` to the wall clock. `ZRT_CLOCK_AT=<ISO moment> make bench` picks another moment.
"""
import datetime as dt
import os

from app import clock

MOMENT = os.environ.get("ZRT_CLOCK_AT") or "2026-11-25T15:00+08:00"


def pin():
    """Pin this process's business clock at MOMENT (ZRT_CLOCK_AT, when set, pinned it at import)."""
    if not os.environ.get("ZRT_CLOCK_AT"):
        clock.pin(MOMENT)


def env():
    """Environment for a child process (a gunicorn server) whose clock must read what ours reads now."""
    return {"ZRT_CLOCK_AT": clock.now().replace(tzinfo=dt.UTC).isoformat()}


def shift_seconds():
    """How far the business clock stands from the wall clock, for a child that stamps times itself."""
    return (clock.now() - dt.datetime.now(dt.UTC).replace(tzinfo=None)).total_seconds()
