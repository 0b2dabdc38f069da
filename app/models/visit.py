"""Visits (走访 / 签到) and the maintenance ledger (客户维护台账)."""
from peewee import (BooleanField, DateField, DateTimeField, DoubleField, ForeignKeyField,
                    TextField)

from app import clock
from app.models.base import BaseModel, created_at_field, default, one_of
from app.models.customer import Customer
from app.models.org import User
from app.models.product import Product

COUNTED_KINDS = ("household", "merchant")  # counted for coverage until settings say otherwise
OUTCOMES = ("met", "not_home", "refused", "interested", "signed", "moved")


class Visit(BaseModel):
    client_uuid = TextField(unique=True)  # made on the phone; replays are stored once
    customer = ForeignKeyField(Customer, backref="visits", on_delete="RESTRICT")
    user = ForeignKeyField(User, backref="visits", on_delete="RESTRICT")
    made_at = DateTimeField()  # when the check-in was made on the phone (UTC)
    received_at = created_at_field()
    lat = DoubleField(null=True)
    lng = DoubleField(null=True)
    accuracy_m = DoubleField(null=True)
    distance_m = DoubleField(null=True)
    verified = BooleanField(default=False, constraints=[default("FALSE")])
    late = BooleanField(default=False, constraints=[default("FALSE")])
    position_unconfirmed = BooleanField(default=False, constraints=[default("FALSE")])
    outcome = TextField(constraints=[one_of("outcome", OUTCOMES)])
    note = TextField(default="", constraints=[default("''")])
    next_follow_up_on = DateField(null=True)
    photo_path = TextField(null=True)

    class Meta:
        indexes = (
            (("customer", "made_at"), False),
            (("user", "made_at"), False),
        )

    @classmethod
    def visible_to(cls, user):
        from app.models.scope import visit_scope

        return cls.select().join(Customer).where(visit_scope(user))

    @classmethod
    def this_week_customer_ids(cls, verified_only=False, day=None):
        """Ids of customers with a visit since Monday (Asia/Shanghai)."""
        monday, _ = clock.week_bounds(day)
        query = cls.select(cls.customer).where(cls.made_at >= clock.local_day_start_utc(monday))
        if verified_only:
            query = query.where(cls.verified)
        return query

    @classmethod
    def coverage(cls, customers, day=None):
        """Verified-visit coverage of a customer query this week: (visited, total, ratio or None).

        Counted are households and merchants still there and not withdrawn from
        contact; a set with none has no ratio ("—"), never 0 %.
        """
        counted = customers.where(
            Customer.kind.in_(COUNTED_KINDS), Customer.status == "active", Customer.consent)
        total = counted.count()
        visited = counted.where(
            Customer.id.in_(cls.this_week_customer_ids(verified_only=True, day=day))).count()
        return visited, total, (visited / total if total else None)

    @classmethod
    def coverage_by_manager(cls, managers, day=None):
        """Visit.coverage of each manager's 责任田 in one grouped query: {user id: (visited, total, ratio)}.

        The same figures as coverage(Customer.visible_to(manager)) for each manager (the
        manager scope of scope.py: territories assigned on day, with their subtrees), but
        one query for the whole team instead of two per manager. DISTINCT because one
        customer may sit under two of a manager's assignments (two business lines, or a
        village and its group).
        """
        from peewee import Case, fn

        from app.models.territory import Assignment, Territory

        day = day or clock.today()
        ids = [m.id for m in managers]
        if not ids:
            return {}
        assigned = Territory.alias("assigned")
        visited = Case(None, [(Customer.id.in_(cls.this_week_customer_ids(verified_only=True, day=day)),
                               Customer.id)], None)
        rows = (Assignment
                .select(Assignment.user, fn.COUNT(fn.DISTINCT(Customer.id)), fn.COUNT(fn.DISTINCT(visited)))
                .join(assigned, on=(Assignment.territory == assigned.id))
                .join(Territory, on=(fn.substr(Territory.path, 1, fn.length(assigned.path)) == assigned.path))
                .join(Customer, on=(Customer.territory == Territory.id))
                .where(Assignment.user.in_(ids), Assignment.starts_on <= day,
                       Assignment.ends_on.is_null() | (Assignment.ends_on >= day),
                       Customer.kind.in_(COUNTED_KINDS), Customer.status == "active", Customer.consent)
                .group_by(Assignment.user)
                .tuples())
        figures = {user_id: (seen, total, seen / total if total else None) for user_id, total, seen in rows}
        return {i: figures.get(i, (0, 0, None)) for i in ids}

    @classmethod
    def day_counters(cls, user):
        """What the Today page counts: visits made today and this week's coverage of the 责任田."""
        start = clock.local_day_start_utc(clock.today())
        visits_today = cls.select().where((cls.user == user.id) & (cls.made_at >= start)).count()
        visited, total, ratio = cls.coverage(Customer.visible_to(user))
        return {"visits_today": visits_today, "visited": visited, "total": total, "coverage": ratio}


class VisitProduct(BaseModel):
    """A product pitched on a visit."""

    visit = ForeignKeyField(Visit, backref="products_pitched", on_delete="CASCADE")
    product = ForeignKeyField(Product, backref="pitches", on_delete="RESTRICT")

    class Meta:
        indexes = ((("visit", "product"), True),)


class FollowUp(BaseModel):
    customer = ForeignKeyField(Customer, backref="follow_ups", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="follow_ups", on_delete="RESTRICT")
    due_on = DateField()
    reason = TextField(default="", constraints=[default("''")])
    source_visit = ForeignKeyField(Visit, null=True, backref="follow_ups", on_delete="SET NULL")
    done_at = DateTimeField(null=True)
    created_at = created_at_field()

    class Meta:
        indexes = (
            (("user", "done_at", "due_on"), False),
            (("customer", "due_on"), False),
        )

