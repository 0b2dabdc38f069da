"""A small hand-made county whose every figure is known, for tests.

Province union U above two banks. Bank A has branches A1 and A2; bank B stands
apart. Squares of 0.01° (about 1 km) near 28.9°N 107.6°E:

    A1: zone Z1 = V1 (west half, with group G1 its south half) + V2 (east half)
    A2: zone Z2 = V3                      B: zone ZB = VB

mgr1 keeps V1, mgr2 keeps V2 (and kept V3 until yesterday), mgr_b keeps VB.
"""
import datetime as dt
import json
from types import SimpleNamespace

from app import clock
from app.models import (Assignment, Branch, Customer, Lead, Product, Territory, User, Visit)

PASSWORD = "correct horse 42"
HASH = "pbkdf2:sha256:1000"  # fast hashing keeps the suite quick; production uses scrypt


def square(lng0, lat0, lng1, lat1):
    return json.dumps({"type": "Polygon", "coordinates": [[
        [lng0, lat0], [lng1, lat0], [lng1, lat1], [lng0, lat1], [lng0, lat0]]]})


def _user(username, role, branch, name=None):
    user = User(username=username, name=name or username, role=role, branch=branch,
                phone="13800000000", business_line="retail")
    user.set_password(PASSWORD, method=HASH)
    user.save()
    return user


def _customer(name, territory, lat, lng, kind="household", **fields):
    return Customer.create(name=name, kind=kind, branch=territory.branch, territory=territory,
                           lat=lat, lng=lng, position_source="surveyed", consent=True,
                           # the bank's own customers: account-opening checks are its basis for their
                           # sensitive data (models/consent.py)
                           legal_basis=fields.pop("legal_basis", "kyc"),
                           village=territory.name, phone=fields.pop("phone", "13912345678"), **fields)


def build_county():
    today = clock.today()
    u = Branch.add("省联社", "U", "union")
    a = Branch.add("甲县农商行", "A", "bank", u)
    a1 = Branch.add("城关支行", "A1", "branch", a)
    a2 = Branch.add("河坝支行", "A2", "branch", a)
    b = Branch.add("乙县农商行", "B", "bank", u)

    z1 = Territory.add("城关片区", "zone", a1, code="Z1", geometry=square(107.60, 28.90, 107.62, 28.92))
    v1 = Territory.add("茶园村", "village", a1, z1, code="V1", geometry=square(107.60, 28.90, 107.61, 28.92))
    g1 = Territory.add("茶园村一组", "group", a1, v1, code="G1", geometry=square(107.60, 28.90, 107.61, 28.91))
    v2 = Territory.add("石板村", "village", a1, z1, code="V2", geometry=square(107.61, 28.90, 107.62, 28.92))
    z2 = Territory.add("河坝片区", "zone", a2, code="Z2", geometry=square(107.62, 28.90, 107.64, 28.92))
    v3 = Territory.add("河坝村", "village", a2, z2, code="V3", geometry=square(107.62, 28.90, 107.64, 28.92))
    zb = Territory.add("乙县片区", "zone", b, code="ZB", geometry=square(107.70, 28.90, 107.72, 28.92))
    vb = Territory.add("乙村", "village", b, zb, code="VB", geometry=square(107.70, 28.90, 107.72, 28.92))

    users = {
        "mgr1": _user("mgr1", "manager", a1, "张经理"),
        "mgr2": _user("mgr2", "manager", a1, "李经理"),
        "lead1": _user("lead1", "team_lead", a1, "王组长"),
        "lead2": _user("lead2", "team_lead", a2, "赵组长"),
        "mgmt": _user("mgmt", "management", a, "陈行长"),
        "admin": _user("admin", "admin", a, "刘管理"),
        "mgr_b": _user("mgr_b", "manager", b, "乙经理"),
        "admin_b": _user("admin_b", "admin", b, "乙管理"),
        "union_admin": _user("union_admin", "admin", u, "联社管理"),
    }
    since = today - dt.timedelta(days=30)
    Assignment.create(territory=v1, user=users["mgr1"], business_line="retail", starts_on=since)
    Assignment.create(territory=v2, user=users["mgr2"], business_line="retail", starts_on=since)
    Assignment.create(territory=v3, user=users["mgr2"], business_line="retail", starts_on=since,
                      ends_on=today - dt.timedelta(days=1))
    Assignment.create(territory=vb, user=users["mgr_b"], business_line="retail", starts_on=since)

    customers = {
        "c_v1": _customer("周大福", v1, 28.915, 107.605, deposit_balance_wan=60, tier="gold"),
        "c_g1": _customer("吴小梅", g1, 28.905, 107.605, deposit_balance_wan=8, tier="mass"),
        "c_v2": _customer("郑家杂货店", v2, 28.91, 107.615, kind="merchant", tier="potential"),
        "c_v3": _customer("孙大山", v3, 28.91, 107.63, tier="potential"),
        "c_b": _customer("钱乙", vb, 28.91, 107.71, tier="mass"),
    }
    products = {
        "a": Product.create(bank=a, name="节节高", kind="deposit"),
        "b": Product.create(bank=b, name="乙行存款", kind="deposit"),
    }
    made = clock.now() - dt.timedelta(hours=1)
    visits = {
        "v_mgr1": Visit.create(client_uuid="00000000-0000-4000-8000-000000000001",
                               customer=customers["c_v1"], user=users["mgr1"], made_at=made,
                               outcome="met", verified=True),
        "v_mgr2": Visit.create(client_uuid="00000000-0000-4000-8000-000000000002",
                               customer=customers["c_v2"], user=users["mgr2"], made_at=made,
                               outcome="not_home", verified=True),
    }
    leads = {
        "l_mgr1": Lead.create(client_uuid="10000000-0000-4000-8000-000000000001", branch=a1,
                              customer=customers["c_v1"], name="周大福", product=products["a"],
                              source="visit", owner=users["mgr1"], created_by=users["mgr1"]),
        "l_mgr2": Lead.create(client_uuid="10000000-0000-4000-8000-000000000002", branch=a1,
                              customer=customers["c_v2"], name="郑家杂货店", product=products["a"],
                              source="visit", owner=users["mgr2"], created_by=users["mgr2"]),
        "l_b": Lead.create(client_uuid="10000000-0000-4000-8000-000000000003", branch=b,
                           customer=customers["c_b"], name="钱乙", product=products["b"],
                           source="visit", owner=users["mgr_b"], created_by=users["mgr_b"]),
    }
    return SimpleNamespace(
        branches={"U": u, "A": a, "A1": a1, "A2": a2, "B": b},
        territories={"Z1": z1, "V1": v1, "G1": g1, "V2": v2, "Z2": z2, "V3": v3, "ZB": zb, "VB": vb},
        users=users, customers=customers, products=products, visits=visits, leads=leads,
    )
