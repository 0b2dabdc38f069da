"""What every part of the demo county shares: its names, seed-drawn choices, and the past.

Kept apart from the package's `__init__` so that the parts import this, never the package.
"""
import bisect
import datetime as dt
import itertools
import math
import uuid
from contextlib import contextmanager

from app import clock
from app.passwords import DEMO_PASSWORD as PASSWORD  # noqa: F401 (the demo's parts import it from here)
BANK_NAME = "黔北县农村商业银行"
COUNTY = "黔北县"
SEAT_LNG, SEAT_LAT = 107.6, 28.9  # the county seat

GRID = 1e-6  # stored coordinates have 6 decimals (about 0.1 m)

# Branches, and for each the zones as (zone name, township, stem of the seat village).
BRANCHES = [
    ("城关支行", "QB01", [("城东片区", "城关镇", None), ("城西片区", "城关镇", None),
                         ("城郊片区", "城关镇", None)]),
    ("茶山支行", "QB02", [("茶山片区", "茶山镇", "茶山"), ("龙井片区", "龙井乡", "龙井"),
                         ("桃源片区", "桃源乡", "桃源")]),
    ("河坝支行", "QB03", [("河坝片区", "河坝镇", "河坝"), ("洛龙片区", "洛龙镇", "洛龙"),
                         ("三江片区", "三江镇", "三江")]),
    ("高坪支行", "QB04", [("高坪片区", "高坪镇", "高坪"), ("隆兴片区", "隆兴镇", "隆兴"),
                         ("旧城片区", "旧城镇", "旧城")]),
]


class Weighted:
    """A fixed weighted choice; random.choices re-adds the weights on every call."""

    def __init__(self, weights):
        self.options = list(weights)
        self.cum = list(itertools.accumulate(weights.values()))

    def pick(self, rng):
        return self.options[bisect.bisect(self.cum, rng.random() * self.cum[-1])]


def lognormal(rng, median, sigma, low, high):
    return min(high, max(low, rng.lognormvariate(math.log(median), sigma)))


def money(x):
    return round(x, 2)


def uuid_from(rng):
    """A UUID drawn from the seed, so the same seed writes the same leads and visits."""
    return uuid.UUID(int=rng.getrandbits(128), version=4)


@contextmanager
def in_the_past(days_ago):
    """Write through the app's own functions as of days_ago.

    The demo's eight weeks of leads go through Lead.capture and Lead.move like any
    manager's, and those stamp the clock's time; so the clock is moved, and always
    put back.
    """
    delta = dt.timedelta(days=days_ago)
    clock.travel(-delta)
    try:
        yield
    finally:
        clock.travel(delta)
