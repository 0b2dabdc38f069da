"""The map of the demo county in headless Chromium: clusters above a few hundred customers,
territories coloured by this week's coverage (the demo has visited this week), a cluster zooms in on tap."""
import pytest

from app import demo
from app.db import database
from tests.browser.conftest import DESKTOP, PHONE, open_page, sign_in
from tests.browser.test_map import keep, only_local, wait_for_map
from tests.test_demo import built_demo, copy_sqlite

CUSTOMERS = 1500


@pytest.fixture(scope="module")
def live_data():
    """The demo county (1,500 customers) instead of the hand-made one; there is no `live.county`.

    It is tests/test_demo.py's county_size, built once per test process before the live server
    binds its database, then copied into it."""
    path = built_demo(customers=CUSTOMERS)[0]

    def copy():
        copy_sqlite(path, database.obj.connection())

    return copy


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_demo_county_clusters_its_customers(browser, live_server, viewport):
    page = open_page(browser, viewport)
    only_local(page, live_server)
    sign_in(page, live_server, "admin", demo.PASSWORD)
    page.goto(f"{live_server}/map")
    wait_for_map(page)
    assert int(page.locator("#map").get_attribute("data-loaded")) > 1000
    page.locator(".marker-cluster").first.wait_for()
    # The demo's eight weeks of visits reach into this week: territories show coverage, not kind.
    assert page.locator("body").get_attribute("data-map-by") == "coverage"
    assert page.locator(".legend-coverage").first.is_visible() and not page.locator(".legend-kind").first.is_visible()
    size = f"{viewport['width']}x{viewport['height']}"
    keep(page, f"map-demo-{size}")
    # A tap on a cluster zooms in on its customers.
    zoom = page.evaluate("() => window.zerentianMap.getZoom()")
    page.locator(".marker-cluster").first.click()
    page.wait_for_function(f"() => window.zerentianMap.getZoom() > {zoom}")
    page.wait_for_timeout(500)
    keep(page, f"map-demo-zoomed-{size}")
    assert page.errors == []
    page.context.close()
