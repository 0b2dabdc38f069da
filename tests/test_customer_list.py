"""The Customers tab: search, filters, last visit, infinite scroll; consent withdrawn leaves walk lists."""
import datetime as dt

import pytest

from app import clock
from app.db import database
from app.models import Customer, Visit
from tests.conftest import login, soup


def names(response):
    return [a.select_one(".row-main").contents[0].strip() for a in soup(response).select("a.row[href*='/customers/']")
            if a.select_one(".row-main")]


@pytest.mark.parametrize("htmx", [False, True])
def test_search_by_name_village_group_and_phone_tail(client, county, htmx):
    headers = {"HX-Request": "true"} if htmx else {}
    login(client, "lead1")
    assert names(client.get("/customers/?q=周大", headers=headers)) == ["周大福"]
    assert names(client.get("/customers/?q=石板", headers=headers)) == ["郑家杂货店"]
    assert sorted(names(client.get("/customers/?q=5678", headers=headers))) == ["吴小梅", "周大福", "郑家杂货店"]


def test_search_by_group(app, client, county):
    with app.app_context(), database.obj.connection_context():
        Customer.update(group_name="三组").where(Customer.id == county.customers["c_g1"].id).execute()
    login(client, "lead1")
    assert names(client.get("/customers/?q=三组")) == ["吴小梅"]


def test_filters_by_tier_kind_territory_and_last_visit(client, county):
    login(client, "lead1")
    assert names(client.get("/customers/?tier=gold")) == ["周大福"]
    assert names(client.get("/customers/?kind=merchant")) == ["郑家杂货店"]
    v1 = county.territories["V1"].id
    assert sorted(names(client.get(f"/customers/?territory={v1}"))) == ["吴小梅", "周大福"]  # with group G1
    assert names(client.get("/customers/?last_visit=never")) == ["吴小梅"]
    # a territory outside the scope is ignored, never a way in
    assert sorted(names(client.get(f"/customers/?territory={county.territories['VB'].id}"))) == [
        "吴小梅", "周大福", "郑家杂货店"]


def test_rows_show_tier_village_last_visit_and_days_since(app, client, county):
    with app.app_context(), database.obj.connection_context():
        Visit.update(made_at=clock.now() - dt.timedelta(days=40)).where(
            Visit.id == county.visits["v_mgr1"].id).execute()
    login(client, "mgr1")
    rows = {r.select_one(".row-main").contents[0].strip(): r for r in soup(client.get("/customers/")).select("a.row")}
    assert rows["周大福"].select_one(".tier-gold")
    assert "茶园村" in rows["周大福"].select_one(".row-sub").text
    assert "40" in rows["周大福"].select_one(".last-visit").text
    assert rows["吴小梅"].select_one(".last-visit").text.strip() == "从未走访"
    assert sorted(names(client.get("/customers/?last_visit=stale"))) == ["吴小梅", "周大福"]


def test_infinite_scroll_keeps_the_filters(app, client, county):
    app.config["PAGE_SIZE"] = 1
    login(client, "lead1")
    first = soup(client.get("/customers/?kind=household"))
    more = first.select_one("li.more a")
    assert "kind=household" in more["hx-get"] and more["hx-trigger"] == "revealed"
    second = client.get(more["href"], headers={"HX-Request": "true"})
    assert soup(second).select_one("html") is None  # a fragment
    assert len(names(second)) == 1


def test_consent_withdrawn_leaves_the_walk_list_but_keeps_history(app, client, county):
    cid = county.customers["c_g1"].id
    login(client, "mgr1")
    assert "吴小梅" in client.get("/today").get_data(as_text=True)
    with app.app_context(), database.obj.connection_context():
        Customer.get_by_id(cid).update_archive(county.users["mgr1"], {"consent": False})
    assert "吴小梅" not in client.get("/today").get_data(as_text=True)
    page = soup(client.get(f"/customers/{cid}"))
    assert any("同意联系" in li.text for li in page.select(".history li"))
