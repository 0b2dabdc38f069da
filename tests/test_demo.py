"""The demo county: deterministic, geometrically sound, and a fair sample of a real bank."""
import json
from contextlib import contextmanager
from collections import defaultdict
from types import SimpleNamespace

import pytest
import shapely

from app import clock, crypto
from app.db import apply_schema, database, open_database
from app.demo import build_demo
from app.models import Assignment, Customer, CustomerChange, Lead, Territory, User, compute_tier
from app.models.org import ROLES
from app.models.tier import DEFAULT_RULES, TierRule, ordered, rule_code
from tests.conftest import make_app

CUSTOMERS = 300
FAST_HASH = "pbkdf2:sha256:1000"  # the demo's own password hashing is not under test


@contextmanager
def demo_database():
    """A fresh in-memory database inside what `flask demo` has around it: the app (its
    ID-number key, its translations). The app is made first: making it binds its own URL."""
    context = make_app("sqlite:///:memory:").app_context()
    db = open_database("sqlite:///:memory:")
    database.initialize(db)
    db.connect()
    apply_schema(db)
    try:
        with context:
            yield db
    finally:
        db.close()


def build(seed=20261129):
    """A small demo in a fresh in-memory database, read back as plain data."""
    with demo_database():
        result = build_demo(customers=CUSTOMERS, seed=seed, password_method=FAST_HASH)
        customers = list(Customer.select().order_by(Customer.id))
        territories = list(Territory.select().order_by(Territory.id))
        return SimpleNamespace(
            result=result,
            territories=territories,
            shapes={t.id: shapely.from_geojson(t.geometry) for t in territories},
            customers=customers,
            id_numbers={c.id: c.id_number for c in customers},
            rules=TierRule.for_bank(customers[0].branch.bank.id),
            users=list(User.select().order_by(User.id)),
            assignments=list(Assignment.current()),
            # archives opened by a won lead for someone new, through the archive's write path
            signed_new={ch.customer_id for ch in CustomerChange.select().where(CustomerChange.field == "created")},
            won_customers={lead.customer_id for lead in Lead.select().where(Lead.status == "won")},
        )


@pytest.fixture(scope="module")
def demo():
    return build()


def snapshot(county):
    return [(c.name, c.kind, c.lat, c.lng, c.tier) for c in county.customers], \
           [(t.code, t.name, t.geometry) for t in county.territories]


def test_the_same_seed_builds_the_same_county(demo):
    assert snapshot(build()) == snapshot(demo)


def test_counts_returned_match_the_database(demo):
    assert demo.result["customers"] == CUSTOMERS
    # The people signed without an archive got one when their lead was won.
    assert demo.signed_new and demo.signed_new <= demo.won_customers
    assert len(demo.customers) == CUSTOMERS + len(demo.signed_new)
    assert demo.result["territories"] == len(demo.territories)
    assert demo.result["users"] == len(demo.users) == len(demo.result["logins"])
    assert demo.result["branches"] == 5


def test_every_geometry_is_a_valid_closed_polygon_with_six_decimals(demo):
    for t in demo.territories:
        data = json.loads(t.geometry)
        assert data["type"] == "Polygon"
        for ring in data["coordinates"]:
            assert ring[0] == ring[-1]
            for lng, lat in ring:
                assert round(lng, 6) == lng and round(lat, 6) == lat
                assert 107.2 < lng < 108.0 and 28.5 < lat < 29.3
        shape = demo.shapes[t.id]
        assert shapely.is_valid(shape), (t.name, shapely.is_valid_reason(shape))
        assert t.area_m2 > 0
        assert (t.centroid_lng, t.centroid_lat) == pytest.approx((shape.centroid.x, shape.centroid.y), abs=1e-6)


def test_children_lie_inside_their_parents_and_siblings_do_not_overlap(demo):
    by_id = {t.id: t for t in demo.territories}
    siblings = defaultdict(list)
    for t in demo.territories:
        siblings[t.parent_id].append(t)
        if t.parent_id is not None:
            parent = by_id[t.parent_id]
            assert t.branch_id == parent.branch_id
            assert t.path.startswith(parent.path)
            assert demo.shapes[parent.id].buffer(1e-7).contains(demo.shapes[t.id]), (t.name, parent.name)
    for group in siblings.values():
        shapes = [demo.shapes[t.id] for t in group]
        for i, a in enumerate(shapes):
            for b in shapes[i + 1:]:
                assert shapely.intersection(a, b).area < 1e-9


def test_the_county_has_its_kinds_of_territory(demo):
    kinds = defaultdict(int)
    for t in demo.territories:
        kinds[t.kind] += 1
    assert kinds["zone"] == 12
    assert 55 <= kinds["village"] + kinds["street"] <= 65
    assert kinds["street"] >= 8 and kinds["group"] >= 4 and kinds["market"] == 1


def test_every_positioned_customer_lies_in_the_deepest_territory_holding_it(demo):
    by_id = {t.id: t for t in demo.territories}
    children = defaultdict(list)
    for t in demo.territories:
        children[t.parent_id].append(t)
    for c in demo.customers:
        territory = by_id[c.territory_id]
        assert c.branch_id == territory.branch_id
        assert territory.kind != "zone"
        if c.lat is None:
            assert c.lng is None and c.position_source is None
            continue
        point = shapely.Point(c.lng, c.lat)
        assert demo.shapes[territory.id].contains(point), (c.name, territory.name)
        assert not any(demo.shapes[child.id].contains(point) for child in children[territory.id])


def test_every_role_has_users_and_every_village_and_street_a_manager(demo):
    assert {u.role for u in demo.users} == set(ROLES)
    users = {u.id: u for u in demo.users}
    mine = defaultdict(set)
    for a in demo.assignments:
        assert users[a.user_id].role == "manager"
        assert a.starts_on <= clock.today()
        mine[a.user_id].add(a.territory_id)
    for territory_ids in mine.values():
        assert 2 <= len(territory_ids) <= 4
    covered = set().union(*mine.values())
    units = {t.id for t in demo.territories if t.kind in ("village", "street")}
    assert units <= covered
    branch_of = {t.id: t.branch_id for t in demo.territories}
    for a in demo.assignments:
        assert branch_of[a.territory_id] == users[a.user_id].branch_id


def test_some_name_needs_a_character_outside_the_bmp(demo):
    assert any(ord(ch) > 0xFFFF for c in demo.customers for ch in c.name)


def test_tiers_follow_the_banks_own_rules_and_include_all_three(demo):
    """The demo bank has tier rules of its own (not the defaults) and every tier comes from them."""
    assert [rule_code(r) for r in demo.rules] != [rule_code(r) for r in ordered(DEFAULT_RULES)]
    assert {c.tier for c in demo.customers} == {"gold", "mass", "potential"}
    for c in demo.customers:
        assert (c.tier, c.tier_rule) == compute_tier(c, demo.rules)
    own = {rule_code(r) for r in demo.rules} - {rule_code(r) for r in DEFAULT_RULES}
    assert any(c.tier_rule in own for c in demo.customers)


def test_most_households_have_a_valid_unique_id_number_kept_encrypted(demo):
    households = [c for c in demo.customers if c.kind == "household"]
    numbers = [demo.id_numbers[c.id] for c in households if c.id_number_cipher]
    assert 0.75 <= len(numbers) / len(households) <= 0.95
    assert len(set(numbers)) == len(numbers)  # no archive would be another's duplicate
    for c in households:
        if c.id_number_cipher:
            number = demo.id_numbers[c.id]
            assert crypto.validate_id_number(number) == number  # check digit, real birth date
            assert number not in c.id_number_cipher
            assert c.id_number_hash is not None
        else:
            assert c.id_number_hash is None
    assert not any(c.id_number_cipher for c in demo.customers if c.kind != "household")


def test_territories_came_through_the_import_and_read_back_as_a_clean_file():
    """The demo's territories are written by import_territories, as `flask import-territories`
    writes an admin's file: areas are the import's, and the same shapes exported as a
    FeatureCollection pass a dry run as updates of every code, with no problem."""
    from app import geo
    from app.models import Branch
    from app.imports.geojson import import_territories

    with demo_database():
        build_demo(customers=50, password_method=FAST_HASH)
        for branch in Branch.select().where(Branch.kind == "branch"):
            rows = list(Territory.select().where(Territory.branch == branch))
            assert rows
            by_id = {t.id: t for t in rows}
            for t in rows:
                assert t.area_m2 == round(geo.area_m2(geo.loads(t.geometry)), 1)
            features = [{"type": "Feature", "geometry": json.loads(t.geometry),
                         "properties": {"name": t.name, "kind": t.kind, "code": t.code,
                                        "parent": by_id[t.parent_id].code if t.parent_id else None}}
                        for t in rows]
            result = import_territories(json.dumps({"type": "FeatureCollection", "datum": "wgs84",
                                                    "features": features}), branch, dry_run=True)
            assert result.ok, result.messages()[:3]
            assert {row.action for row in result.rows} == {"update"}


def test_the_demo_has_leads_won_lost_and_stale_written_through_the_app():
    """Leads go through Lead.capture and Lead.move: won ones left their customers holding the product."""
    from app.models import Holding, Lead, LeadEvent, Setting
    with demo_database():
        unmoved = clock.state()
        result = build_demo(customers=CUSTOMERS, password_method=FAST_HASH)
        leads = list(Lead.select())
        assert result["leads"] == len(leads) >= 150
        assert sum(1 for lead in leads if lead.visit_id) >= 20  # from visits that found interest
        by_status = {s: sum(1 for lead in leads if lead.status == s) for s in ("won", "lost", "new")}
        assert all(n >= 10 for n in by_status.values()), by_status
        stale_before = Lead.stale_before(leads[0].branch.bank)
        assert sum(1 for lead in leads if lead.is_open and lead.updated_at < stale_before) >= 10
        assert Setting.get(leads[0].branch.bank, "stale_lead_days") == 7
        for lead in (lead for lead in leads if lead.status == "won" and lead.customer_id):
            assert Holding.get_or_none(Holding.customer == lead.customer_id, Holding.product == lead.product_id)
            assert lead.won_on >= clock.to_local(lead.created_at).date()
        assert LeadEvent.select().where(LeadEvent.kind == "status").count() >= len(leads)
        assert clock.state() == unmoved  # the demo's time travel left the clock exactly where it was


COMPETITOR_PRODUCTS = ("惠农e贷",)  # another bank's brand: a demo shown to a regulator never sells it


def test_the_demo_sells_its_own_products_in_neutral_words_with_its_own_numbers():
    """No other bank's brand, no interest by the tier reached on early withdrawal (靠档计息),
    and won leads keep the bank's own contract numbers, not another bank's card prefix."""
    from app.models import Holding, Lead, Product
    with demo_database():
        build_demo(customers=CUSTOMERS, password_method=FAST_HASH)
        products = list(Product.select())
        assert not [p.name for p in products if p.name in COMPETITOR_PRODUCTS]
        assert not [p.name for p in products if "靠档" in (p.description or "") or "随时支取" in (p.description or "")]
        references = [r for (r,) in Holding.select(Holding.reference).where(Holding.reference.is_null(False)).tuples()]
        references += [r for (r,) in Lead.select(Lead.contract_no).where(Lead.contract_no.is_null(False)).tuples()]
        assert references and not [r for r in references if r.startswith("6228")]
