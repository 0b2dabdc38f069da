"""The bank's coverage colours in headless Chromium: the admin moves the thresholds on 设置,
and the team lead's map paints 茶园村 (1 of 2 visited) green instead of amber, legend included."""
from tests.browser.conftest import PHONE, SCREENSHOTS, open_page, screenshot
from tests.browser.test_map import only_local, wait_for_map

AMBER, GREEN = "#c98b00", "#1a7f37"


def colours(page):
    """Territory name → the colour its polygon is painted with."""
    return page.evaluate("""() => { const out = {}; window.zerentianMap.eachLayer(l => {
        if (l.feature && l.feature.properties && l.feature.properties.i) {
            out[l.feature.properties.n] = l.options.color; } }); return out; }""")


def in_view(page, selector, name):
    """A viewport-sized screenshot with `selector` scrolled to the middle (what the phone shows there)."""
    page.locator(selector).evaluate("e => e.scrollIntoView({block: 'center'})")
    page.wait_for_timeout(100)
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png")


def open_map(browser, live_server, signed_in):
    page = open_page(browser, PHONE)
    only_local(page, live_server)
    signed_in(page, "lead1")
    page.goto(f"{live_server}/map")
    wait_for_map(page)
    return page


def test_the_admin_moves_the_coverage_thresholds_and_the_map_follows(browser, live_server, signed_in):
    page = open_map(browser, live_server, signed_in)
    assert colours(page)["茶园村"] == AMBER  # 50 %: amber under the default 80 % / 50 %
    legend = page.locator(".legend-coverage li")
    # the legend names the period it colours: the bank's judging period, a month by default (issue 21)
    assert legend.nth(0).inner_text() == "覆盖率统计期：本月（2026-11-01 至 2026-11-30）"
    assert legend.nth(1).inner_text() == "覆盖率 80% 及以上"
    in_view(page, "#legend", "map-legend-default-390x844")
    page.context.close()

    admin = open_page(browser, PHONE)
    signed_in(admin, "admin")
    admin.goto(f"{live_server}/admin/settings")
    admin.get_by_label("绿色：覆盖率不低于（%）").fill("40")
    admin.get_by_role("button", name="保存").click()
    # Green at or below amber is refused, with the reason beside the amber field.
    error = admin.locator("[name=coverage_amber_pct]").locator("xpath=ancestor::*[contains(@class,'field')][1]")
    assert "黄色的起点必须低于绿色的起点" in error.locator(".field-error").inner_text()
    in_view(admin, "#map-colours", "settings-threshold-refused-390x844")
    admin.get_by_label("绿色：覆盖率不低于（%）").fill("50")
    admin.get_by_label("黄色：覆盖率不低于（%）").fill("20")
    admin.get_by_role("button", name="保存").click()
    admin.get_by_text("设置已保存").wait_for()
    screenshot(admin, "settings-saved-390x844")
    assert [e for e in admin.errors if "status of 422" not in e] == []  # the refusal is a 422, as it should be
    admin.context.close()

    page = open_map(browser, live_server, signed_in)
    assert colours(page)["茶园村"] == GREEN
    legend = page.locator(".legend-coverage li")
    assert [legend.nth(i).inner_text() for i in range(1, 4)] == ["覆盖率 50% 及以上", "20% 至 50%", "低于 20%"]
    in_view(page, "#legend", "map-legend-changed-390x844")
    # The list view of the map lights the 地图 tab.
    page.get_by_role("link", name="列表").click()
    page.wait_for_url("**/territories")
    assert page.locator("nav.tabbar a.current").inner_text() == "地图"
    screenshot(page, "territories-list-tab-390x844")
    assert page.errors == []
    page.context.close()
