"""A team lead's steering (issue 18): coverage by period for territories, managers and
branches, the customers behind each figure, tomorrow's lists handed to a manager, the
team's follow-up ledger with its reassignments, and one manager's figures.

Every coverage figure is `Visit.coverage` (the one definition); the other figures (gold
customers past the bank's gold rhythm, overdue follow-ups) are one grouped query each,
so a page costs a fixed number of queries whatever the number of territories.
"""
import datetime as dt
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from peewee import JOIN, SQL, Case, DateField, ForeignKeyField, TextField, fn

from app import clock, crypto
from app.db import chinese_order, database, tree_order
from app.models.base import BaseModel, created_at_field, default
from app.models.customer import Customer
from app.models.lead import Lead
from app.models.org import Branch, User
from app.models.prepared import Prepared
from app.models.refused import Problems, Refused
from app.models.scope import branch_ids, manager_with_id, user_scope
from app.models.team_figures import counted_bits
from app.models.setting import counted_kinds, for_branch
from app.models.territory import Assignment, Territory
from app.models.visit import FollowUp, Visit
from app.models.vocabulary import OPEN_STATUSES

PERIOD_KINDS = ("this_week", "last_week", "this_month", "last_month", "this_quarter", "last_quarter", "custom")
DEFAULT_KIND = {"week": "this_week", "month": "this_month", "quarter": "this_quarter"}
MAX_PERIOD_DAYS = 92          # "any range up to a quarter": the longest quarter has 92 days
EARLIEST = dt.date(2000, 1, 1)
HAND_AHEAD_DAYS = 14          # a list is handed for a day from today to two weeks ahead
HAND_MAX = 300                # customers in one hand-over: a few days' walk at most
HANDED_SHOWN_DAYS = 7         # a handed customer stays on Today this long if not visited
FIELD_KINDS = ("village", "street", "market")   # the territories a manager is given
SORT_KEYS = ("name", "counted", "visited", "visited_all", "coverage", "change", "gold", "overdue")
SHOW = ("counted", "visited", "visited_all", "unvisited", "gold", "overdue")
LIST_LIMIT = 500


class HandedCustomer(BaseModel):
    """A customer a team lead put on a manager's list for a day ("tomorrow's list")."""

    customer = ForeignKeyField(Customer, backref="handed", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="handed_customers", on_delete="RESTRICT")
    sent_by = ForeignKeyField(User, backref="sent_customers", on_delete="RESTRICT")
    for_day = DateField()
    note = TextField(default="", constraints=[default("''")])
    created_at = created_at_field()

    class Meta:
        indexes = ((("user", "for_day", "customer"), True),)


# --- periods ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Period:
    """Business dates [start, end): end is the day after the last one."""

    kind: str
    start: dt.date
    end: dt.date

    @property
    def last_day(self):
        return self.end - dt.timedelta(days=1)

    @property
    def days(self):
        return (self.end - self.start).days

    @property
    def as_of(self):
        """The day whose assignments and membership count: the last day, or today if earlier."""
        return min(self.last_day, clock.today())

    def previous(self):
        """The period of the same length just before this one."""
        return Period("previous", self.start - dt.timedelta(days=self.days), self.start)

    def args(self):
        """The query-string arguments naming this period (links keep the period)."""
        if self.kind in ("custom", "previous"):
            return {"period": "custom", "start": self.start.isoformat(), "end": self.last_day.isoformat()}
        return {"period": self.kind}


def _month_start(day, back=0):
    month = day.year * 12 + day.month - 1 - back
    return dt.date(month // 12, month % 12 + 1, 1)


def _quarter_start(day, back=0):
    first = _month_start(day, (day.month - 1) % 3)
    return _month_start(first, 3 * back)


def period_of(kind, day=None):
    """The named period around day (today by default)."""
    day = day or clock.today()
    monday = clock.week_bounds(day)[0]
    if kind == "this_week":
        return Period(kind, monday, monday + dt.timedelta(days=7))
    if kind == "last_week":
        return Period(kind, monday - dt.timedelta(days=7), monday)
    if kind == "this_month":
        return Period(kind, _month_start(day), _month_start(day, -1))
    if kind == "last_month":
        return Period(kind, _month_start(day, 1), _month_start(day))
    if kind == "this_quarter":
        return Period(kind, _quarter_start(day), _quarter_start(day, -1))
    if kind == "last_quarter":
        return Period(kind, _quarter_start(day, 1), _quarter_start(day))
    raise ValueError(kind)


def default_period(user):
    """The bank's judging period (setting coverage_period), as the current one."""
    setting = for_branch(user.branch_id, ("coverage_period",))["coverage_period"]
    return period_of(DEFAULT_KIND.get(setting, "this_month"))


def parse_period(user, kind=None, start=None, end=None):
    """The Period a request names: kind one of PERIOD_KINDS (the bank's default when empty);
    "custom" takes start and end, both ISO dates, end included. Refused with the reason (field
    "period") for an unknown kind, an unreadable date, an end before the start, a start after
    today or a range longer than MAX_PERIOD_DAYS."""
    kind = (kind or "").strip()
    if not kind:
        return default_period(user)
    if kind not in PERIOD_KINDS:
        raise Refused({"period": _l("Choose a period from the list.")})
    if kind != "custom":
        return period_of(kind)
    problems = Problems()
    dates = []
    for name, text in (("start", start), ("end", end)):
        try:
            value = dt.date.fromisoformat((text or "").strip())
            if value < EARLIEST:
                raise ValueError(value)
            dates.append(value)
        except ValueError:
            problems.add(name, _l("Enter a date as YYYY-MM-DD."))
    problems.check()
    first, last = dates
    if last < first:
        problems.add("end", _l("The end date is before the start date."))
    elif first > clock.today():
        problems.add("start", _l("The period starts in the future."))
    elif (last - first).days + 1 > MAX_PERIOD_DAYS:
        problems.add("end", _l("Choose at most %(days)s days (about a quarter).", days=MAX_PERIOD_DAYS))
    problems.check()
    return Period("custom", first, last + dt.timedelta(days=1))


# --- which branch a page shows -----------------------------------------------------------

def branches_for(user):
    """The branches a user may choose between on the team pages: their subtree, root first."""
    return list(Branch.select().where(Branch.id.in_(branch_ids(user))).order_by(Branch.path))


def chosen_branch(user, branch_id=None):
    """The branch the page shows: branch_id if it lies in the user's subtree (else not_found),
    the user's own branch by default."""
    if branch_id is None:
        return user.branch
    branch = Branch.select().where(Branch.id == branch_id, Branch.id.in_(branch_ids(user))).first()
    if branch is None:
        raise Refused.not_found(_l("No such branch."))
    return branch


def under(branch):
    """Ids of the branch and the branches below it."""
    return Branch.select(Branch.id).where(Branch.path.startswith(branch.path))


def field_territories(viewer, branch):
    """The live villages, streets and markets of branch that the viewer may see, with their
    zone's name (the parent), by path."""
    parent = Territory.alias("parent")
    return tree_order(Territory.visible_to(viewer)
                .select(Territory.id, Territory.name, Territory.kind, Territory.path, parent.name.alias("zone"))
                .join(parent, JOIN.LEFT_OUTER, on=(Territory.parent == parent.id))
                .where(Territory.live(), Territory.kind.in_(FIELD_KINDS), Territory.branch.in_(under(branch)))
                .order_by(Territory.path).objects())


def team_members(viewer, branch):
    """The active managers of branch the viewer may see."""
    return list(User.select().where(user_scope(viewer), User.role == "manager", User.active,
                                    User.branch.in_(under(branch)))
                .order_by(chinese_order(User.name), User.id))


# --- the figures ------------------------------------------------------------------------

def _moments(period):
    return clock.local_day_start_utc(period.start), clock.local_day_start_utc(period.end)


def gold_window(viewer, as_of):
    """UTC moments [since, until): the gold rhythm's days ending with as_of."""
    days = for_branch(viewer.branch_id, ("gold_rhythm_days",))["gold_rhythm_days"]
    end = as_of + dt.timedelta(days=1)
    return clock.local_day_start_utc(end - dt.timedelta(days=days)), clock.local_day_start_utc(end), days


def _contacted(viewer, as_of):
    since, until, _ = gold_window(viewer, as_of)
    return Visit.visited_customer_ids(since, until, verified_only=False)


def _overdue_follow_ups(viewer):
    return (FollowUp.select(FollowUp.customer)
            .where(FollowUp.done_at.is_null(), FollowUp.due_on < clock.today()))


def _managers_customers(manager_ids, day, base, kinds):
    """(query, user column): the customers of the managers' assignments on day, each manager's row."""
    current = (Assignment.user.in_(manager_ids), Assignment.starts_on <= day,
               Assignment.ends_on.is_null() | (Assignment.ends_on >= day))
    assigned = Assignment.select(Assignment.territory).where(*current)
    query, territory_id = Customer.of_territories(assigned, base, kinds)
    return query.join(Assignment, on=(Assignment.territory == territory_id)).where(*current), Assignment.user


# Bits of a customer's figures (_leaf_rows): two index seeks a customer, three for a gold one.
CUR, CUR_ALL, PREV, CONTACTED, GOLD = 1, 2, 4, 8, 16
FIGURES = ("counted", "visited", "visited_all", "previous_visited", "gold")


def _seen(start, end, verified_only):
    """EXISTS: the customer (of the outer query) has a visit in the UTC moments [start, end) that
    counts (Visit.counts): one seek into visit(customer, made_at, verified, review)."""
    return fn.EXISTS(Visit.select(SQL("1")).where(
        (Visit.customer == Customer.id) & (Visit.made_at >= start) & (Visit.made_at < end)
        & Visit.counts(verified_only)))


def _leaf_rows(viewer, period, kinds):
    """{(territory id, branch id): {counted, visited, visited_all, previous_visited, gold}} of the
    viewer's counted customers. Each customer's bits (CUR, CUR_ALL, PREV; GOLD and CONTACTED
    for a gold one) take two or three seeks into visit(customer, made_at, verified, review):
    the period's visits that count among all (CUR when one also counts verified), an EXISTS for
    the period before that stops at the first visit found, and one for the gold rhythm's days
    for gold customers only, with the rules of Visit.counts. team_figures keeps them between
    requests and recounts only the customers whose visits changed. Every figure of the page is
    a sum of these rows, as each customer sits in one territory: a territory's subtree, a
    manager's assignments (a customer under two of them once), a branch, the total."""
    since, until = _moments(period)
    before_since, _ = _moments(period.previous())
    gold_since, gold_until, _ = gold_window(viewer, period.as_of)
    current = (Visit.select(fn.MAX(Case(None, [(Visit.counts(True), CUR | CUR_ALL)], CUR_ALL)))
               .where((Visit.customer == Customer.id) & (Visit.made_at >= since) & (Visit.made_at < until)
                      & Visit.counts(False)))  # a visit that counts verified also counts among all
    bits = (fn.COALESCE(current, 0)
            + Case(None, [(_seen(before_since, since, True), PREV)], 0)
            + Case(None, [(Customer.tier == "gold",
                           Case(None, [(_seen(gold_since, gold_until, False), GOLD | CONTACTED)], GOLD))], 0))

    def bits_of(customers, ids):
        query = customers.select(Customer.id, Customer.territory, Customer.branch, bits).order_by()
        return query if ids is None else query.where(Customer.id.in_(ids))

    customers = Customer.visible_to(viewer, period.as_of).where(Customer.counted(kinds))
    key = (viewer.id, viewer.role, viewer.branch_id, period.start, period.end, period.as_of, clock.today(),
           tuple(sorted(kinds)), gold_since, gold_until)
    leaf = {}
    for (place, flags), n in counted_bits(key, customers, bits_of).items():
        row = leaf.setdefault(place, dict.fromkeys(FIGURES, 0))
        row["counted"] += n
        row["visited"] += n if flags & CUR else 0
        row["visited_all"] += n if flags & CUR_ALL else 0
        row["previous_visited"] += n if flags & PREV else 0
        row["gold"] += n if flags & GOLD and not flags & CONTACTED else 0
    return leaf


def _overdue_rows(viewer):
    """{(territory id, branch id): customers with an open follow-up due before today} of the
    viewer's present customers, and {user id: such customers of the user's own follow-ups}."""
    late = (FollowUp.done_at.is_null(), FollowUp.due_on < clock.today())
    by_place = (Customer.visible_to(viewer).join(FollowUp, on=(FollowUp.customer == Customer.id))
                .where(Customer.present(), *late)
                .select(Customer.territory, Customer.branch, fn.COUNT(fn.DISTINCT(Customer.id)))
                .group_by(Customer.territory, Customer.branch).order_by())
    by_user = (FollowUp.visible_to(viewer).where(*late)
               .select(FollowUp.user, fn.COUNT(fn.DISTINCT(FollowUp.customer))).group_by(FollowUp.user).order_by())
    return ({(t, b): int(n) for t, b, n in by_place.tuples()}, {u: int(n) for u, n in by_user.tuples()})


def _paths(territory_ids):
    ids = [t for t in territory_ids if t is not None]
    return dict(Territory.select(Territory.id, Territory.path).where(Territory.id.in_(ids)).tuples()) if ids else {}


def _assigned_leaves(manager_ids, day, leaves):
    """{manager id: set of the territory ids (among leaves: id → path) under their assignments on day}."""
    if not manager_ids:
        return {}
    held = {m: set() for m in manager_ids}
    rows = (Assignment.select(Assignment.user, Territory.path).join(Territory)
            .where(Assignment.user.in_(list(manager_ids)), Assignment.starts_on <= day,
                   Assignment.ends_on.is_null() | (Assignment.ends_on >= day)).tuples())
    for user_id, path in rows:
        held[user_id].update(t for t, p in leaves.items() if p.startswith(path))
    return held


def _row(key, figures, previous_counted, overdue):
    counted, visited, previous_visited = figures["counted"], figures["visited"], figures["previous_visited"]
    ratio = visited / counted if counted else None
    previous = previous_visited / previous_counted if previous_counted else None
    return {"key": key, "counted": counted, "visited": visited, "visited_all": figures["visited_all"],
            "coverage": ratio, "previous": previous, "previous_visited": previous_visited,
            "previous_counted": previous_counted, "gold": figures["gold"], "overdue": overdue,
            "change": None if ratio is None or previous is None else round((ratio - previous) * 100, 1)}


def _sum(rows):
    return {k: sum(r[k] for r in rows) for k in FIGURES}


def page_figures(viewer, period, territories=(), managers=(), branches=(), total_of=None):
    """The coverage page's figures in a fixed number of queries whatever its size:
    {"territory": {id: row}, "manager": {id: row}, "branch": {id: row}, "total": row or None}.

    Each row: counted, visited (verified or confirmed, Visit.counts), visited_all (any visit not
    rejected), coverage (ratio or None: "—"), previous (the ratio of the period of the same length
    before), change (percentage points or None), gold (gold customers counted there with no visit
    in the gold rhythm's days up to the period's last day, or today), overdue (customers with an
    open follow-up due before today: of the territory or branch; a manager's own follow-ups).
    A territory counts the customers of its subtree, a manager those of the territories assigned
    to them on the period's last day (the period before: on its own last day), a branch its own
    customers, the total those of the branches total_of (ids). Only what the viewer may see is
    counted: a manager who kept a territory of another branch counts without it here, where
    Visit.coverage by manager counts a manager's whole 责任田. Otherwise the same figures as
    Visit.coverage by territory, manager and branch (tests/test_team.py checks they agree).
    """
    kinds = counted_kinds(viewer.branch_id)
    leaf = _leaf_rows(viewer, period, kinds)
    overdue_at, overdue_of = _overdue_rows(viewer)
    result = {"territory": {}, "manager": {}, "branch": {}, "total": None}
    territory_ids = [getattr(t, "id", t) for t in territories]
    if territory_ids:
        paths = _paths(territory_ids)
        leaves = _paths({t for t, _ in leaf} | {t for t, _ in overdue_at})
        for tid in territory_ids:
            prefix = paths.get(tid)
            inside = {t for t, p in leaves.items() if prefix and p.startswith(prefix)}
            sums = _sum([v for (t, _), v in leaf.items() if t in inside])
            late = sum(n for (t, _), n in overdue_at.items() if t in inside)
            result["territory"][tid] = _row(tid, sums, sums["counted"], late)
    manager_ids = [getattr(m, "id", m) for m in managers]
    if manager_ids:
        leaves = _paths({t for t, _ in leaf})
        now = _assigned_leaves(manager_ids, period.as_of, leaves)
        then = _assigned_leaves(manager_ids, period.previous().as_of, leaves)
        for mid in manager_ids:
            sums = _sum([v for (t, _), v in leaf.items() if t in now[mid]])
            earlier = _sum([v for (t, _), v in leaf.items() if t in then[mid]])
            result["manager"][mid] = _row(mid, dict(sums, previous_visited=earlier["previous_visited"]),
                                          earlier["counted"], overdue_of.get(mid, 0))
    for bid in [getattr(b, "id", b) for b in branches]:
        sums = _sum([v for (_, b), v in leaf.items() if b == bid])
        result["branch"][bid] = _row(bid, sums, sums["counted"],
                                     sum(n for (_, b), n in overdue_at.items() if b == bid))
    if total_of is not None:
        wanted = set(total_of)
        sums = _sum([v for (_, b), v in leaf.items() if b in wanted])
        result["total"] = _row(None, sums, sums["counted"],
                               sum(n for (_, b), n in overdue_at.items() if b in wanted))
    return result


def figures(viewer, period, by, among):
    """{key: row} of page_figures for one grouping: by "territory" (among: ids), "manager"
    (Users or ids) or "branch" (ids)."""
    keyword = {"territory": "territories", "manager": "managers", "branch": "branches"}[by]
    return page_figures(viewer, period, **{keyword: among})[by]


def total(viewer, period, branch_ids):
    """The page's figures for all the viewer's customers in the branches (ids) at once."""
    return page_figures(viewer, period, total_of=branch_ids)["total"]


def sort_rows(rows, key, descending):
    """Rows (dicts with "name") sorted by key; a missing figure (None) sorts last either way."""
    if key not in SORT_KEYS or key == "name":
        return rows if not descending else list(reversed(rows))
    present = [r for r in rows if r[key] is not None]
    missing = [r for r in rows if r[key] is None]
    return sorted(present, key=lambda r: r[key], reverse=descending) + missing


# --- the customers behind a figure ---------------------------------------------------------

def figure_customers(viewer, period, show, territory=None, manager=None, branch=None):
    """(rows, total): the customers behind one figure of `figures`, in village, group and name
    order, at most LIST_LIMIT rows. show is one of SHOW ("unvisited": counted without a
    verified or confirmed visit in the period); exactly one of territory (a Territory the
    viewer may see), manager (a User of the viewer's team) or branch (a Branch in the scope)."""
    if show not in SHOW:
        raise Refused({"show": _l("Choose a figure from the table.")})
    as_of = period.as_of
    kinds = None if show == "overdue" else counted_kinds(viewer.branch_id)
    base = Customer.visible_to(viewer, as_of)
    if territory is not None:
        query, _ = Customer.of_territories([territory.id], base, kinds)
    elif manager is not None:
        query, _ = _managers_customers([manager.id], as_of, base, kinds)
        if show == "overdue":  # a manager's overdue follow-ups are their own, wherever the customer
            query = base.where(Customer.present())
    elif branch is not None:
        # exactly the branch's own customers, as the figures by branch count them
        query = base.where(Customer.branch == branch.id, Customer.counted(kinds) if kinds else Customer.present())
    else:
        raise ValueError("a territory, a manager or a branch")
    since, until = _moments(period)
    if show == "visited":
        query = query.where(Customer.id.in_(Visit.visited_customer_ids(since, until)))
    elif show == "visited_all":
        query = query.where(Customer.id.in_(Visit.visited_customer_ids(since, until, verified_only=False)))
    elif show == "unvisited":
        query = query.where(Customer.id.not_in(Visit.visited_customer_ids(since, until)))
    elif show == "gold":
        query = query.where(Customer.tier == "gold", Customer.id.not_in(_contacted(viewer, as_of)))
    elif show == "overdue":
        late = _overdue_follow_ups(viewer)
        if manager is not None:
            late = late.where(FollowUp.user == manager.id)
        query = query.where(Customer.id.in_(late))
    last = Visit.select(fn.MAX(Visit.made_at)).where(Visit.customer == Customer.id, Visit.counts(False))
    ids = query.select(Customer.id).distinct()
    count = Customer.select(fn.COUNT(Customer.id)).where(Customer.id.in_(ids)).scalar()
    rows = (Customer.select(Customer.id, Customer.name, Customer.tier, Customer.kind, Customer.village,
                            Customer.group_name, Customer.street, Customer.house_no, Customer.phone,
                            last.alias("last_visit_at"))
            .where(Customer.id.in_(ids))
            .order_by(chinese_order(Customer.village), chinese_order(Customer.group_name),
                      chinese_order(Customer.name), Customer.id).limit(LIST_LIMIT).objects())
    shown = []
    for c in rows:
        c.last_visit_at = Visit.made_at.python_value(c.last_visit_at)
        c.phone_masked = crypto.mask_phone(c.phone)
        shown.append(c)
    return shown, count


# --- tomorrow's list -----------------------------------------------------------------------

def _team_manager(user, manager_id, field="manager"):
    try:
        manager_id = int(manager_id)
    except (TypeError, ValueError):
        manager_id = 0
    manager = User.select().where(user_scope(user), User.role == "manager", User.active,
                                  User.id == manager_id).first() if 0 < manager_id < 2**31 else None
    if manager is None:
        raise Refused({field: _l("Choose an account manager of your team.")})
    return manager


def _lead_only(user):
    if user.role != "team_lead":
        raise Refused.forbidden()


def hand_customers(user, customer_ids, manager_id, for_day=None, note=""):
    """The write path of "hand to a manager as tomorrow's list": the customers go on the
    manager's Today for for_day (tomorrow by default; today to HAND_AHEAD_DAYS ahead), with
    who sent them. Returns the number added (a customer already on that day's list is not
    added twice).

    Refused: forbidden for anyone but a team lead; not_found when a customer is outside the
    user's scope; reasons for no customer, more than HAND_MAX, a manager outside the team,
    a day outside the window, or customers outside the manager's own territories (who could
    not check in there: assign the territory first)."""
    _lead_only(user)
    problems = Problems()
    try:
        ids = sorted({int(c) for c in customer_ids})
    except (TypeError, ValueError):
        raise Refused.not_found(_l("No such customer.")) from None
    if not ids:
        problems.add("customers", _l("Choose at least one customer."))
    elif len(ids) > HAND_MAX:
        problems.add("customers", _l("Hand at most %(n)s customers at once.", n=HAND_MAX))
    elif any(not 0 < i < 2**31 for i in ids) or (
            Customer.visible_to(user).where(Customer.id.in_(ids)).count() != len(ids)):
        raise Refused.not_found(_l("No such customer."))
    today = clock.today()
    for_day = for_day or today + dt.timedelta(days=1)
    if not today <= for_day <= today + dt.timedelta(days=HAND_AHEAD_DAYS):
        problems.add("for_day", _l("Choose a day from today to %(n)s days ahead.", n=HAND_AHEAD_DAYS))
    try:
        manager = _team_manager(user, manager_id)
    except Refused as refused:
        problems.add("manager", refused.errors["manager"])
        manager = None
    if manager is not None and ids and len(ids) <= HAND_MAX:
        theirs = {c for (c,) in Customer.visible_to(manager, max(for_day, today))
                  .select(Customer.id).where(Customer.id.in_(ids)).tuples()}
        outside = len(set(ids) - theirs)
        if outside:
            problems.add("manager", _l("%(n)s of these customers lie outside %(name)s's territories: "
                                       "assign the territory first.", n=outside, name=manager.name))
    problems.check()
    note = (note or "").strip()[:200]
    with database.atomic():
        already = {c for (c,) in HandedCustomer.select(HandedCustomer.customer).where(
            HandedCustomer.user == manager.id, HandedCustomer.for_day == for_day,
            HandedCustomer.customer.in_(ids)).tuples()}
        new = [dict(customer=c, user=manager.id, sent_by=user.id, for_day=for_day, note=note,
                    created_at=clock.now()) for c in ids if c not in already]
        if new:
            HandedCustomer.insert_many(new).execute()
    return len(new)


def reassign_follow_up(user, follow_up_id, manager_id):
    """The write path moving one open follow-up to another manager of the team, who sees it on
    Today with who sent it. Returns the FollowUp. Refused: forbidden for anyone but a team lead,
    not_found outside the scope (or done), and the reasons for a manager outside the team or
    whose territories do not hold the customer."""
    _lead_only(user)
    follow = (FollowUp.visible_to(user).where(FollowUp.id == follow_up_id, FollowUp.done_at.is_null())
              .first())
    if follow is None:
        raise Refused.not_found(_l("No such follow-up."))
    manager = _team_manager(user, manager_id)
    if not Customer.visible_to(manager).where(Customer.id == follow.customer_id).exists():
        raise Refused({"manager": _l("%(customer)s lies outside %(name)s's territories: assign the "
                                     "territory first.", customer=follow.customer.name, name=manager.name)})
    if manager.id != follow.user_id:
        follow.user, follow.handed_by, follow.handed_at = manager.id, user.id, clock.now()
        follow.save()
    return follow


def _handed_customers(p):
    sender = User.alias("sender")
    later = Visit.select(Visit.id).where((Visit.customer == HandedCustomer.customer)
                                         & (Visit.made_at >= HandedCustomer.created_at))
    return (HandedCustomer.select(HandedCustomer.id, HandedCustomer.for_day, HandedCustomer.note, Customer.id,
                                  Customer.name, Customer.tier, Customer.village, Customer.group_name,
                                  sender.name)
            .join(Customer, on=(HandedCustomer.customer == Customer.id))
            .join(sender, on=(HandedCustomer.sent_by == sender.id))
            .where((HandedCustomer.user == p.user_id) & (HandedCustomer.for_day <= p.day)
                   & (HandedCustomer.for_day > p.shown_after) & ~fn.EXISTS(later)
                   & Customer.scope(manager_with_id(p.user_id), p.day))
            .order_by(HandedCustomer.for_day, Customer.village, Customer.group_name, Customer.name)
            .limit(100))


def _handed_follow_ups(p):
    sender = User.alias("sender")
    return (FollowUp.select(FollowUp.id, FollowUp.due_on, FollowUp.reason, Customer.id, Customer.name,
                            Customer.tier, Customer.village, Customer.group_name, sender.name)
            .join(Customer, on=(FollowUp.customer == Customer.id))
            .join(sender, on=(FollowUp.handed_by == sender.id))
            .where((FollowUp.user == p.user_id) & FollowUp.done_at.is_null())
            .order_by(FollowUp.due_on, Customer.name).limit(100))


# Today's second group (DESIGN.md "Today's order"): its SQL is built once, like the rest of Today.
_HANDED_CUSTOMERS = Prepared("today_handed_customers", _handed_customers)
_HANDED_FOLLOW_UPS = Prepared("today_handed_follow_ups", _handed_follow_ups)


@dataclass
class HandedRow:
    customer_id: int
    name: str
    tier: str
    village: str | None
    group_name: str | None
    sent_by: str
    note: str
    due_on: dt.date | None = None       # a reassigned follow-up's date
    follow_up_id: int | None = None


def handed_for_today(user):
    """What a team lead handed the manager and is still to do: customers on today's list (or
    an earlier day's, not visited since), then follow-ups reassigned to them; each with its sender."""
    day = clock.today()
    rows = [HandedRow(r[3], r[4], r[5], r[6], r[7], r[8], r[2])
            for r in _HANDED_CUSTOMERS(user_id=user.id, day=day,
                                       shown_after=day - dt.timedelta(days=HANDED_SHOWN_DAYS))]
    rows += [HandedRow(r[3], r[4], r[5], r[6], r[7], r[8], r[2], due_on=FollowUp.due_on.python_value(r[1]),
                       follow_up_id=r[0])
             for r in _HANDED_FOLLOW_UPS(user_id=user.id)]
    return rows


# --- the team's ledger ------------------------------------------------------------------------

def team_ledger(viewer, branch, day=None):
    """[(manager, {"overdue", "today", "week"})]: every open follow-up of the branch's managers due
    by Sunday, by manager (name order), overdue first, then by date and customer."""
    day = day or clock.today()
    _, sunday = clock.week_bounds(day)
    managers = team_members(viewer, branch)
    groups = {m.id: {"overdue": [], "today": [], "week": []} for m in managers}
    sender = User.alias("sender")
    rows = (FollowUp.visible_to(viewer).select(FollowUp, Customer, sender)
            .join(sender, JOIN.LEFT_OUTER, on=(FollowUp.handed_by == sender.id))
            .where(FollowUp.done_at.is_null(), FollowUp.due_on <= sunday, FollowUp.user.in_(list(groups)))
            .order_by(FollowUp.due_on, chinese_order(Customer.name), FollowUp.id))
    for f in rows:
        key = "overdue" if f.due_on < day else "today" if f.due_on == day else "week"
        groups[f.user_id][key].append(f)
    return [(m, groups[m.id]) for m in managers]


# --- one manager's figures ----------------------------------------------------------------

def manager_figures(viewer, manager):
    """A manager's week and the week before: coverage of their own territories, visits, those
    unverified (not confirmed since) and rejected; now: overdue follow-ups and stale leads."""
    weeks = [period_of("this_week"), period_of("last_week")]
    result = []
    for period in weeks:
        visited, counted, ratio = Visit.coverage(viewer, period.start, period.end, by="manager",
                                                 among=[manager.id], as_of=period.as_of)[manager.id]
        since, until = _moments(period)
        visits = Visit.select(Visit.id).where(Visit.user == manager.id, Visit.made_at >= since,
                                              Visit.made_at < until)
        n_visits = visits.count()
        unverified = visits.where(~Visit.verified, Visit.review.is_null()).count()
        rejected = visits.where(Visit.review == "rejected").count()
        result.append({"period": period, "visited": visited, "counted": counted, "coverage": ratio,
                       "visits": n_visits, "unverified": unverified, "rejected": rejected})
    days = for_branch(manager.branch_id, ("stale_lead_days",))["stale_lead_days"]
    stale = list(Lead.visible_to(viewer).where(Lead.owner == manager.id, Lead.status.in_(OPEN_STATUSES),
                                                Lead.updated_at < clock.now() - dt.timedelta(days=days))
                 .order_by(Lead.updated_at).limit(50))
    overdue = list(FollowUp.visible_to(viewer).select(FollowUp, Customer)
                   .where(FollowUp.user == manager.id, FollowUp.done_at.is_null(), FollowUp.due_on < clock.today())
                   .order_by(FollowUp.due_on).limit(50))
    return {"weeks": result, "stale_leads": stale, "stale_days": days, "overdue": overdue}
