"""The manager's walk list (今日): what to do next, in the order a walk through the village takes.

Follow-ups due or overdue come first; then the customers of the manager's territories
not yet visited this week (or since the start of a campaign running over them):
nearest first from the phone's position, in distance bands of BAND_M within which gold
customers come before mass and potential ones; without a position, village by village
and group by group.
"""
import datetime as dt
from dataclasses import dataclass, field

import numpy as np
from peewee import Case, fn

from app import clock, geo
from app.db import database
from app.models import Campaign, CampaignTerritory, Customer, FollowUp, Visit
from app.models.scope import assigned_territory_ids, customer_scope

BAND_M = 300          # "equal distance": a few minutes' walk
SHOWN = 30            # rows a page carries; the rest are counted and come on demand
TIER_RANK = {"gold": 0, "mass": 1, "potential": 2}
TIER_SQL = Case(Customer.tier, list(TIER_RANK.items()), len(TIER_RANK))


@dataclass
class WalkRow:
    id: int
    name: str
    tier: str
    village: str | None
    group_name: str | None
    distance_m: float | None = None
    last_visit_at: dt.datetime | None = None

    @property
    def last_visit_day(self):
        return None if self.last_visit_at is None else clock.to_local(self.last_visit_at).date()


@dataclass
class WalkList:
    follow_ups: list = field(default_factory=list)
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
    campaign = (Campaign.select(Campaign.name, Campaign.starts_on)
                .join(CampaignTerritory)
                .where(CampaignTerritory.territory.in_(assigned_territory_ids(user, day)),
                       Campaign.starts_on <= day, Campaign.ends_on >= day)
                .order_by(Campaign.starts_on).first())
    if campaign is not None and campaign.starts_on < monday:
        return campaign.starts_on, campaign.name
    return monday, None


def walk_list(user, here=None, day=None, offset=0):
    """The Today page's list for a manager; here is (lat, lng) of the phone, or None.

    customers holds SHOWN rows from offset in walking order; remaining counts them all.
    """
    day = day or clock.today()
    since, campaign = window_start(user, day)
    result = WalkList(since=since, campaign=campaign, day=day, offset=offset)
    page = slice(offset, offset + SHOWN)
    result.follow_ups = list(
        FollowUp.select(FollowUp.id, FollowUp.customer, FollowUp.due_on, FollowUp.reason,
                        Customer.id, Customer.name, Customer.tier)
        .join(Customer)
        .where((FollowUp.user == user.id) & FollowUp.done_at.is_null() & (FollowUp.due_on <= day)
               & customer_scope(user))
        .order_by(FollowUp.due_on, Customer.name))
    skip = {f.customer_id for f in result.follow_ups}
    # This week's visits are few beside a bank's history: read them through visit(made_at)
    # once rather than probing the history customer by customer.
    skip.update(cid for (cid,) in _raw(Visit.select(Visit.customer).where(
        Visit.made_at >= clock.local_day_start_utc(since))))
    to_visit = Customer.select().where(customer_scope(user), Customer.status == "active", Customer.consent)
    # Thousands of rows are ordered to show thirty: order them on numbers (and, without a
    # position, on village and group), then read names for the thirty shown.
    if here is not None:
        rows = np.array(_raw(to_visit.select(Customer.id, TIER_SQL, Customer.lat, Customer.lng)),
                        dtype=float).reshape(-1, 4)  # None reads as NaN
        rows = rows[~np.isin(rows[:, 0], np.fromiter(skip, dtype=float, count=len(skip)))]
        result.remaining = len(rows)
        distances = np.asarray(geo.distance_m(here[1], here[0], rows[:, 3], rows[:, 2]), dtype=float)
        unknown = np.isnan(distances)
        bands = np.where(unknown, 0, np.floor(np.nan_to_num(distances) / BAND_M))
        # The last key sorts first: position known, then band, then tier, then distance.
        order = np.lexsort((np.nan_to_num(distances), rows[:, 1], bands, unknown))[page]
        chosen = [(int(rows[i, 0]), None if unknown[i] else float(distances[i])) for i in order]
    else:
        rows = [r for r in _raw(to_visit.select(Customer.id, Customer.village, Customer.group_name,
                                                TIER_SQL, Customer.name))
                if r[0] not in skip]
        result.remaining = len(rows)
        rows.sort(key=lambda r: (r[1] or "\uffff", r[2] or "\uffff", r[3], r[4]))
        chosen = [(r[0], None) for r in rows[page]]
    details = {r[0]: r for r in _raw(Customer.select(
        Customer.id, Customer.name, Customer.tier, Customer.village, Customer.group_name)
        .where(Customer.id.in_([cid for cid, _ in chosen])))} if chosen else {}
    result.customers = [WalkRow(*details[cid], distance_m=d) for cid, d in chosen]
    _last_visits(result.customers + [f.customer for f in result.follow_ups])
    return result


def _raw(query):
    return database.execute_sql(*query.sql()).fetchall()


def _last_visits(items):
    """Fill each row's last_visit_at with one grouped query over the rows shown."""
    ids = [item.id for item in items]
    if not ids:
        return
    last = dict(Visit.select(Visit.customer, fn.MAX(Visit.made_at))
                .where(Visit.customer.in_(ids)).group_by(Visit.customer).tuples())
    for item in items:
        value = last.get(item.id)
        if isinstance(value, str):  # SQLite hands MAX() back as text
            value = dt.datetime.fromisoformat(value)
        item.last_visit_at = value
