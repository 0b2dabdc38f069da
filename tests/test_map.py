"""The 地图 tab: scoped map data, cards, tiles from config (GCJ-02 shifted for display only),
and territories drawn or reshaped on the map, checked exactly as an import is."""
import datetime as dt
import itertools
import json

import pytest

from app import clock, geo, maps
from app.db import database
from app.models import AuditLog, Customer, Territory
from tests.conftest import csrf_token, login, soup
from tests.county import square

AMAP = {"MAP_TILES": "amap"}


def sq(lng0, lat0, lng1, lat1):
    """A rectangle as a GeoJSON dict (the county's square() gives text)."""
    return json.loads(square(lng0, lat0, lng1, lat1))


def data(client):
    """The map data, decoded as static/js/map.js decodes it."""
    response = client.get("/map/data")
    assert response.status_code == 200 and response.mimetype == "application/json"
    payload = response.get_json()
    for key in ("i", "x", "y"):
        payload["c"][key] = list(itertools.accumulate(payload["c"][key]))
    for t in payload["t"]:
        t["g"] = maps.decode_geometry(t["g"])
    return payload


def by_name(payload):
    return {t["n"]: t for t in payload["t"]}


def post_drawn(client, geometry, path="/map/territories", **fields):
    token = csrf_token(client, "/me")
    return client.post(path, json={"geometry": geometry, **fields}, headers={"X-CSRFToken": token})


def stored(app, name):
    with app.app_context(), database.obj.connection_context():
        return Territory.get_or_none(Territory.name == name)


# --- the data ------------------------------------------------------------------------------

def test_a_manager_gets_only_the_assigned_territories_and_their_customers(login_as, county):
    payload = data(login_as("mgr1"))
    assert set(by_name(payload)) == {"茶园村", "茶园村一组"}
    assert sorted(payload["c"]["i"]) == sorted([county.customers["c_v1"].id, county.customers["c_g1"].id])
    # 茶园村's parent is outside the manager's scope: no dangling parent id.
    assert by_name(payload)["茶园村"]["p"] is None


def test_counts_include_the_subtree_and_coverage_colours_once_visits_exist(login_as, county):
    payload = data(login_as("lead1"))
    t = by_name(payload)
    assert set(t) == {"城关片区", "茶园村", "茶园村一组", "石板村"}
    assert (t["城关片区"]["c"], t["茶园村"]["c"], t["茶园村一组"]["c"], t["石板村"]["c"]) == (3, 2, 1, 1)
    # The county has two verified visits this hour: 周大福 (茶园村) and the 石板村 shop.
    assert payload["by"] == "coverage"
    assert t["城关片区"]["v"] == [2, 3] and t["茶园村"]["v"] == [1, 2] and t["茶园村一组"]["v"] == [0, 1]
    c = payload["c"]
    visited = dict(zip(c["i"], c["v"]))
    tiers = dict(zip(c["i"], c["t"]))
    assert visited[county.customers["c_v1"].id] == "1" and visited[county.customers["c_g1"].id] == "0"
    assert tiers[county.customers["c_v1"].id] == "g" and tiers[county.customers["c_v2"].id] == "p"
    # Coordinates in 1e-5 degrees, WGS-84 as stored.
    n = c["i"].index(county.customers["c_v1"].id)
    assert (c["x"][n], c["y"][n]) == (10760500, 2891500)


def test_the_banks_coverage_thresholds_colour_the_territories_and_the_legend(app, login_as, county):
    lead = login_as("lead1")

    def bands():
        return {name: t["b"] for name, t in by_name(data(lead)).items()}

    def legend():
        return [li.get_text(strip=True) for li in soup(lead.get("/map")).select(".legend-coverage li")]

    # Defaults 80 % / 50 %: 城关片区 2 of 3, 茶园村 1 of 2 (exactly 50 %), 茶园村一组 0 of 1, 石板村 1 of 1.
    assert bands() == {"城关片区": "m", "茶园村": "m", "茶园村一组": "l", "石板村": "h"}
    assert legend()[:4] == ["覆盖率统计期：本月（2026-11-01 至 2026-11-30）", "覆盖率 80% 及以上", "50% 至 80%",
                            "低于 50%"]
    admin = app.test_client()
    login(admin, "admin")
    form = {"check_in_radius_m": "100", "check_in_radius_cap_m": "300", "coverage_kinds": ["household", "merchant"],
            "stale_lead_days": "7", "session_idle_minutes": "60", "coverage_green_pct": "50",
            "coverage_amber_pct": "10", "csrf_token": csrf_token(admin, "/admin/settings")}
    assert admin.post("/admin/settings", data=form).status_code == 302
    assert bands() == {"城关片区": "h", "茶园村": "h", "茶园村一组": "l", "石板村": "h"}
    assert legend()[1:4] == ["覆盖率 50% 及以上", "10% 至 50%", "低于 10%"]


def test_next_week_the_map_is_coloured_by_kind(login_as, county):
    clock.travel(dt.timedelta(days=8))
    try:
        assert data(login_as("lead1"))["by"] == "kind"
    finally:
        clock.reset()


def test_the_list_view_counts_each_subtree(login_as, county):
    page = soup(login_as("lead1").get("/territories"))
    counts = {li.select_one(".row-main").text: li.select_one(".count").text for li in page.select("li[data-territory]")}
    assert counts == {"城关片区": "3 户", "茶园村": "2 户", "茶园村一组": "1 户", "石板村": "1 户"}


def test_the_map_page_uses_vendored_leaflet_and_links_the_list(login_as):
    page = soup(login_as("mgr1").get("/map"))
    scripts = [s["src"].split("?v=")[0] for s in page.select("script[src]")]  # ?v=: the file's version
    assert "/static/vendor/leaflet-1.9.4.min.js" in scripts and all(s.startswith("/static/") for s in scripts)
    assert page.select_one("a[href='/territories']") is not None
    assert page.select_one("#draw-panel") is None  # a manager never draws
    config = json.loads(page.select_one("#map")["data-config"])
    assert config["tiles"] is None and config["datum"] == "wgs84"


# --- cards ----------------------------------------------------------------------------------

def test_a_territory_card_tells_kind_parent_managers_and_subtree_customers(login_as, county):
    client = login_as("lead1")
    card = soup(client.get(f"/map/territories/{county.territories['V1'].id}", headers={"HX-Request": "true"}))
    assert card.select_one("h2").text == "茶园村"
    assert card.select_one(".kind").text == "村"
    assert card.select_one(".parent").text == "城关片区"
    assert card.select_one(".managers").text == "张经理"
    assert card.select_one(".customer-count").text == "2"
    zone = soup(client.get(f"/map/territories/{county.territories['Z1'].id}", headers={"HX-Request": "true"}))
    assert zone.select_one(".customer-count").text == "3" and zone.select_one(".kind").text == "片区"


def test_cards_follow_the_scope(login_as, county):
    client = login_as("mgr1")
    assert client.get(f"/map/territories/{county.territories['V2'].id}").status_code == 404
    response = client.get(f"/map/customers/{county.customers['c_v2'].id}")
    assert response.status_code == 404 and "郑家杂货店" not in response.get_data(as_text=True)
    card = soup(client.get(f"/map/customers/{county.customers['c_v1'].id}", headers={"HX-Request": "true"}))
    assert card.select_one(f"a[href='/customers/{county.customers['c_v1'].id}']") is not None
    assert "139****5678" in card.text


# --- tiles ------------------------------------------------------------------------------------

def test_tiles_are_configuration_and_allowed_by_the_policy(app, login_as):
    client = login_as("mgr1")
    assert "tianditu" not in client.get("/map").headers["Content-Security-Policy"]
    app.config.update(MAP_TILES="tianditu", MAP_TILE_KEY="abc123")
    response = client.get("/map")
    policy = response.headers["Content-Security-Policy"]
    assert "https://t0.tianditu.gov.cn" in policy and "https://t7.tianditu.gov.cn" in policy
    assert "script-src 'self';" in policy  # tiles widen img-src only
    tiles = json.loads(soup(response).select_one("#map")["data-config"])["tiles"]
    assert tiles["datum"] == "wgs84" and "tk=abc123" in tiles["url"] and tiles["labels"]


def test_a_gcj02_provider_shifts_the_display_but_never_the_stored_coordinates(app, login_as, county):
    client = login_as("lead1")
    plain = data(client)
    app.config.update(AMAP)
    shifted = data(client)
    assert shifted["datum"] == "gcj02"
    c_v1 = county.customers["c_v1"]
    n = shifted["c"]["i"].index(c_v1.id)
    lng, lat = geo.wgs84_to_gcj02(c_v1.lng, c_v1.lat)
    assert (shifted["c"]["x"][n], shifted["c"]["y"][n]) == (round(lng * 1e5), round(lat * 1e5))
    moved = geo.distance_m(c_v1.lng, c_v1.lat, shifted["c"]["x"][n] / 1e5, shifted["c"]["y"][n] / 1e5)
    assert 200 < moved < 1000  # a few hundred metres in Guizhou
    corner = by_name(shifted)["茶园村"]["g"]["coordinates"][0][0]
    assert corner == [round(v, 5) for v in geo.wgs84_to_gcj02(107.60, 28.90)]
    assert by_name(plain)["茶园村"]["g"]["coordinates"][0][0] == [107.6, 28.9]
    with app.app_context(), database.obj.connection_context():
        assert (Customer.get_by_id(c_v1.id).lng, Customer.get_by_id(c_v1.id).lat) == (107.605, 28.915)
        assert json.loads(Territory.get_by_id(county.territories["V1"].id).geometry) == sq(107.60, 28.90,
                                                                                                  107.61, 28.92)


def test_a_shape_drawn_on_a_gcj02_map_is_stored_in_wgs84(app, login_as, county):
    app.config.update(AMAP)
    client = login_as("lead1")
    wgs = [(107.6015, 28.9115), (107.6085, 28.9115), (107.6085, 28.9185), (107.6015, 28.9185)]
    drawn = [list(geo.wgs84_to_gcj02(lng, lat)) for lng, lat in wgs]  # what the user traced on Amap
    response = post_drawn(client, {"type": "Polygon", "coordinates": [drawn + [drawn[0]]]},
                          name="高德上画的组", kind="group", parent=county.territories["V1"].id)
    assert response.status_code == 201, response.get_json()
    ring = json.loads(stored(app, "高德上画的组").geometry)["coordinates"][0]
    for (lng, lat), (want_lng, want_lat) in zip(ring, wgs):
        assert abs(lng - want_lng) < 1e-7 and abs(lat - want_lat) < 1e-7


# --- drawing ------------------------------------------------------------------------------------

def test_an_overlap_is_refused_highlighted_and_explained_then_the_fix_is_saved(app, login_as, county):
    client = login_as("lead1")
    v1 = county.territories["V1"].id
    overlapping = sq(107.601, 28.905, 107.609, 28.919)
    response = post_drawn(client, overlapping, name="新组", kind="group",
                          parent=v1)
    assert response.status_code == 422
    reply = response.get_json()
    assert reply["ok"] is False
    assert reply["messages"] == ["图形与“茶园村一组”重叠 432,367 平方米。"]
    [part] = reply["highlight"]["features"]
    assert part["properties"] == {"kind": "overlap", "name": "茶园村一组"}
    # The red part is exactly the shared rectangle 28.905–28.91.
    assert geo.to_shape(part["geometry"]).equals(geo.to_shape(sq(107.601, 28.905, 107.609, 28.91)))
    assert stored(app, "新组") is None

    fixed = sq(107.601, 28.911, 107.609, 28.919)
    response = post_drawn(client, fixed, name="新组", kind="group", parent=v1)
    assert response.status_code == 201
    reply = response.get_json()
    assert (reply["inside"], reply["placed"]) == (1, 1)
    assert reply["message"] == "已保存“新组”：1 位客户在此网格，1 位客户重新归属。"
    territory = stored(app, "新组")
    assert territory.parent_id == v1 and territory.path.endswith(f"/{v1}/{territory.id}/")
    assert territory.area_m2 > 0 and territory.centroid_lat == pytest.approx(28.915, abs=1e-4)
    with app.app_context(), database.obj.connection_context():
        assert Customer.get_by_id(county.customers["c_v1"].id).territory_id == territory.id
        entry = AuditLog.get(AuditLog.entity == "territory")
        assert (entry.action, entry.entity_id, entry.user_id) == ("draw", territory.id, county.users["lead1"].id)
        assert AuditLog.select().where(AuditLog.entity == "territory").count() == 1  # the refusal left none


@pytest.mark.parametrize("case, fields, geometry, message", [
    ("no name", {"name": " ", "kind": "group"}, sq(107.601, 28.911, 107.609, 28.919), "没有名称"),
    ("unknown kind", {"name": "甲", "kind": "farm"}, sq(107.601, 28.911, 107.609, 28.919), "farm"),
    ("outside the parent", {"name": "甲", "kind": "group"}, sq(107.605, 28.911, 107.615, 28.919),
     "超出上级网格“茶园村”"),
    ("crossing edges", {"name": "甲", "kind": "group"},
     {"type": "Polygon", "coordinates": [[[107.601, 28.911], [107.609, 28.919], [107.609, 28.911],
                                          [107.601, 28.919], [107.601, 28.911]]]}, "自相交"),
    ("not a polygon", {"name": "甲", "kind": "group"}, {"type": "Point", "coordinates": [107.6, 28.9]}, "Point"),
])
def test_every_import_check_refuses_a_drawing_in_chinese(app, login_as, county, case, fields, geometry, message):
    client = login_as("lead1")
    response = post_drawn(client, geometry, parent=county.territories["V1"].id, **fields)
    assert response.status_code == 422
    reply = response.get_json()
    assert any(message in m for m in reply["messages"]), reply["messages"]
    with app.app_context(), database.obj.connection_context():
        assert Territory.select().count() == len(county.territories)


def multi(*squares):
    return {"type": "MultiPolygon", "coordinates": [square["coordinates"] for square in squares]}


def test_a_territory_drawn_in_two_separate_parts_is_saved_as_one(app, login_as, county):
    client = login_as("lead1")
    v1 = county.territories["V1"].id
    west, east = sq(107.601, 28.911, 107.604, 28.919), sq(107.606, 28.911, 107.609, 28.919)
    # Parts that overlap each other are refused like any shape whose edges cross.
    overlapping = multi(sq(107.601, 28.911, 107.606, 28.919), sq(107.604, 28.911, 107.609, 28.919))
    refused = post_drawn(client, overlapping, name="两块组", kind="group", parent=v1)
    assert refused.status_code == 422 and any("自相交" in m for m in refused.get_json()["messages"])
    assert stored(app, "两块组") is None
    response = post_drawn(client, multi(west, east), name="两块组", kind="group", parent=v1)
    assert response.status_code == 201, response.get_json()
    territory = stored(app, "两块组")
    assert geo.to_shape(json.loads(territory.geometry)).equals(geo.to_shape(multi(west, east)))
    # 周大福 lives between the two parts: not inside; the map shows both parts of one territory.
    assert response.get_json()["inside"] == 0
    assert len(by_name(data(client))["两块组"]["g"]["coordinates"]) == 2


def test_an_outside_part_is_highlighted(login_as, county):
    response = post_drawn(login_as("lead1"), sq(107.605, 28.911, 107.615, 28.919),
                          name="甲", kind="group", parent=county.territories["V1"].id)
    kinds = sorted((f["properties"]["kind"], f["properties"]["name"])
                   for f in response.get_json()["highlight"]["features"])
    assert ("outside", "茶园村") in kinds


def test_drawing_is_for_team_leads_and_admins_in_their_scope(app, county):
    def signed_in(username):
        client = app.test_client()
        assert login(client, username).status_code == 302
        return client

    shape = sq(107.621, 28.905, 107.629, 28.915)
    assert post_drawn(signed_in("mgr1"), shape, name="甲", kind="group").status_code == 403
    assert post_drawn(signed_in("mgmt"), shape, name="甲", kind="group").status_code == 403
    # lead1 (branch A1) naming a parent of branch A2: 404, nothing written.
    response = post_drawn(signed_in("lead1"), shape, name="甲", kind="group", parent=county.territories["V3"].id)
    assert response.status_code == 404
    assert post_drawn(signed_in("lead2"), shape, name="河坝一组", kind="group",
                      parent=county.territories["V3"].id).status_code == 201


def test_a_forged_post_without_csrf_is_refused(login_as, county):
    client = login_as("lead1")
    response = client.post("/map/territories", json={"geometry": sq(107.601, 28.911, 107.609, 28.919),
                                                     "name": "甲", "kind": "group"})
    assert response.status_code == 400


def test_editing_a_boundary_keeps_the_children_inside_and_replaces_customers(app, login_as, county):
    client = login_as("lead1")
    v1 = county.territories["V1"].id
    # Shrinking 茶园村 to its upper half would leave its group 茶园村一组 outside.
    response = post_drawn(client, sq(107.60, 28.91, 107.61, 28.92), path=f"/map/territories/{v1}/shape")
    assert response.status_code == 422
    reply = response.get_json()
    assert any("茶园村一组" in m and "新边界之外" in m for m in reply["messages"])
    assert reply["highlight"]["features"][0]["properties"]["name"] == "茶园村一组"
    # Moving 石板村's west edge into 茶园村 is an overlap with its sibling.
    v2 = county.territories["V2"].id
    response = post_drawn(client, sq(107.605, 28.90, 107.62, 28.92), path=f"/map/territories/{v2}/shape")
    assert response.status_code == 422 and "茶园村" in response.get_json()["messages"][0]
    # Shrinking 石板村 to its southern half: 郑家杂货店 (28.91) sits on the border and stays.
    response = post_drawn(client, sq(107.61, 28.90, 107.62, 28.912), path=f"/map/territories/{v2}/shape")
    assert response.status_code == 200, response.get_json()
    with app.app_context(), database.obj.connection_context():
        assert json.loads(Territory.get_by_id(v2).geometry) == sq(107.61, 28.90, 107.62, 28.912)
