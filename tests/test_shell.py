"""The mobile shell: one page or one fragment, security headers, Chinese first."""
import datetime as dt
import os
import time

import pytest

from app import clock
from tests.conftest import login, soup

TABS = {
    "mgr1": ["今日", "地图", "客户", "线索", "我的"],
    "lead1": ["今日", "地图", "客户", "线索", "我的"],
    "mgmt": ["概览", "地图", "客户", "线索", "我的"],
    "admin": ["管理", "地图", "客户", "我的"],
}


@pytest.mark.parametrize("username", sorted(TABS))
def test_the_tab_bar_shows_what_the_role_may_use(username, client, county):
    login(client, username)
    page = soup(client.get("/me"))
    assert [a.get_text(strip=True) for a in page.select("nav.tabbar a")] == TABS[username]
    assert page.select_one("nav.tabbar a[aria-current=page]").get_text(strip=True) == "我的"


# Per user, page → the tab lit on it: the page's own tab, or the tab of the section it belongs to.
CURRENT_TAB = {
    "mgr1": {"/today": "今日", "/ledger": "今日", "/map": "地图", "/territories": "地图", "/customers/": "客户",
             "/customers/new": "客户", "/customers/{c_v1}": "客户", "/leads/": "线索", "/leads/new": "线索",
             "/me": "我的", "/me/password": "我的"},
    "lead1": {"/team": "今日", "/imports/": "今日", "/territories": "地图", "/territories/unplaced": "地图",
              "/territories/import": "地图", "/leads/funnel": "线索"},
    "mgmt": {"/overview": "概览", "/territories": "地图", "/leads/": "线索"},
    "admin": {"/admin/": "管理", "/admin/settings": "管理", "/admin/users": "管理", "/admin/tiers/": "管理",
              "/imports/": "管理", "/territories": "地图", "/customers/": "客户"},
}


@pytest.mark.parametrize("username", sorted(CURRENT_TAB))
def test_each_page_lights_its_tab(username, client, county):
    login(client, username)
    for path, tab in CURRENT_TAB[username].items():
        path = path.format(c_v1=county.customers["c_v1"].id)
        response = client.get(path)
        assert response.status_code == 200, path
        lit = soup(response).select("nav.tabbar a.current")
        assert [a.get_text(strip=True) for a in lit] == [tab], path
        # The tab itself is "the current page"; a page inside its section is only "current".
        assert lit[0]["aria-current"] == ("page" if lit[0]["href"] == path else "true"), path


def test_every_page_sends_a_strict_content_security_policy(client, county):
    pages = ["/login", "/static/css/app.css"]
    for path in pages:
        response = client.get(path)
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        response.close()
    login(client, "admin")
    for path in ["/admin/", "/customers/", "/map", "/me", f"/customers/{county.customers['c_v1'].id}"]:
        policy = client.get(path).headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy


def test_no_page_has_inline_script_or_event_handlers(client, county):
    login(client, "admin")
    for path in ["/admin/", "/customers/", "/map", "/me"]:
        page = soup(client.get(path))
        assert all(script.get("src") for script in page.select("script"))
        for tag in page.find_all(True):
            assert not [a for a in tag.attrs if a.startswith("on") or a.startswith("hx-on")], tag.name


def test_an_htmx_request_gets_only_the_fragment(client, county):
    login(client, "admin")
    full = client.get("/customers/?q=周")
    fragment = client.get("/customers/?q=周", headers={"HX-Request": "true"})
    assert full.headers["Vary"] and "HX-Request" in full.headers["Vary"]
    assert "HX-Request" in fragment.headers["Vary"]
    assert soup(full).select_one("nav.tabbar") is not None
    rows = soup(fragment)
    assert rows.select_one("html, nav, header") is None
    assert [a.select_one(".row-main").contents[0].strip() for a in rows.select("a.row")] == ["周大福"]


def test_a_history_restore_gets_the_whole_page(client, county):
    login(client, "admin")
    response = client.get("/customers/", headers={"HX-Request": "true",
                                                  "HX-History-Restore-Request": "true"})
    assert soup(response).select_one("nav.tabbar") is not None


def test_lists_mask_phone_numbers(client, county):
    login(client, "admin")
    html = client.get("/customers/").get_data(as_text=True)
    assert "139****5678" in html and "13912345678" not in html


def test_the_customer_list_pages_on_the_server(app, client, county):
    app.config["PAGE_SIZE"] = 2
    login(client, "admin")
    first = soup(client.get("/customers/"))
    assert len(first.select("a.row[href^='/customers/']")) == 3  # two rows and the "more" link
    more = first.select_one("li.more a")
    assert more["hx-trigger"] == "revealed"
    second = soup(client.get(more["href"], headers={"HX-Request": "true"}))
    assert [a.get_text() for a in second.select("a.row")][-1].strip() != "加载更多"
    assert len(second.select("a.row")) == 2  # the last two of four, and no "more" link


def test_the_interface_is_chinese(client, county):
    page = soup(client.get("/login"))
    assert page.select_one("html")["lang"] == "zh-CN"
    assert page.select_one("button[type=submit]").get_text(strip=True) == "登录"


@pytest.mark.parametrize("zone", ["UTC", "America/Los_Angeles", "Asia/Shanghai"])
def test_business_dates_are_in_shanghai_whatever_the_server_zone(zone, monkeypatch):
    clock.unpin()  # this test is about the wall clock; `business_clock` pins it back after
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        utc_now = dt.datetime.now(dt.UTC)
        expected = (utc_now + dt.timedelta(hours=8)).date()
        assert clock.today() == expected
        monday, sunday = clock.week_bounds(dt.date(2026, 11, 29))
        assert (monday, sunday) == (dt.date(2026, 11, 23), dt.date(2026, 11, 29))
        assert clock.local_day_start_utc(dt.date(2026, 11, 29)) == dt.datetime(2026, 11, 28, 16, 0)
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    assert os.environ.get("TZ") is None
