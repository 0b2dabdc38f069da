"""The business clock: tests and benchmarks pin it, so nothing depends on the day the suite runs."""
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from app import clock
from tests.conftest import BUSINESS_MOMENT

ROOT = Path(__file__).resolve().parents[1]


def test_every_test_starts_on_a_wednesday_afternoon_in_shanghai(business_clock):
    assert business_clock is clock
    assert clock.today() == dt.date(2026, 11, 25) and clock.today().weekday() == 2
    assert 15 <= clock.local_now().hour < 18  # it runs on from 15:00, as a real afternoon would
    assert clock.parse_moment(BUSINESS_MOMENT) <= clock.now() < dt.datetime(2026, 11, 25, 10, 0)


def test_a_pin_runs_on_and_travel_moves_it():
    clock.pin("2026-11-30T00:30+08:00")  # a Monday just after midnight in Shanghai
    first = clock.now()
    assert first >= dt.datetime(2026, 11, 29, 16, 30) and clock.today() == dt.date(2026, 11, 30)
    assert clock.now() >= first  # later readings never go back
    assert clock.week_bounds() == (dt.date(2026, 11, 30), dt.date(2026, 12, 6))
    clock.travel(dt.timedelta(minutes=-31))
    assert clock.today() == dt.date(2026, 11, 29)  # Sunday: last week
    clock.reset()
    assert clock.today() == dt.date(2026, 11, 30)  # reset drops the travel, not the pin


def test_a_frozen_pin_stands_still_and_naive_moments_are_business_time():
    clock.pin("2026-11-29 23:50", frozen=True)
    assert clock.now() == clock.now() == dt.datetime(2026, 11, 29, 15, 50)
    clock.pin(dt.datetime(2026, 11, 25, 7, 0))  # a naive datetime is UTC, as stored
    assert clock.local_now().hour == 15


def test_unpinned_it_is_the_wall_clock_and_restore_brings_a_pin_back():
    saved = clock.state()
    clock.unpin()
    wall = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    assert abs(clock.now() - wall) < dt.timedelta(seconds=5)
    clock.restore(saved)
    assert clock.today() == dt.date(2026, 11, 25)


def test_a_process_started_with_ZRT_CLOCK_AT_is_pinned_there():
    code = "from app import clock; print(clock.now().isoformat(), clock.today())"
    env = {**os.environ, "ZRT_CLOCK_AT": "2026-11-25T15:00+08:00"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    assert out[0].startswith("2026-11-25T07:00:0") and out[1] == "2026-11-25"
    env.pop("ZRT_CLOCK_AT")  # unset: the wall clock
    wall = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.split()
    assert abs(dt.datetime.fromisoformat(out[0]) - wall) < dt.timedelta(minutes=1)
