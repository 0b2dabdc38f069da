"""The mobile shell in a real browser: each role's home and tabs, the CSP, tap targets, htmx search."""
import re
from urllib.parse import parse_qs, urljoin, urlsplit

import pytest
from flask import url_for
from playwright.sync_api import expect

from app.web import HOME, TABS
from tests.browser.conftest import DESKTOP, open_page, screenshot, sign_in

pytestmark = pytest.mark.browser

# username: (heading of the role's home, tab labels in order)
ROLES = {
    "mgr1": ("今日", ["今日", "地图", "客户", "线索", "我的"]),
    "lead1": ("我的团队", ["今日", "地图", "客户", "线索", "我的"]),
    "mgmt": ("概览", ["概览", "地图", "客户", "线索", "我的"]),
    "admin": ("管理", ["管理", "地图", "客户", "我的"]),
}
MIN_TAP = 44  # CSS px, at 390×844

# Every visible control that is too small, except inline text links inside a paragraph.
SMALL_TARGETS_JS = """min => {
  const small = [];
  for (const el of document.querySelectorAll("a[href], button, input, select, textarea, summary")) {
    const style = getComputedStyle(el);
    if (el.type === "hidden" || style.display === "none" || style.visibility === "hidden") continue;
    // A radio button or tick box is tapped through its label, so the label is the target.
    const label = (el.type === "radio" || el.type === "checkbox")
      ? (el.closest("label") || (el.id && document.querySelector(`label[for="${el.id}"]`))) : null;
    const box = (label || el).getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (el.tagName === "A" && style.display === "inline" && el.closest("p")) continue;
    if (box.width < min || box.height < min) {
      small.push(`${el.outerHTML.slice(0, 80)} is ${Math.round(box.width)}×${Math.round(box.height)}`);
    }
  }
  return small;
}"""


def paths(app, endpoints):
    with app.test_request_context():
        return [url_for(endpoint) for endpoint in endpoints]


def path_of(page):
    return urlsplit(page.url).path


def row_names(page):
    """The customer names of the visible rows, without their tier badges."""
    return page.locator("#customer-rows a.row .row-main, ul.rows a.row .row-main").evaluate_all(
        "spans => spans.map(s => s.firstChild.textContent.trim())")


def tour(page):
    """Open every page the tab bar links to, then the first customer of the customers tab;
    yield (what, response of the navigation) on each, once the page has loaded."""
    tabs = page.locator("nav.tabbar a")
    links = [(tabs.nth(i).inner_text().strip(), tabs.nth(i).get_attribute("href"))
             for i in range(tabs.count())]
    customers = None
    for label, href in links:
        response = page.goto(urljoin(page.url, href))
        if path_of(page) == "/customers/":
            customers = page.locator("#customer-rows a.row").first.get_attribute("href")
        yield label, response
    assert customers, "the customers tab lists no customer"
    yield "customer", page.goto(urljoin(page.url, customers))


@pytest.fixture(scope="module")
def toured(browser, signed_in):
    """toured('mgr1'): what each page of that role's tour showed, taken once per module
    (one walk serves the CSP and the tap-target tests): ([page facts], errors)."""
    seen = {}

    def take(username):
        if username not in seen:
            page = open_page(browser)
            try:
                signed_in(page, username)
                facts = [{"what": what, "ok": response.ok,
                          "policy": response.headers.get("content-security-policy", ""),
                          "htmx": page.evaluate("typeof htmx === 'object' ? htmx.version : null"),
                          "small": page.evaluate(SMALL_TARGETS_JS, MIN_TAP)}
                         for what, response in tour(page)]
                seen[username] = (facts, list(page.errors))
            finally:
                page.context.close()
        return seen[username]

    return take


@pytest.mark.parametrize("username", list(ROLES))
def test_each_role_lands_on_its_home_with_its_own_tabs(username, page, live, live_server):
    heading, labels = ROLES[username]
    role = live.county.users[username].role
    sign_in(page, live_server, username)
    assert path_of(page) == paths(live.app, [HOME[role]])[0]
    expect(page.locator("header.topbar h1")).to_have_text(heading)
    tabs = page.locator("nav.tabbar a")
    expect(tabs).to_have_text(labels)
    assert [tabs.nth(i).get_attribute("href") for i in range(tabs.count())] == paths(live.app, TABS[role])
    expect(page.locator("nav.tabbar a[aria-current=page]")).to_have_text(labels[0])
    assert page.errors == []
    screenshot(page, f"home-{role}")


@pytest.mark.parametrize("username", list(ROLES))
def test_every_tab_page_loads_htmx_cleanly_under_a_strict_csp(username, toured):
    facts, errors = toured(username)
    assert [f["what"] for f in facts] == ROLES[username][1] + ["customer"]
    for f in facts:
        assert f["ok"], f["what"]
        assert "script-src 'self'" in f["policy"] and "'unsafe-inline'" not in f["policy"], f["what"]
        assert f["htmx"] and f["htmx"].startswith("2."), f["what"]
    assert errors == []


@pytest.mark.parametrize("username", list(ROLES))
def test_every_control_is_a_large_enough_tap_target(username, toured):
    facts, _ = toured(username)
    assert {f["what"]: f["small"] for f in facts if f["small"]} == {}


def test_the_sign_in_page_has_large_enough_tap_targets(page, live_server):
    response = page.goto(f"{live_server}/login")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert page.evaluate(SMALL_TARGETS_JS, MIN_TAP) == []
    assert page.errors == []


def test_searching_customers_swaps_the_rows_without_a_page_load(page, live_server, signed_in):
    signed_in(page, "admin")
    page.goto(f"{live_server}/customers/")
    assert sorted(row_names(page)) == sorted(["周大福", "吴小梅", "郑家杂货店", "孙大山"])
    page.evaluate("window.sameDocument = true")
    with page.expect_response(lambda r: urlsplit(r.url).path == "/customers/"
                              and "q=" in r.url) as search:
        page.get_by_role("searchbox").press_sequentially("周")
    assert search.value.request.headers.get("hx-request") == "true"
    expect(page.locator("#customer-rows a.row")).to_have_count(1)
    assert row_names(page) == ["周大福"]
    expect(page).to_have_url(re.compile(r"/customers/\?q=%E5%91%A8(&|$)"))
    assert parse_qs(urlsplit(page.url).query) == {"q": ["周"]}
    assert page.evaluate("window.sameDocument") is True
    expect(page.locator("nav.tabbar")).to_have_count(1)
    assert page.errors == []


def test_a_signed_out_visit_ends_on_the_sign_in_page(page, live_server):
    response = page.goto(f"{live_server}/customers/")
    assert path_of(page) == "/login"
    assert parse_qs(urlsplit(page.url).query) == {"next": ["/customers/"]}
    assert response.request.redirected_from.url == f"{live_server}/customers/"
    expect(page.get_by_role("button", name="登录")).to_be_visible()
    expect(page.locator("nav.tabbar")).to_have_count(0)
    assert page.errors == []


def test_screenshots_for_review(browser, page, live, live_server, signed_in):
    """Pictures of the main screens in tests/browser/screenshots/, for a person to look at
    (each role's home is taken where the role signs in, above)."""
    page.goto(f"{live_server}/login")
    screenshot(page, "sign-in")
    signed_in(page, "admin")  # the widest scope: every kind of row and tree depth
    page.goto(f"{live_server}/customers/")
    screenshot(page, "customers")
    page.goto(f"{live_server}/customers/{live.county.customers['c_v1'].id}")
    screenshot(page, "customer")
    page.goto(f"{live_server}/map")
    screenshot(page, "map")
    desktop = open_page(browser, DESKTOP)
    desktop.goto(f"{live_server}/login")
    screenshot(desktop, "sign-in-desktop")
    signed_in(desktop, "admin")
    screenshot(desktop, "home-admin-desktop")
    assert desktop.errors == []
    desktop.context.close()
    assert page.errors == []
