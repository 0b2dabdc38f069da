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


# --- Which products fit which customers (the demo sells as a county bank would) -------------

LENDABLE = ("AAA", "AA", "A", "B")  # a household is lent to after its rating, never at C
LOANS = ("农户小额信用贷款", "农商e贷", "创业担保贷款")
# Each product's customers by kind: no 社保代缴 for a firm, no household micro-loan for a shop;
# shops take payments (收款码, POS); a firm uses 企业网银 rather than the personal 黔农云.
FOR_KINDS = {
    "节节高": ("household", "merchant"), "月月红": ("household",),
    "定期存款": ("household", "merchant", "enterprise"),
    "农户小额信用贷款": ("household",), "农商e贷": ("household", "merchant"),
    "创业担保贷款": ("household", "merchant"),
    "黔农云": ("household", "merchant"), "企业网银": ("enterprise",),
    "社保代缴": ("household",), "医保代缴": ("household",),
    "收款码": ("merchant",), "POS收单": ("merchant", "enterprise"),
}
TERMS_MONTHS = {"节节高": (12, 24, 36), "月月红": (12, 36), "定期存款": (3, 6, 12, 24, 36, 60),
                "农户小额信用贷款": (12, 36), "农商e贷": (12,), "创业担保贷款": (24, 36)}


def fits(product_name, kind, rating):
    """Whether the demo may sell product_name to a customer of this kind and rating: a
    household borrows only once rated (whole-village rating, 整村授信), and never at C."""
    if kind not in FOR_KINDS.get(product_name, ()):
        return False
    return not (product_name in LOANS and kind == "household" and rating not in LENDABLE)


def add_months(day, months):
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return day.replace(year=year, month=month, day=min(day.day, 28))


def holiday(day):
    """The National Day holiday (国庆, October 1–7): no field work is done in it."""
    return day.month == 10 and day.day <= 7
