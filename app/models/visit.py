"""Visits (走访 / 签到) and the maintenance ledger (跟进待办).

`Visit.check_in` is THE write path for a check-in: the visit form and the demo both
call it, and it refuses with one `Refused` (models/refused.py) listing every problem.
"""
import datetime as dt
import math
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from geopy.distance import geodesic
from peewee import (JOIN, Case, fn, BooleanField, DateField, DateTimeField, DoubleField, ForeignKeyField,
                    IntegrityError, SqliteDatabase, TextField)

from app import clock, geo
from app.db import chinese_order, database
from app.models.base import BaseModel, created_at_field, default, one_of
from app.models.prepared import Prepared, PreparedInsert
from app.models.history import coverage_query as snapshot_coverage, snapshot_week
from app.models.customer import Customer, holds_customer
from app.models.org import Branch, User
from app.models.product import Product
from app.models.refused import Problems, Refused
from app.models.scope import manager_with_id, records
from app.models.setting import counted_kinds, for_branch
from app.models.territory import Assignment, Territory
from app.models.vocabulary import CUSTOMER_KINDS
from app.models.visit_photo import PHOTO_MAX_BYTES, photo_root  # noqa: F401 (the views read them here)
from app.models.visit_photo import check_photo as _check_photo, remove_quietly as _remove_quietly
from app.models.visit_photo import store_photo as _store_photo

OUTCOMES = ("met", "not_home", "refused", "interested", "applied", "signed", "moved")
PITCH_RESULTS = ("pitched", "interested", "declined", "applied", "documents", "signed")
# A loan is never signed at the door: the branch signs it after its checks, so a visit takes its
# application (已受理) or papers (已收资料); other products may be signed (已办理) on the spot.
LOAN_RESULTS = ("pitched", "interested", "declined", "applied", "documents")
SPOT_RESULTS = ("pitched", "interested", "declined", "signed")
REVIEWS = ("confirmed", "rejected")


def results_for(kind):
    """How a customer may take a product of this kind on a visit."""
    return LOAN_RESULTS if kind == "loan" else SPOT_RESULTS

MERGE_WINDOW = dt.timedelta(minutes=10)    # a second check-in this close is the same visit
FIX_WINDOW = dt.timedelta(minutes=10)      # a fix this far from made-at is not this check-in's
FUTURE_SLACK = dt.timedelta(minutes=2)     # phones' clocks drift; more than this is refused
LATE_AFTER = dt.timedelta(minutes=10)      # received this long after made-at: made offline
FOLLOW_UP_AHEAD = dt.timedelta(days=366)   # a follow-up is planned from today to a year ahead
MAX_ACCURACY_M = 2000                      # worse than this is no fix at all (cell towers)


@dataclass(frozen=True)
class Fix:
    """A GPS fix as the phone's geolocation API gives it (WGS-84, metres, UTC naive)."""

    lat: float
    lng: float
    accuracy_m: float
    taken_at: dt.datetime


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
    # A team lead's decision (review.decide): a confirmed visit counts as verified, a rejected one never.
    review = TextField(null=True, constraints=[one_of("review", REVIEWS)])
    reviewed_by = ForeignKeyField(User, null=True, backref="reviewed_visits", on_delete="SET NULL")
    reviewed_at = DateTimeField(null=True)
    review_note = TextField(default="", constraints=[default("''")])

    class Meta:
        indexes = (
            # Covering: a customer's visits in a window, with what decides whether each counts
            # (the coverage page reads every customer's this way, issue 18)
            (("customer", "made_at", "verified", "review"), False),
            (("user", "made_at"), False),
            (("made_at", "customer", "verified", "review"), False),  # a period's visits, for coverage and Today
            # the visits received or reviewed since the coverage page last looked (team_figures)
            (("received_at",), False),
            (("reviewed_at",), False),
        )

    @classmethod
    def check_in(cls, user, customer_id, fix, made_at, client_uuid, outcome="met", products=(),
                 note="", next_follow_up_on=None, photo=None, now=None):
        """Check `user` in at a customer and record the visit: the one write path.

        user        the signed-in User making the check-in (its scope is checked here)
        customer_id id of the customer; outside the user's scope on made-at's business day
                    and today → Refused with code "not_found" and no other reason, which
                    views turn into a 404
        fix         a Fix, or None when the phone gave no position (saved unverified)
        made_at     when the check-in was made on the phone (naive UTC); offline check-ins
                    arrive later and are judged on this time and flagged late; one made
                    more than the bank's late_check_in_days (setting, default 7) before
                    `now` is refused with the reason ("too_late"), as is one more than
                    FUTURE_SLACK after `now` ("future")
        client_uuid made on the phone; a replay of the same UUID (the same user's, the same
                    customer) returns the stored visit with status "replayed" before any other
                    rule is read; the same UUID for another customer is Refused with code
                    "conflict" (a body that would otherwise be dropped silently)
        outcome     one of OUTCOMES
        products    [(product_id, result)], each product in the active catalogue of the customer's
                    bank, result in results_for(its kind): a loan is never "signed" at a visit,
                    nor is a visit on loans alone ("loan_signed")
        note        free text, stripped and cut to 2,000 characters
        next_follow_up_on  a date, not before made-at's business day or today and at most
                    a year ahead (as the ledger's reschedule): creates (or, on a merge,
                    moves) the visit's FollowUp
        photo       the 门头照 as bytes (JPEG/PNG/WebP ≤ PHOTO_MAX_BYTES), kept under
                    instance/photos/ (removed again if the transaction rolls back)
        now         the receiving moment (default clock.now()); decides lateness and the future

        Returns CheckInResult(visit, status). Every rule is checked before anything is
        written, and one Refused lists every problem found (errors by field: client_uuid,
        outcome, made_at, fix, products, photo, next_follow_up_on; code names the first
        rule broken: "uuid", "outcome", "future", "fix", "outside_china", "accuracy",
        "stale_fix", "product", "photo", "follow_up"). A fix farther than the bank's radius
        is not refused: the visit is kept unverified with its distance. A customer with no
        position takes the fix as an unconfirmed position. A second check-in by the same
        user at the same customer within MERGE_WINDOW updates that visit (outcome,
        products, note, follow-up) instead of adding one, and keeps both fixes in its
        history (VisitFix); the first fix decides verification. The visit, its fix,
        pitches, follow-up and the customer's new position are written in one
        transaction (BEGIN IMMEDIATE on SQLite); the same UUID committed by a concurrent
        request makes this one a replay.
        """
        now = now or clock.now()
        problems = Problems()
        client_uuid = _valid_uuid(client_uuid, problems)
        if client_uuid is not None:
            replay = _replayed(user, client_uuid, customer_id)
            if replay is not None:
                return CheckInResult(replay, "replayed")
        # A made-at past the future slack is refused below; its business day is judged at the
        # slack, so a phone's year 9999 (or year 1 with its offset) never overflows a date.
        judged_at = min(made_at, now + FUTURE_SLACK)
        # Outside the scope is a 404 and nothing else: no other reason may tell about the customer.
        customer = _customer_in_scope(user, customer_id, judged_at)
        if outcome not in OUTCOMES:
            problems.add("outcome", _l("Choose what came of the visit."))
        if made_at > now + FUTURE_SLACK:
            problems.add("made_at", _l("The check-in time is in the future: check the phone's clock."), "future")
        else:
            days = for_branch(customer.branch_id, ("late_check_in_days",))["late_check_in_days"]
            if now - made_at > dt.timedelta(days=days):
                problems.add("made_at", _l("This check-in was made on %(day)s, more than %(days)s days ago: "
                                           "the bank accepts late check-ins for %(days)s days. Record "
                                           "the visit again if it matters.",
                                           day=clock.to_local(made_at).date().isoformat(), days=days),
                             "too_late")
        if fix is not None:
            _check_fix(fix, made_at, problems)
        pitched = _valid_products(customer, products, problems)
        if outcome == "signed" and pitched and all(kind == "loan" for _, _, kind in pitched):
            problems.add("outcome", _l("A loan is signed at the branch after its checks: record the visit "
                                       "as “application taken” instead."), "loan_signed")
        photo_ext = _check_photo(photo, problems) if photo else None
        if next_follow_up_on is not None and next_follow_up_on < min(clock.to_local(judged_at).date(),
                                                                      clock.today()):
            problems.add("next_follow_up_on", _l("The next follow-up cannot be in the past."), "follow_up")
        elif next_follow_up_on is not None and next_follow_up_on > clock.today() + FOLLOW_UP_AHEAD:
            problems.add("next_follow_up_on", _l("Choose a date from today to a year ahead."), "follow_up")
        problems.check()
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
                    visit = cls(id=_INSERT_VISIT(**values), **values)
                    status = "created"
                else:
                    visit, status = first, "merged"
                    visit.outcome = outcome
                    if note:
                        visit.note = note
                    if next_follow_up_on:
                        visit.next_follow_up_on = next_follow_up_on
                _INSERT_FIX(
                    visit=visit.id, client_uuid=client_uuid, made_at=made_at, received_at=now,
                    lat=fix and fix.lat, lng=fix and fix.lng, accuracy_m=fix and fix.accuracy_m,
                    distance_m=distance, late=late)
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
            replay = _replayed(user, client_uuid, customer.id)
            if replay is None:
                raise
            return CheckInResult(replay, "replayed")
        except Exception:
            if photo_file:  # the transaction rolled back: no photo without its visit
                _remove_quietly(photo_file[1])
            raise
        return CheckInResult(visit, status)

    @classmethod
    def last_at(cls, user, customer_id):
        """The customer's latest visit the user may see (its note is what the next visit reads first)."""
        return cls.visible_to(user).where(cls.customer == customer_id).order_by(cls.made_at.desc()).first()

    @classmethod
    def _mergeable(cls, user, customer_id, made_at):
        """The visit a check-in made within 10 minutes of belongs to, if any."""
        visit_id = _MERGEABLE.scalar(customer_id=customer_id, user_id=user.id,
                                     start=made_at - MERGE_WINDOW, end=made_at + MERGE_WINDOW)
        return None if visit_id is None else cls.get_by_id(visit_id)

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
        """Visits of customers the user may see (a manager: their own), joined to Customer."""
        return cls.select().join(Customer).where(records(user, Customer.branch, owners=(cls.user,)))

    @classmethod
    def this_week_customer_ids(cls, verified_only=False, day=None, since=None):
        """Ids of customers with a visit since Monday (Asia/Shanghai), or since a UTC moment."""
        if since is None:
            since = clock.local_day_start_utc(clock.week_bounds(day)[0])
        query = cls.select(cls.customer).where(cls.made_at >= since)
        if verified_only:
            query = query.where(cls.counts())
        return query

    # --- coverage (走访覆盖率): one definition ----------------------------------------------

    @classmethod
    def visited_customer_ids(cls, since, until, verified_only=True):
        """Ids of customers with a visit made in the UTC moments [since, until) that counts: one
        not rejected by a team lead, and (verified_only) verified by its fix or confirmed."""
        query = cls.select(cls.customer).where((cls.made_at >= since) & (cls.made_at < until))
        return query.where(cls.counts(verified_only))

    @classmethod
    def counts(cls, verified_only=True):
        """The condition "this visit counts": verified (or confirmed), never rejected."""
        if verified_only:
            return (cls.verified & cls.review.is_null()) | (cls.review == "confirmed")
        return cls.review.is_null() | (cls.review != "rejected")

    @classmethod
    def coverage(cls, viewer, start=None, end=None, by=None, among=None, verified_only=True, as_of=None):
        """Coverage (走访覆盖率, DESIGN.md) of what `viewer` may see, for the business dates [start, end).

        The customers counted are the viewer's customers of the counted kinds of the
        viewer's bank (the `coverage_kinds` setting), present and consenting; the covered
        ones had a visit made in the period that counts (Visit.counts: verified or confirmed
        unless verified_only is False, never rejected). A figure is (visited, counted, ratio),
        the ratio None ("—", never 0 %) when nothing is counted.

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
        as_of       the day whose manager assignments count: the period's last day, or today
                    when that is later. A period inside one closed week counts that week's
                    snapshot (models/history.py: territory, tier, status and visits as the week
                    closed), so a past week stays true; an open week counts today's rows.

        The settings are read once per request, so this adds no query per row or figure.
        """
        if start is None:
            start = clock.week_bounds()[0]
        if end is None:
            end = clock.week_bounds(start)[0] + dt.timedelta(days=7)
        if as_of is None:
            as_of = min(end - dt.timedelta(days=1), clock.today())
        since, until = clock.local_day_start_utc(start), clock.local_day_start_utc(end)
        kinds = counted_kinds(viewer.branch_id)
        monday = snapshot_week(start, end)
        if monday is not None:
            query = snapshot_coverage(monday, since, until, kinds, viewer, by, among, verified_only, as_of)
        else:
            query = cls.coverage_query(
                since, until, kinds, by=by, among=among,
                customers=None if by == "manager" else Customer.visible_to(viewer, as_of),
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
        so a page that builds its SQL once (Today, a Prepared query) runs the same query.
        customers is the query on Customer to count from (a scope); by and among as in coverage().
        """
        seen_ids = cls.visited_customer_ids(since, until, verified_only)
        base = customers if customers is not None else Customer.select()
        if by == "manager":
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
    def map_dots(cls, viewer, start=None, end=None):
        """(id, lng, lat, tier, visited) of each present customer the viewer may see that has a
        position, in id order: visited when a verified visit was made in the business dates
        [start, end) (this week by default), as coverage counts it. The map's dots."""
        start = start or clock.week_bounds()[0]
        end = end or start + dt.timedelta(days=7)
        this_week = cls.visited_customer_ids(clock.local_day_start_utc(start), clock.local_day_start_utc(end))
        return (Customer.visible_to(viewer)
                .select(Customer.id, Customer.lng, Customer.lat, Customer.tier,
                        Case(None, [(Customer.id.in_(this_week), 1)], 0))
                .where(Customer.present(), Customer.lng.is_null(False), Customer.lat.is_null(False))
                .order_by(Customer.id).tuples())

    @classmethod
    def day_counters(cls, user):
        """What a manager's Today counts: visits made today and this week's coverage of the 责任田.

        The figures of coverage(user), in one query whose SQL is built once
        (_DAY_COUNTERS): Today is the page every manager opens all day. The bank's counted
        kinds fill fixed slots, so every bank's setting runs the same SQL.
        """
        if user.role != "manager":
            raise ValueError("Today's counters are a manager's")
        today = clock.today()
        monday = clock.week_bounds(today)[0]
        total, visited, visits_today = _DAY_COUNTERS.one(
            user_id=user.id, day=today, day_start=clock.local_day_start_utc(today),
            week_start=clock.local_day_start_utc(monday),
            week_end=clock.local_day_start_utc(monday + dt.timedelta(days=7)),
            **kind_slots(counted_kinds(user.branch_id)))
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
    handed_by = ForeignKeyField(User, null=True, backref="handed_follow_ups", on_delete="SET NULL")
    handed_at = DateTimeField(null=True)  # when a team lead gave it to this user (team.reassign_follow_up)

    class Meta:
        indexes = (
            (("user", "done_at", "due_on"), False),
            (("customer", "due_on"), False),
        )


    @classmethod
    def plan(cls, visit, due_on, new=False):
        """The follow-up a visit asks for: one per visit, moved when the visit is updated."""
        if new:  # a visit just written has none yet
            return _INSERT_FOLLOW_UP(customer=visit.customer_id, user=visit.user_id, due_on=due_on,
                                     source_visit=visit.id, reason=visit.note[:200])
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
        return cls.select().join(Customer).where(records(user, Customer.branch, owners=(cls.user,)))

    @classmethod
    def ledger(cls, user, day=None):
        """The manager's open follow-ups as {"overdue", "today", "week"} lists (跟进待办)."""
        day = day or clock.today()
        _, sunday = clock.week_bounds(day)
        rows = (cls.select(cls, Customer).join(Customer)
                .where((cls.user == user.id) & cls.done_at.is_null() & (cls.due_on <= sunday))
                .order_by(cls.due_on, chinese_order(Customer.name)))
        groups = {"overdue": [], "today": [], "week": []}
        for f in rows:
            key = "overdue" if f.due_on < day else "today" if f.due_on == day else "week"
            groups[key].append(f)
        return groups

    def mark_done(self):
        self.done_at = clock.now()
        self.save()

    def reschedule(self, due_on):
        """Move the follow-up to due_on, from today to a year ahead; Refused otherwise."""
        today = clock.today()
        if not today <= due_on <= today + FOLLOW_UP_AHEAD:
            raise Refused({"due_on": _l("Choose a date from today to a year ahead.")})
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
    rules = for_branch(branch_id, ("check_in_radius_m", "check_in_radius_cap_m"))
    radius, cap = rules["check_in_radius_m"], rules["check_in_radius_cap_m"]
    if accuracy_m > cap:
        return -1
    return min(radius + accuracy_m, max(radius, cap))


def _valid_uuid(text, problems):
    import uuid

    try:
        return str(uuid.UUID(str(text)))
    except ValueError:
        problems.add("client_uuid", _l("The check-in has no valid identifier: reload the page."), "uuid")
        return None


def _replayed(user, client_uuid, customer_id):
    """The visit this UUID already went into, if it was the same user's at the same customer."""
    visit_id = _REPLAY_FIX.scalar(client_uuid=client_uuid)
    if visit_id is None:
        visit_id = _REPLAY_VISIT.scalar(client_uuid=client_uuid)
    if visit_id is None:
        return None
    visit = Visit.get_by_id(visit_id)
    if visit.user_id != user.id:
        raise Refused({"client_uuid": _l("The check-in has no valid identifier: reload the page.")}, code="uuid")
    if str(visit.customer_id) != str(getattr(customer_id, "id", customer_id)).strip():
        raise Refused.conflict(errors={"client_uuid": _l(
            "This check-in's identifier was already used at another customer: nothing was saved. "
            "Check in again.")})
    return visit


def _write_transaction():
    """A transaction that reads then writes.

    On SQLite it takes the write lock up front (BEGIN IMMEDIATE): a deferred transaction
    that read first cannot upgrade once another worker has committed, and fails at once
    with "database is locked" whatever busy_timeout says (seen under gunicorn at 20
    check-ins a second). Waiting for the lock at BEGIN is what busy_timeout covers.
    """
    if isinstance(database.obj, SqliteDatabase):
        return database.atomic("IMMEDIATE")
    return database.atomic()


def _customer_in_scope(user, customer_id, made_at):
    """The customer if the user's scope held it when the check-in was made, or holds it now."""
    try:
        customer_id = int(getattr(customer_id, "id", customer_id))
    except (TypeError, ValueError):
        raise Refused.not_found(_l("No such customer.")) from None
    # Only what a check-in needs: building the archive's 45 columns costs more than the query.
    row = _CHECK_IN_CUSTOMER.cursor(customer_id=customer_id).fetchone()
    customer = None if row is None else CustomerRef(row[0], row[1], row[2], row[3], row[4], bool(row[5]), row[6])
    if customer is None or not holds_customer(user, customer, days=(clock.to_local(made_at).date(),)):
        raise Refused.not_found(_l("No such customer."))
    return customer


def _check_fix(fix, made_at, problems):
    """The fix's one problem, if any, added to problems (each rule assumes the ones before)."""
    numbers = (fix.lat, fix.lng, fix.accuracy_m)
    if not all(isinstance(n, (int, float)) and math.isfinite(n) for n in numbers) or fix.accuracy_m < 0:
        problems.add("fix", _l("The phone sent an unreadable position."))
    elif not (geo.CHINA[0] <= fix.lng <= geo.CHINA[2] and geo.CHINA[1] <= fix.lat <= geo.CHINA[3]):
        problems.add("fix", _l("The position is outside China: check the phone's location setting."),
                     "outside_china")
    elif fix.accuracy_m > MAX_ACCURACY_M:
        problems.add("fix", _l("The position is accurate only to %(m)s m (2 km at most): "
                               "step outside and try again.", m=round(fix.accuracy_m)), "accuracy")
    elif not isinstance(fix.taken_at, dt.datetime) or abs(fix.taken_at - made_at) > FIX_WINDOW:
        problems.add("fix", _l("The position was taken more than 10 minutes from the "
                               "check-in: take a new one."), "stale_fix")


def _valid_products(customer, products, problems):
    """[(Product, result)] for the customer's bank; a product not in its catalogue, or a
    result not in PITCH_RESULTS, is added to problems."""
    wanted = {}
    for product_id, result in products or ():
        if result not in PITCH_RESULTS:
            problems.add("products", _l("Choose how the customer took each product."), "product")
            return []
        try:
            wanted[int(product_id)] = result
            if not 0 < int(product_id) < 2**31:  # no product has such an id (nor can SQL bind it)
                raise ValueError(product_id)
        except (TypeError, ValueError):
            problems.add("products", _l("Choose products from the bank's catalogue."), "product")
            return []
    if not wanted:
        return []
    offered = dict(_OFFERED_PRODUCTS.cursor(branch_id=customer.branch_id))
    if not set(wanted) <= set(offered):
        problems.add("products", _l("Choose products from the bank's catalogue."), "product")
        return []
    if any(result not in results_for(offered[pid]) for pid, result in wanted.items()):
        problems.add("products", _l("A loan is not signed during a visit: the branch signs it after its "
                                    "checks. Record it as “application taken” or “documents received”."),
                     "loan_signed")
        return []
    return [(_ProductRef(pid), result, offered[pid]) for pid, result in wanted.items()]


@dataclass(frozen=True)
class _ProductRef:
    id: int


def _record_pitches(visit, pitched, new=False):
    if new:
        for product, result, _kind in pitched:
            _INSERT_PITCH(visit=visit.id, product=product.id, result=result)
        return
    for product, result, _kind in pitched:
        updated = (VisitProduct.update(result=result)
                   .where((VisitProduct.visit == visit.id) & (VisitProduct.product == product.id)).execute())
        if not updated:
            VisitProduct.create(visit=visit.id, product=product.id, result=result)


# --- what the check-in and Today run on every request: SQL built once ----------------

_INSERT_VISIT = PreparedInsert(Visit)
_INSERT_FIX = PreparedInsert(VisitFix)
_INSERT_PITCH = PreparedInsert(VisitProduct)
_INSERT_FOLLOW_UP = PreparedInsert(FollowUp)

_MERGEABLE = Prepared(
    "mergeable",
    lambda p: (Visit.select(Visit.id)
               .where((Visit.customer == p.customer_id) & (Visit.user == p.user_id)
                      & Visit.made_at.between(p.start, p.end))
               .order_by(Visit.made_at).limit(1)))

_REPLAY_FIX = Prepared("replay_fix",
                       lambda p: VisitFix.select(VisitFix.visit).where(VisitFix.client_uuid == p.client_uuid))
_REPLAY_VISIT = Prepared("replay_visit", lambda p: Visit.select(Visit.id).where(Visit.client_uuid == p.client_uuid))

# Only what a check-in needs: building the archive's 45 columns costs more than the query.
_CHECK_IN_CUSTOMER = Prepared(
    "check_in_customer",
    lambda p: (Customer.select(Customer.id, Customer.branch, Customer.territory, Customer.lat,
                               Customer.lng, Customer.position_confirmed, Territory.path)
               .join(Territory, JOIN.LEFT_OUTER, on=(Customer.territory == Territory.id))
               .where(Customer.id == p.customer_id)))


def _offered_products(p):
    bank, branch = Branch.alias("bank"), Branch.alias("of_branch")
    return (Product.select(Product.id, Product.kind)
            .join(bank, on=(Product.bank == bank.id))
            .join(branch, on=(fn.substr(branch.path, 1, fn.length(bank.path)) == bank.path))
            .where((branch.id == p.branch_id) & (bank.kind == "bank") & (Product.active == True)))  # noqa: E712


_OFFERED_PRODUCTS = Prepared("offered_products", _offered_products)


KIND_SLOTS = len(CUSTOMER_KINDS)  # a bank counts at most every kind


def kind_slots(kinds):
    """The counted kinds as KIND_SLOTS named values (the first repeated in unused slots), so
    one prepared SQL text serves every bank's setting."""
    kinds = tuple(kinds)
    return {f"kind{i}": kinds[min(i, len(kinds) - 1)] for i in range(KIND_SLOTS)}


def _day_counters(p):
    kinds = [p[f"kind{i}"] for i in range(KIND_SLOTS)]
    return (Visit.coverage_query(p.week_start, p.week_end, kinds, customers=Customer.select().where(
                Customer.scope(manager_with_id(p.user_id), p.day)))
            .select_extend(Visit.select(fn.COUNT(Visit.id))
                           .where((Visit.user == p.user_id) & (Visit.made_at >= p.day_start))))


_DAY_COUNTERS = Prepared("day_counters", _day_counters)


def customer_listing(user, q="", tier=None, territory=None, kind=None, last_visit=None):
    """The Customers tab: the user's scope, searched and filtered, with each one's last visit.

    territory is a Territory in the user's scope (its whole subtree counts);
    last_visit is "never" or "stale" (no visit in the last 30 days, never included).
    """
    last = (Visit.select(Visit.customer.alias("cid"), fn.MAX(Visit.made_at).alias("last_at"))
            .group_by(Visit.customer).alias("last"))
    query = (Customer.visible_to(user)
             .select_extend(Territory.name.alias("territory_name"), last.c.last_at.alias("last_visit_at"))
             .join(Territory, JOIN.LEFT_OUTER, on=(Customer.territory == Territory.id))
             .join(last, JOIN.LEFT_OUTER, on=(Customer.id == last.c.cid)))
    if q:
        query = query.where(Customer.search(q))
    if tier:
        query = query.where(Customer.tier == tier)
    if kind:
        query = query.where(Customer.kind == kind)
    if territory is not None:
        query = query.where(Territory.path.startswith(territory.path))
    if last_visit == "never":
        query = query.where(last.c.last_at.is_null())
    elif last_visit == "stale":
        since = clock.now() - dt.timedelta(days=30)
        query = query.where(last.c.last_at.is_null() | (last.c.last_at < since))
    return query.order_by(chinese_order(Customer.village), chinese_order(Customer.group_name),
                          chinese_order(Customer.name), Customer.id).objects()
