"""Visits (走访 / 签到) and the maintenance ledger (客户维护台账).

`Visit.check_in` is THE write path for a check-in: the visit form, the offline
batch endpoint and the demo all call it, so they can never disagree.
"""
import datetime as dt
import io
import math
import os
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from geopy.distance import geodesic
from peewee import (JOIN, Case, fn, BooleanField, DateField, DateTimeField, DoubleField, ForeignKeyField,
                    IntegrityError, TextField)

from app import clock, geo
from app.models.base import BaseModel, created_at_field, default, insert_cached, one_of, run_cached, run_shaped
from app.models.customer import Customer
from app.models.org import User
from app.models.product import Product
from app.models.territory import Territory

OUTCOMES = ("met", "not_home", "refused", "interested", "signed", "moved")
PITCH_RESULTS = ("pitched", "interested", "declined", "signed")

MERGE_WINDOW = dt.timedelta(minutes=10)    # a second check-in this close is the same visit
FIX_WINDOW = dt.timedelta(minutes=10)      # a fix this far from made-at is not this check-in's
FUTURE_SLACK = dt.timedelta(minutes=2)     # phones' clocks drift; more than this is refused
LATE_AFTER = dt.timedelta(minutes=10)      # received this long after made-at: made offline
MAX_ACCURACY_M = 2000                      # worse than this is no fix at all (cell towers)
PHOTO_MAX_BYTES = 300 * 1024               # the phone sends ≤ 200 KB; room for a PNG fallback
PHOTO_FORMATS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}


@dataclass(frozen=True)
class Fix:
    """A GPS fix as the phone's geolocation API gives it (WGS-84, metres, UTC naive)."""

    lat: float
    lng: float
    accuracy_m: float
    taken_at: dt.datetime


class CheckInRefused(ValueError):
    """A check-in that must not be stored; `code` names the rule, `message` says it in words.

    code "not_found" means the customer is outside the user's scope: views answer
    404 for it, like any other look-up outside the scope.
    """

    def __init__(self, code, message):
        super().__init__(str(message))
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CustomerRef:
    """The little of a customer a check-in reads."""

    id: int
    branch_id: int
    territory_id: int | None
    lat: float | None
    lng: float | None
    position_confirmed: bool
    territory_path: str | None


@dataclass
class CheckInResult:
    visit: "Visit"
    status: str  # "created", "merged" (into a visit of the last 10 minutes) or "replayed"


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
            (("made_at",), False),  # this week's visits, for coverage and the walk list
        )

    @classmethod
    def check_in(cls, user, customer_id, fix, made_at, client_uuid, outcome="met", products=(),
                 note="", next_follow_up_on=None, photo=None, now=None):
        """Check `user` in at a customer and record the visit: the one write path.

        user        the signed-in User making the check-in (its scope is checked here)
        customer_id id of the customer; outside the user's scope (on made-at's day or today)
                    → CheckInRefused("not_found"), which views turn into a 404
        fix         a Fix, or None when the phone gave no position (saved unverified)
        made_at     when the check-in was made on the phone (naive UTC); offline check-ins
                    arrive later and are judged on this time, flagged late, never refused
        client_uuid made on the phone; a replay of the same UUID returns the stored visit
        outcome     one of OUTCOMES
        products    [(product_id, result)] with result in PITCH_RESULTS
        note        free text
        next_follow_up_on  a date: creates (or, on a merge, moves) a FollowUp
        photo       the 门头照 as bytes (JPEG/PNG/WebP ≤ PHOTO_MAX_BYTES), kept under instance/
        now         the receiving moment (batch endpoints pass one for a whole batch)

        Returns CheckInResult(visit, status). Raises CheckInRefused before writing
        anything. A second check-in by the same user at the same customer within 10
        minutes updates that visit (outcome, products, note) and keeps both fixes in
        its history (VisitFix); the first fix decides verification.
        """
        now = now or clock.now()
        client_uuid = _valid_uuid(client_uuid)
        replay = _replayed(user, client_uuid)
        if replay is not None:
            return CheckInResult(replay, "replayed")
        if outcome not in OUTCOMES:
            raise CheckInRefused("outcome", _l("Choose what came of the visit."))
        if made_at > now + FUTURE_SLACK:
            raise CheckInRefused("future", _l("The check-in time is in the future: check the phone's clock."))
        customer = _customer_in_scope(user, customer_id, made_at)
        if fix is not None:
            _check_fix(fix, made_at)
        pitched = _valid_products(customer, products)
        photo_ext = _check_photo(photo) if photo else None
        note = (note or "").strip()[:2000]
        late = now - made_at > LATE_AFTER

        distance = verified = None
        unconfirmed = not customer.position_confirmed
        place_customer_here = fix is not None and customer.lat is None
        if fix is not None and customer.lat is not None:
            distance = geodesic((fix.lat, fix.lng), (customer.lat, customer.lng)).meters
            verified = distance <= allowed_distance_m(customer.branch_id, fix.accuracy_m)
        if place_customer_here:
            unconfirmed = True  # the first fix becomes the position, for a team lead to confirm

        photo_file = None
        try:
            with _write_transaction():
                first = cls._mergeable(user, customer.id, made_at)
                if first is None:
                    values = dict(
                        client_uuid=client_uuid, customer=customer.id, user=user.id, made_at=made_at,
                        received_at=now, lat=fix and fix.lat, lng=fix and fix.lng,
                        accuracy_m=fix and fix.accuracy_m, distance_m=distance,
                        verified=bool(verified), late=late,
                        position_unconfirmed=unconfirmed, outcome=outcome, note=note,
                        next_follow_up_on=next_follow_up_on, photo_path=None)
                    visit = cls(id=insert_cached(cls, values), **values)
                    status = "created"
                else:
                    visit, status = first, "merged"
                    visit.outcome = outcome
                    if note:
                        visit.note = note
                    if next_follow_up_on:
                        visit.next_follow_up_on = next_follow_up_on
                insert_cached(VisitFix, dict(
                    visit=visit.id, client_uuid=client_uuid, made_at=made_at, received_at=now,
                    lat=fix and fix.lat, lng=fix and fix.lng, accuracy_m=fix and fix.accuracy_m,
                    distance_m=distance, late=late))
                if pitched:
                    _record_pitches(visit, pitched, new=status == "created")
                if photo_ext:
                    photo_file = _store_photo(visit, client_uuid, photo, photo_ext)
                    visit.photo_path = photo_file[0]
                if status == "merged" or photo_ext:
                    visit.save()
                if next_follow_up_on:
                    FollowUp.plan(visit, next_follow_up_on, new=status == "created")
                if place_customer_here:
                    Customer.update(lat=fix.lat, lng=fix.lng, position_source="fix",
                                    position_confirmed=False, updated_at=now).where(
                        Customer.id == customer.id).execute()
        except IntegrityError:
            # The same UUID committed by a concurrent request: that one is the visit.
            if photo_file:
                _remove_quietly(photo_file[1])
            replay = _replayed(user, client_uuid)
            if replay is None:
                raise
            return CheckInResult(replay, "replayed")
        except Exception:
            if photo_file:  # the transaction rolled back: no photo without its visit
                _remove_quietly(photo_file[1])
            raise
        return CheckInResult(visit, status)

    @classmethod
    def _mergeable(cls, user, customer_id, made_at):
        """The visit a check-in made within 10 minutes of belongs to, if any."""
        start = dt.datetime(2000, 1, 1)
        row = run_cached(
            "mergeable",
            lambda: (cls.select(cls.id).where((cls.customer == 0) & (cls.user == 0)
                                              & cls.made_at.between(start, start))
                     .order_by(cls.made_at).limit(1)),
            (customer_id, user.id, made_at - MERGE_WINDOW, made_at + MERGE_WINDOW, 1)).fetchone()
        return None if row is None else cls.get_by_id(row[0])

    @property
    def local_made_at(self):
        return clock.to_local(self.made_at)

    def history(self):
        """Every fix that went into this visit, first first."""
        return self.fixes.order_by(VisitFix.made_at, VisitFix.id)

    def pitches(self):
        return (VisitProduct.select(VisitProduct, Product).join(Product)
                .where(VisitProduct.visit == self.id).order_by(Product.name))

    @classmethod
    def visible_to(cls, user):
        from app.models.scope import visit_scope

        return cls.select().join(Customer).where(visit_scope(user))

    @classmethod
    def this_week_customer_ids(cls, verified_only=False, day=None, since=None):
        """Ids of customers with a visit since Monday (Asia/Shanghai), or since a UTC moment."""
        if since is None:
            since = clock.local_day_start_utc(clock.week_bounds(day)[0])
        query = cls.select(cls.customer).where(cls.made_at >= since)
        if verified_only:
            query = query.where(cls.verified)
        return query

    # --- coverage (走访覆盖率): one definition ----------------------------------------------

    @classmethod
    def visited_customer_ids(cls, since, until, verified_only=True):
        """Ids of customers with a (verified) visit made in the UTC moments [since, until)."""
        query = cls.select(cls.customer).where((cls.made_at >= since) & (cls.made_at < until))
        return query.where(cls.verified) if verified_only else query

    @classmethod
    def coverage(cls, viewer, start=None, end=None, by=None, among=None, verified_only=True, as_of=None):
        """Coverage (走访覆盖率, DESIGN.md) of what `viewer` may see, for the business dates [start, end).

        The customers counted are the viewer's customers of the counted kinds of the
        viewer's bank (the `coverage_kinds` setting), present and consenting; the covered
        ones had at least one visit made in the period (a verified one unless
        verified_only is False). A figure is (visited, counted, ratio), the ratio None
        ("—", never 0 %) when nothing is counted.

        start, end  Asia/Shanghai business dates, end excluded: start is this Monday by
                    default, end the Monday after start's ISO week
        by          None: one figure for all of them;
                    "territory": {territory id: figure} for the ids in `among`, each
                    territory's customers being those of it and its subtree;
                    "manager": {user id: figure} for the managers (Users or ids) in `among`,
                    each counting the customers of the territories assigned to them on as_of
                    (a customer under two of their assignments counts once): each manager's
                    own scope, whoever views it; the caller passes managers the viewer may see;
                    "branch": {branch id: figure} by the customer's branch (among optional)
        as_of       the day whose territory membership and manager assignments count: the
                    period's last day, or today when that is later. Until the reports issue
                    keeps history, membership is today's (a customer's current territory)
                    whatever as_of says; that issue changes the inside, not this signature.

        The settings are read once per request, so this adds no query per row or figure.
        """
        from app.models.setting import counted_kinds

        if start is None:
            start = clock.week_bounds()[0]
        if end is None:
            end = clock.week_bounds(start)[0] + dt.timedelta(days=7)
        if as_of is None:
            as_of = min(end - dt.timedelta(days=1), clock.today())
        query = cls.coverage_query(
            clock.local_day_start_utc(start), clock.local_day_start_utc(end), counted_kinds(viewer.branch_id),
            by=by, among=among, customers=None if by == "manager" else Customer.visible_to(viewer, as_of),
            verified_only=verified_only, as_of=as_of)
        if query is None:
            return {}
        if by is None:
            counted, visited = query.scalar(as_tuple=True)
            return _figure(visited, counted)
        figures = {key: _figure(visited, counted) for key, counted, visited in query.tuples()}
        if among is None:
            return figures
        keys = [getattr(k, "id", k) for k in among]
        return {k: figures.get(k, (0, 0, None)) for k in keys}

    @classmethod
    def coverage_query(cls, since, until, kinds, by=None, among=None, customers=None, verified_only=True,
                       as_of=None):
        """The SELECT behind coverage(): [group key,] counted, visited; None when `among` is empty.

        since, until are UTC moments and kinds the counted kinds: the caller decides them,
        so a page that builds its SQL once (Today, base.run_shaped) runs the same query.
        customers is the query on Customer to count from (a scope); by and among as in coverage().
        """
        seen_ids = cls.visited_customer_ids(since, until, verified_only)
        base = customers if customers is not None else Customer.select()
        if by == "manager":
            from app.models.territory import Assignment

            ids = [getattr(m, "id", m) for m in among or ()]
            if not ids:
                return None
            day = as_of or clock.today()
            assigned = (Assignment.select(Assignment.territory)
                        .where(Assignment.user.in_(ids), Assignment.starts_on <= day,
                               Assignment.ends_on.is_null() | (Assignment.ends_on >= day)))
            query, territory_id = Customer.of_territories(assigned, base, kinds)
            # DISTINCT: a customer may sit under two of a manager's assignments (two business
            # lines, or a village and its group).
            seen = Case(None, [(Customer.id.in_(seen_ids), Customer.id)], None)
            return (query.join(Assignment, on=(Assignment.territory == territory_id))
                    .select(Assignment.user, fn.COUNT(fn.DISTINCT(Customer.id)), fn.COUNT(fn.DISTINCT(seen)))
                    .where(Assignment.user.in_(ids), Assignment.starts_on <= day,
                           Assignment.ends_on.is_null() | (Assignment.ends_on >= day))
                    .group_by(Assignment.user).order_by())
        # One pass over the customers (the covering index) instead of two counts.
        seen = Case(None, [(Customer.id.in_(seen_ids), 1)], 0)
        figures = (fn.COUNT(Customer.id), fn.COALESCE(fn.SUM(seen), 0))
        if by is None:
            return base.where(Customer.counted(kinds)).select(*figures).order_by()
        if by == "branch":
            query = base.where(Customer.counted(kinds))
            if among is not None:
                query = query.where(Customer.branch.in_([getattr(b, "id", b) for b in among]))
            return query.select(Customer.branch, *figures).group_by(Customer.branch).order_by()
        if by == "territory":
            ids = [getattr(t, "id", t) for t in among or ()]
            if not ids:
                return None
            query, territory_id = Customer.of_territories(ids, base, kinds)
            return query.select(territory_id, *figures).group_by(territory_id).order_by()
        raise ValueError(f"coverage by {by!r}: by nothing, territory, manager or branch")

    @classmethod
    def map_dots(cls, viewer):
        """(id, lng, lat, tier, visited) of each present customer the viewer may see that has a
        position, in id order: visited when a verified visit was made this week, as coverage
        counts it. The map's dots."""
        monday = clock.week_bounds()[0]
        this_week = cls.visited_customer_ids(clock.local_day_start_utc(monday),
                                             clock.local_day_start_utc(monday + dt.timedelta(days=7)))
        return (Customer.visible_to(viewer)
                .select(Customer.id, Customer.lng, Customer.lat, Customer.tier,
                        Case(None, [(Customer.id.in_(this_week), 1)], 0))
                .where(Customer.present(), Customer.lng.is_null(False), Customer.lat.is_null(False))
                .order_by(Customer.id).tuples())

    @classmethod
    def day_counters(cls, user):
        """What a manager's Today counts: visits made today and this week's coverage of the 责任田.

        The figures of coverage(user), in one query whose SQL is built once per set of
        counted kinds (base.run_shaped): Today is the page every manager opens all day.
        """
        from app.models.scope import customer_scope, stand_in_manager
        from app.models.setting import counted_kinds

        if user.role != "manager":
            raise ValueError("Today's counters are a manager's")
        today = clock.today()
        monday = clock.week_bounds(today)[0]
        kinds = counted_kinds(user.branch_id)
        total, visited, visits_today = run_shaped(
            "day_counters:" + ",".join(kinds),
            lambda user_id, day, day_start, week_start, week_end: cls.coverage_query(
                week_start, week_end, kinds, customers=Customer.select().where(
                    customer_scope(stand_in_manager(user_id), day)))
            .select_extend(cls.select(fn.COUNT(cls.id)).where((cls.user == user_id) & (cls.made_at >= day_start))),
            user_id=user.id, day=today, day_start=clock.local_day_start_utc(today),
            week_start=clock.local_day_start_utc(monday),
            week_end=clock.local_day_start_utc(monday + dt.timedelta(days=7))).fetchone()
        visited, total, ratio = _figure(visited, total)
        return {"visits_today": int(visits_today or 0), "visited": visited, "total": total, "coverage": ratio}


def _figure(visited, counted):
    """(visited, counted, ratio or None): a coverage figure from a row's two counts."""
    visited, counted = int(visited or 0), int(counted or 0)
    return visited, counted, (visited / counted if counted else None)


class VisitProduct(BaseModel):
    """A product pitched on a visit, and how the customer took it."""

    visit = ForeignKeyField(Visit, backref="products_pitched", on_delete="CASCADE")
    product = ForeignKeyField(Product, backref="pitches", on_delete="RESTRICT")
    result = TextField(default="pitched", constraints=[one_of("result", PITCH_RESULTS),
                                                       default("'pitched'")])

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


    @classmethod
    def plan(cls, visit, due_on, new=False):
        """The follow-up a visit asks for: one per visit, moved when the visit is updated."""
        if new:  # a visit just written has none yet
            return insert_cached(cls, dict(customer=visit.customer_id, user=visit.user_id, due_on=due_on,
                                           source_visit=visit.id, reason=visit.note[:200]))
        existing = cls.get_or_none((cls.source_visit == visit.id) & cls.done_at.is_null())
        if existing is not None:
            existing.due_on = due_on
            existing.save()
            return existing
        return cls.create(customer=visit.customer_id, user=visit.user_id, due_on=due_on,
                          source_visit=visit.id, reason=visit.note[:200])

    @classmethod
    def visible_to(cls, user):
        """Follow-ups of customers the user may see (a manager: their own)."""
        from app.models.scope import follow_up_scope

        return cls.select().join(Customer).where(follow_up_scope(user))

    @classmethod
    def ledger(cls, user, day=None):
        """The manager's open follow-ups as {"overdue", "today", "week"} lists (客户维护台账)."""
        day = day or clock.today()
        _, sunday = clock.week_bounds(day)
        rows = (cls.select(cls, Customer).join(Customer)
                .where((cls.user == user.id) & cls.done_at.is_null() & (cls.due_on <= sunday))
                .order_by(cls.due_on, Customer.name))
        groups = {"overdue": [], "today": [], "week": []}
        for f in rows:
            key = "overdue" if f.due_on < day else "today" if f.due_on == day else "week"
            groups[key].append(f)
        return groups

    def mark_done(self):
        self.done_at = clock.now()
        self.save()

    def reschedule(self, due_on):
        self.due_on = due_on
        self.save()


class VisitFix(BaseModel):
    """One check-in that went into a visit: its fix, when it was made and received.

    client_uuid is UNIQUE here too, so a replayed merge is stored once as well.
    """

    visit = ForeignKeyField(Visit, backref="fixes", on_delete="CASCADE")
    client_uuid = TextField(unique=True)
    made_at = DateTimeField()
    received_at = created_at_field()
    lat = DoubleField(null=True)
    lng = DoubleField(null=True)
    accuracy_m = DoubleField(null=True)
    distance_m = DoubleField(null=True)
    late = BooleanField(default=False, constraints=[default("FALSE")])


# --- check-in rules -----------------------------------------------------------------

def allowed_distance_m(branch_id, accuracy_m):
    """How far from the customer a fix may be and still verify the visit, or -1 when never.

    The bank's radius, widened by the fix's accuracy, but never beyond the cap; a fix
    less accurate than the cap never verifies.
    """
    from app.models.setting import for_branch

    rules = for_branch(branch_id, ("check_in_radius_m", "check_in_radius_cap_m"))
    radius, cap = rules["check_in_radius_m"], rules["check_in_radius_cap_m"]
    if accuracy_m > cap:
        return -1
    return min(radius + accuracy_m, max(radius, cap))


def _valid_uuid(text):
    import uuid

    try:
        return str(uuid.UUID(str(text)))
    except ValueError:
        raise CheckInRefused("uuid", _l("The check-in has no valid identifier: reload the page.")) from None


def _replayed(user, client_uuid):
    """The visit this UUID already went into, if it was the same user's."""
    row = (run_cached("replay_fix", lambda: VisitFix.select(VisitFix.visit).where(VisitFix.client_uuid == ""),
                      (client_uuid,)).fetchone()
           or run_cached("replay_visit", lambda: Visit.select(Visit.id).where(Visit.client_uuid == ""),
                         (client_uuid,)).fetchone())
    if row is None:
        return None
    visit_id = row[0]
    visit = Visit.get_by_id(visit_id)
    if visit.user_id != user.id:
        raise CheckInRefused("uuid", _l("The check-in has no valid identifier: reload the page."))
    return visit


def _write_transaction():
    """A transaction that reads then writes.

    On SQLite it takes the write lock up front (BEGIN IMMEDIATE): a deferred transaction
    that read first cannot upgrade once another worker has committed, and fails at once
    with "database is locked" whatever busy_timeout says (seen under gunicorn at 20
    check-ins a second). Waiting for the lock at BEGIN is what busy_timeout covers.
    """
    from peewee import SqliteDatabase

    from app.db import database

    if isinstance(database.obj, SqliteDatabase):
        return database.atomic("IMMEDIATE")
    return database.atomic()


def _customer_in_scope(user, customer_id, made_at):
    """The customer if the user's scope held it when the check-in was made, or holds it now."""
    from app.models.scope import holds_customer

    try:
        customer_id = int(getattr(customer_id, "id", customer_id))
    except (TypeError, ValueError):
        raise CheckInRefused("not_found", _l("No such customer.")) from None
    # Only what a check-in needs: building the archive's 45 columns costs more than the query.
    row = run_cached(
        "check_in_customer",
        lambda: (Customer.select(Customer.id, Customer.branch, Customer.territory, Customer.lat,
                                 Customer.lng, Customer.position_confirmed, Territory.path)
                 .join(Territory, JOIN.LEFT_OUTER, on=(Customer.territory == Territory.id))
                 .where(Customer.id == 0)),
        (customer_id,)).fetchone()
    customer = None if row is None else CustomerRef(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6])
    if customer is None or not holds_customer(user, customer, days=(clock.to_local(made_at).date(),)):
        raise CheckInRefused("not_found", _l("No such customer."))
    return customer


def _check_fix(fix, made_at):
    numbers = (fix.lat, fix.lng, fix.accuracy_m)
    if not all(isinstance(n, (int, float)) and math.isfinite(n) for n in numbers) or fix.accuracy_m < 0:
        raise CheckInRefused("fix", _l("The phone sent an unreadable position."))
    if not (geo.CHINA[0] <= fix.lng <= geo.CHINA[2] and geo.CHINA[1] <= fix.lat <= geo.CHINA[3]):
        raise CheckInRefused("outside_china", _l("The position is outside China: check the phone's location setting."))
    if fix.accuracy_m > MAX_ACCURACY_M:
        raise CheckInRefused("accuracy", _l("The position is accurate only to %(m)s m (2 km at most): "
                                            "step outside and try again.", m=round(fix.accuracy_m)))
    if abs(fix.taken_at - made_at) > FIX_WINDOW:
        raise CheckInRefused("stale_fix", _l("The position was taken more than 10 minutes from the "
                                             "check-in: take a new one."))


def _valid_products(customer, products):
    """[(Product, result)] for the customer's bank, or refused when one is not in its catalogue."""
    from app.models.product import Product

    wanted = {}
    for product_id, result in products or ():
        if result not in PITCH_RESULTS:
            raise CheckInRefused("product", _l("Choose how the customer took each product."))
        try:
            wanted[int(product_id)] = result
        except (TypeError, ValueError):
            raise CheckInRefused("product", _l("Choose products from the bank's catalogue.")) from None
    if not wanted:
        return []
    from peewee import fn

    from app.models.org import Branch

    bank, branch = Branch.alias("bank"), Branch.alias("of_branch")
    offered = {row[0] for row in run_cached(
        "offered_products",
        lambda: (Product.select(Product.id)
                 .join(bank, on=(Product.bank == bank.id))
                 .join(branch, on=(fn.substr(branch.path, 1, fn.length(bank.path)) == bank.path))
                 .where((branch.id == 0) & (bank.kind == "bank") & (Product.active == True))),  # noqa: E712
        (1, customer.branch_id, "bank", True)).fetchall()}
    if not set(wanted) <= offered:
        raise CheckInRefused("product", _l("Choose products from the bank's catalogue."))
    return [(_ProductRef(pid), result) for pid, result in wanted.items()]


@dataclass(frozen=True)
class _ProductRef:
    id: int


def _record_pitches(visit, pitched, new=False):
    if new:
        for product, result in pitched:
            insert_cached(VisitProduct, dict(visit=visit.id, product=product.id, result=result))
        return
    for product, result in pitched:
        updated = (VisitProduct.update(result=result)
                   .where((VisitProduct.visit == visit.id) & (VisitProduct.product == product.id)).execute())
        if not updated:
            VisitProduct.create(visit=visit.id, product=product.id, result=result)


def _check_photo(data):
    """The file extension of an acceptable photo, or refused (too big, or not an image)."""
    if len(data) > PHOTO_MAX_BYTES:
        raise CheckInRefused("photo", _l("The photo is too large (at most %(kb)s KB).",
                                         kb=PHOTO_MAX_BYTES // 1024))
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
            kind = image.format
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        kind = None
    if kind not in PHOTO_FORMATS:
        raise CheckInRefused("photo", _l("The photo is not a JPEG, PNG or WebP image."))
    return PHOTO_FORMATS[kind]


def photo_root():
    from flask import current_app

    return current_app.config.get("PHOTO_DIR") or os.path.join(current_app.instance_path, "photos")


def _store_photo(visit, client_uuid, data, ext):
    """Write the photo under instance/photos/; (path relative to that folder, absolute path)."""
    relative = f"{visit.made_at:%Y%m}/{visit.id}-{client_uuid[:8]}.{ext}"
    absolute = os.path.join(photo_root(), relative)
    os.makedirs(os.path.dirname(absolute), exist_ok=True)
    with open(absolute, "wb") as out:
        out.write(data)
    return relative, absolute


def _remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass
