"""Placing customers into territories in bulk, and saving a territory drawn on the map
(which places the bank's customers again): both write customers, so they sit above them."""
from dataclasses import dataclass

import numpy as np
from flask_babel import lazy_gettext as _l

from app import clock, geo
from app.db import database
from app.db_bulk import bulk_set
from app.models.customer import Customer
from app.models.org import Branch
from app.models.refused import Refused
from app.models.territory import (TERRITORY_KINDS, Assignment, ImportProblem, Territory, bank_of, editable, editor,
                                  name_problem, placer_for, shape_fields, shape_refused)

PLACE_CHUNK = 5000  # rows per PostgreSQL UPDATE … FROM (VALUES …)
REBUILD_INDEXES_FROM = 20_000  # SQLite: changed rows above which the territory indexes are rebuilt


def move_territory(user, territory, parent):
    """The write path moving a territory under another parent (None for the top), after the
    same checks as an import; the bank's customers are placed again.

    Refused: not_found for a territory, or a parent (live, of the same branch), outside
    the user's scope; forbidden for a manager; otherwise every problem of the shape in
    its new family at once (shape_refused), and nothing is written.
    """
    territory = editable(user, territory)
    if parent is not None:
        parent = editable(user, parent, live=True)
        if parent.branch_id != territory.branch_id:
            raise Refused.not_found()
        if parent.path.startswith(territory.path):
            raise shape_refused([ImportProblem("parent_cycle", {"parent": parent.name})])
    shape = geo.loads(territory.geometry)
    if shape is not None:
        siblings = (Territory.select().where(
            Territory.branch == territory.branch, Territory.id != territory.id, Territory.live(),
            Territory.parent.is_null() if parent is None else Territory.parent == parent))
        problems = geo.check_against(
            shape, (parent.name, geo.loads(parent.geometry)) if parent is not None else None,
            [(t.name, geo.loads(t.geometry)) for t in siblings if t.geometry])
        if problems:
            raise shape_refused(problems)
    with database.atomic():
        territory.move_under(parent)
        place_customers(territory.branch)
    return territory


def retire_territory(user, territory, day=None):
    """The write path retiring a territory and everything below it from day; rows and history stay.

    Assignments end that day and its customers go to the nearest live territory.
    Refused: not_found outside the user's scope, forbidden for a manager, and a
    territory already retired.
    """
    row = editable(user, territory)
    if row.retired_on is not None:
        raise Refused({"retired": _l("This territory is already retired.")})
    day = day or clock.today()
    with database.atomic():
        subtree = Territory.select(Territory.id).where(Territory.path.startswith(row.path))
        Territory.update(retired_on=day).where(Territory.id.in_(subtree), Territory.live()).execute()
        (Assignment.update(ends_on=day)
         .where(Assignment.territory.in_(subtree), Assignment.ends_on.is_null() | (Assignment.ends_on > day))
         .execute())
        place_customers(row.branch)
    if not isinstance(territory, int):
        territory.retired_on = day
    return row


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
    """What saving a drawn shape did (why it did not is a Refused, with highlights)."""

    territory: object = None
    placed: int = 0   # customers whose territory changed
    inside: int = 0   # customers now in the territory or below it


def family_of(branch, parent, exclude=None):
    """(parent pair, sibling pairs) as geo.check_against wants them: the same family as an import."""
    siblings = Territory.select().where(
        Territory.branch == branch, Territory.live(), Territory.geometry.is_null(False),
        Territory.parent.is_null() if parent is None else Territory.parent == parent)
    if exclude is not None:
        siblings = siblings.where(Territory.id != exclude.id)
    parent_pair = (parent.name, geo.loads(parent.geometry)) if parent is not None and parent.geometry else None
    return parent_pair, [(t.name, geo.loads(t.geometry)) for t in siblings.order_by(Territory.id)]


def save_drawn(user, geometry, datum="wgs84", *, parent=None, name=None, kind=None, territory=None):
    """The write path of a shape drawn on the map: checked exactly as an import checks it,
    saved if nothing is wrong, then the bank's customers are placed again.

    A new territory needs name and kind, under parent (a live territory in the user's
    scope) or at the top of the user's branch; an existing one (territory) keeps its
    family and must still hold its children. geometry is GeoJSON in datum.
    Refused: not_found for a territory or parent outside the user's scope or retired,
    forbidden for a manager; otherwise every problem at once, keyed by code, with
    `highlights` (kind, name, WGS-84 part) for the map to draw. Nothing is written then.
    """
    problems, highlights = [], []
    if territory is None:
        if parent is not None:
            parent = editable(user, parent, live=True)
        editor(user)
        branch = parent.branch if parent is not None else user.branch
        name = (name or "").strip()
        if name_problem(name) is not None:
            problems.append(name_problem(name))
        if kind not in TERRITORY_KINDS:
            problems.append(ImportProblem("bad_kind", {"kind": kind or "—"}))
    else:
        territory = editable(user, territory, live=True)
        branch, parent = territory.branch, territory.parent
    parent_pair, siblings = family_of(branch, parent, exclude=territory)
    shape, shape_problems = geo.validate(geometry, datum, parent_pair, siblings)
    problems += shape_problems
    if shape is not None:
        highlights = geo.violations(shape, parent_pair, siblings)
        if territory is not None:
            children = Territory.select().where(Territory.parent == territory, Territory.live(),
                                                Territory.geometry.is_null(False))
            for child in children:
                # The child must still fit, by the same rule it was checked with against its parent.
                child_shape = geo.loads(child.geometry)
                for _, _, part in geo.violations(child_shape, (territory.name, shape)):
                    m2 = geo.area_m2(part)
                    problems.append(ImportProblem("child_outside", {
                        "share": f"{m2 / geo.area_m2(child_shape):.1%}", "m2": f"{m2:,.0f}", "child": child.name}))
                    highlights.append(("outside", child.name, part))
    if problems:
        raise shape_refused(problems, highlights)
    result = DrawResult()
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
