"""Territories from a GeoJSON FeatureCollection (`flask import-territories`, 管理 → 网格 → 导入):
every feature checked against its parent and siblings exactly as a drawn shape is, then all
written in one transaction and the bank's customers placed again."""
import json
from dataclasses import dataclass, field

import numpy as np
import shapely

from app import geo
from app.db import database
from app.models.placement import place_customers
from app.models.territory import TERRITORY_KINDS, ImportProblem, Territory, name_problem, shape_fields

MAX_IMPORT_BYTES = 5 * 1024 * 1024


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
        collection = geo.load_json(data)
    except geo.TooDeep:
        result.errors.append(ImportProblem("too_deep", {"limit": geo.MAX_JSON_DEPTH}))
        return None, None
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


def _text(props, name, row, numbers=False):
    """A property as stripped text ('' when absent); a list, an object (or a number where text
    is wanted) is a problem, never its Python repr stored as a name."""
    value = props.get(name)
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        return str(value)  # a numeric code (130102) is the code a GIS program often writes
    row.problems.append(ImportProblem("bad_property", {"property": name}))
    return ""


def read_features(data, datum=None):
    """The file read into rows (no database): (result, geometries by row index, datum).

    Every problem of the file or of one feature's properties is in result; features is
    None-safe: a file that cannot be read gives result.errors and no rows.
    """
    result = ImportResult()
    features, datum = _read_collection(data, datum, result)
    geometries = {}
    for index, feature in enumerate(features or (), 1):
        row = ImportRow(index)
        result.rows.append(row)
        props = feature.get("properties") if isinstance(feature, dict) else None
        if (not isinstance(feature, dict) or feature.get("type") != "Feature"
                or not isinstance(props, (dict, type(None)))):
            row.problems.append(ImportProblem("not_feature"))
            continue
        props = props or {}
        row.name = _text(props, "name", row)
        row.kind = _text(props, "kind", row)
        row.code = _text(props, "code", row, numbers=True) or None
        row.parent = _text(props, "parent", row, numbers=True) or None
        if not row.problems and name_problem(row.name) is not None:  # the rule of a rename and a drawing too
            row.problems.append(name_problem(row.name))
        if row.kind not in TERRITORY_KINDS:
            row.problems.append(ImportProblem("bad_kind", {"kind": row.kind or "—"}))
        geometries[row.index] = feature.get("geometry")
    return result, geometries, datum


def import_territories(data, branch, datum=None, dry_run=False):
    """Check a GeoJSON FeatureCollection of territories and, when nothing is wrong, write it.

    data is the file's bytes or text. A feature whose code already exists in the branch
    replaces that territory's name, kind, parent and shape. Everything is written in one
    transaction, then the bank's customers are placed again; any problem writes nothing.
    """
    result, geometries, datum = read_features(data, datum)
    if result.errors:
        return result
    existing = list(Territory.select().where(Territory.branch == branch, Territory.live()))
    by_code = {t.code: t for t in existing if t.code}
    by_name = {}
    for t in existing:
        by_name.setdefault(t.name, []).append(t)

    rows = result.rows
    for row in rows:
        row.existing = by_code.get(row.code)
        row.action = "update" if row.existing else "new"

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
            fields = shape_fields(row.shape)
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
