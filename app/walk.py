"""The manager's walk list (今日): what to do next, in the order a walk through the village takes.

Follow-ups due or overdue come first; then the customers of the manager's territories
not yet visited this week (or since the start of a campaign running over them):
nearest first from the phone's position, in distance bands of BAND_M within which gold
customers come before mass and potential ones; without a position, village (or, in a
town, street) by village and group by group.
"""
import datetime as dt
import functools
from dataclasses import dataclass, field

import numpy as np
from peewee import Case, fn

from app import clock, geo
from app.db import chinese_order
from app.models import Campaign, CampaignTerritory, Customer, FollowUp, Holding, Product, Visit
from app.models.prepared import Prepared
from app.models.scope import manager_with_id
from app.models.territory import assigned_territory_ids
from app.models.vocabulary import TIER_RANK

BAND_M = 300          # "equal distance": a few minutes' walk
# The groups of Today's order this list has, by rank: what the phone keeps in place when it
# reorders offline (it sorts by distance inside a group only, never across groups).
GROUPS = {"overdue": 0, "due": 1, "to_visit": 6}
SHOWN = 30            # rows a page carries; the rest are counted and come on demand
MATURITY_DAYS = 30    # 到期提醒: term deposits and loans maturing within this many days
MATURITIES_SHOWN = 50
TIER_SQL = Case(Customer.tier, list(TIER_RANK.items()), len(TIER_RANK))


@dataclass
class WalkRow:
    id: int
    name: str
    tier: str
    village: str | None
    group_name: str | None
    street: str | None = None
    house_no: str | None = None
    distance_m: float | None = None
    last_visit_at: dt.datetime | None = None
    lat: float | None = None
    lng: float | None = None
    # Today's order, sent with each row so that the phone offline only sorts by distance
    # inside a group (DESIGN.md "Today's order"): the group's rank and the row's position.
    group: int = 0
    position: int = 0

    @property
    def last_visit_day(self):
        return None if self.last_visit_at is None else clock.to_local(self.last_visit_at).date()


@dataclass
class Maturity:
    """A holding of one of the manager's customers maturing soon (到期提醒)."""
    customer_id: int
    name: str
    tier: str
    product: str
    product_kind: str
    matures_on: dt.date
    amount_wan: float | None


@dataclass
class WalkList:
    follow_ups: list = field(default_factory=list)
    maturities: list = field(default_factory=list)
    customers: list = field(default_factory=list)
    remaining: int = 0
    offset: int = 0
    since: dt.date | None = None
    campaign: str | None = None
    day: dt.date | None = None


def window_start(user, day=None):
    """Monday of this week, or the start of a campaign running over the user's territories."""
    day = day or clock.today()
    monday, _ = clock.week_bounds(day)
    campaign = _CAMPAIGN.one(user_id=user.id, day=day)
    if campaign is not None and campaign.starts_on < monday:
        return campaign.starts_on, campaign.name
    return monday, None


def walk_list(user, here=None, day=None, offset=0):
    """A manager's Today list; here is (lat, lng) of the phone, or None.

    customers holds SHOWN rows from offset in walking order; remaining counts them all.
    Every query's SQL is built once (the Prepared ones below): this is the page managers
    open all day, and peewee's building cost more than SQLite's running.
    """
    if user.role != "manager":
        raise ValueError("the walk list is a manager's")
    day = day or clock.today()
    since, campaign = window_start(user, day)
    result = WalkList(since=since, campaign=campaign, day=day, offset=offset)
    page = slice(offset, offset + SHOWN)

    result.follow_ups = [_follow_up(row) for row in _FOLLOW_UPS(user_id=user.id, day=day)]
    if not offset:  # the first page only: "more" brings walk rows, not reminders again
        result.maturities = maturities(user, day)
    for position, follow in enumerate(result.follow_ups):
        follow.group = GROUPS["overdue" if follow.due_on < day else "due"]
        follow.position = position

    # Thousands of rows are ordered to show thirty: with a position, on numbers (id, tier
    # rank, lat, lng) in numpy; without, by SQLite's top-N sort on village and group.
    # Names are read for the thirty shown.
    if here is not None:
        # This week's visits are few beside a bank's history: read them through
        # visit(made_at) once rather than probing the history customer by customer.
        skip = {f.customer_id for f in result.follow_ups}
        skip.update(cid for (cid,) in _VISITED.cursor(since=clock.local_day_start_utc(since)))
        rows = np.array(_BY_DISTANCE.cursor(user_id=user.id, day=day).fetchall(),
                        dtype=float).reshape(-1, 4)  # None → NaN
        rows = rows[~np.isin(rows[:, 0], np.fromiter(skip, dtype=float, count=len(skip)))]
        result.remaining = len(rows)
        distances = np.asarray(geo.distance_m(here[1], here[0], rows[:, 3], rows[:, 2]), dtype=float)
        unknown = np.isnan(distances)
        bands = np.where(unknown, 0, np.floor(np.nan_to_num(distances) / BAND_M))
        # The last key sorts first: position known, then band, then tier, then distance.
        order = np.lexsort((np.nan_to_num(distances), rows[:, 1], bands, unknown))[page]
        chosen = [(int(rows[i, 0]), None if unknown[i] else float(distances[i])) for i in order]
    else:
        values = dict(user_id=user.id, day=day, since=clock.local_day_start_utc(since))
        chosen = [(cid, None) for (cid,) in _by_village(SHOWN).cursor(offset=offset, **values)]
        (result.remaining,) = _NOT_YET.cursor(**values).fetchone()

    # One query for the page, its ids in SHOWN fixed slots (0 names no customer).
    ids = [cid for cid, _ in chosen] + [0] * (SHOWN - len(chosen))
    details = {r[0]: r for r in _page(SHOWN)(**{f"id{i}": cid for i, cid in enumerate(ids)})} if chosen else {}
    first = len(result.follow_ups) + offset
    result.customers = [WalkRow(*details[cid][:5], distance_m=d, last_visit_at=_moment(details[cid][5]),
                                street=details[cid][6], house_no=details[cid][7], lat=details[cid][8],
                                lng=details[cid][9], group=GROUPS["to_visit"], position=first + n)
                        for n, (cid, d) in enumerate(chosen)]
    return result


_LAST_VISIT = (Visit.select(fn.MAX(Visit.made_at)).where(Visit.customer == Customer.id))


# --- Today's queries, each built once (a manager's scope with the user id a parameter) ------

def _in_scope(p):
    return Customer.scope(manager_with_id(p.user_id), p.day)


def _to_visit(p, *columns):
    return Customer.select(*columns).where(_in_scope(p), Customer.status == "active", Customer.consent)


def _not_yet(p, *columns):
    planned = FollowUp.select(FollowUp.customer).where(
        (FollowUp.user == p.user_id) & FollowUp.done_at.is_null() & (FollowUp.due_on <= p.day))
    return (_to_visit(p, *columns)
            .where(Customer.id.not_in(Visit.select(Visit.customer).where(Visit.made_at >= p.since)),
                   Customer.id.not_in(planned)))


_CAMPAIGN = Prepared(
    "walk_campaign",
    lambda p: (Campaign.select(Campaign.name, Campaign.starts_on)
               .join(CampaignTerritory)
               .where(CampaignTerritory.territory.in_(assigned_territory_ids(manager_with_id(p.user_id), p.day)),
                      Campaign.starts_on <= p.day, Campaign.ends_on >= p.day)
               .order_by(Campaign.starts_on).limit(1)))

_FOLLOW_UPS = Prepared(
    "walk_follow_ups",
    lambda p: (FollowUp.select(FollowUp.id, FollowUp.due_on, FollowUp.reason, Customer.id,
                               Customer.name, Customer.tier, _LAST_VISIT, Customer.lat, Customer.lng)
               .join(Customer)
               .where((FollowUp.user == p.user_id) & FollowUp.done_at.is_null()
                      & (FollowUp.due_on <= p.day) & _in_scope(p))
               .order_by(FollowUp.due_on, chinese_order(Customer.name))))

_VISITED = Prepared("walk_visited", lambda p: Visit.select(Visit.customer).where(Visit.made_at >= p.since))

_BY_DISTANCE = Prepared("walk_by_distance", lambda p: _to_visit(p, Customer.id, TIER_SQL, Customer.lat, Customer.lng))

# Plain columns as sort keys: SQLite's sorter took twice as long on computed ones
# (COALESCE, NULLIF), and a window count doubled it again. A town's customers have
# a street instead of a village: villages first, then streets, the placeless last.
@functools.cache
def _by_village(shown):
    return Prepared(f"walk_by_village:{shown}", lambda p: (
        _not_yet(p, Customer.id)
        .order_by(Customer.village.is_null(), Customer.village, Customer.street.is_null(),
                  Customer.street, Customer.group_name.is_null(), Customer.group_name,
                  TIER_SQL, Customer.name, Customer.id)
        .limit(shown).offset(p.offset)))

_NOT_YET = Prepared("walk_not_yet", lambda p: _not_yet(p, fn.COUNT(Customer.id)))

# A page of `shown` rows: its ids in that many fixed slots, so one SQL text serves every page.
@functools.cache
def _page(shown):
    return Prepared(f"walk_page:{shown}", lambda p: (
        Customer.select(Customer.id, Customer.name, Customer.tier, Customer.village,
                        Customer.group_name, _LAST_VISIT, Customer.street, Customer.house_no,
                        Customer.lat, Customer.lng)
        .where(Customer.id.in_([p[f"id{i}"] for i in range(shown)]))))


def maturities(user, day=None):
    """到期提醒: term deposits and loans of the manager's customers (present, consenting)
    maturing from day to MATURITY_DAYS after it, soonest first; at most MATURITIES_SHOWN."""
    day = day or clock.today()
    return [Maturity(*row[:5], matures_on=Holding.matures_on.python_value(row[5]), amount_wan=row[6])
            for row in _MATURITIES(user_id=user.id, day=day, until=day + dt.timedelta(days=MATURITY_DAYS))]


# One query from the manager's customers to their holdings through holding(customer_id,
# matures_on): a few hundred customers probed, whatever the bank's size.
_MATURITIES = Prepared(
    "walk_maturities",
    lambda p: (Holding.select(Customer.id, Customer.name, Customer.tier, Product.name, Product.kind,
                              Holding.matures_on, Holding.amount_wan)
               .join(Customer).switch(Holding).join(Product)
               .where(_in_scope(p), Customer.status == "active", Customer.consent,
                      Holding.matures_on >= p.day, Holding.matures_on <= p.until)
               .order_by(Holding.matures_on, Customer.name, Holding.id).limit(MATURITIES_SHOWN)))


def _moment(value):
    """A timestamp as peewee reads it (SQLite hands MAX() back as text)."""
    return Visit.made_at.python_value(value)


def _follow_up(row):
    follow_up_id, due_on, reason, customer_id, name, tier, last_visit_at, lat, lng = row
    customer = Customer(id=customer_id, name=name, tier=tier, lat=lat, lng=lng)
    customer.last_visit_at = _moment(last_visit_at)
    follow_up = FollowUp(id=follow_up_id, due_on=FollowUp.due_on.python_value(due_on), reason=reason)
    follow_up.customer = customer
    return follow_up
