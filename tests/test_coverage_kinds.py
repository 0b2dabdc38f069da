"""The bank's counted kinds (设置 → 计入覆盖率的客户类型) decide every coverage figure.

An admin who changes the setting sees Today's counters, 我的团队, 概览 and the map change
at once; the other bank keeps its own. The business clock is pinned to a Wednesday
afternoon so "this week" always holds the county's visits.
"""
import datetime as dt

import pytest

from app import clock
from app.db import database
from app.models import Customer, Setting
from tests.conftest import csrf_token, login, soup
from tests.county import _customer, build_county

# Wednesday 25 November 2026, 15:00 in Asia/Shanghai.
WEDNESDAY = dt.datetime(2026, 11, 25, 7, 0)


@pytest.fixture
def county(app):
    """The hand-made county, built on the pinned Wednesday, with one enterprise in 茶园村."""
    clock.travel(WEDNESDAY - clock.now())
    with app.app_context(), database.obj.connection_context():
        county = build_county()
        county.customers["c_e1"] = _customer("茶园村茶厂", county.territories["V1"], 28.912, 107.606,
                                             kind="enterprise", tier="gold")
        return county


def signed_in(app, username):
    client = app.test_client()
    assert login(client, username).status_code == 302
    return client


def today(client):
    page = soup(client.get("/today"))
    return page.select_one("#counters .coverage").get_text(strip=True), \
        page.select_one("#counters .covered").get_text(strip=True)


def team(client):
    """Each manager's row of 我的团队 this week: name, coverage, territories, visited of counted."""
    page = soup(client.get("/team?period=this_week"))
    rows = []
    for tr in page.select("#by-manager tbody tr[data-key]"):
        name = tr.select_one("td.name a").get_text(strip=True)
        territories = tr.select_one("td.name .zone").get_text(strip=True).lstrip("·").strip()
        rows.append(f"{name} {tr.select_one('td.coverage').get_text(strip=True)} {territories} · 已走访 "
                    f"{tr.select_one('td.visited').get_text(strip=True)} / "
                    f"{tr.select_one('td.counted').get_text(strip=True)} 户")
    return rows


def overview(client):
    page = soup(client.get("/overview"))
    return [c.select_one("strong").get_text(strip=True) for c in page.select(".counters .counter")]


def territory_coverage(client):
    payload = client.get("/map/data").get_json()
    return {t["n"]: (t["v"], t["b"]) for t in payload["t"]}


def figures(app):
    return {
        "today": today(signed_in(app, "mgr1")),
        "team": team(signed_in(app, "lead1")),
        "overview": overview(signed_in(app, "mgmt")),
        "map": territory_coverage(signed_in(app, "lead1")),
        "other bank": today(signed_in(app, "mgr_b")),
    }


def change_kinds_on_the_settings_page(app, kinds):
    client = signed_in(app, "admin")
    response = client.post("/admin/settings", data={
        "check_in_radius_m": "100", "check_in_radius_cap_m": "300", "coverage_kinds": kinds,
        "stale_lead_days": "7", "session_idle_minutes": "60", "coverage_green_pct": "80",
        "coverage_amber_pct": "50", "csrf_token": csrf_token(client, "/admin/settings")})
    assert response.status_code == 302


def test_every_coverage_figure_follows_the_banks_counted_kinds(app, county):
    # By default households and merchants count: 茶园村 has two households (one visited)
    # and its tea factory, an enterprise, is not counted.
    before = figures(app)
    assert before["today"] == ("50%", "1/2")
    assert before["team"] == ["李经理 100% 石板村 · 已走访 1 / 1 户", "张经理 50% 茶园村 · 已走访 1 / 2 户"]
    assert before["overview"] == ["4", "50%"]
    assert before["map"]["茶园村"] == ([1, 2], "m")
    assert before["map"]["城关片区"] == ([2, 3], "m")
    assert before["other bank"] == ("0%", "0/1")

    change_kinds_on_the_settings_page(app, ["household", "merchant", "enterprise"])
    after = figures(app)
    assert after["today"] == ("33%", "1/3")
    assert after["team"] == ["李经理 100% 石板村 · 已走访 1 / 1 户", "张经理 33% 茶园村 · 已走访 1 / 3 户"]
    assert after["overview"] == ["5", "40%"]
    assert after["map"]["茶园村"] == ([1, 3], "l")
    assert after["map"]["城关片区"] == ([2, 4], "m")
    assert after["other bank"] == before["other bank"]  # bank B keeps its own setting

    # Merchants only: 茶园村 counts nobody, so its coverage is "—", never 0 %.
    with app.app_context(), database.obj.connection_context():
        Setting.put(county.branches["A"], "coverage_kinds", ["merchant"])
    merchants = figures(app)
    assert merchants["today"] == ("—", "0/0")
    assert merchants["team"] == ["李经理 100% 石板村 · 已走访 1 / 1 户", "张经理 — 茶园村 · 已走访 0 / 0 户"]
    assert merchants["overview"] == ["1", "100%"]
    assert merchants["map"]["茶园村"] == ([0, 0], None)
    assert merchants["map"]["石板村"] == ([1, 1], "h")
    assert merchants["other bank"] == before["other bank"]


def test_the_map_counts_every_customer_whatever_is_counted(app, county):
    """c (customers of the subtree) is every present customer; only coverage is by kind."""
    with app.app_context(), database.obj.connection_context():
        Setting.put(county.branches["A"], "coverage_kinds", ["merchant"])
        Customer.update(consent=False).where(Customer.id == county.customers["c_v2"].id).execute()
    payload = signed_in(app, "lead1").get("/map/data").get_json()
    rows = {t["n"]: t for t in payload["t"]}
    assert (rows["茶园村"]["c"], rows["城关片区"]["c"]) == (3, 4)
    # The only merchant withdrew from contact: nothing is counted anywhere.
    assert [rows[n]["v"] for n in ("茶园村", "石板村", "城关片区")] == [[0, 0]] * 3
    assert payload["by"] == "kind"


def test_coverage_for_any_period_grouped_any_way(app, county):
    """Visit.coverage over [start, end) in business dates, by nothing, branch, territory or
    manager, verified visits only or all of them."""
    from app.models import User, Visit

    with app.app_context(), database.obj.connection_context():
        users, customers, places = county.users, county.customers, county.territories
        Visit.create(client_uuid="00000000-0000-4000-8000-0000000000a1", customer=customers["c_g1"],
                     user=users["mgr1"], made_at=clock.now() - dt.timedelta(hours=2), outcome="met",
                     verified=False)
        Visit.create(client_uuid="00000000-0000-4000-8000-0000000000a2", customer=customers["c_v3"],
                     user=users["mgr2"], made_at=clock.now() - dt.timedelta(days=7), outcome="met",
                     verified=True)
        mgmt, lead = User.get_by_id(users["mgmt"].id), User.get_by_id(users["lead1"].id)
        monday = clock.week_bounds()[0]
        last_week = (monday - dt.timedelta(days=7), monday)

        assert Visit.coverage(mgmt) == (2, 4, 0.5)
        assert Visit.coverage(mgmt, verified_only=False) == (3, 4, 0.75)
        assert Visit.coverage(mgmt, *last_week) == (1, 4, 0.25)
        a1, a2 = county.branches["A1"].id, county.branches["A2"].id
        assert Visit.coverage(mgmt, by="branch") == {a1: (2, 3, 2 / 3), a2: (0, 1, 0.0)}
        assert Visit.coverage(mgmt, by="branch", among=[a2]) == {a2: (0, 1, 0.0)}
        ids = [places[n].id for n in ("Z1", "V1", "G1", "V3", "VB")]
        assert Visit.coverage(mgmt, by="territory", among=ids, verified_only=False) == dict(zip(ids, [
            (3, 3, 1.0), (2, 2, 1.0), (1, 1, 1.0), (0, 1, 0.0), (0, 0, None)]))  # VB: another bank
        # mgr2 kept 河坝村 until yesterday: last week (as of its Sunday) counts it, this week not.
        managers = [users["mgr1"], users["mgr2"]]
        assert Visit.coverage(lead, by="manager", among=managers) == {
            users["mgr1"].id: (1, 2, 0.5), users["mgr2"].id: (1, 1, 1.0)}
        assert Visit.coverage(lead, *last_week, by="manager", among=managers) == {
            users["mgr1"].id: (0, 2, 0.0), users["mgr2"].id: (1, 2, 0.5)}
        assert Visit.coverage(lead, by="territory", among=[]) == {}
        with pytest.raises(ValueError):
            Visit.coverage(lead, by="product")
