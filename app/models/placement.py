"""Placing customers into territories in bulk, and saving a territory drawn on the map
(which places the bank's customers again): both write customers, so they sit above them."""
from dataclasses import dataclass, field

import numpy as np

from app import clock, geo
from app.db import database
from app.db_bulk import bulk_set
from app.models.customer import Customer
from app.models.org import Branch
from app.models.territory import (MAX_NAME, Assignment, TERRITORY_KINDS, ImportProblem, Territory, bank_of, placer_for,
                                  shape_fields)

PLACE_CHUNK = 5000  # rows per PostgreSQL UPDATE … FROM (VALUES …)
REBUILD_INDEXES_FROM = 20_000  # SQLite: changed rows above which the territory indexes are rebuilt


def move_territory(territory, parent):
    """Move a territory under another parent (None for the top) after the same checks as an import.

    Returns the problems (geo.Problem); nothing is written when there is one.
    """
    if parent is not None and parent.path.startswith(territory.path):
        return [ImportProblem("parent_cycle", {"parent": parent.name})]
    shape = geo.loads(territory.geometry)
    if shape is not None:
        siblings = (Territory.select().where(
            Territory.branch == territory.branch, Territory.id != territory.id, Territory.live(),
            Territory.parent.is_null() if parent is None else Territory.parent == parent))
        problems = geo.check_against(
            shape, (parent.name, geo.loads(parent.geometry)) if parent is not None else None,
            [(t.name, geo.loads(t.geometry)) for t in siblings if t.geometry])
        if problems:
            return problems
    with database.atomic():
        territory.move_under(parent)
        place_customers(territory.branch)
    return []

def retire_territory(territory, day=None):
    """Retire a territory and everything below it from day; rows and history stay.

    Assignments end that day and its customers go to the nearest live territory.
    """
    day = day or clock.today()
    with database.atomic():
        subtree = Territory.select(Territory.id).where(Territory.path.startswith(territory.path))
        Territory.update(retired_on=day).where(Territory.id.in_(subtree), Territory.live()).execute()
        (Assignment.update(ends_on=day)
         .where(Assignment.territory.in_(subtree), Assignment.ends_on.is_null() | (Assignment.ends_on > day))
         .execute())
        place_customers(territory.branch)
    territory.retired_on = day


def place_customers(branch, placer=None):
    """Place every customer of the branch's bank in its deepest territory, in bulk.

    Only changed rows are written. Returns how many changed. Call inside the caller's
    transaction when it changed the shapes. Reads and writes go straight to the driver:
    building 100,000 peewee rows or expressions costs more than the placing itself.
    """
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
        Territory.branch == branch, Territory.live(), Territory.geometry.is_null(False),
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
            children = Territory.select().where(Territory.parent == territory, Territory.live(),
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
        fields = shape_fields(shape)
        if territory is None:
            territory = Territory.add(name, kind, branch, parent, **fields)
        else:
            for key, value in fields.items():
                setattr(territory, key, value)
            territory.save(only=[getattr(Territory, key) for key in fields])
        result.placed = place_customers(branch)
    result.territory = territory
    result.inside = Customer.counts_by_territory([territory.id]).get(territory.id, 0)
    return result
