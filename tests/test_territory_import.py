"""Importing territories from GeoJSON: checks, datums, one transaction, placement."""
import json

import pytest

from app import geo
from app.db import database
from app.models import Customer, Territory
from app.imports.geojson import MAX_IMPORT_BYTES, import_territories
from app.models.placement import place_customers

HOLE = [[107.642, 28.902], [107.642, 28.904], [107.644, 28.904], [107.644, 28.902], [107.642, 28.902]]


def ring(lng0, lat0, lng1, lat1):
    return [[lng0, lat0], [lng1, lat0], [lng1, lat1], [lng0, lat1], [lng0, lat0]]


def feature(name, kind, geometry, code=None, parent=None):
    props = {"name": name, "kind": kind}
    if code:
        props["code"] = code
    if parent:
        props["parent"] = parent
    return {"type": "Feature", "properties": props, "geometry": geometry}


def new_zone_features():
    """Zone Z9 east of the county with two villages; V9A is a MultiPolygon with a hole."""
    return [
        feature("新区", "zone", {"type": "Polygon", "coordinates": [ring(107.64, 28.90, 107.66, 28.92)]},
                code="Z9"),
        feature("新甲村", "village", {"type": "MultiPolygon", "coordinates": [
            [ring(107.64, 28.90, 107.65, 28.91), HOLE],
            [ring(107.64, 28.915, 107.65, 28.92)]]}, code="V9A", parent="Z9"),
        feature("新乙村", "village", {"type": "Polygon", "coordinates": [ring(107.65, 28.90, 107.66, 28.92)]},
                code="V9B", parent="新区"),  # a parent given by its name
    ]


def collection(features, datum="wgs84"):
    data = {"type": "FeatureCollection", "features": features}
    if datum:
        data["datum"] = datum
    return json.dumps(data, ensure_ascii=False).encode()


def to_gcj(features):
    def shift(coords):
        if isinstance(coords[0], (int, float)):
            return list(geo.wgs84_to_gcj02(coords[0], coords[1]))
        return [shift(c) for c in coords]
    return [dict(f, geometry=dict(f["geometry"], coordinates=shift(f["geometry"]["coordinates"])))
            for f in features]


@pytest.fixture
def db(app, county):
    with app.app_context(), database.obj.connection_context():
        yield county


def customer_at(county, lng, lat, name="客户"):
    return Customer.create(name=name, kind="household", branch=county.branches["A1"], lat=lat, lng=lng)


def codes(result):
    return {row.index: [p.code for p in row.problems] for row in result.rows if row.problems}


def test_import_a_multipolygon_with_a_hole_and_place_customers(db):
    in_hole = customer_at(db, 107.643, 28.903)
    in_part1 = customer_at(db, 107.648, 28.908)
    in_part2 = customer_at(db, 107.645, 28.918)
    between_parts = customer_at(db, 107.645, 28.912)
    east = customer_at(db, 107.655, 28.91)
    result = import_territories(collection(new_zone_features()), db.branches["A1"])
    assert result.ok and result.written, result.messages + [r.messages for r in result.rows]
    z9, v9a, v9b = (Territory.get(Territory.code == c) for c in ("Z9", "V9A", "V9B"))
    assert v9a.parent_id == z9.id and v9b.parent_id == z9.id
    assert v9a.path == f"{z9.path}{v9a.id}/"
    assert json.loads(v9a.geometry)["type"] == "MultiPolygon"
    # 0.01° square less a 0.002° hole, plus 0.01° × 0.005°: 1.46 of the zone's 4 squares.
    assert v9a.area_m2 == pytest.approx(z9.area_m2 * 1.46 / 4, rel=0.005)
    assert v9a.area_mu == pytest.approx(v9a.area_m2 * 15 / 10000)
    assert Customer.get_by_id(in_hole.id).territory_id == z9.id
    assert Customer.get_by_id(in_part1.id).territory_id == v9a.id
    assert Customer.get_by_id(in_part2.id).territory_id == v9a.id
    assert Customer.get_by_id(between_parts.id).territory_id == z9.id
    assert Customer.get_by_id(east.id).territory_id == v9b.id


def test_a_gcj02_file_places_customers_as_its_wgs84_original(db):
    # A grid of customers kept at least 10 m away from every border.
    points = [(107.6405 + i * 0.001, 28.9005 + j * 0.001) for i in range(20) for j in range(20)]
    customers = [customer_at(db, lng, lat) for lng, lat in points]
    assert import_territories(collection(new_zone_features()), db.branches["A1"]).written
    wgs_places = [Customer.get_by_id(c.id).territory_id for c in customers]
    wgs_shapes = {t.code: geo.loads(t.geometry) for t in Territory.select().where(Territory.code.startswith("Z9"))}
    # The same file in GCJ-02 replaces the shapes (same codes) and must land on them again.
    result = import_territories(collection(to_gcj(new_zone_features()), datum=None), db.branches["A1"],
                                datum="gcj02")
    assert result.written, [r.messages for r in result.rows]
    assert [Customer.get_by_id(c.id).territory_id for c in customers] == wgs_places
    for code, before in wgs_shapes.items():
        after = geo.loads(Territory.get(Territory.code == code).geometry)
        for (x0, y0), (x1, y1) in zip(before.exterior.coords, after.exterior.coords):
            assert geo.distance_m(x0, y0, x1, y1) < 1


def test_a_file_with_one_broken_feature_writes_nothing(db):
    features = new_zone_features()
    features[2]["geometry"]["coordinates"] = [[[lat, lng] for lng, lat in ring(107.65, 28.90, 107.66, 28.92)]]
    before = Territory.select().count()
    result = import_territories(collection(features), db.branches["A1"])
    assert not result.written and not result.ok
    assert codes(result) == {3: ["swapped"]}
    assert Territory.select().count() == before


def test_a_dry_run_lists_every_feature_and_writes_nothing(db):
    before = Territory.select().count()
    result = import_territories(collection(new_zone_features()), db.branches["A1"], dry_run=True)
    assert result.ok and not result.written
    assert [(r.name, r.kind, r.action) for r in result.rows] == [
        ("新区", "zone", "new"), ("新甲村", "village", "new"), ("新乙村", "village", "new")]
    assert all(r.area_m2 > 0 for r in result.rows)
    assert Territory.select().count() == before


def _swap(features):
    features[1]["geometry"] = {"type": "Polygon",
                               "coordinates": [[[y, x] for x, y in ring(107.64, 28.90, 107.65, 28.91)]]}
    return features


def _range(features):
    features[1]["geometry"] = {"type": "Polygon", "coordinates": [ring(107.64, 95.0, 107.65, 95.1)]}
    return features


def _two_points(features):
    features[1]["geometry"] = {"type": "Polygon", "coordinates": [[[107.64, 28.90], [107.64, 28.90]]]}
    return features


def _unknown_parent(features):
    features[1]["properties"]["parent"] = "不存在的片区"
    return features


def _overlap(features):
    features[2]["geometry"] = {"type": "Polygon", "coordinates": [ring(107.645, 28.90, 107.66, 28.92)]}
    return features


def _outside_parent(features):
    features[2]["geometry"] = {"type": "Polygon", "coordinates": [ring(107.65, 28.90, 107.67, 28.92)]}
    return features


@pytest.mark.parametrize("change,problems", [
    (_swap, {2: ["swapped"]}),
    (_range, {2: ["out_of_range"]}),
    (_two_points, {2: ["too_few_points"]}),
    (_unknown_parent, {2: ["unknown_parent"]}),
    (_overlap, {2: ["overlap"], 3: ["overlap"]}),
    (_outside_parent, {3: ["outside_parent"]}),
])
def test_each_bad_feature_is_named_and_nothing_is_written(db, change, problems):
    before = Territory.select().count()
    result = import_territories(collection(change(new_zone_features())), db.branches["A1"])
    assert codes(result) == problems
    assert all(r.messages for r in result.rows if r.problems)
    assert not result.written and Territory.select().count() == before


@pytest.mark.parametrize("data,code", [
    (b'{"type": "FeatureCollection", "features": [', "not_json"),
    (b"\xff\xfe garbage", "not_utf8"),
    (b'{"type": "Feature"}', "not_collection"),
    (b'{"type": "FeatureCollection", "features": []}', "no_datum"),
    (b'{"type": "FeatureCollection", "datum": "bd09", "features": []}', "bad_datum"),
    (b'{"type": "FeatureCollection", "datum": "wgs84", "features": []}', "no_features"),
    (b" " * (MAX_IMPORT_BYTES + 1), "too_large"),
])
def test_a_broken_file_gets_one_clear_message(db, data, code):
    before = Territory.select().count()
    result = import_territories(data, db.branches["A1"])
    assert [p.code for p in result.errors] == [code]
    assert result.messages[0]
    assert not result.written and Territory.select().count() == before


def test_a_20_mb_file_is_refused_before_it_is_parsed(db):
    result = import_territories(b"[" + b"0," * (10 * 1024 * 1024) + b"0]", db.branches["A1"])
    assert [p.code for p in result.errors] == ["too_large"]
    assert "20.0" in result.messages[0]


def test_a_gcj02_file_declared_wgs84_is_caught_by_its_parent(db):
    group = feature("石板村一组", "group", {"type": "Polygon", "coordinates": [ring(107.612, 28.902, 107.618, 28.908)]},
                    code="G9", parent="V2")
    result = import_territories(collection(to_gcj([group]), datum="wgs84"), db.branches["A1"])
    assert codes(result) == {1: ["outside_parent", "other_datum"]}
    result = import_territories(collection(to_gcj([group]), datum="gcj02"), db.branches["A1"])
    assert result.written


def test_placement_after_a_shape_changes_is_bulk_and_keeps_unpositioned_customers(db):
    no_position = Customer.create(name="无坐标", kind="household", branch=db.branches["A1"],
                                  territory=db.territories["V1"])
    outside = customer_at(db, 107.80, 28.95)
    c_v1 = db.customers["c_v1"]
    # The county's customers were stored in their right territories by hand: only the stray changes.
    assert place_customers(db.branches["A1"]) == 0
    assert Customer.get_by_id(c_v1.id).territory_id == db.territories["V1"].id
    assert Customer.get_by_id(no_position.id).territory_id == db.territories["V1"].id
    assert Customer.get_by_id(outside.id).territory_id is None
