"""One walk through the live app on PostgreSQL: the same code as on SQLite, end to end."""
import pytest
from playwright.sync_api import expect

from app import clock
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def live_database_url(postgres_url):
    """This module's live server runs on PostgreSQL (skipped when TEST_POSTGRES_URL is unset)."""
    return postgres_url


def test_a_manager_signs_in_and_opens_a_customer_still_to_visit(page, live, live_server):
    sign_in(page, live_server, "mgr1")
    expect(page.locator("header.topbar h1")).to_have_text("今日")
    rows = page.locator("ul.rows a.row")
    names = rows.locator(".row-main").evaluate_all(
        "spans => spans.map(s => s.firstChild.textContent.trim())")
    # mgr1 keeps V1 and its group G1; 周大福 (V1) was visited an hour before the county was built,
    # which is this week unless the week began within that hour.
    monday, _ = clock.week_bounds()
    visited_this_week = live.county.visits["v_mgr1"].made_at >= clock.local_day_start_utc(monday)
    assert names == (["吴小梅"] if visited_this_week else ["周大福", "吴小梅"])
    with page.expect_navigation() as navigation:
        rows.filter(has_text="吴小梅").click()
    assert navigation.value.ok
    assert page.url == f"{live_server}/customers/{live.county.customers['c_g1'].id}"
    expect(page.locator("header.topbar h1")).to_have_text("吴小梅")
    expect(page.locator("main")).to_contain_text("茶园村一组")
    assert page.errors == []
