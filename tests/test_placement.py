"""Each customer sits in the deepest territory containing its position, kept right on moves."""
import json

import pytest
from peewee import SqliteDatabase

from app.db import database
from app.models import Customer, Territory
from app.models.placement import place_customers

HOLE = [[107.602, 28.902], [107.604, 28.902], [107.604, 28.904], [107.602, 28.904], [107.602, 28.902]]


@pytest.fixture
def db(app, county):
    with app.app_context(), database.obj.connection_context():
        # G1 (the south half of V1) gets a hole: a pond that belongs to V1 only.
        g1 = county.territories["G1"]
        shape = json.loads(g1.geometry)
        shape["coordinates"].append(HOLE)
        Territory.update(geometry=json.dumps(shape)).where(Territory.id == g1.id).execute()
        yield county


@pytest.mark.parametrize("lng,lat,expected", [
    (107.605, 28.915, "V1"),     # V1 above its group
    (107.605, 28.905, "G1"),     # nested: the group, not the village or the zone
    (107.603, 28.903, "V1"),     # in G1's hole: back to V1
    (107.602, 28.903, "G1"),     # on the hole's edge: still G1
    (107.61, 28.915, "V1"),      # on the V1/V2 border: equal depth, equal size, lowest id
    (107.60, 28.905, "G1"),      # on the county's outer edge: borders count as inside
    (107.615, 28.905, "V2"),
    (107.65, 28.95, None),       # outside every territory
])
def test_moving_a_customer_places_it(db, lng, lat, expected):
    customer = Customer.create(name="新户", kind="household", branch=db.branches["A1"])
    customer.move_to(lat, lng, source="surveyed")
    stored = Customer.get_by_id(customer.id)
    assert (stored.lat, stored.lng, stored.position_source) == (lat, lng, "surveyed")
    want = db.territories[expected].id if expected else None
    assert stored.territory_id == want


def test_bulk_placement_after_a_shape_changes(db):
    c_v1 = db.customers["c_v1"]  # at 107.605, 28.915 in V1
    v2 = db.territories["V2"]
    # V2 grows west over the north of V1 (a redrawn border); V1 shrinks to match.
    Territory.update(geometry=json.dumps({"type": "Polygon", "coordinates": [[
        [107.60, 28.91], [107.62, 28.91], [107.62, 28.92], [107.60, 28.92], [107.60, 28.91]]]})
    ).where(Territory.id == v2.id).execute()
    Territory.update(geometry=json.dumps({"type": "Polygon", "coordinates": [[
        [107.60, 28.90], [107.61, 28.90], [107.61, 28.91], [107.60, 28.91], [107.60, 28.90]]]})
    ).where(Territory.id == db.territories["V1"].id).execute()
    assert place_customers(db.branches["A1"]) >= 1
    assert Customer.get_by_id(c_v1.id).territory_id == v2.id
    assert Customer.get_by_id(db.customers["c_g1"].id).territory_id == db.territories["G1"].id
    # Bank B's customers are placed among bank B's territories only, and were not touched.
    assert Customer.get_by_id(db.customers["c_b"].id).territory_id == db.territories["VB"].id


def test_a_retired_territory_places_nobody(db):
    from app import clock
    Territory.update(retired_on=clock.today()).where(Territory.id == db.territories["G1"].id).execute()
    place_customers(db.branches["A1"])
    assert Customer.get_by_id(db.customers["c_g1"].id).territory_id == db.territories["V1"].id


def test_a_big_rewrite_rebuilds_the_territory_indexes(db, monkeypatch):
    """Past REBUILD_INDEXES_FROM changed rows SQLite drops and rebuilds the territory
    indexes around the write; the placing and the indexes come out the same."""
    from app.models import placement

    monkeypatch.setattr(placement, "REBUILD_INDEXES_FROM", 1)
    Customer.update(territory=None).where(Customer.id == db.customers["c_v1"].id).execute()
    Customer.update(territory=None).where(Customer.id == db.customers["c_g1"].id).execute()
    assert place_customers(db.branches["A1"]) >= 2
    assert Customer.get_by_id(db.customers["c_v1"].id).territory_id == db.territories["V1"].id
    assert Customer.get_by_id(db.customers["c_g1"].id).territory_id == db.territories["G1"].id
    if isinstance(database.obj, SqliteDatabase):
        names = {row[0] for row in database.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'customer'")}
        assert {"customer_territory_id", "customer_territory_id_tier"} <= names
