"""A week's figures for the report notebooks: a territory's (with its subtree) and a bank's.

One week is read once into a WeekFrame (its customers and visits, from the week's snapshot
when the week is closed, else today's rows), and every figure is counted from it, so the
key figures, the per-day chart and the per-manager table cannot disagree. Coverage is the
one definition, Visit.coverage, which reads the same snapshot for a closed week.

close_week takes that snapshot (models/history.py says why): the Monday periodic task does
it before queuing last week's reports, and any report of a closed week that finds none
takes it first.
"""
import datetime as dt
import re
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from peewee import IntegrityError, fn

from app import clock
from app.db import database
from app.db_bulk import bulk_insert
from app.models.campaign import Campaign, CampaignTerritory
from app.models.customer import Customer
from app.models.history import CustomerWeek, VisitWeek, WeekClose
from app.models.lead import FUNNEL_STAGES, STAGE, Lead, LeadEvent
from app.models.org import Branch, User
from app.models.product import Product
from app.models.refused import Refused
from app.models.setting import counted_kinds
from app.models.territory import Assignment, Territory
from app.models.visit import FollowUp, Visit, VisitProduct

REPORTED_KINDS = ("zone", "village", "street", "market")  # each gets a report; groups sit inside
WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
TIER_ORDER = {"gold": 0, "mass": 1, "potential": 2}


def parse_week(text):
    """The Monday of an ISO week written '2026-W48'; Refused for anything else."""
    match = WEEK.match((text or "").strip())
    try:
        if not match:
            raise ValueError
        return dt.date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except ValueError:
        raise Refused(errors={"week": _l("Write the week as an ISO week, e.g. 2026-W48.")}) from None


def week_label(monday):
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def last_closed_week(day=None):
    """The Monday of the last full week before day's week."""
    day = day or clock.today()
    return day - dt.timedelta(days=day.weekday() + 7)


def is_closed(monday):
    return monday + dt.timedelta(days=7) <= clock.today()


def close_week(monday):
    """Snapshot the closed week starting monday, once: the customers that existed by its end (archived
    before it ended, or visited before it ended: an archive imported or rebuilt later keeps its
    history) as they are now (the Monday task takes it hours after the week ends), and the week's
    visits. False when it was taken before or the week is still open."""
    if not is_closed(monday) or WeekClose.select().where(WeekClose.week == monday).exists():
        return False
    since, until = clock.local_day_start_utc(monday), clock.local_day_start_utc(monday + dt.timedelta(days=7))
    try:
        with database.atomic():
            return _snapshot(monday, since, until)
    except IntegrityError:
        return False  # another worker closed it at the same moment: its snapshot stands


def _snapshot(monday, since, until):
    with database.atomic():
        WeekClose.create(week=monday)  # first: a second worker racing here fails on its unique index
        customers = (Customer.select(Customer.id, Customer.branch, Customer.territory, Customer.kind, Customer.tier,
                                     Customer.status, Customer.consent, Customer.created_at, Customer.lat,
                                     Customer.lng)
                     .where((Customer.created_at < until)
                            | Customer.id.in_(Visit.select(Visit.customer).where(Visit.made_at < until)))
                     .tuples())
        bulk_insert(CustomerWeek, [
            {"week": monday, "customer_id": c, "branch_id": b, "territory_id": t, "kind": k, "tier": tier,
             "status": s, "consent": bool(consent), "created_on": clock.to_local(created).date(),
             "lat": lat, "lng": lng}
            for c, b, t, k, tier, s, consent, created, lat, lng in customers])
        # A visit a team lead rejected is kept out; one confirmed counts as verified (review.decide).
        visits = (Visit.select(Visit.id, Visit.customer, Visit.user, Visit.made_at, Visit.counts(True), Visit.outcome)
                  .where(Visit.made_at >= since, Visit.made_at < until, Visit.counts(False)).tuples())
        bulk_insert(VisitWeek, [
            {"week": monday, "visit_id": v, "customer_id": c, "user_id": u, "made_at": m, "verified": bool(ok),
             "outcome": o} for v, c, u, m, ok, o in visits])
    return True


def viewer_for(bank):
    """Whom a report counts as: management of the whole bank (a report is the bank's paper)."""
    return User(id=0, role="management", active=True, branch=bank, name="")


@dataclass
class Row:
    id: int
    territory_id: int
    branch_id: int
    kind: str
    tier: str
    status: str
    consent: bool
    created_on: dt.date
    lat: float
    lng: float


class WeekFrame:
    """One week of a bank: its customers and visits, from the snapshot when the week is closed."""

    def __init__(self, bank, monday, places=None):
        """places: only the customers of these territories (a territory's report), else the bank's."""
        self.bank, self.monday = bank, monday
        self.end = monday + dt.timedelta(days=7)
        self.since, self.until = clock.local_day_start_utc(monday), clock.local_day_start_utc(self.end)
        self.closed = is_closed(monday)
        if self.closed:
            close_week(monday)
        self.kinds = set(counted_kinds(bank.id))
        branches = Branch.select(Branch.id).where(Branch.path.startswith(bank.path))
        if self.closed:
            rows = (CustomerWeek.select(CustomerWeek.customer_id, CustomerWeek.territory_id, CustomerWeek.branch_id,
                                        CustomerWeek.kind, CustomerWeek.tier, CustomerWeek.status,
                                        CustomerWeek.consent, CustomerWeek.created_on, CustomerWeek.lat,
                                        CustomerWeek.lng)
                    .where(CustomerWeek.week == monday, CustomerWeek.branch_id.in_(branches),
                           *([CustomerWeek.territory_id.in_(places)] if places is not None else [])).tuples())
            self.customers = {r[0]: Row(*r) for r in rows}
            visits = (VisitWeek.select(VisitWeek.visit_id, VisitWeek.customer_id, VisitWeek.user_id,
                                       VisitWeek.made_at, VisitWeek.verified, VisitWeek.outcome)
                      .where(VisitWeek.week == monday).tuples())
        else:
            rows = (Customer.select(Customer.id, Customer.territory, Customer.branch, Customer.kind, Customer.tier,
                                    Customer.status, Customer.consent, Customer.created_at, Customer.lat, Customer.lng)
                    .where(Customer.branch.in_(branches),
                           *([Customer.territory.in_(places)] if places is not None else [])).tuples())
            self.customers = {r[0]: Row(*r[:7], clock.to_local(r[7]).date(), *r[8:]) for r in rows}
            visits = (Visit.select(Visit.id, Visit.customer, Visit.user, Visit.made_at, Visit.counts(True),
                                   Visit.outcome)
                      .where(Visit.made_at >= self.since, Visit.made_at < self.until, Visit.counts(False)).tuples())
        self.visits = [v for v in visits if v[1] in self.customers]
        # The moment "as the week ended" for follow-ups and leads: the week's end, or now.
        self.as_of = min(self.until, clock.now())
        self.as_of_day = min(self.end - dt.timedelta(days=1), clock.today())

    def customer_ids(self, territory_ids):
        territory_ids = set(territory_ids)
        return {c.id for c in self.customers.values() if c.territory_id in territory_ids}

    def counted(self, c):
        return c.status == "active" and c.kind in self.kinds and c.consent

    def figures(self, territory_ids, coverage, ids=None):
        """The key figures for the customers of territory_ids (or these customer ids); coverage is
        (visited, counted, ratio) from Visit.coverage."""
        ids = self.customer_ids(territory_ids) if ids is None else ids
        visits = [v for v in self.visits if v[1] in ids]
        verified = sum(1 for v in visits if v[4])
        leads = self.leads(ids)
        won = [lead for lead in leads["won"]]
        return {
            "visits": len(visits), "verified": verified,
            "verified_share": verified / len(visits) if visits else None,
            "customers_visited": len({v[1] for v in visits}),
            "coverage": coverage,
            "new_archives": sum(1 for i in ids if self.monday <= self.customers[i].created_on < self.end),
            "leads": len(leads["new"]), "won": len(won),
            "won_amount": round(sum(lead.won_amount_wan or 0 for lead in won), 1),
            "overdue": self.overdue_query(ids).count(),
            "customers": sum(1 for i in ids if self.customers[i].status == "active"),
        }

    def leads(self, customer_ids):
        """Leads of these customers captured in the week ("new") and won in it ("won")."""
        ids = list(customer_ids) or [0]
        base = Lead.select(Lead.id, Lead.customer, Lead.owner, Lead.product, Lead.status, Lead.stage_reached,
                           Lead.won_amount_wan, Lead.won_on, Lead.created_at, Lead.created_by)
        captured = list(base.where(Lead.customer.in_(ids), Lead.created_at >= self.since,
                                   Lead.created_at < min(self.until, self.as_of)))
        won = list(base.where(Lead.customer.in_(ids), Lead.status == "won", Lead.won_on >= self.monday,
                              Lead.won_on < self.end, Lead.won_on <= self.as_of_day))
        return {"new": captured, "won": won}

    def overdue_query(self, customer_ids):
        """Follow-ups of these customers due before the week's last day and not done by its end."""
        return (FollowUp.select().where(FollowUp.customer.in_(list(customer_ids) or [0]),
                                        FollowUp.due_on < self.as_of_day,
                                        FollowUp.done_at.is_null() | (FollowUp.done_at >= self.as_of)))

    def stage_as_of(self, leads):
        """{lead id: (status, stage reached)} as the week ended, from the leads' history."""
        events = (LeadEvent.select(LeadEvent.lead, LeadEvent.to_value)
                  .where(LeadEvent.lead.in_([lead.id for lead in leads] or [0]), LeadEvent.kind == "status",
                         LeadEvent.at < self.as_of)
                  .order_by(LeadEvent.lead, LeadEvent.at, LeadEvent.id).tuples())
        seen = {}
        for lead_id, status in events:
            seen.setdefault(lead_id, []).append(status)
        result = {}
        for lead in leads:
            moves = seen.get(lead.id)
            if moves is None:  # no history kept for it: as it stands
                result[lead.id] = (lead.status, lead.stage_reached)
            else:
                result[lead.id] = (moves[-1], max([0] + [STAGE.get(s, 0) for s in moves]))
        return result


def branch_customer_ids(frame, branch):
    """The frame's customers of a branch and the branches below it."""
    below = {b for (b,) in Branch.select(Branch.id).where(Branch.path.startswith(branch.path)).tuples()}
    return {c.id for c in frame.customers.values() if c.branch_id in below}, below


def subtree_ids(territory):
    return [t.id for t in Territory.select(Territory.id).where(Territory.path.startswith(territory.path))]


def coverage(bank, monday, territory_ids):
    """{territory id: (visited, counted, ratio)} by the one definition, for the week."""
    end = monday + dt.timedelta(days=7)
    return Visit.coverage(viewer_for(bank), monday, end, by="territory", among=territory_ids,
                          as_of=min(end - dt.timedelta(days=1), clock.today()))


def responsible(territory, monday):
    """The managers assigned to the territory or one above it during the week: (name, line)."""
    above = [int(i) for i in territory.path.strip("/").split("/") if i]
    end = monday + dt.timedelta(days=6)
    rows = (Assignment.select(Assignment, User).join(User)
            .where(Assignment.territory.in_(above), Assignment.starts_on <= end,
                   Assignment.ends_on.is_null() | (Assignment.ends_on >= monday))
            .order_by(User.name))
    return [(a.user.name, a.business_line, a.user_id) for a in rows]


def per_day(frame, customer_ids):
    """[(date, verified visits, other visits)] for the seven days."""
    days = [frame.monday + dt.timedelta(days=i) for i in range(7)]
    counts = {d: [0, 0] for d in days}
    for _, customer, _, made_at, verified, _ in frame.visits:
        if customer in customer_ids:
            counts[clock.to_local(made_at).date()][0 if verified else 1] += 1
    return [(d, *counts[d]) for d in days]


def per_manager(frame, customer_ids, managers):
    """Rows per manager (responsible, or who visited here): visits, verified, customers, leads, won."""
    stats = {}
    for _, customer, user_id, _, verified, _ in frame.visits:
        if customer in customer_ids:
            s = stats.setdefault(user_id, {"visits": 0, "verified": 0, "customers": set()})
            s["visits"] += 1
            s["verified"] += bool(verified)
            s["customers"].add(customer)
    leads = frame.leads(customer_ids)
    ids = set(stats) | {m[2] for m in managers} | {lead.created_by_id for lead in leads["new"]} | {
        lead.owner_id for lead in leads["won"]}
    names = {u.id: u.name for u in User.select(User.id, User.name).where(User.id.in_(list(ids) or [0]))}
    rows = []
    for uid in sorted(ids, key=lambda i: names.get(i, "")):
        s = stats.get(uid, {"visits": 0, "verified": 0, "customers": set()})
        rows.append({"name": names.get(uid, f"#{uid}"), "visits": s["visits"], "verified": s["verified"],
                     "customers": len(s["customers"]),
                     "leads": sum(1 for lead in leads["new"] if lead.created_by_id == uid),
                     "won": sum(1 for lead in leads["won"] if lead.owner_id == uid)})
    return rows


def funnel(frame, customer_ids):
    """Leads captured in the week by the stage reached when the week ended, and lost."""
    leads = frame.leads(customer_ids)["new"]
    stages = frame.stage_as_of(leads)
    row = {stage: sum(1 for lead in leads if stages[lead.id][1] >= STAGE[stage]) for stage in FUNNEL_STAGES}
    row["lost"] = sum(1 for lead in leads if stages[lead.id][0] == "lost")
    return row


def products(frame, customer_ids):
    """[(product, pitched, interested, signed)] on the week's visits here, most pitched first."""
    visit_ids = [v[0] for v in frame.visits if v[1] in customer_ids] or [0]
    rows = (VisitProduct.select(Product.name, VisitProduct.result, fn.COUNT(VisitProduct.id))
            .join(Product).where(VisitProduct.visit.in_(visit_ids))
            .group_by(Product.name, VisitProduct.result).tuples())
    table = {}
    for name, result, n in rows:
        t = table.setdefault(name, {"pitched": 0, "interested": 0, "signed": 0})
        t["pitched"] += n
        if result in t:
            t[result] += n
    return sorted(((name, t["pitched"], t["interested"], t["signed"]) for name, t in table.items()),
                  key=lambda r: (-r[1], r[0]))


def tiers(frame, before, territory_ids):
    """Tier mix of present customers at the week's end and last week's end, and the moves between."""
    now_ids, then_ids = frame.customer_ids(territory_ids), before.customer_ids(territory_ids)
    present_now = {i: frame.customers[i].tier for i in now_ids if frame.customers[i].status == "active"}
    present_then = {i: before.customers[i].tier for i in then_ids if before.customers[i].status == "active"}
    mix = {t: (sum(1 for v in present_then.values() if v == t), sum(1 for v in present_now.values() if v == t))
           for t in TIER_ORDER}
    up = sum(1 for i, t in present_now.items() if i in present_then and TIER_ORDER[t] < TIER_ORDER[present_then[i]])
    down = sum(1 for i, t in present_now.items() if i in present_then and TIER_ORDER[t] > TIER_ORDER[present_then[i]])
    return {"mix": mix, "up": up, "down": down, "joined": len(set(present_now) - set(present_then)),
            "left": len(set(present_then) - set(present_now))}


def overdue(frame, customer_ids, limit=20):
    """The overdue follow-ups that matter most, gold first, then the longest overdue; and how many."""
    rows = list(frame.overdue_query(customer_ids)
                .select(FollowUp.id, FollowUp.customer, FollowUp.due_on, FollowUp.reason,
                        Customer.name.alias("customer_name"), User.name.alias("manager_name"))
                .join(Customer, on=(FollowUp.customer == Customer.id))
                .switch(FollowUp).join(User, on=(FollowUp.user == User.id)).dicts())
    for row in rows:
        known = frame.customers.get(row["customer"])
        row["tier"] = known.tier if known else ""
        row["days"] = (frame.as_of_day - row["due_on"]).days
    rows.sort(key=lambda r: (TIER_ORDER.get(r["tier"], 3), r["due_on"], r["id"]))
    return rows[:limit], len(rows)


def highlights(frame, customer_ids, limit=8):
    """Visit notes worth reading: signed and interested first, then the fullest notes."""
    ids = [v[0] for v in frame.visits if v[1] in customer_ids] or [0]
    rank = {"signed": 0, "interested": 1, "met": 2, "refused": 3, "moved": 3, "not_home": 4}
    rows = list(Visit.select(Visit.id, Visit.made_at, Visit.outcome, Visit.note, Customer.name, User.name.alias("who"))
                .join(Customer).switch(Visit).join(User)
                .where(Visit.id.in_(ids), fn.LENGTH(fn.TRIM(Visit.note)) > 0).dicts())
    rows.sort(key=lambda r: (rank.get(r["outcome"], 5), -len(r["note"]), r["id"]))
    return rows[:limit]


def campaigns(bank, monday):
    """Campaigns of the bank running during the week, with their territories."""
    end = monday + dt.timedelta(days=6)
    branches = Branch.select(Branch.id).where(Branch.path.startswith(bank.path))
    found = list(Campaign.select().where(Campaign.branch.in_(branches), Campaign.starts_on <= end,
                                         Campaign.ends_on >= monday).order_by(Campaign.starts_on, Campaign.id))
    links = {}
    for campaign_id, territory_id in (CampaignTerritory.select(CampaignTerritory.campaign, CampaignTerritory.territory)
                                      .where(CampaignTerritory.campaign.in_([c.id for c in found] or [0])).tuples()):
        links.setdefault(campaign_id, []).append(territory_id)
    return [(c, links.get(c.id, [])) for c in found]


def reported_territories(bank):
    """The bank's live territories that get a report, in path order."""
    branches = Branch.select(Branch.id).where(Branch.path.startswith(bank.path))
    return list(Territory.select().where(Territory.branch.in_(branches), Territory.live(),
                                         Territory.kind.in_(REPORTED_KINDS)).order_by(Territory.path))


def visited_before(frame, customer_ids):
    """Those of the customers with a visit made before the week began (the map's "earlier")."""
    return {c for (c,) in Visit.select(Visit.customer).distinct()
            .where(Visit.customer.in_(list(customer_ids) or [0]), Visit.made_at < frame.since).tuples()}
