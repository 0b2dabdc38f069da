"""Territories (网格: 片区 / 村 / 社区 / 组 / 商圈) and who is responsible for them (责任田)."""
import datetime

from flask_babel import lazy_gettext as _l
from peewee import DateField, DoubleField, ForeignKeyField, TextField, fn

from app import clock, geo
from app.db import chinese_order, database
from app.models.base import BaseModel, created_at_field, one_of
from app.models.org import BUSINESS_LINES, Branch, User
from app.models.refused import Problems, Refused
from app.models.scope import records, usable, user_scope
from app.models.vocabulary import TERRITORY_KINDS, TIERS

TERRITORY_KIND_LABELS = {"zone": _l("Zone"), "village": _l("Village"), "street": _l("Street"),
                         "group": _l("Group"), "market": _l("Market area")}
SQ_M_PER_MU = 10000 / 15
EDITORS = ("admin", "team_lead")  # who may draw, rename, move, retire and assign territories


class Territory(BaseModel):
    branch = ForeignKeyField(Branch, backref="territories", on_delete="RESTRICT")
    parent = ForeignKeyField("self", null=True, backref="children", on_delete="RESTRICT")
    kind = TextField(constraints=[one_of("kind", TERRITORY_KINDS)])
    name = TextField()
    code = TextField(null=True)
    # Materialised path '/3/17/': lists and scopes by a parent include its children.
    path = TextField(default="", index=True)
    geometry = TextField(null=True)  # GeoJSON geometry in WGS-84
    area_m2 = DoubleField(null=True)
    centroid_lat = DoubleField(null=True)
    centroid_lng = DoubleField(null=True)
    retired_on = DateField(null=True)
    created_at = created_at_field()

    class Meta:
        indexes = ((("branch", "code"), True),)

    @classmethod
    def add(cls, name, kind, branch, parent=None, **fields):
        territory = cls.create(name=name, kind=kind, branch=branch, parent=parent, **fields)
        territory.path = f"{parent.path if parent else '/'}{territory.id}/"
        territory.save(only=[cls.path])
        return territory

    def move_under(self, parent):
        """Put the territory (and its subtree) under parent, rewriting the paths below it."""
        new_path = f"{parent.path if parent else '/'}{self.id}/"
        if parent is not None and parent.path.startswith(self.path):
            raise ValueError("a territory cannot move under its own subtree")
        old_path = self.path
        self.parent = parent
        self.save(only=[Territory.parent])
        if new_path != old_path:
            for t in Territory.select().where(Territory.path.startswith(old_path)):
                t.path = new_path + t.path[len(old_path):]
                t.save(only=[Territory.path])
            self.path = new_path

    def rename(self, user, name):
        """The write path of a new name; history (visits, assignments) follows the row, not the name.

        Refused: not_found outside the user's scope, forbidden for a manager, and a name
        empty or longer than MAX_NAME (the limit of an import and a drawing too).
        """
        territory = editable(user, self)
        name = (name or "").strip()
        problem = name_problem(name)
        if problem is not None:
            raise shape_refused([problem])
        with database.atomic():
            Territory.update(name=name).where(Territory.id == territory.id).execute()
        self.name = name

    @property
    def area_mu(self):
        return None if self.area_m2 is None else self.area_m2 / SQ_M_PER_MU

    @property
    def area_km2(self):
        return None if self.area_m2 is None else self.area_m2 / 1e6

    def subtree(self):
        return Territory.select().where(Territory.path.startswith(self.path))

    @classmethod
    def live(cls):
        """The condition "not retired": the territories that count today (lists, the map,
        placement, assignment). Retired rows stay for their history."""
        return cls.retired_on.is_null()

    @classmethod
    def visible_to(cls, user):
        """Territories in the user's scope: assigned ones for a manager, the branch subtree otherwise."""
        return cls.select().where(records(user, cls.branch, assigned=lambda u: cls.id.in_(assigned_territory_ids(u))))


class Assignment(BaseModel):
    """A manager's responsibility for a territory (分片), by business line (分线) and tier (分层)."""

    territory = ForeignKeyField(Territory, backref="assignments", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="assignments", on_delete="RESTRICT")
    business_line = TextField(constraints=[one_of("business_line", BUSINESS_LINES)])
    tier = TextField(null=True, constraints=[one_of("tier", TIERS)])
    starts_on = DateField()
    ends_on = DateField(null=True)
    assigned_by = ForeignKeyField(User, null=True, backref="assignments_made", on_delete="SET NULL")
    created_at = created_at_field()

    class Meta:
        indexes = (
            (("user", "ends_on"), False),
            (("territory", "ends_on"), False),
        )

    @classmethod
    def history(cls, territory):
        """Every assignment of the territory, newest first: who kept it, for which line, when."""
        return cls.select().where(cls.territory == territory).order_by(cls.starts_on.desc(), cls.id.desc())

    @staticmethod
    def refusal(territory, managers):
        """Why the territory cannot be given to managers now (a message), or None (assign checks it).

        A closed branch (or one under a closed branch) keeps its history but takes no
        new assignment, neither for its territories nor for its people.
        """
        closed = closed_branch(territory.branch)
        if closed is not None:
            return _l("%(branch)s is closed: its territories take no new assignments.", branch=closed.name)
        for manager in managers:
            closed = closed_branch(manager.branch)
            if closed is not None:
                return _l("%(name)s works at %(branch)s, which is closed: choose a manager of an open branch.",
                          name=manager.name, branch=closed.name)
        return None

    @classmethod
    def assign(cls, user, territory, managers, business_line, starts_on):
        """The write path making managers responsible for the territory's business line from starts_on.

        managers are Users or their ids, each an active account manager in the user's
        scope. Those responsible until then and not among managers end the day before, so
        the history stays; an assignment that had not started yet is simply dropped.
        Returns the users whose assignment ended. Refused: not_found for a territory
        outside the user's scope, forbidden for a manager, and at once every reason among
        a business line or start date missing, a manager not of the user's team, and a
        closed branch (see refusal).
        """
        territory = editable(user, territory)
        problems = Problems()
        if business_line not in BUSINESS_LINES or not isinstance(starts_on, datetime.date):
            problems.add("business_line", _l("Choose a business line and a start date."))
        ids = {m if isinstance(m, int) else m.id for m in managers}
        chosen = list(User.select().where(user_scope(user), User.role == "manager", User.active,
                                          User.id.in_(list(ids))).order_by(chinese_order(User.name)))
        if not ids or len(chosen) != len(ids):
            problems.add("users", _l("Choose at least one account manager of your team."))
        refused = cls.refusal(territory, chosen)
        if refused is not None:
            problems.add("closed", refused)
        problems.check()
        keep = {m.id for m in chosen}
        ended = []
        with database.atomic():
            running = cls.select().where(
                (cls.territory == territory) & (cls.business_line == business_line)
                & (cls.ends_on.is_null() | (cls.ends_on >= starts_on)))
            held = set()
            for assignment in running:
                if assignment.user_id in keep:
                    held.add(assignment.user_id)
                elif assignment.starts_on >= starts_on:
                    assignment.delete_instance()
                else:
                    assignment.ends_on = starts_on - datetime.timedelta(days=1)
                    assignment.save(only=[cls.ends_on])
                    ended.append(assignment.user)
            for manager in chosen:
                if manager.id not in held:
                    cls.create(territory=territory, user=manager, business_line=business_line,
                               starts_on=starts_on, assigned_by=user.id)
        return ended

    @classmethod
    def current(cls, day=None):
        """Assignments in force on day (today by default)."""
        day = day or clock.today()
        return cls.select().where(
            (cls.starts_on <= day) & (cls.ends_on.is_null() | (cls.ends_on >= day))
        )


# --- Checking a shape (a GeoJSON import in app/imports/geojson.py, a shape drawn on the map) ---
IMPORT_MESSAGES = {
    "too_large": _l("The file is %(mb)s MB; the limit is %(limit)s MB. Split it by zone."),
    "not_json": _l("The file is not valid JSON: %(error)s (line %(line)s, column %(column)s)."),
    "not_utf8": _l("The file is not UTF-8 text."),
    "not_collection": _l("The file must be a GeoJSON FeatureCollection."),
    "no_features": _l("The file holds no feature."),
    "no_datum": _l("Declare the datum: wgs84 (GPS, Tianditu) or gcj02 (Amap, Tencent)."),
    "bad_datum": _l("Unknown datum %(datum)s: use wgs84 or gcj02."),
    "datum_conflict": _l("The file declares %(file)s but %(given)s was chosen."),
    "not_feature": _l("This is not a GeoJSON Feature."),
    "no_name": _l("The feature has no name."),
    "bad_kind": _l("Unknown kind %(kind)s: use zone, village, street, group or market."),
    "duplicate_code": _l("The code %(code)s appears more than once in the file."),
    "unknown_parent": _l("No territory %(parent)s in the file or in the branch."),
    "ambiguous_parent": _l("Several territories are called %(parent)s: give the parent's code."),
    "parent_cycle": _l("The feature is its own ancestor through %(parent)s."),
    "other_datum": _l("The shape would fit its parent in %(datum)s: check the declared datum."),
    "name_too_long": _l("The name has %(n)s characters; at most %(limit)s."),
    "child_outside": _l("%(share)s of %(child)s (%(m2)s m²) would lie outside the new boundary."),
}
KIND_NAMES = TERRITORY_KIND_LABELS  # the map's name for the same labels
MAX_NAME = 60


class ImportProblem(geo.Problem):
    def __str__(self):
        if self.code in IMPORT_MESSAGES:
            return str(IMPORT_MESSAGES[self.code]) % {k: str(v) for k, v in self.params.items()}
        return super().__str__()


def name_problem(name):
    """What is wrong with a territory's (stripped) name, or None: one rule for import, drawing, rename."""
    if not name:
        return ImportProblem("no_name")
    if len(name) > MAX_NAME:
        return ImportProblem("name_too_long", {"n": len(name), "limit": MAX_NAME})
    return None


def shape_refused(problems, highlights=()):
    """One Refused for a territory's problems (geo.Problem), every one of them.

    errors is keyed by each problem's code (a second overlap is "overlap#2"), in the
    order found, so `messages` lists them as the import does; code is the first one's.
    highlights, (kind, name, WGS-84 shapely geometry), are the parts the map draws.
    """
    errors = {}
    for problem in problems:
        key, n = problem.code, 2
        while key in errors:
            key, n = f"{problem.code}#{n}", n + 1
        errors[key] = str(problem)
    refused = Refused(errors, code=problems[0].code)
    refused.highlights = list(highlights)
    return refused


def editor(user):
    """Refused (forbidden) unless the user may change territories: an active admin or team lead."""
    if not usable(user) or user.role not in EDITORS:
        raise Refused.forbidden()


def editable(user, territory, live=False):
    """The territory (a row or its id) fresh from the database if the user may change it.

    Refused: not_found outside the user's scope (or retired, when live), forbidden
    for someone who may only look at it.
    """
    territory_id = territory if isinstance(territory, int) else territory.id
    query = Territory.visible_to(user).where(Territory.id == territory_id)
    if live:
        query = query.where(Territory.live())
    found = query.first()
    if found is None:
        raise Refused.not_found()
    editor(user)
    return found


def shape_fields(shape):
    """The columns a territory's shape fills: GeoJSON, area, a point inside it."""
    centre = shape.representative_point() if not shape.centroid.within(shape) else shape.centroid
    return {"geometry": geo.dumps(shape), "area_m2": round(geo.area_m2(shape), 1),
            "centroid_lat": round(centre.y, 7), "centroid_lng": round(centre.x, 7)}


# --- Placement ------------------------------------------------------------------------------


def closed_branch(branch):
    """The closed branch among branch and those above it, or None when all are open."""
    return (Branch.select().where(Branch.id.in_(branch.ancestors_path_ids()), Branch.closed_on.is_null(False))
            .order_by(Branch.path).first())


def bank_of(branch):
    """The bank a branch belongs to, or the branch itself above or without one."""
    return branch.bank or branch


def placer_for(branch):
    """A geo.Placer over the live territories of the branch's bank."""
    root = bank_of(branch)
    rows = (Territory.select(Territory.id, Territory.path, Territory.geometry)
            .join(Branch).where(Branch.path.startswith(root.path), Territory.live(),
                                Territory.geometry.is_null(False))
            .tuples())
    return geo.Placer([(tid, path.count("/") - 1, geo.loads(text)) for tid, path, text in rows])


def place_customer(customer, placer=None):
    """Set one customer's territory from its position (the creating or moving write calls it)."""
    if customer.lat is None or customer.lng is None:
        return customer.territory_id
    placer = placer or placer_for(customer.branch)
    customer.territory = placer.place_one(customer.lng, customer.lat)
    return customer.territory_id


def assigned_territory_ids(user, day=None):
    """Ids of the territories assigned to the user on day, with everything below them."""
    assigned = Territory.alias("assigned")
    day = day or clock.today()
    return (
        Territory.select(Territory.id)
        .join(assigned, on=(fn.substr(Territory.path, 1, fn.length(assigned.path)) == assigned.path))
        .join(Assignment, on=(Assignment.territory == assigned.id))
        .where(
            (Assignment.user == user.id)
            & (Assignment.starts_on <= day)
            & (Assignment.ends_on.is_null() | (Assignment.ends_on >= day))
        )
    )
