"""The team lead's review queue (issue 18): visits that did not verify, visits that look
wrong, positions taken from a first fix, and managers whose unverified share stands out.

Nothing here punishes anyone: a visit waits until a team lead confirms it (it then counts
for coverage as a verified one does) or rejects it with a note (it stops counting); the
manager reads the decision and the note on the visit. The anomalies only bring visits to
the queue.
"""
from collections import defaultdict
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from app import clock, geo
from app.db import database
from app.models.audit import AuditLog
from app.models.customer import Customer
from app.models.org import User
from app.models.refused import Problems, Refused
from app.models.team import team_members, under
from app.models.visit import REVIEWS, Visit

SAME_FIX_PLACES = 5          # two fixes equal to 1e-5° (about a metre) at different customers
RAPID_SECONDS = 120          # two check-ins this close in time …
RAPID_APART_M = 500          # … at customers this far apart: nobody walks that fast
SHARE_MIN_VISITS = 5         # a manager's share is judged from this many visits in the period
SHARE_ABOVE = 0.25           # … and stands out this far above the team's (and at least twice it)
NOTE_MAX = 500
QUEUE_LIMIT = 300

REASONS = {
    "unverified": _l("Not verified by its fix"),
    "same_fix": _l("The same fix, to the metre, as a check-in at another customer"),
    "rapid": _l("Seconds after a check-in at a customer far away"),
}


@dataclass
class QueueItem:
    visit: Visit
    reasons: list = field(default_factory=list)


def _period_visits(viewer, since, until, branch_ids):
    """The period's visits in the viewer's scope, as light rows: (id, user, customer, made_at,
    lat, lng, verified, review, customer lat, customer lng)."""
    return list(Visit.visible_to(viewer)
                .select(Visit.id, Visit.user, Visit.customer, Visit.made_at, Visit.lat, Visit.lng,
                        Visit.verified, Visit.review, Customer.lat, Customer.lng)
                .where(Visit.made_at >= since, Visit.made_at < until, Customer.branch.in_(branch_ids))
                .order_by(Visit.user, Visit.made_at, Visit.id).tuples())


def anomalies(rows):
    """{visit id: [reason codes]} for the rows of _period_visits: "same_fix" when another
    customer's check-in has the same fix to SAME_FIX_PLACES decimals, "rapid" when the same
    manager checked in at a customer RAPID_APART_M or more away within RAPID_SECONDS."""
    flagged = defaultdict(list)
    by_fix = defaultdict(set)
    for row in rows:
        if row[4] is not None and row[5] is not None:
            by_fix[(round(row[4], SAME_FIX_PLACES), round(row[5], SAME_FIX_PLACES))].add(row[2])
    for row in rows:
        if row[4] is not None and row[5] is not None and len(
                by_fix[(round(row[4], SAME_FIX_PLACES), round(row[5], SAME_FIX_PLACES))]) > 1:
            flagged[row[0]].append("same_fix")
    for before, after in zip(rows, rows[1:]):
        if before[1] != after[1] or before[2] == after[2]:
            continue
        if (after[3] - before[3]).total_seconds() > RAPID_SECONDS:
            continue
        if None in (before[8], before[9], after[8], after[9]):
            continue
        apart = float(geo.distance_m(before[9], before[8], after[9], after[8]))
        if apart >= RAPID_APART_M:
            for row in (before, after):
                if "rapid" not in flagged[row[0]]:
                    flagged[row[0]].append("rapid")
    return flagged


def shares(rows, managers):
    """[(manager, visits, unverified, share, stands_out)] and the team's share: unverified means
    not verified by the fix and not confirmed (a rejected visit is unverified too)."""
    counts = defaultdict(lambda: [0, 0])
    for row in rows:
        counts[row[1]][0] += 1
        if not ((row[6] and row[7] is None) or row[7] == "confirmed"):
            counts[row[1]][1] += 1
    ids = {m.id for m in managers}
    visits = sum(counts[i][0] for i in ids)
    team = sum(counts[i][1] for i in ids) / visits if visits else None
    result = []
    for m in managers:
        n, unverified = counts[m.id]
        share = unverified / n if n else None
        stands_out = (team is not None and share is not None and n >= SHARE_MIN_VISITS
                      and share >= team + SHARE_ABOVE and share >= 2 * team)
        result.append((m, n, unverified, share, stands_out))
    return result, team


def queue(viewer, branch, period):
    """The review queue of branch for the period: {"items": [QueueItem] waiting (unverified or
    flagged, not yet decided; oldest first, at most QUEUE_LIMIT), "waiting": their number,
    "decided": the period's decided visits (newest first, 50), "shares", "team_share",
    "positions": customers whose position came from a first fix, unconfirmed (200 at most)}."""
    since, until = clock.local_day_start_utc(period.start), clock.local_day_start_utc(period.end)
    branches = [b for (b,) in under(branch).tuples()]
    rows = _period_visits(viewer, since, until, branches)
    flagged = anomalies(rows)
    waiting = [r[0] for r in rows if r[7] is None and (not r[6] or r[0] in flagged)]
    waiting_ids = waiting[:QUEUE_LIMIT]
    visits = {v.id: v for v in (Visit.select(Visit, Customer, User)
                                .join(Customer).switch(Visit).join(User, on=(Visit.user == User.id))
                                .where(Visit.id.in_(waiting_ids)))} if waiting_ids else {}
    items = []
    for vid in sorted(waiting_ids, key=lambda i: (visits[i].made_at, i)):
        reasons = ([] if visits[vid].verified else ["unverified"]) + flagged.get(vid, [])
        items.append(QueueItem(visits[vid], reasons))
    decided = list(Visit.select(Visit, Customer, User).join(Customer).switch(Visit)
                   .join(User, on=(Visit.user == User.id))
                   .where(Visit.id.in_([r[0] for r in rows if r[7] is not None] or [0]))
                   .order_by(Visit.reviewed_at.desc(), Visit.id.desc()).limit(50))
    managers = team_members(viewer, branch)
    manager_shares, team_share = shares(rows, managers)
    positions = list(Customer.visible_to(viewer)
                     .where(~Customer.position_confirmed, Customer.lat.is_null(False),
                            Customer.branch.in_(branches))
                     .order_by(Customer.updated_at.desc()).limit(200))
    return {"items": items, "waiting": len(waiting), "decided": decided, "shares": manager_shares,
            "team_share": team_share, "positions": positions}


def decide(user, visit_id, decision, note=""):
    """The write path of a review: a team lead confirms a visit (it counts for coverage as a
    verified one) or rejects it (it stops counting), with a note the manager reads on the
    visit; a later decision replaces an earlier one. Audited. Returns the Visit.

    Refused: forbidden for anyone but a team lead, not_found for a visit outside the scope,
    and the reasons for an unknown decision, a rejection without a note or a note too long."""
    if user.role != "team_lead":
        raise Refused.forbidden()
    visit = Visit.visible_to(user).where(Visit.id == visit_id).first() if 0 < visit_id < 2**31 else None
    if visit is None:
        raise Refused.not_found(_l("No such visit."))
    problems = Problems()
    note = (note or "").strip()
    if decision not in REVIEWS:
        problems.add("decision", _l("Confirm or reject the visit."))
    if decision == "rejected" and not note:
        problems.add("note", _l("Say why the visit is rejected: the manager reads it."))
    if len(note) > NOTE_MAX:
        problems.add("note", _l("The note is too long (at most %(n)s characters).", n=NOTE_MAX))
    problems.check()
    with database.atomic():
        visit.review, visit.review_note = decision, note
        visit.reviewed_by, visit.reviewed_at = user.id, clock.now()
        visit.save()
        AuditLog.record(user, f"visit_{decision}", "visit", visit.id, note=note)
    return visit


def reject_position(user, customer_id, note=""):
    """The write path of a team lead's "this is not where they live": the position a first fix
    gave is removed (the next check-in's fix proposes one again), with the note in the audit
    log. Returns the Customer. Refused: forbidden for anyone but a team lead or admin,
    not_found outside the scope or for a position not waiting, a note too long."""
    if user.role not in ("team_lead", "admin"):
        raise Refused.forbidden()
    customer = (Customer.visible_to(user).where(Customer.id == customer_id, ~Customer.position_confirmed,
                                                Customer.lat.is_null(False)).first()
                if 0 < customer_id < 2**31 else None)
    if customer is None:
        raise Refused.not_found(_l("No such customer."))
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        raise Refused({"note": _l("The note is too long (at most %(n)s characters).", n=NOTE_MAX)})
    with database.atomic():
        old = f"{customer.lat:.5f},{customer.lng:.5f}"
        Customer.update(lat=None, lng=None, position_source=None, position_confirmed=True,
                        updated_at=clock.now()).where(Customer.id == customer.id).execute()
        AuditLog.record(user, "position_rejected", "customer", customer.id, old=old, note=note)
    return customer
