"""Today's order (DESIGN.md): every group, in its rank, on a hand-made county whose every row is
written here by hand; the order inside the groups with and without the phone's position; a
customer in two groups shown once, in the first. The same order on the page and in what the
phone keeps offline (/offline/data)."""
import datetime as dt
import uuid

import pytest

from app import clock
from app.db import database
from app.models import Campaign, CampaignTerritory, Customer, FollowUp, Holding, User, Visit, review
from app.models.team import HandedCustomer
from app.walk import GROUPS, walk_list
from tests.conftest import soup

M_LAT = 1 / 110_836
HERE = (28.9150, 107.6050)      # where the phone is, with a fix
DAY = dt.timedelta(days=1)


@pytest.fixture
def order(app, county):
    """茶园村 (V1) and its 一组 (G1), mgr1's. 周大福 (c_v1) was visited an hour ago: not on the list."""
    today = clock.today()
    v1, g1 = county.territories["V1"], county.territories["G1"]
    mgr1, lead1 = county.users["mgr1"], county.users["lead1"]
    with app.app_context(), database.obj.connection_context():
        def customer(name, tier, metres_north=0, territory=v1, village="茶园村", group=None, house=None):
            return Customer.create(name=name, kind="household", branch=territory.branch_id, territory=territory.id,
                                   consent=True, tier=tier, village=village, group_name=group, house_no=house,
                                   lat=HERE[0] + metres_north * M_LAT, lng=HERE[1])

        def visited(c, days_ago, review=None):
            made_at = clock.local_day_start_utc(today - days_ago * DAY) + dt.timedelta(hours=3)
            Visit.create(client_uuid=str(uuid.uuid4()), customer=c, user=mgr1, outcome="met", verified=True,
                         review=review, made_at=made_at)

        c = {}
        # 0, 1: follow-ups overdue, then due today
        c["逾期户"] = customer("逾期户", "mass", 900, group="九组")
        c["交办逾期"] = customer("交办逾期", "potential", 20, group="一组")
        c["今日户"] = customer("今日户", "mass", 10)
        FollowUp.create(customer=c["逾期户"], user=mgr1, due_on=today - 3 * DAY, reason="回访贷款")
        FollowUp.create(customer=c["交办逾期"], user=mgr1, due_on=today - 2 * DAY)
        FollowUp.create(customer=c["今日户"], user=mgr1, due_on=today)
        # 2: handed over for today (交办逾期 too: it stays in its first group, once)
        c["交办户"] = customer("交办户", "potential", 30)
        for name in ("交办户", "交办逾期"):
            HandedCustomer.create(customer=c[name], user=mgr1, sent_by=lead1, for_day=today, note="先去")
        # 3: money alerts: a deposit maturing in 10 days (never visited: it would be in group 8 too)
        c["到期户"] = customer("到期户", "mass", 40)
        Holding.create(customer=c["到期户"], product=county.products["a"], amount_wan=5, matures_on=today + 10 * DAY)
        # 4, 5, 6: past the tier's rhythm (gold 30 days, mass 90, potential 180), gold first
        c["黄金超期"] = customer("黄金超期", "gold", 2000, territory=g1, group="一组")
        visited(c["黄金超期"], 40)
        c["大众超期"] = customer("大众超期", "mass", 5)
        visited(c["大众超期"], 100)
        c["潜在超期"] = customer("潜在超期", "potential", 5)
        visited(c["潜在超期"], 200)
        # 7: never visited in a campaign running over 一组 (吴小梅 is there, never visited)
        c["活动户"] = customer("活动户", "gold", -1000, territory=g1, village="茶园村一组")
        drive = Campaign.create(branch=v1.branch_id, name="冬季进村", starts_on=today - 5 * DAY,
                                ends_on=today + 30 * DAY)
        CampaignTerritory.create(campaign=drive, territory=g1)
        # 8: never visited (a rejected visit is no contact)
        c["从未甲"] = customer("从未甲", "potential", 50, group="二组", house="5号")
        c["从未乙"] = customer("从未乙", "gold", 555, group="一组", house="1号")
        c["从未丙"] = customer("从未丙", "mass", 100, group="一组", house="3号")
        visited(c["从未甲"], 10, review="rejected")
        # 9: the rest: visited within the rhythm, not this week
        c["大众未超"] = customer("大众未超", "mass", 60)
        visited(c["大众未超"], 40)
        c["吴小梅"] = county.customers["c_g1"]
    return c


FIRST = [("逾期户", 0), ("交办逾期", 0), ("今日户", 1), ("交办户", 2), ("到期户", 3)]
WALK_BY_VILLAGE = [("黄金超期", 4), ("大众超期", 5), ("潜在超期", 6), ("活动户", 7), ("吴小梅", 7),
                   ("从未乙", 8), ("从未丙", 8), ("从未甲", 8), ("大众未超", 9)]
# with a fix: nearest band first (300 m), gold before mass before potential inside a band
WALK_NEAREST = [("黄金超期", 4), ("大众超期", 5), ("潜在超期", 6), ("活动户", 7), ("吴小梅", 7),
                ("从未丙", 8), ("从未甲", 8), ("从未乙", 8), ("大众未超", 9)]


def _names(walk):
    first = [(f.customer.name, f.group, f.position) for f in walk.follow_ups]
    first += [(h.name, h.group, h.position) for h in walk.handed]
    first += [(a.name, a.group, a.position) for a in walk.alerts]
    return first, [(w.name, w.group, w.position) for w in walk.customers]


@pytest.mark.parametrize("here, expected", [(None, WALK_BY_VILLAGE), (HERE, WALK_NEAREST)],
                         ids=["by-village", "nearest"])
def test_every_group_in_its_rank_and_each_customer_once(app, county, order, here, expected):
    with app.app_context(), database.obj.connection_context():
        walk = walk_list(User.get_by_id(county.users["mgr1"].id), here)
    first, rows = _names(walk)
    assert first == [(name, group, n) for n, (name, group) in enumerate(FIRST)]
    assert rows == [(name, group, len(FIRST) + n) for n, (name, group) in enumerate(expected)]
    assert sorted({g for _, g, _ in first + rows}) == sorted(GROUPS.values())  # every group present
    names = [name for name, _, _ in first + rows]
    assert len(names) == len(set(names))   # nobody twice
    assert "周大福" not in names           # visited this week
    assert walk.remaining == len(expected)
    assert [(m.name, m.product) for m in walk.maturities] == [("到期户", "节节高")]


def test_the_page_and_the_phone_keep_the_same_groups_and_reasons(app, county, order, login_as):
    client = login_as("mgr1")
    page = soup(client.get("/today"))
    shown = [(li.select_one(".row-main").contents[0].strip(), int(li["data-group"]), int(li["data-pos"]))
             for li in page.select("#walk li.walk-row")]
    assert shown == [(name, group, n) for n, (name, group) in enumerate(FIRST + WALK_BY_VILLAGE)]
    reasons = {li.select_one(".row-main").contents[0].strip(): li.select_one(".walk-reason").text
               for li in page.select(".to-visit li.walk-row") if li.select_one(".walk-reason")}
    assert reasons == {"黄金超期": "超过维护周期", "大众超期": "超过维护周期", "潜在超期": "超过维护周期",
                       "活动户": "活动未走访", "吴小梅": "活动未走访", "从未乙": "从未走访", "从未丙": "从未走访",
                       "从未甲": "从未走访"}  # the rest (大众未超) needs none: the heading says it
    assert "来自 王组长" in page.select_one(".follow-ups").get_text()  # 交办逾期, handed and overdue

    data = client.get("/offline/data").get_json()
    cards = {card["id"]: card["name"] for card in data["cards"]}
    kept = [(cards[r["id"]], r["group"], r["position"]) for r in data["rows"]]
    assert kept == shown
    assert [r["section"] for r in data["rows"]] == ["follow_ups"] * 3 + ["handed", "alerts"] + ["walk"] * 9
    assert {r["reason"] for r in data["rows"]} == {"逾期跟进", "今日跟进", "团队长交办", "即将到期", "超过维护周期",
                                                   "活动未走访", "从未走访", "本周未走访"}


def test_a_bank_with_a_shorter_mass_rhythm_moves_a_customer_up(app, county, order):
    from app.models import Setting
    with app.app_context(), database.obj.connection_context():
        Setting.put(county.branches["A"], "mass_rhythm_days", 30)
        _, rows = _names(walk_list(User.get_by_id(county.users["mgr1"].id)))
    assert ("大众未超", 5) in [(name, group) for name, group, _ in rows]


def test_a_visit_uploaded_late_counts_at_once_and_a_deleted_one_is_forgotten(app, county, order):
    """Each manager's last contacts are kept for the day (app/walk.py last_contacts): a visit
    added since, even one made days ago and uploaded late, counts at the next Today; a rejected
    one stops counting at the next Today."""
    today = clock.today()
    with app.app_context(), database.obj.connection_context():
        mgr1 = User.get_by_id(county.users["mgr1"].id)
        groups = {w.name: w.group for w in walk_list(mgr1, limit=50).customers}
        assert (groups["从未乙"], groups["从未丙"]) == (8, 8)
        made = clock.local_day_start_utc(today - 10 * DAY) + dt.timedelta(hours=2)  # before the campaign
        late = Visit.create(client_uuid=str(uuid.uuid4()), customer=order["从未乙"], user=county.users["mgr1"],
                            outcome="met", verified=True, made_at=made)
        Visit.create(client_uuid=str(uuid.uuid4()), customer=order["从未丙"], user=county.users["mgr1"],
                     outcome="met", verified=True, made_at=clock.now())
        groups = {w.name: w.group for w in walk_list(mgr1, limit=50).customers}
        assert groups["从未乙"] == GROUPS["rest"]   # gold, contacted 10 days ago: within its rhythm
        assert "从未丙" not in groups               # visited today
        Visit.delete().where(Visit.id >= late.id).execute()
        groups = {w.name: w.group for w in walk_list(mgr1, limit=50).customers}
        assert (groups["从未乙"], groups["从未丙"]) == (8, 8)
        # a visit a team lead rejects stops being contact at once: the customer is back on the list
        doubtful = Visit.create(client_uuid=str(uuid.uuid4()), customer=order["从未丙"], user=county.users["mgr1"],
                                outcome="met", verified=False, made_at=clock.now())
        assert "从未丙" not in {w.name for w in walk_list(mgr1, limit=50).customers}
        review.decide(User.get_by_id(county.users["lead1"].id), doubtful.id, "rejected", "照片与客户不符")
        groups = {w.name: w.group for w in walk_list(mgr1, limit=50).customers}
        assert groups["从未丙"] == 8
