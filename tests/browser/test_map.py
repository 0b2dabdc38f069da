"""The 地图 tab in headless Chromium: a team lead draws a territory with real clicks on the map,
is refused on an overlap that is drawn in red, fixes it and saves; the map without tiles."""
import shutil
from pathlib import Path

import pytest

from app import geo
from app.db import database
from app.models import Customer, Territory
from tests.browser.conftest import DESKTOP, PHONE, SCREENSHOTS, open_page, screenshot

SHOTS = Path("/work/briefs/shots5")


def keep(page, name):
    """A screenshot in tests/browser/screenshots/, copied for the closing note when that folder exists."""
    page.evaluate("() => window.scrollTo(0, 0)")  # a full-page shot of a scrolled page repeats the sticky bar
    page.wait_for_timeout(100)
    screenshot(page, name)
    if SHOTS.parent.exists():
        SHOTS.mkdir(exist_ok=True)
        shutil.copy(Path(__file__).parent / "screenshots" / f"{name}.png", SHOTS / f"{name}.png")


def only_local(page, base):
    """Every request off this server fails, as tiles do for a manager without signal."""
    page.tiles_refused = []

    def route(r):
        if r.request.url.startswith(base):
            r.continue_()
        else:
            page.tiles_refused.append(r.request.url)
            r.abort()

    page.route("**/*", route)


def wait_for_map(page):
    page.wait_for_selector("#map[data-loaded]")
    page.wait_for_timeout(300)  # fitBounds animates


def pixel(page, lng, lat):
    """Where a WGS-84 position is on the screen (the map shows WGS-84 when no GCJ-02 tiles)."""
    box = page.locator("#map").bounding_box()
    x, y = page.evaluate("([lng, lat]) => { const p = window.zerentianMap.latLngToContainerPoint([lat, lng]);"
                         " return [p.x, p.y]; }", [lng, lat])
    return box["x"] + x, box["y"] + y


def click_polygon(page, corners):
    page.evaluate("() => window.scrollTo(0, 0)")  # the map sits above the form: scroll back up to it
    page.wait_for_timeout(100)
    for lng, lat in corners + [corners[0]]:  # the first corner again closes the ring
        page.mouse.click(*pixel(page, lng, lat))
        page.wait_for_timeout(120)


def territory_layers(page):
    return page.evaluate("""() => { let n = 0; window.zerentianMap.eachLayer(l => {
        if (l.feature && l.feature.properties && l.feature.properties.i) { n += 1; } }); return n; }""")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_a_team_lead_draws_is_refused_on_an_overlap_fixes_it_and_saves(browser, live, live_server,
                                                                      signed_in, viewport):
    size = f"{viewport['width']}x{viewport['height']}"
    name = f"新茶园组{viewport['width']}"
    page = open_page(browser, viewport)
    only_local(page, live_server)
    signed_in(page, "lead1")
    page.goto(f"{live_server}/map")
    wait_for_map(page)
    keep(page, f"map-lead-{size}")

    page.get_by_role("button", name="画网格").click()
    page.wait_for_function("() => window.L && window.L.PM")
    page.get_by_label("网格名称").fill(name)
    page.get_by_label("类型").select_option(label="村民组")
    page.get_by_label("所属").select_option(label="　茶园村")
    # Zoom in on 茶园村 so the corners are far apart on a phone.
    v1 = live.county.territories["V1"]
    page.evaluate("() => window.zerentianMap.fitBounds([[28.9045, 107.6005], [28.9195, 107.6095]], {animate: false})")
    page.wait_for_timeout(200)

    # 1. Half of the shape lies in 茶园村一组 (28.90–28.91): refused, the shared part in red.
    click_polygon(page, [(107.6015, 28.9055), (107.6085, 28.9055), (107.6085, 28.9185), (107.6015, 28.9185)])
    page.get_by_role("button", name="保存").click()
    problems = page.locator("#draw-problems li")
    problems.first.wait_for()
    assert "茶园村一组" in problems.first.inner_text() and "重叠" in problems.first.inner_text()
    assert page.locator("#map").get_attribute("data-highlighted") == "1"
    keep(page, f"map-overlap-refused-{size}")
    with live.app.app_context(), database.obj.connection_context():
        assert not Territory.select().where(Territory.name == name).exists()

    # 2. Drawn again above the group's border: saved, and 周大福 (28.915) is placed in it.
    page.get_by_role("button", name="重画").click()
    click_polygon(page, [(107.6015, 28.9115), (107.6085, 28.9115), (107.6085, 28.9185), (107.6015, 28.9185)])
    page.get_by_role("button", name="保存").click()
    page.locator(".map-notice.done").wait_for()
    assert "1 位客户在此网格" in page.locator("#map-notice").inner_text()
    page.locator("#map-card .customer-count").wait_for()
    assert page.locator("#map-card h2").inner_text() == name
    assert page.locator("#map-card .customer-count").inner_text() == "1"
    keep(page, f"map-saved-{size}")
    with live.app.app_context(), database.obj.connection_context():
        territory = Territory.get(Territory.name == name)
        assert territory.parent_id == v1.id and territory.kind == "group"
        assert Customer.get_by_id(live.county.customers["c_v1"].id).territory_id == territory.id
        # Leave the county as it was for the other viewport.
        Customer.update(territory=v1).where(Customer.territory == territory).execute()
        territory.delete_instance()
    # The refusal is a 422 by design; Chromium logs it as a failed load. Nothing else may fail.
    assert [e for e in page.errors if "422" not in e] == []
    page.context.close()


def test_the_map_works_with_tiles_unreachable(browser, live, live_server, signed_in):
    live.app.config["MAP_TILES"] = "osm"
    try:
        page = open_page(browser, PHONE)
        only_local(page, live_server)
        signed_in(page, "mgr1")
        response = page.goto(f"{live_server}/map")
        assert "https://tile.openstreetmap.org" in response.headers["content-security-policy"]
        wait_for_map(page)
        page.locator("#map-notice").wait_for()
        assert "没有底图" in page.locator("#map-notice").inner_text()
        assert page.tiles_refused and all("tile.openstreetmap.org" in u for u in page.tiles_refused)
        assert territory_layers(page) == 2  # 茶园村 and its group
        assert page.locator("#map").get_attribute("data-loaded") == "2"  # mgr1's two customers
        assert page.locator(".leaflet-control-scale-line").is_visible()
        keep(page, "map-no-tiles-390x844")
        # A tap on a customer opens their card, with a link to the customer page.
        c = live.county.customers["c_v1"]
        page.mouse.click(*pixel(page, c.lng, c.lat))
        page.locator("#map-card [data-customer]").wait_for()
        assert "周大福" in page.locator("#map-card h2").inner_text()
        assert page.locator("#map-card a", has_text="查看客户").get_attribute("href") == f"/customers/{c.id}"
        keep(page, "map-customer-card-390x844")
        # The list, one tap away for a slow phone.
        page.get_by_role("link", name="列表").click()
        page.wait_for_url("**/territories")
        assert page.locator("li[data-territory] .count").all_inner_texts() == ["2 户", "1 户"]
        keep(page, "territories-list-390x844")
        assert page.errors == [] or all("tile.openstreetmap.org" in e for e in page.errors)
        page.context.close()
    finally:
        live.app.config["MAP_TILES"] = ""


@pytest.mark.parametrize("tiles, shifted", [("", False), ("amap", True)])
def test_own_position_is_shown_when_allowed_and_shifted_on_a_gcj02_map(browser, live, live_server, tiles,
                                                                      shifted):
    from app import geo
    from tests.browser.conftest import sign_in

    live.app.config["MAP_TILES"] = tiles
    context = browser.new_context(viewport=PHONE, locale="zh-CN", permissions=["geolocation"],
                                  geolocation={"latitude": 28.915, "longitude": 107.605})
    try:
        page = context.new_page()
        only_local(page, live_server)
        sign_in(page, live_server, "mgr1")
        page.goto(f"{live_server}/map")
        wait_for_map(page)
        page.get_by_role("button", name="我的位置").click()
        dot = page.wait_for_function("""() => { let found = null; window.zerentianMap.eachLayer(l => {
            if (l.options && l.options.fillColor === "#1565c0" && l.getLatLng) { found = l.getLatLng(); } });
            return found; }""").json_value()
        want = geo.wgs84_to_gcj02(107.605, 28.915) if shifted else (107.605, 28.915)
        assert dot["lng"] == pytest.approx(want[0], abs=1e-6) and dot["lat"] == pytest.approx(want[1], abs=1e-6)
    finally:
        live.app.config["MAP_TILES"] = ""
        context.close()


def test_a_team_lead_drags_a_corner_of_a_boundary_and_saves_it(browser, live, live_server, signed_in):
    from app import geo

    v2 = live.county.territories["V2"]
    page = open_page(browser, DESKTOP)
    only_local(page, live_server)
    signed_in(page, "lead1")
    page.goto(f"{live_server}/map")
    wait_for_map(page)
    page.evaluate("() => window.zerentianMap.fitBounds([[28.899, 107.609], [28.921, 107.621]], {animate: false})")
    page.wait_for_timeout(200)
    page.mouse.click(*pixel(page, 107.6175, 28.905))  # inside 石板村, away from its shop
    page.locator(f"#map-card [data-territory='{v2.id}']").wait_for()
    page.get_by_role("button", name="修改边界").click()
    page.locator(".marker-icon").first.wait_for()
    # Drag the north-east corner 300 m south-west.
    page.wait_for_timeout(300)
    start, end = pixel(page, 107.62, 28.92), pixel(page, 107.617, 28.917)
    page.mouse.move(*start)
    page.mouse.down()
    page.mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=5)
    page.mouse.move(*end, steps=5)
    page.mouse.up()
    page.get_by_role("button", name="保存").click()
    page.locator(".map-notice.done").wait_for()
    keep(page, "map-boundary-edited-1280x800")
    with live.app.app_context(), database.obj.connection_context():
        shape = geo.loads(Territory.get_by_id(v2.id).geometry)
        original = geo.to_shape({"type": "Polygon", "coordinates": [[[107.61, 28.90], [107.62, 28.90],
                                                                       [107.62, 28.92], [107.61, 28.92],
                                                                       [107.61, 28.90]]]})
        assert shape.area < original.area and shape.within(original.buffer(1e-6))
        assert Customer.get_by_id(live.county.customers["c_v2"].id).territory_id == v2.id
        Territory.update(geometry=geo.dumps(original)).where(Territory.id == v2.id).execute()
    assert page.errors == []
    page.context.close()


def test_a_team_lead_draws_a_territory_in_two_parts(browser, live, live_server, signed_in):
    name = "两块茶园组"
    page = open_page(browser, PHONE)
    only_local(page, live_server)
    signed_in(page, "lead1")
    page.goto(f"{live_server}/map")
    wait_for_map(page)
    page.get_by_role("button", name="画网格").click()
    page.wait_for_function("() => window.L && window.L.PM")
    page.get_by_label("网格名称").fill(name)
    page.get_by_label("类型").select_option(label="村民组")
    page.get_by_label("所属").select_option(label="　茶园村")
    page.evaluate("() => window.zerentianMap.fitBounds([[28.9105, 107.6005], [28.9195, 107.6095]], {animate: false})")
    page.wait_for_timeout(200)
    # Two fields on either side of 周大福's house (107.605): one territory, two parts.
    click_polygon(page, [(107.6015, 28.9115), (107.6040, 28.9115), (107.6040, 28.9185), (107.6015, 28.9185)])
    add = page.get_by_role("button", name="再画一块")
    add.click()
    click_polygon(page, [(107.6060, 28.9115), (107.6085, 28.9115), (107.6085, 28.9185), (107.6060, 28.9185)])
    assert page.locator("#map").get_attribute("data-parts") == "2"
    page.locator("#draw-panel .actions").evaluate("e => e.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(100)
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / "map-two-parts-390x844.png")  # the viewport: map above, buttons below
    boxes = [page.get_by_role("button", name=n).bounding_box() for n in ("再画一块", "重画", "取消")]
    assert all(box["height"] < 60 for box in boxes)  # one line each, not wrapped
    page.get_by_role("button", name="保存").click()
    page.locator(".map-notice.done").wait_for()
    assert "0 位客户在此网格" in page.locator("#map-notice").inner_text()
    page.locator("#map-card .customer-count").wait_for()
    with live.app.app_context(), database.obj.connection_context():
        territory = Territory.get(Territory.name == name)
        geometry = geo.loads(territory.geometry)
        assert geometry.geom_type == "MultiPolygon" and len(geometry.geoms) == 2
        assert Customer.get_by_id(live.county.customers["c_v1"].id).territory_id == live.county.territories["V1"].id
        territory.delete_instance()  # leave the county as it was
    assert page.errors == []
    page.context.close()
