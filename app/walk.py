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
from peewee import fn

from app import clock, geo
from app.db import database
from app.models import Campaign, CampaignTerritory, Customer, FollowUp, Visit
from app.models.scope import assigned_territory_ids, customer_scope

BAND_M = 300          # "equal distance": a few minutes' walk
SHOWN = 30            # rows a page carries; the rest are counted and come on demand
TIER_RANK = {"gold": 0, "mass": 1, "potential": 2}


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
        FollowUp.select(FollowUp, Customer).join(Customer)
        .where((FollowUp.user == user.id) & FollowUp.done_at.is_null() & (FollowUp.due_on <= day)
               & customer_scope(user))
        .order_by(FollowUp.due_on, Customer.name))
    planned = {f.customer_id for f in result.follow_ups}

    # This week's visits are few beside a bank's history: read them through visit(made_at)
    # once rather than probing the history customer by customer.
    # Straight to the driver: peewee's per-value conversion of thousands of rows costs
    # more than the query, and these columns need none.
    visited = {cid for (cid,) in _raw(Visit.select(Visit.customer).where(
        Visit.made_at >= clock.local_day_start_utc(since)))}
    rows = _raw(Customer.select(Customer.id, Customer.name, Customer.tier, Customer.village,
                                Customer.group_name, Customer.lat, Customer.lng)
                .where(customer_scope(user), Customer.status == "active", Customer.consent))
    skip = visited | planned
    rows = [r for r in rows if r[0] not in skip]
    result.remaining = len(rows)
    if here is not None and rows:
        lats = np.array([np.nan if r[5] is None else r[5] for r in rows], dtype=float)
        lngs = np.array([np.nan if r[6] is None else r[6] for r in rows], dtype=float)
        distances = np.asarray(geo.distance_m(here[1], here[0], lngs, lats), dtype=float)
        unknown = np.isnan(distances)
        bands = np.where(unknown, 0, np.floor(np.nan_to_num(distances) / BAND_M))
        ranks = np.array([TIER_RANK.get(r[2], 3) for r in rows])
        # The last key sorts first: position known, then band, then tier, then distance.
        order = np.lexsort((np.nan_to_num(distances), ranks, bands, unknown))[page]
        chosen = [(rows[i], None if unknown[i] else float(distances[i])) for i in order]
    else:
        rows.sort(key=lambda r: (r[3] or "\uffff", r[4] or "\uffff", TIER_RANK.get(r[2], 3), r[1]))
        chosen = [(r, None) for r in rows[page]]
    result.customers = [WalkRow(r[0], r[1], r[2], r[3], r[4], d) for r, d in chosen]
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
