"""What a closed ISO week looked like: its customers and its visits, kept when the week closes.

Past weeks stay true (issue 19): a report of week 47 made in week 50 gives the figures of
week 47 even after customers moved territory, changed tier or were merged. Rather than
trusting every write path (a check-in, an edit, the core refresh, placement, hand-over,
merge) to log each change, the week is snapshotted once when it closes: each customer's
branch, territory, tier, kind, status, consent and position (CustomerWeek), and each of the
week's visits with the customer it was made for (VisitWeek, so a merge that moves visits
onto the kept archive changes nothing). The rows carry plain ids, not foreign keys, so
they outlive a merged or deleted archive.

report.close_week writes a snapshot (it reads visits, which sit above this module);
here are the tables and the coverage query over them that Visit.coverage uses for a closed
week (the one definition: same counting rule, same scope rule).
"""
import datetime as dt

from peewee import BooleanField, Case, DateField, DateTimeField, DoubleField, IntegerField, TextField, fn

from app.models.base import BaseModel, created_at_field
from app.models.scope import records
from app.models.territory import Assignment, Territory, assigned_territory_ids


class WeekClose(BaseModel):
    """A closed week whose snapshot is taken (once: later changes never rewrite it)."""

    week = DateField(unique=True)  # the Monday
    closed_at = created_at_field()


class CustomerWeek(BaseModel):
    """A customer as its week closed."""

    week = DateField()
    customer_id = IntegerField()
    branch_id = IntegerField()
    territory_id = IntegerField(null=True)
    kind = TextField()
    tier = TextField()
    status = TextField()
    consent = BooleanField()
    created_on = DateField()
    lat = DoubleField(null=True)
    lng = DoubleField(null=True)

    class Meta:
        indexes = ((("week", "customer_id"), True), (("week", "territory_id"), False))

    @classmethod
    def counted(cls, kinds):
        """Customer.counted on the snapshot: present, a counted kind, consenting."""
        return (cls.status == "active") & cls.kind.in_(tuple(kinds)) & cls.consent


class VisitWeek(BaseModel):
    """A visit of a closed week, with the customer it was made for then."""

    week = DateField()
    visit_id = IntegerField()
    customer_id = IntegerField()
    user_id = IntegerField()
    made_at = DateTimeField()
    verified = BooleanField()
    outcome = TextField()

    class Meta:
        indexes = ((("week", "visit_id"), True),)


def monday_of(day):
    return day - dt.timedelta(days=day.weekday())


def snapshot_week(start, end):
    """The Monday of the closed, snapshotted week holding the dates [start, end), or None
    (the period spans weeks, or its week is open or was never snapshotted)."""
    monday = monday_of(start)
    if end > monday + dt.timedelta(days=7):
        return None
    return monday if WeekClose.select().where(WeekClose.week == monday).exists() else None


def coverage_query(monday, since, until, kinds, viewer, by=None, among=None, verified_only=True, as_of=None):
    """Visit.coverage_query over a closed week's snapshot: [group key,] counted, visited.

    viewer's scope is the one rule (scope.records) on the snapshot's branch and territory.
    """
    seen_ids = VisitWeek.select(VisitWeek.customer_id).where(
        VisitWeek.week == monday, VisitWeek.made_at >= since, VisitWeek.made_at < until)
    if verified_only:
        seen_ids = seen_ids.where(VisitWeek.verified)
    base = CustomerWeek.select().where(CustomerWeek.week == monday, CustomerWeek.counted(kinds))
    if by != "manager":
        base = base.where(records(viewer, CustomerWeek.branch_id, assigned=lambda u: CustomerWeek.territory_id.in_(
            assigned_territory_ids(u, as_of))))
    seen = Case(None, [(CustomerWeek.customer_id.in_(seen_ids), 1)], 0)
    figures = (fn.COUNT(CustomerWeek.id), fn.COALESCE(fn.SUM(seen), 0))
    if by is None:
        return base.select(*figures).order_by()
    if by == "branch":
        if among is not None:
            base = base.where(CustomerWeek.branch_id.in_([getattr(b, "id", b) for b in among]))
        return base.select(CustomerWeek.branch_id, *figures).group_by(CustomerWeek.branch_id).order_by()
    ids = [getattr(t, "id", t) for t in among or ()]
    if not ids:
        return None
    area, placed = Territory.alias("area"), Territory.alias("placed")
    if by == "territory":
        held = (area.select(area.id.alias("territory_id"), placed.id.alias("placed_id")).distinct()
                .join(placed, on=(fn.substr(placed.path, 1, fn.length(area.path)) == area.path))
                .where(area.id.in_(ids))).alias("held")
        return (base.join(held, on=(CustomerWeek.territory_id == held.c.placed_id))
                .select(held.c.territory_id, *figures).group_by(held.c.territory_id).order_by())
    if by == "manager":
        day = as_of
        held = (area.select(Assignment.user.alias("user_id"), placed.id.alias("placed_id")).distinct()
                .join(Assignment, on=(Assignment.territory == area.id))
                .join(placed, on=(fn.substr(placed.path, 1, fn.length(area.path)) == area.path))
                .where(Assignment.user.in_(ids), Assignment.starts_on <= day,
                       Assignment.ends_on.is_null() | (Assignment.ends_on >= day))).alias("held")
        seen_one = Case(None, [(CustomerWeek.customer_id.in_(seen_ids), CustomerWeek.customer_id)], None)
        return (base.join(held, on=(CustomerWeek.territory_id == held.c.placed_id))
                .select(held.c.user_id, fn.COUNT(fn.DISTINCT(CustomerWeek.customer_id)),
                        fn.COUNT(fn.DISTINCT(seen_one)))
                .group_by(held.c.user_id).order_by())
    raise ValueError(f"coverage by {by!r}: by nothing, territory, manager or branch")
