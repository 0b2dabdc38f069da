"""The manager's walk list (今日): what to do next, in DESIGN.md's "Today's order".

Every row of Today belongs to one group of that order, by rank (GROUPS): follow-ups
overdue, then due today; customers a team lead handed over; money alerts (a holding
maturing soon, 到期提醒); customers past their tier's contact rhythm (gold, then mass,
then potential); never visited in a campaign running over their territory; never
visited at all; the rest not yet visited this week (or since the campaign began). A
customer in several groups is shown once, in the first. Inside a group: nearest first
from the phone's position, in distance bands of BAND_M within which gold customers come
before mass and potential ones; without a position, village (or, in a town, street) by
village, group by group, house by house. Each row carries its group and position, so a
phone offline only sorts by distance inside a group (static/js/today.js).
"""
import datetime as dt
import functools
from dataclasses import dataclass, field

import numpy as np
from flask_babel import lazy_gettext as _l
from peewee import Case, fn

from app import clock, geo
from app.db import KeptPerDatabase, chinese_order
from app.models import (Campaign, CampaignTerritory, Customer, FollowUp, Holding, Product, Territory,
                        Visit)
from app.models.prepared import Prepared
from app.models.scope import manager_with_id
from app.models.setting import for_branch
from app.models.team import handed_for_today
from app.models.territory import assigned_territory_ids
from app.models.vocabulary import TIER_RANK, TIERS

BAND_M = 300          # "equal distance": a few minutes' walk
# The groups of Today's order, by rank: what the phone keeps in place when it reorders
# offline (it sorts by distance inside a group only, never across groups). "Past the
# rhythm, gold first" is three ranks, so that the phone keeps gold first too.
GROUPS = {"overdue": 0, "due": 1, "handed": 2, "alert": 3,
          "rhythm_gold": 4, "rhythm_mass": 5, "rhythm_potential": 6,
          "campaign": 7, "never": 8, "rest": 9}
# What the manager reads on each row: why it is on today's list.
REASONS = {"overdue": _l("Overdue follow-up"), "due": _l("Follow-up due today"),
           "handed": _l("Handed over by your team lead"), "alert": _l("Maturing soon"),
           "rhythm_gold": _l("Past its contact rhythm"), "rhythm_mass": _l("Past its contact rhythm"),
           "rhythm_potential": _l("Past its contact rhythm"), "campaign": _l("Not yet visited in the campaign"),
           "never": _l("Never visited"), "rest": _l("Not yet visited this week")}
RHYTHMS = {"gold": "gold_rhythm_days", "mass": "mass_rhythm_days", "potential": "potential_rhythm_days"}
WALK_FROM = GROUPS["rhythm_gold"]  # the ranks of the paged walk list ("待走访")
SHOWN = 30            # rows a page carries; the rest are counted and come on demand
MATURITY_DAYS = 30    # 到期提醒: term deposits and loans maturing within this many days
MATURITIES_SHOWN = 50
TIER_SQL = Case(Customer.tier, list(TIER_RANK.items()), len(TIER_RANK))


def reasons():
    """{rank: the reason as the manager reads it}, translated once (a page has dozens of rows)."""
    return {rank: str(REASONS[name]) for name, rank in GROUPS.items()}


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
class AlertRow:
    """Today's money-alert group: one customer with its holdings maturing soon, soonest first."""
    customer_id: int
    name: str
    tier: str
    holdings: list
    group: int = GROUPS["alert"]
    position: int = 0


@dataclass
class WalkList:
    follow_ups: list = field(default_factory=list)
    handed: list = field(default_factory=list)
    maturities: list = field(default_factory=list)
    alerts: list = field(default_factory=list)
    customers: list = field(default_factory=list)
    remaining: int = 0
    offset: int = 0
    since: dt.date | None = None
    campaign: str | None = None
    day: dt.date | None = None

    @property
    def first_rows(self):
        """The rows above the paged walk list, in order: follow-ups, handed, alerts."""
        return [*self.follow_ups, *self.handed, *self.alerts]


def window_start(user, day=None):
    """Monday of this week, or the start of a campaign running over the user's territories."""
    day = day or clock.today()
    monday, _ = clock.week_bounds(day)
    campaign = _CAMPAIGN.one(user_id=user.id, day=day)
    if campaign is not None and campaign.starts_on < monday:
        return campaign.starts_on, campaign.name
    return monday, None


def rhythm_starts(user, day):
    """{tier: UTC moment}: a customer of that tier with no visit since is past its rhythm
    (the bank's gold_rhythm_days, mass_rhythm_days, potential_rhythm_days)."""
    days = for_branch(user.branch_id, tuple(RHYTHMS.values()))
    end = day + dt.timedelta(days=1)
    return {tier: clock.local_day_start_utc(end - dt.timedelta(days=days[key])) for tier, key in RHYTHMS.items()}


def walk_list(user, here=None, day=None, offset=0, limit=None):
    """A manager's Today list; here is (lat, lng) of the phone, or None.

    follow_ups, handed and alerts are Today's first groups, whole; customers holds `limit`
    (SHOWN) rows of the rest from offset, in walking order; remaining counts them all.
    Every query's SQL is built once (the Prepared ones below): this is the page managers
    open all day, and peewee's building cost more than SQLite's running.
    """
    if user.role != "manager":
        raise ValueError("the walk list is a manager's")
    day = day or clock.today()
    limit = SHOWN if limit is None else limit
    since, campaign = window_start(user, day)
    result = WalkList(since=since, campaign=campaign, day=day, offset=offset)
    seen = set()

    # Follow-ups due: one row a customer (the earliest due), overdue first.
    handed = handed_for_today(user)
    # A follow-up the team lead reassigned, or of a customer handed over, says from whom.
    handed_by = {("f", h.follow_up_id) if h.follow_up_id else ("c", h.customer_id): h.sent_by for h in handed}
    for follow in (_follow_up(row) for row in _FOLLOW_UPS(user_id=user.id, day=day)):
        if follow.customer.id in seen:
            continue
        seen.add(follow.customer.id)
        follow.group = GROUPS["overdue" if follow.due_on < day else "due"]
        follow.sent_by = handed_by.get(("f", follow.id)) or handed_by.get(("c", follow.customer.id))
        result.follow_ups.append(follow)
    # What a team lead handed over (customers for today, follow-ups reassigned not yet due).
    for row in handed:
        if row.customer_id not in seen:
            seen.add(row.customer_id)
            row.group = GROUPS["handed"]
            result.handed.append(row)
    # Money alerts: holdings maturing soon, one row a customer.
    result.maturities = maturities(user, day)
    by_customer = {}
    for m in result.maturities:
        if m.customer_id in seen:
            continue
        if m.customer_id not in by_customer:
            by_customer[m.customer_id] = AlertRow(m.customer_id, m.name, m.tier, [])
            result.alerts.append(by_customer[m.customer_id])
        by_customer[m.customer_id].holdings.append(m)
    seen.update(by_customer)
    for position, row in enumerate(result.first_rows):
        row.position = position

    # The walk list: thousands of rows ordered to show thirty, on numbers (id, tier rank,
    # lat, lng, group) in numpy, or without a position on the place (village, group; a
    # town's street and house number), group first. The columns come from the customer
    # table's covering index; names and the rest are read for the rows shown.
    found = [row for row in _CANDIDATES.cursor(user_id=user.id, day=day) if row[0] not in seen]
    rows = np.array(found, dtype=float).reshape(-1, 5)  # None → NaN
    # The last visit that counts as contact: none → never visited; this week (or since the
    # campaign began) → not on the list; before the tier's rhythm → past it; else the rest.
    contacts = last_contacts(user, day)
    if any(row[0] not in contacts for row in found):  # a customer new to the scope today
        contacts = last_contacts(user, day, fresh=True)
    kept = [contacts[row[0]] for row in found]
    last = np.array([k[1] for k in kept], dtype="datetime64[us]").reshape(-1)
    starts = rhythm_starts(user, day)
    bound = np.array([np.datetime64(starts[tier]) for tier in TIERS], dtype="datetime64[us]")
    tier = rows[:, 1].astype(int)
    groups = np.where(np.isnat(last), GROUPS["never"],
                      np.where(last >= bound[tier], GROUPS["rest"], GROUPS["rhythm_gold"] + tier)).astype(float)
    campaign_areas = [tid for (tid,) in _CAMPAIGN_AREAS.cursor(user_id=user.id, day=day)]
    if campaign_areas:
        groups[np.isin(rows[:, 4], campaign_areas) & (groups >= GROUPS["never"])] = GROUPS["campaign"]
    keep = np.isnat(last) | (last < np.datetime64(clock.local_day_start_utc(since)))
    rows, groups = rows[keep], groups[keep]
    place = np.array([k[0] for k in kept], dtype=float).reshape(-1)[keep]
    result.remaining = len(rows)
    page = slice(offset, offset + limit)
    if here is not None:
        distances = np.asarray(geo.distance_m(here[1], here[0], rows[:, 3], rows[:, 2]), dtype=float)
        unknown = np.isnan(distances)
        bands = np.where(unknown, 0, np.floor(np.nan_to_num(distances) / BAND_M))
        # The last key sorts first: group, position known, then band, then tier, then distance.
        order = np.lexsort((np.nan_to_num(distances), rows[:, 1], bands, unknown, groups))[page]
        chosen = [(int(rows[i, 0]), None if unknown[i] else float(distances[i]), int(groups[i])) for i in order]
    else:
        # Village by village (a town's street by street), group by group, house by house (each
        # customer's rank in SQL's order, kept with its last contact), group first.
        order = np.lexsort((place, groups))[page]
        chosen = [(int(rows[i, 0]), None, int(groups[i])) for i in order]

    first = len(result.first_rows) + offset
    for start in range(0, len(chosen), SHOWN):
        part = chosen[start:start + SHOWN]
        # One query for SHOWN rows, their ids in SHOWN fixed slots (0 names no customer).
        ids = [cid for cid, _, _ in part] + [0] * (SHOWN - len(part))
        details = {r[0]: r for r in _page(SHOWN)(**{f"id{i}": cid for i, cid in enumerate(ids)})}
        result.customers += [
            WalkRow(*details[cid][:5], distance_m=d, last_visit_at=_moment(details[cid][5]),
                    street=details[cid][6], house_no=details[cid][7], lat=details[cid][8],
                    lng=details[cid][9], group=g, position=first + start + n)
            for n, (cid, d, g) in enumerate(part)]
    return result


_LAST_VISIT = (Visit.select(fn.MAX(Visit.made_at)).where(Visit.customer == Customer.id))


# --- Today's queries, each built once (a manager's scope with the user id a parameter) ------

def _in_scope(p):
    return Customer.scope(manager_with_id(p.user_id), p.day)


def _to_visit(p, *columns):
    return Customer.select(*columns).where(_in_scope(p), Customer.status == "active", Customer.consent)


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


def _campaign_areas(p):
    area = Territory.alias("area")
    return (Territory.select(Territory.id).distinct()
            .join(area, on=(fn.substr(Territory.path, 1, fn.length(area.path)) == area.path))
            .join(CampaignTerritory, on=(CampaignTerritory.territory == area.id))
            .join(Campaign, on=(CampaignTerritory.campaign == Campaign.id))
            .where((Campaign.starts_on <= p.day) & (Campaign.ends_on >= p.day)
                   & Territory.id.in_(assigned_territory_ids(manager_with_id(p.user_id), p.day))))


_CAMPAIGN_AREAS = Prepared("walk_campaign_areas", _campaign_areas)


# The numbers of the walk list's customers, from the covering index customer(territory_id,
# status, consent, kind, tier, village, group_name, lat, lng, name, branch_id).
_CANDIDATES = Prepared("walk_candidates", lambda p: _to_visit(
    p, Customer.id, TIER_SQL, Customer.lat, Customer.lng, Customer.territory))

# Each customer's last visit that counts as contact (not rejected: Visit.counts), one seek
# into visit(customer, made_at, …) a customer, in the walk's order of places: village by village
# (a town's street by street: villages first, the placeless last), group by group, house by house.
# Plain columns as sort keys: SQLite's sorter took twice as long on computed ones (COALESCE).
_LAST_CONTACTS = Prepared("walk_last_contacts", lambda p: _to_visit(
    p, Customer.id,
    Visit.select(fn.MAX(Visit.made_at)).where((Visit.customer == Customer.id) & Visit.counts(False)))
    .order_by(Customer.village.is_null(), Customer.village, Customer.street.is_null(), Customer.street,
              Customer.group_name.is_null(), Customer.group_name, Customer.house_no.is_null(), Customer.house_no,
              TIER_SQL, Customer.name, Customer.id))
_NEWEST_VISIT = Prepared("walk_newest_visit", lambda p: Visit.select(fn.MAX(Visit.id)))
# A review (a rejected visit stops being contact) makes the table again: reviews are a team
# lead's few decisions a day, read through visit(reviewed_at).
_LAST_REVIEW = Prepared("walk_last_review", lambda p: Visit.select(fn.MAX(Visit.reviewed_at)))
_VISITS_AFTER = Prepared("walk_visits_after", lambda p: Visit.select(Visit.customer, Visit.made_at).where(
    (Visit.id > p.after) & (Visit.id <= p.until) & Visit.counts(False)))

# A page of `shown` rows: its ids in that many fixed slots, so one SQL text serves every page.
@functools.cache
def _page(shown):
    return Prepared(f"walk_page:{shown}", lambda p: (
        Customer.select(Customer.id, Customer.name, Customer.tier, Customer.village,
                        Customer.group_name, _LAST_VISIT, Customer.street, Customer.house_no,
                        Customer.lat, Customer.lng)
        .where(Customer.id.in_([p[f"id{i}"] for i in range(shown)]))))


# --- each customer's last contact, kept a day ----------------------------------------------
# Reading each customer's last visit is one index seek a customer (~2 µs), and ordering them by
# place a sort reading the table: 20 ms for a manager's 5,000, on every Today. A process keeps
# each manager's table for the day and brings it up to date from the visits added since (by
# id: a late upload of an older visit counts too), made again after any review (a rejected visit
# stops being contact at once), a visit deleted or a customer new to the manager's scope. A visit
# moved by a merge later that day, or a customer's new village (the order only), is seen the
# next day.
CONTACTS_KEPT = 256
# Ids are handed out before commit: on PostgreSQL a check-in may commit after one with a higher
# id was read. The visits of the last LATE_IDS ids are read again (taking the later contact
# twice changes nothing).
LATE_IDS = 500
_contacts = KeptPerDatabase(CONTACTS_KEPT)


def _as_moment(value):
    """A timestamp as numpy's datetime64 (SQLite hands them back as text)."""
    return None if value is None else np.datetime64(value, "us")


def last_contacts(user, day, fresh=False):
    """{customer id: (its rank in the walk's place order, the last visit that counts as
    contact (not rejected) or None)} of the customers in the manager's scope on day (present,
    consenting); fresh makes it again."""
    key = (user.id, day)
    newest = _NEWEST_VISIT.scalar() or 0
    reviewed = _LAST_REVIEW.scalar()
    kept = _contacts.get(key)
    if kept is not None and kept[0] <= newest and kept[1] == reviewed and not fresh:
        upto, _, table = kept
        for cid, made_at in _VISITS_AFTER.cursor(after=max(upto - LATE_IDS, 0), until=newest):
            if cid in table:
                rank, last = table[cid]
                moment = _as_moment(made_at)
                if last is None or moment > last:
                    table[cid] = rank, moment
    else:
        table = {cid: (rank, _as_moment(last))
                 for rank, (cid, last) in enumerate(_LAST_CONTACTS.cursor(user_id=user.id, day=day))}
    _contacts.put(key, (newest, reviewed, table))
    return table


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
