"""The team lead's funnel on a hand-made set of leads whose every figure is known.

On top of the county's two open leads of branch A1 (周大福 for mgr1, 郑家杂货店 for
mgr2, both 节节高, captured today), through the same write path as the app:

    mgr1  甲 new → contacted → qualified → won 2 days after capture
          乙 new → contacted → lost
          丙 new → won 4 days after capture (signed on the spot counts as every stage)
          丁 new
          戊 captured 40 days ago and won: outside the period
    mgr2  己 (惠农e贷) new → contacted
          庚 new → lost

So per manager, captured / contacted / qualified / won / lost, median days to win:
    张经理 5 / 3 / 2 / 2 / 1, median of 2 and 4 = 3
    李经理 3 / 1 / 0 / 0 / 1, —
"""
import datetime as dt
import uuid

import pytest

from app import clock
from app.db import database
from app.models import Lead, Product, User
from tests.conftest import csrf_token, login, soup


def _capture(user, name, phone, product):
    lead, _ = Lead.capture(user, {"client_uuid": str(uuid.uuid4()), "name": name, "phone": phone,
                                  "product": product.id, "source": "event"})
    return lead


@pytest.fixture
def funnel_county(app, county):
    with app.app_context(), database.obj.connection_context():
        mgr1, mgr2 = (User.get_by_id(county.users[k].id) for k in ("mgr1", "mgr2"))
        deposit = Product.get_by_id(county.products["a"].id)
        loan = Product.create(bank=county.branches["A"], name="惠农e贷", kind="loan", amount_limit_wan=50)
        clock.travel(dt.timedelta(days=-40))
        old = _capture(mgr1, "戊", "13700000005", deposit)
        v1 = {"territory": county.territories["V1"].id}  # a new person signing gets an archive there
        # mgr1 was given V1 only 30 days ago: their team lead records this signing
        old.move(User.get_by_id(county.users["lead1"].id), "won", amount="5", won_on=clock.today(), archive=v1)
        clock.travel(dt.timedelta(days=40))
        start = clock.today()
        leads = {name: _capture(user, name, f"1370000001{i}", product) for i, (name, user, product) in enumerate([
            ("甲", mgr1, deposit), ("乙", mgr1, deposit), ("丙", mgr1, deposit), ("丁", mgr1, deposit),
            ("己", mgr2, loan), ("庚", mgr2, deposit)])}
        for name, to in [("甲", "contacted"), ("甲", "qualified"), ("乙", "contacted"), ("己", "contacted")]:
            leads[name].move(mgr1 if name != "己" else mgr2, to)
        leads["乙"].move(mgr1, "lost", reason="联系不上")
        leads["庚"].move(mgr2, "lost", reason="暂无资金需求")
        clock.travel(dt.timedelta(days=2))
        leads["甲"].move(mgr1, "won", amount="10", won_on=clock.today(), archive=v1)
        clock.travel(dt.timedelta(days=2))
        leads["丙"].move(mgr1, "won", amount="3", won_on=clock.today(), archive=v1)
    return {"start": start, "end": clock.today(), "loan": loan}


def _table(page, by):
    rows = {}
    for tr in page.select(f"table.funnel[data-by={by}] tbody tr"):
        cells = tr.select("td")
        figures = [c.select_one("a").get_text() if c.select_one("a") else c.get_text(strip=True) for c in cells]
        convs = [c.select_one(".conv").get_text() for c in cells if c.select_one(".conv")]
        rows[tr.select_one("th").get_text()] = (figures, convs)
    return rows


def test_the_funnel_per_manager_and_per_product(client, funnel_county):
    login(client, "lead1")
    period = f"since={funnel_county['start'].isoformat()}&until={funnel_county['end'].isoformat()}"
    page = soup(client.get(f"/leads/funnel?{period}"))
    assert _table(page, "owner") == {
        "张经理": (["5", "3", "2", "2", "1", "3"], ["60%", "67%", "100%"]),
        "李经理": (["3", "1", "0", "0", "1", "—"], ["33%", "0%", "—"]),
    }
    assert _table(page, "product") == {
        "惠农e贷": (["1", "1", "0", "0", "0", "—"], ["100%", "0%", "—"]),
        "节节高": (["7", "3", "2", "2", "2", "3"], ["43%", "67%", "100%"]),
    }
    assert _table(page, "none") == {"全部": (["8", "4", "2", "2", "2", "3"], ["50%", "50%", "100%"])}


def test_each_funnel_figure_opens_the_leads_behind_it(client, funnel_county):
    login(client, "lead1")
    period = f"since={funnel_county['start'].isoformat()}&until={funnel_county['end'].isoformat()}"
    page = soup(client.get(f"/leads/funnel?{period}"))
    row = next(tr for tr in page.select("table.funnel[data-by=owner] tbody tr") if tr.th.get_text() == "张经理")
    expected = {"stage-new": {"周大福", "甲", "乙", "丙", "丁"}, "stage-contacted": {"甲", "乙", "丙"},
                "stage-qualified": {"甲", "丙"}, "stage-won": {"甲", "丙"}, "lost": {"乙"}, "median": {"甲", "丙"}}
    for cell, names in expected.items():
        listing = soup(client.get(row.select_one(f"td.{cell} a")["href"]))
        shown = {li.select_one(".row-main").contents[0].strip() for li in listing.select("li.lead-row")}
        assert shown == names, cell


def test_the_period_bounds_the_funnel(client, funnel_county):
    login(client, "lead1")
    day = funnel_county["start"] - dt.timedelta(days=40)
    page = soup(client.get(f"/leads/funnel?since={day.isoformat()}&until={day.isoformat()}"))
    assert _table(page, "owner") == {"张经理": (["1", "1", "1", "1", "0", "0"], ["100%", "100%", "100%"])}
    backwards = soup(client.get(f"/leads/funnel?since={funnel_county['end']}&until={day.isoformat()}"))
    assert backwards.select_one(".period .field-error").get_text() == "开始日期晚于结束日期。"


def test_a_team_lead_sees_only_the_team_and_managers_no_funnel(client, funnel_county):
    login(client, "lead2")  # branch A2 has no leads
    page = soup(client.get("/leads/funnel"))
    assert _table(page, "owner") == {}
    client.post("/logout", data={"csrf_token": csrf_token(client, "/me")})
    login(client, "mgmt")
    assert set(_table(soup(client.get("/leads/funnel")), "owner")) == {"张经理", "李经理"}


def test_a_lead_handed_over_counts_each_stage_under_whoever_held_it(app, client, funnel_county, county):
    """辛 is captured by 张经理, handed to 李经理 by the team lead, then contacted, qualified
    and won by 李经理: captured stays in 张经理's row, the later stages go to 李经理's."""
    with app.app_context(), database.obj.connection_context():
        mgr1, mgr2, lead1 = (User.get_by_id(county.users[k].id) for k in ("mgr1", "mgr2", "lead1"))
        xin = _capture(mgr1, "辛", "13700000020", Product.get_by_id(county.products["a"].id))
        xin.reassign(lead1, mgr2.id, "他家在石板村，李经理熟")
        xin = Lead.get_by_id(xin.id)
        for to in ("contacted", "qualified"):
            xin.move(mgr2, to)
        xin.move(mgr2, "won", amount="6", won_on=clock.today(), archive={"territory": county.territories["V2"].id})
        assert Lead.get_by_id(xin.id).owner_id == mgr2.id  # the current owner, as before
    login(client, "lead1")
    period = f"since={funnel_county['start'].isoformat()}&until={funnel_county['end'].isoformat()}"
    page = soup(client.get(f"/leads/funnel?{period}"))
    assert _table(page, "owner") == {
        "张经理": (["6", "3", "2", "2", "1", "3"], ["50%", "67%", "100%"]),
        "李经理": (["3", "2", "1", "1", "1", "0"], ["67%", "50%", "100%"]),
    }
    assert _table(page, "none") == {"全部": (["9", "5", "3", "3", "2", "2"], ["56%", "60%", "100%"])}
    rows = {tr.th.get_text(): tr for tr in page.select("table.funnel[data-by=owner] tbody tr")}
    expected = {
        "张经理": {"stage-new": {"周大福", "甲", "乙", "丙", "丁", "辛"}, "stage-won": {"甲", "丙"},
                 "median": {"甲", "丙"}},
        "李经理": {"stage-new": {"郑家杂货店", "己", "庚"}, "stage-contacted": {"己", "辛"},
                 "stage-qualified": {"辛"}, "stage-won": {"辛"}, "lost": {"庚"}, "median": {"辛"}},
    }
    for name, cells in expected.items():
        for cell, names in cells.items():
            href = rows[name].select_one(f"td.{cell} a")["href"]
            listing = soup(client.get(href))
            shown = {li.select_one(".row-main").contents[0].strip() for li in listing.select("li.lead-row")}
            assert shown == names, (name, cell)
            figure = rows[name].select_one(f"td.{cell} a").get_text()
            assert cell == "median" or int(figure) == len(names), (name, cell)
