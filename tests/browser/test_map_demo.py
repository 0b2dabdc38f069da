"""The map of the demo county in headless Chromium: clusters above a few hundred customers,
territories coloured by this week's coverage (the demo has visited this week), a cluster zooms in on tap."""
from types import SimpleNamespace

import pytest

from app import clock, demo
from app.db import database
from tests.browser.conftest import DESKTOP, PHONE, open_page
from tests.browser.test_map import keep, only_local, wait_for_map
from tests.conftest import make_app, reset_database

CUSTOMERS = 1500


@pytest.fixture(scope="module")
def live(live_database_url):
    """The demo county (1,500 customers) instead of the hand-made one."""
    previous = database.obj
    clock.reset()
    application = make_app(live_database_url)
    db = database.obj
    reset_database(db)
    with application.app_context(), db.connection_context():
        demo.build_demo(customers=CUSTOMERS, password_method="pbkdf2:sha256:1000")
    yield SimpleNamespace(app=application, db=db, county=None)
    db.close()
    if previous is not None:
        database.initialize(previous)


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_the_demo_county_clusters_its_customers(browser, live_server, viewport):
    from tests.browser.conftest import sign_in

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
