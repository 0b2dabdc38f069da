"""Territories (片区 / 村 / 街道 / 组 / 商圈) and who is responsible for them (责任田)."""
import datetime
import json
from dataclasses import dataclass, field

import numpy as np
import shapely
from flask_babel import lazy_gettext as _l
from peewee import DateField, DoubleField, ForeignKeyField, TextField

from app import clock, geo
from app.db import database
from app.db_bulk import bulk_set
from app.models.base import BaseModel, created_at_field, one_of
from app.models.org import BUSINESS_LINES, Branch, User

TERRITORY_KINDS = ("zone", "village", "street", "group", "market")
TERRITORY_KIND_LABELS = {"zone": _l("Zone"), "village": _l("Village"), "street": _l("Street"),
                         "group": _l("Group"), "market": _l("Market area")}
TIERS = ("gold", "mass", "potential")
SQ_M_PER_MU = 10000 / 15
OPEN_LEAD_STATUSES = ("new", "contacted", "qualified")


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

    def rename(self, name):
        """A new name; history (visits, assignments) follows the row, not the name."""
        self.name = name.strip()
        self.save(only=[Territory.name])

    def move(self, parent):
        """Move under another parent (None for the top) after the same checks as an import.

        Returns the problems (geo.Problem); nothing is written when there is one.
        """
        if parent is not None and parent.path.startswith(self.path):
            return [ImportProblem("parent_cycle", {"parent": parent.name})]
        shape = geo.loads(self.geometry)
        if shape is not None:
            siblings = (Territory.select().where(
                Territory.branch == self.branch, Territory.id != self.id, Territory.retired_on.is_null(),
                Territory.parent.is_null() if parent is None else Territory.parent == parent))
            problems = geo.check_against(
                shape, (parent.name, geo.loads(parent.geometry)) if parent is not None else None,
                [(t.name, geo.loads(t.geometry)) for t in siblings if t.geometry])
            if problems:
                return problems
        with database.atomic():
            self.move_under(parent)
            place_customers(self.branch)
        return []

    def retire(self, day=None):
        """Retire the territory and everything below it from day; rows and history stay.

        Assignments end that day and its customers go to the nearest live territory.
        """
        day = day or clock.today()
        with database.atomic():
            subtree = Territory.select(Territory.id).where(Territory.path.startswith(self.path))
            Territory.update(retired_on=day).where(Territory.id.in_(subtree), Territory.retired_on.is_null()).execute()
            (Assignment.update(ends_on=day)
             .where(Assignment.territory.in_(subtree), Assignment.ends_on.is_null() | (Assignment.ends_on > day))
             .execute())
            place_customers(self.branch)
        self.retired_on = day

    @property
    def area_mu(self):
        return None if self.area_m2 is None else self.area_m2 / SQ_M_PER_MU

    @property
    def area_km2(self):
        return None if self.area_m2 is None else self.area_m2 / 1e6

    def subtree(self):
        return Territory.select().where(Territory.path.startswith(self.path))

    @classmethod
    def visible_to(cls, user):
        """Territories in the user's scope: assigned ones for a manager, the branch subtree otherwise."""
        from app.models.scope import territory_scope

        return cls.select().where(territory_scope(user))


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
        """Why the territory cannot be given to managers now (a message), or None.

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
    def assign(cls, territory, managers, business_line, starts_on, by=None):
        """Make managers responsible for the territory's business line from starts_on.

        Those responsible until then and not among managers end the day before, so
        the history stays; an assignment that had not started yet is simply dropped.
        Returns the users whose assignment ended. Raises ValueError with the reason
        when the territory's or a manager's branch is closed (see refusal).
        """
        refused = cls.refusal(territory, managers)
        if refused is not None:
            raise ValueError(refused)
        keep = {m.id for m in managers}
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
            for manager in managers:
                if manager.id not in held:
                    cls.create(territory=territory, user=manager, business_line=business_line,
                               starts_on=starts_on, assigned_by=by)
        return ended

    @staticmethod
    def hand_over(territory, from_users, to_user):
        """Move open follow-ups and open leads of the territory's customers to to_user.

        Returns (follow-ups moved, leads moved).
        """
        from app.models.customer import Customer
        from app.models.lead import Lead
        from app.models.visit import FollowUp

        customers = (Customer.select(Customer.id).join(Territory)
                     .where(Territory.path.startswith(territory.path)))
        old = [u.id for u in from_users if u.id != to_user.id]
        if not old:
            return 0, 0
        with database.atomic():
            follow_ups = (FollowUp.update(user=to_user)
                          .where(FollowUp.customer.in_(customers), FollowUp.user.in_(old),
                                 FollowUp.done_at.is_null()).execute())
            # The new owner sees them first on Today, as with a team lead's hand-over.
            leads = (Lead.update(owner=to_user, updated_at=clock.now(), handed_over_at=clock.now(),
                                 handover_pending=True)
                     .where(Lead.customer.in_(customers), Lead.owner.in_(old),
                            Lead.status.in_(OPEN_LEAD_STATUSES)).execute())
        return follow_ups, leads

    @classmethod
    def current(cls, day=None):
        """Assignments in force on day (today by default)."""
        day = day or clock.today()
        return cls.select().where(
            (cls.starts_on <= day) & (cls.ends_on.is_null() | (cls.ends_on >= day))
        )


# --- Import -------------------------------------------------------------------------------
MAX_IMPORT_BYTES = 5 * 1024 * 1024
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


@dataclass
class ImportRow:
    """One feature of the file, as the preview shows it."""

    index: int
    name: str = ""
    kind: str = ""
    code: str = None
    parent: str = None
    area_m2: float = None
    action: str = "new"
    problems: list = field(default_factory=list)
    shape: object = None
    existing: object = None

    @property
    def area_mu(self):
        return None if self.area_m2 is None else geo.area_mu(self.area_m2)

    @property
    def area_km2(self):
        return None if self.area_m2 is None else geo.area_km2(self.area_m2)

    @property
    def messages(self):
        return [str(p) for p in self.problems]


@dataclass
class ImportResult:
    errors: list = field(default_factory=list)   # problems of the whole file
    rows: list = field(default_factory=list)
    written: bool = False
    placed: int = 0

    @property
    def ok(self):
        return not self.errors and not any(r.problems for r in self.rows)

    @property
    def messages(self):
        return [str(p) for p in self.errors]


def _read_collection(data, datum, result):
    """The features and the datum of the file, or None with result.errors filled."""
    if len(data) > MAX_IMPORT_BYTES:
        result.errors.append(ImportProblem("too_large", {
            "mb": f"{len(data) / 1024 / 1024:.1f}", "limit": MAX_IMPORT_BYTES // 1024 // 1024}))
        return None, None
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            result.errors.append(ImportProblem("not_utf8"))
            return None, None
    try:
        collection = json.loads(data)
    except json.JSONDecodeError as error:
        result.errors.append(ImportProblem("not_json", {"error": error.msg, "line": error.lineno,
                                                        "column": error.colno}))
        return None, None
    if not isinstance(collection, dict) or collection.get("type") != "FeatureCollection":
        result.errors.append(ImportProblem("not_collection"))
        return None, None
    declared = collection.get("datum")
    for value in (declared, datum):
        if value is not None and value not in geo.DATUMS:
            result.errors.append(ImportProblem("bad_datum", {"datum": value}))
            return None, None
    if declared and datum and declared != datum:
        result.errors.append(ImportProblem("datum_conflict", {"file": declared, "given": datum}))
        return None, None
    if not (declared or datum):
        result.errors.append(ImportProblem("no_datum"))
        return None, None
    features = collection.get("features")
    if not isinstance(features, list) or not features:
        result.errors.append(ImportProblem("no_features"))
        return None, None
    return features, declared or datum


def _ancestry_order(rows, parent_of):
    """Rows with every parent from the file before its children (cycles flagged)."""
    ordered, state = [], {}

    def visit(row, trail):
        if state.get(row.index) == "done":
            return
        if row.index in trail:
            row.problems.append(ImportProblem("parent_cycle", {"parent": row.parent}))
            return
        parent = parent_of.get(row.index)
        if isinstance(parent, ImportRow):
            visit(parent, trail | {row.index})
        state[row.index] = "done"
        ordered.append(row)

    for row in rows:
        visit(row, frozenset())
    return ordered


def import_territories(data, branch, datum=None, dry_run=False):
    """Check a GeoJSON FeatureCollection of territories and, when nothing is wrong, write it.

    data is the file's bytes or text. A feature whose code already exists in the branch
    replaces that territory's name, kind, parent and shape. Everything is written in one
    transaction, then the bank's customers are placed again; any problem writes nothing.
    """
    result = ImportResult()
    features, datum = _read_collection(data, datum, result)
    if features is None:
        return result
    existing = list(Territory.select().where(Territory.branch == branch, Territory.retired_on.is_null()))
    by_code = {t.code: t for t in existing if t.code}
    by_name = {}
    for t in existing:
        by_name.setdefault(t.name, []).append(t)

    rows, geometries = result.rows, {}
    for index, feature in enumerate(features, 1):
        row = ImportRow(index)
        rows.append(row)
        if not isinstance(feature, dict) or feature.get("type") != "Feature":
            row.problems.append(ImportProblem("not_feature"))
            continue
        props = feature.get("properties") or {}
        row.name = str(props.get("name") or "").strip()
        row.kind = str(props.get("kind") or "").strip()
        row.code = str(props["code"]).strip() if props.get("code") not in (None, "") else None
        row.parent = str(props["parent"]).strip() if props.get("parent") not in (None, "") else None
        if not row.name:
            row.problems.append(ImportProblem("no_name"))
        if row.kind not in TERRITORY_KINDS:
            row.problems.append(ImportProblem("bad_kind", {"kind": row.kind or "—"}))
        row.existing = by_code.get(row.code)
        row.action = "update" if row.existing else "new"
        geometries[row.index] = feature.get("geometry")

    file_codes, file_names = {}, {}
    for row in rows:
        if row.code:
            if row.code in file_codes:
                row.problems.append(ImportProblem("duplicate_code", {"code": row.code}))
            file_codes.setdefault(row.code, row)
        if row.name:
            file_names.setdefault(row.name, []).append(row)

    # The parent: a code or a name, from the file first, then from the branch.
    parent_of = {}
    for row in rows:
        if not row.parent:
            continue
        ref = row.parent
        named_in_file = file_names.get(ref, [])
        named_in_db = [t for t in by_name.get(ref, []) if t.code not in file_codes]
        if ref in file_codes:
            parent_of[row.index] = file_codes[ref]
        elif ref in by_code:
            parent_of[row.index] = by_code[ref]
        elif len(named_in_file) + len(named_in_db) > 1:
            row.problems.append(ImportProblem("ambiguous_parent", {"parent": ref}))
        elif named_in_file:
            parent_of[row.index] = named_in_file[0]
        elif named_in_db:
            parent_of[row.index] = named_in_db[0]
        else:
            row.problems.append(ImportProblem("unknown_parent", {"parent": ref}))

    for row in rows:
        shape, problems = geo.check_geometry(geometries.get(row.index))
        row.problems += problems
        if shape is not None:
            row.shape = geo.to_wgs84(shape, datum)
            row.area_m2 = geo.area_m2(row.shape)

    # Parents and siblings: shapes from the file win over the ones they replace.
    replaced = {row.existing.id for row in rows if row.existing}
    shapes_in_db = {t.id: geo.loads(t.geometry) for t in existing if t.geometry}

    def key(parent):
        if parent is None:
            return None
        return ("file", parent.index) if isinstance(parent, ImportRow) else ("db", parent.id)

    family = {}
    for t in existing:
        if t.id not in replaced and t.id in shapes_in_db:
            parent_key = ("db", t.parent_id) if t.parent_id else None
            parent_row = next((r for r in rows if r.existing and r.existing.id == t.parent_id), None)
            if parent_row:
                parent_key = ("file", parent_row.index)
            family.setdefault(parent_key, []).append((t.name, shapes_in_db[t.id]))
    # A feature whose parent is unknown has no known siblings either.
    unplaced = {row.index for row in rows if row.parent and row.index not in parent_of}
    for row in rows:
        if row.shape is not None and row.index not in unplaced:
            parent = parent_of.get(row.index)
            family.setdefault(key(parent), []).append((row.name, row.shape, row.index))

    for row in _ancestry_order(rows, parent_of):
        if row.shape is None or row.index in unplaced:
            continue
        parent = parent_of.get(row.index)
        parent_pair = None
        if isinstance(parent, ImportRow):
            parent_pair = (parent.name, parent.shape) if parent.shape is not None else None
        elif parent is not None:
            parent_pair = (parent.name, shapes_in_db.get(parent.id))
        siblings = [(m[0], m[1]) for m in family.get(key(parent), [])
                    if not (len(m) == 3 and m[2] == row.index)]
        problems = geo.check_against(row.shape, parent_pair, siblings)
        if parent_pair and parent_pair[1] is not None and any(p.code == "outside_parent" for p in problems):
            # A file in the other datum lands a few hundred metres off: say so when that fits.
            other = "wgs84" if datum == "gcj02" else "gcj02"
            raw, _ = geo.check_geometry(geometries[row.index])
            if not geo.check_against(_in_datum(raw, other), parent_pair):
                problems.append(ImportProblem("other_datum", {"datum": other}))
        row.problems += problems

    if not result.ok or dry_run:
        return result
    with database.atomic():
        written = {}
        for row in _ancestry_order(rows, parent_of):
            parent = parent_of.get(row.index)
            parent = written[parent.index] if isinstance(parent, ImportRow) else parent
            fields = _shape_fields(row.shape)
            if row.existing:
                territory = row.existing
                territory.name, territory.kind = row.name, row.kind
                for name, value in fields.items():
                    setattr(territory, name, value)
                territory.save()
                territory.move_under(parent)
            else:
                territory = Territory.add(row.name, row.kind, branch, parent, code=row.code, **fields)
            written[row.index] = territory
        result.placed = place_customers(branch)
    result.written = True
    return result


def _in_datum(shape, datum):
    """The raw shape read as if it were in datum, in WGS-84 (for the datum hint)."""
    return geo.to_wgs84(shape, datum) if datum == "gcj02" else shapely.transform(
        shape, lambda xy: np.column_stack(geo.wgs84_to_gcj02(xy[:, 0], xy[:, 1])))


def _shape_fields(shape):
    centre = shape.representative_point() if not shape.centroid.within(shape) else shape.centroid
    return {"geometry": geo.dumps(shape), "area_m2": round(geo.area_m2(shape), 1),
            "centroid_lat": round(centre.y, 7), "centroid_lng": round(centre.x, 7)}


# --- Placement ------------------------------------------------------------------------------
PLACE_CHUNK = 5000  # rows per PostgreSQL UPDATE … FROM (VALUES …)
REBUILD_INDEXES_FROM = 20_000  # SQLite: changed rows above which the territory indexes are rebuilt


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
            .join(Branch).where(Branch.path.startswith(root.path), Territory.retired_on.is_null(),
                                Territory.geometry.is_null(False))
            .tuples())
    return geo.Placer([(tid, path.count("/") - 1, geo.loads(text)) for tid, path, text in rows])


def place_customers(branch, placer=None):
    """Place every customer of the branch's bank in its deepest territory, in bulk.

    Only changed rows are written. Returns how many changed. Call inside the caller's
    transaction when it changed the shapes. Reads and writes go straight to the driver:
    building 100,000 peewee rows or expressions costs more than the placing itself.
    """
    from app.models.customer import Customer

    root = bank_of(branch)
    query = (Customer.select(Customer.id, Customer.lng, Customer.lat, Customer.territory)
             .join(Branch).where(Branch.path.startswith(root.path)))
    sql, params = query.sql()
    rows = database.execute_sql(sql, params).fetchall()
    if not rows:
        return 0  # a new bank's first import: no shapes to load
    placer = placer or placer_for(root)
    table = np.array(rows, dtype=float)  # NULL (None) becomes NaN
    ids, lngs, lats = table[:, 0].astype(np.int64), table[:, 1], table[:, 2]
    current = np.nan_to_num(table[:, 3], nan=0).astype(np.int64)
    known = ~(np.isnan(lngs) | np.isnan(lats))
    placed = current.copy()  # a customer without a position keeps the territory given by hand
    placed[known] = placer.place(lngs[known], lats[known])
    changed = placed != current
    # In id order, so the writes walk the table's B-tree once instead of hopping about it.
    order = np.argsort(ids[changed], kind="stable")
    pairs = [(int(t) or None, int(c)) for t, c in zip(placed[changed][order], ids[changed][order])]
    with database.atomic():
        # When most of a big bank moves (a new import), SQLite rebuilds the territory indexes
        # once rather than updating them for every row.
        bulk_set(Customer, Customer.territory, pairs, rebuild_indexes_from=REBUILD_INDEXES_FROM,
                 page_size=PLACE_CHUNK)
    return len(pairs)


def place_customer(customer, placer=None):
    """Set one customer's territory from its position (the creating or moving write calls it)."""
    if customer.lat is None or customer.lng is None:
        return customer.territory_id
    placer = placer or placer_for(customer.branch)
    customer.territory = placer.place_one(customer.lng, customer.lat)
    return customer.territory_id


# --- Drawing on the map -----------------------------------------------------------------------
@dataclass
class DrawResult:
    """What saving a drawn shape did, or why it did not."""

    problems: list = field(default_factory=list)
    highlights: list = field(default_factory=list)  # (kind, name, WGS-84 shapely geometry) to draw
    territory: object = None
    placed: int = 0   # customers whose territory changed
    inside: int = 0   # customers now in the territory or below it

    @property
    def messages(self):
        return [str(p) for p in self.problems]


def family_of(branch, parent, exclude=None):
    """(parent pair, sibling pairs) as geo.check_against wants them: the same family as an import."""
    siblings = Territory.select().where(
        Territory.branch == branch, Territory.retired_on.is_null(), Territory.geometry.is_null(False),
        Territory.parent.is_null() if parent is None else Territory.parent == parent)
    if exclude is not None:
        siblings = siblings.where(Territory.id != exclude.id)
    parent_pair = (parent.name, geo.loads(parent.geometry)) if parent is not None and parent.geometry else None
    return parent_pair, [(t.name, geo.loads(t.geometry)) for t in siblings.order_by(Territory.id)]


def save_drawn(geometry, datum="wgs84", *, branch=None, parent=None, name=None, kind=None, territory=None):
    """Check a shape drawn on the map exactly as an import checks it, and save it if nothing is wrong.

    A new territory needs branch, name and kind (parent optional); an existing one keeps
    its family and must still hold its children. geometry is GeoJSON in datum. Nothing is
    written when there is a problem; otherwise the bank's customers are placed again.
    """
    from app.models.customer import Customer

    result = DrawResult()
    if territory is None:
        name = (name or "").strip()
        if not name:
            result.problems.append(ImportProblem("no_name"))
        elif len(name) > MAX_NAME:
            result.problems.append(ImportProblem("name_too_long", {"n": len(name), "limit": MAX_NAME}))
        if kind not in TERRITORY_KINDS:
            result.problems.append(ImportProblem("bad_kind", {"kind": kind or "—"}))
    else:
        branch, parent = territory.branch, territory.parent
    parent_pair, siblings = family_of(branch, parent, exclude=territory)
    shape, problems = geo.validate(geometry, datum, parent_pair, siblings)
    result.problems += problems
    if shape is not None:
        result.highlights = geo.violations(shape, parent_pair, siblings)
        if territory is not None:
            children = Territory.select().where(Territory.parent == territory, Territory.retired_on.is_null(),
                                                Territory.geometry.is_null(False))
            for child in children:
                # The child must still fit, by the same rule it was checked with against its parent.
                child_shape = geo.loads(child.geometry)
                for _, _, part in geo.violations(child_shape, (territory.name, shape)):
                    m2 = geo.area_m2(part)
                    result.problems.append(ImportProblem("child_outside", {
                        "share": f"{m2 / geo.area_m2(child_shape):.1%}", "m2": f"{m2:,.0f}", "child": child.name}))
                    result.highlights.append(("outside", child.name, part))
    if result.problems:
        return result
    with database.atomic():
        fields = _shape_fields(shape)
        if territory is None:
            territory = Territory.add(name, kind, branch, parent, **fields)
        else:
            for key, value in fields.items():
                setattr(territory, key, value)
            territory.save(only=[getattr(Territory, key) for key in fields])
        result.placed = place_customers(branch)
    result.territory = territory
    result.inside = (Customer.select().join(Territory)
                     .where(Territory.path.startswith(territory.path), Customer.status == "active").count())
    return result
