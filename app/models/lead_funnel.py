"""The leads' lists and funnel: queries over leads and their history (LeadEvent).

Read-only; every write to a lead goes through models/lead.py. Above lead.py: it
imports the lead tables, nothing imports it but the views.
"""
import datetime as dt
import statistics

from peewee import JOIN

from app import clock
from app.db import chinese_order, pinyin_key
from app.models.customer import Customer
from app.models.lead import FUNNEL_STAGES, LEAD_STATUSES, OPEN_STATUSES, STAGE, Lead, LeadEvent
from app.models.org import User
from app.models.product import Product


def listing(user, status=None, stale=False, owner=None, product=None, reached=None,
            since=None, until=None, customer=None, by=None):
    """The leads tab and the funnel's links: the user's scope, filtered; newest touched first.

    by (a manager's id) keeps the leads the funnel credits to that manager for the
    figure asked: the stage `reached`, else lost or won by `status`, else captured.
    """
    query = (Lead.visible_to(user).select(Lead, Product, User, Customer)
             .join(Product, on=(Lead.product == Product.id))
             .switch(Lead).join(User, on=(Lead.owner == User.id))
             .switch(Lead).join(Customer, JOIN.LEFT_OUTER, on=(Lead.customer == Customer.id)))
    if status == "open":
        query = query.where(Lead.status.in_(OPEN_STATUSES))
    elif status in LEAD_STATUSES:
        query = query.where(Lead.status == status)
    if stale:
        query = query.where(Lead.status.in_(OPEN_STATUSES),
                            Lead.updated_at < Lead.stale_before(user.branch.bank))
    if owner:
        query = query.where(Lead.owner == owner)
    if product:
        query = query.where(Lead.product == product)
    if reached in STAGE:
        query = query.where(Lead.stage_reached >= STAGE[reached])
    query = _captured_between(query, since, until)
    if customer:
        query = query.where(Lead.customer == customer)
    if by:
        stage = reached if reached in STAGE else status if status in ("lost", "won") else "new"
        candidates = list(query.select(Lead.id, Lead.owner, Lead.status, Lead.stage_reached))
        credited = credits(candidates, query)
        query = query.where(Lead.id.in_([lead.id for lead in candidates
                                        if credited[lead.id].get(stage) == by] or [0]))
    return query.order_by(Lead.updated_at.desc(), chinese_order(Lead.name), Lead.id.desc())


def funnel(user, since, until):
    """Leads captured in [since, until] (business dates) per manager and per product.

    Each row: counts reaching each stage, lost, conversion between stages
    (None when the earlier stage is empty) and the median days from capture to signing.
    A manager's row counts each stage under whoever held the lead when it was reached
    (see credits), so a lead handed over between capture and signing counts as captured
    by the first manager and won by the second.
    """
    query = _captured_between(Lead.visible_to(user), since, until)
    rows = list(query.select(Lead.id, Lead.owner, Lead.product, Lead.status, Lead.stage_reached,
                             Lead.created_at, Lead.won_on))
    credited = credits(rows, query)
    names = {p.id: p.name for p in Product.select(Product.id, Product.name)
             .where(Product.id.in_({r.product_id for r in rows} or {0}))}
    holders = {h for credit in credited.values() for h in credit.values()}
    owners = {u.id: u.name for u in User.select(User.id, User.name).where(User.id.in_(holders or {0}))}
    by_product = {}
    for lead in rows:
        by_product.setdefault(lead.product_id, []).append(lead)
    return {
        "owners": sorted((_funnel_row(k, owners[k], rows, lambda lead, stage, k=k: credited[lead.id].get(stage) == k)
                          for k in holders), key=lambda r: pinyin_key(r["label"])),
        "products": sorted((_funnel_row(k, names[k], v) for k, v in by_product.items()),
                           key=lambda r: pinyin_key(r["label"])),
        "total": _funnel_row(None, "", rows),
    }


def _captured_between(query, since, until):
    if since:
        query = query.where(Lead.created_at >= clock.local_day_start_utc(since))
    if until:
        query = query.where(Lead.created_at < clock.local_day_start_utc(until + dt.timedelta(days=1)))
    return query


def credits(leads, query):
    """{lead id: {stage or "lost": id of the manager who held the lead when it got there}}.

    Read from the lead's history: the owner recorded with each event. A stage skipped
    (signed on the spot) is credited with the move that passed it; "lost" only while the
    lead is lost, to whoever held it then. query selects the same leads (a subquery, so
    the events are read in one statement whatever their number). Leads without recorded
    owners (written before events kept one) fall back to their current owner.
    """
    events = (LeadEvent.select(LeadEvent.lead, LeadEvent.kind, LeadEvent.to_value, LeadEvent.owner)
              .where(LeadEvent.lead.in_(query.select(Lead.id)), LeadEvent.kind.in_(("created", "status")))
              .order_by(LeadEvent.lead, LeadEvent.at, LeadEvent.id).tuples())
    by_lead = {}
    for lead_id, kind, to_value, owner_id in events:
        by_lead.setdefault(lead_id, []).append((kind, to_value, owner_id))
    result = {}
    for lead in leads:
        credit, reached = {}, -1
        for kind, to_value, owner_id in by_lead.get(lead.id, ()):
            holder = owner_id or lead.owner_id
            if kind == "created":
                credit["new"], reached = holder, max(reached, 0)
            elif to_value == "lost":
                credit["lost"] = holder
            elif STAGE.get(to_value, -1) > reached:
                for stage in FUNNEL_STAGES:
                    if reached < STAGE[stage] <= STAGE[to_value]:
                        credit[stage] = holder
                reached = STAGE[to_value]
        for stage in FUNNEL_STAGES:
            if STAGE[stage] <= lead.stage_reached:
                credit.setdefault(stage, lead.owner_id)
            else:
                credit.pop(stage, None)
        if lead.status == "lost":
            credit.setdefault("lost", lead.owner_id)
        else:
            credit.pop("lost", None)  # reopened: no longer a lost lead
        result[lead.id] = credit
    return result


def _funnel_row(key, label, leads, counts=None):
    """One row of the funnel; counts(lead, stage) says whether a lead counts at a stage
    ("lost" included) for this row, by default whether it reached the stage at all."""
    if counts is None:
        def counts(lead, stage):
            return lead.status == "lost" if stage == "lost" else lead.stage_reached >= STAGE[stage]
    reached = {stage: sum(1 for lead in leads if counts(lead, stage)) for stage in FUNNEL_STAGES}
    conversions = []
    for earlier, later in zip(FUNNEL_STAGES, FUNNEL_STAGES[1:]):
        conversions.append(reached[later] / reached[earlier] if reached[earlier] else None)
    days = [(lead.won_on - clock.to_local(lead.created_at).date()).days
            for lead in leads if lead.status == "won" and lead.won_on and counts(lead, "won")]
    return {"key": key, "label": label, "reached": reached, "conversions": conversions,
            "lost": sum(1 for lead in leads if counts(lead, "lost")),
            "median_days": statistics.median(days) if days else None}
