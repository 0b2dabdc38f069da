"""The field loop through real HTTP: the visit form, forged posts, Today, photos, the ledger."""
import datetime as dt
import io
import os
import uuid

import pytest
from PIL import Image

from app import clock
from app.db import database
from app.models import Campaign, CampaignTerritory, Customer, FollowUp, Visit, VisitFix
from tests.conftest import csrf_token, login, soup

M_LAT = 1 / 110_836
PHONE = "13987654321"


@pytest.fixture(autouse=True)
def photos(app, tmp_path):
    app.config["PHOTO_DIR"] = str(tmp_path / "photos")
    return tmp_path / "photos"


def jpeg(size=(64, 48)):
    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, "JPEG")
    return out.getvalue()


def post_check_in(client, customer, metres=30, lat=None, lng=None, **fields):
    path = f"/visits/check-in/{customer.id}"
    now = clock.now().replace(tzinfo=dt.UTC).isoformat()
    data = {"csrf_token": csrf_token(client, "/me"), "client_uuid": str(uuid.uuid4()),
            "made_at": now, "fix_at": now, "accuracy": "10", "outcome": "met",
            "lat": str(lat if lat is not None else customer.lat + metres * M_LAT),
            "lng": str(lng if lng is not None else customer.lng)}
    data.update(fields)
    response = client.post(path, data=data, content_type="multipart/form-data")
    response.request.environ["wsgi.input"].close()  # the test client spools a big body to a file
    return response


def counts(app):
    with app.app_context(), database.obj.connection_context():
        return Visit.select().count(), VisitFix.select().count(), FollowUp.select().count()


def test_a_check_in_through_the_form_is_verified_and_shown(app, client, county):
    login(client, "mgr1")
    c = county.customers["c_g1"]
    response = post_check_in(client, c, 30, outcome="interested", note="想了解节节高",
                             next_follow_up_on=(clock.today() + dt.timedelta(days=2)).isoformat(),
                             **{f"product_{county.products['a'].id}": "interested"})
    assert response.status_code == 302
    page = soup(client.get(response.location))
    assert "已核实" in page.select_one(".notice").text
    assert page.select_one(".verified") is not None
    assert page.select_one(".distance").text.strip() == "距客户 30 米"
    assert "节节高（有意向）" in page.select_one(".pitched").text
    with app.app_context(), database.obj.connection_context():
        assert FollowUp.select().where(FollowUp.customer == c.id).count() == 1


def test_without_javascript_the_form_posts_and_is_stored_once(app, client, county):
    """No made-at, no fix: saved unverified now; the page's own UUID makes a resend harmless."""
    login(client, "mgr1")
    c = county.customers["c_g1"]
    page = soup(client.get(f"/visits/check-in/{c.id}"))
    data = {i["name"]: i.get("value", "") for i in page.select("form.check-in-form input")
            if i.get("name") and i.get("type") != "file"}
    data["outcome"] = "not_home"
    before = counts(app)
    assert client.post(f"/visits/check-in/{c.id}", data=data).status_code == 302
    assert client.post(f"/visits/check-in/{c.id}", data=data).status_code == 302  # double tap
    after = counts(app)
    assert after[0] == before[0] + 1
    with app.app_context(), database.obj.connection_context():
        visit = Visit.get(Visit.client_uuid == data["client_uuid"])
        assert (visit.outcome, visit.verified, visit.distance_m) == ("not_home", False, None)


FORGED = {
    "a fix from another continent": (dict(lat="40.7128", lng="-74.0060"), "定位在中国境外"),
    "a future made-at time": (dict(made_at="2999-01-01T00:00:00Z", fix_at="2999-01-01T00:00:00Z"),
                              "签到时间在未来"),
    "a product that does not exist": ({"product_999999": "pitched"}, "请从本行产品目录中选择产品"),
    "a 10 MB photo": (dict(photo=b"\xff\xd8\xff" + b"0" * 10_000_000), "照片太大"),
    "a file that is not an image": (dict(photo=b"%PDF-1.4 not a photo"), "不是 JPEG"),
    "accuracy worse than 2 km": (dict(accuracy="5000"), "最多允许 2 公里"),
    "a fix an hour old": (dict(fix_at="2020-01-01T00:00:00Z"), "超过 10 分钟"),
    "an unknown outcome": (dict(outcome="party"), "请选择走访结果"),
}


@pytest.mark.parametrize("case", sorted(FORGED))
def test_a_forged_post_is_refused_with_a_reason_and_writes_nothing(case, app, client, county, photos):
    fields, reason = FORGED[case]
    if "photo" in fields:
        fields = {**fields, "photo": (io.BytesIO(fields["photo"]), "door.jpg")}
    login(client, "mgr1")
    before = counts(app)
    response = post_check_in(client, county.customers["c_v1"], 30,
                             next_follow_up_on=clock.today().isoformat(), **fields)
    assert response.status_code == 422
    assert reason in soup(response).select_one(".refusal").text
    assert counts(app) == before
    assert not photos.exists() or not any(photos.rglob("*.*"))


def test_a_post_with_several_problems_shows_every_reason(app, client, county):
    login(client, "mgr1")
    before = counts(app)
    response = post_check_in(client, county.customers["c_v1"], 30, outcome="party", accuracy="5000",
                             product_999999="pitched")
    assert response.status_code == 422
    text = soup(response).select_one(".refusal").text
    assert "请选择走访结果" in text and "最多允许 2 公里" in text and "请从本行产品目录中选择产品" in text
    assert counts(app) == before


@pytest.mark.parametrize("key", ["c_v2", "c_v3", "c_b"])
def test_a_forged_post_for_an_out_of_scope_customer_is_404(key, app, client, county):
    login(client, "mgr1")
    before = counts(app)
    response = post_check_in(client, county.customers[key], 30)
    assert response.status_code == 404
    assert county.customers[key].name not in response.get_data(as_text=True)
    assert counts(app) == before


def test_only_managers_check_in(client, county):
    login(client, "lead1")
    assert post_check_in(client, county.customers["c_v1"]).status_code == 403


def test_the_photo_is_stored_under_instance_and_served_in_scope(app, client, county, photos):
    login(client, "mgr1")
    response = post_check_in(client, county.customers["c_v1"], 20, photo=(io.BytesIO(jpeg()), "door.jpg"))
    assert response.status_code == 302
    page = soup(client.get(response.location))
    src = page.select_one("img.visit-photo")["src"]
    served = client.get(src)
    assert served.status_code == 200 and served.data == jpeg()
    assert served.headers["Cache-Control"].startswith("private")
    # a personal image is never kept in a shared phone's HTTP cache, as no page is
    assert "no-store" in served.headers["Cache-Control"].split(", ")
    assert "max-age" not in served.headers["Cache-Control"]
    served.close()
    files = list(photos.rglob("*.jpg"))
    assert len(files) == 1
    with app.app_context(), database.obj.connection_context():
        assert not os.path.isabs(Visit.get(Visit.photo_path.is_null(False)).photo_path)
    # another manager, another bank: 404; the branch's team lead sees it
    client.post("/logout", data={"csrf_token": csrf_token(client, "/me")})
    login(client, "mgr2")
    assert client.get(src).status_code == 404
    client.post("/logout", data={"csrf_token": csrf_token(client, "/me")})
    login(client, "lead1")
    seen = client.get(src)
    assert seen.status_code == 200
    seen.close()
    client.post("/logout", data={"csrf_token": csrf_token(client, "/me")})
    login(client, "admin_b")
    assert client.get(src).status_code == 404


def test_a_second_check_in_within_ten_minutes_updates_the_visit(app, client, county):
    login(client, "mgr1")
    c = county.customers["c_g1"]
    first = post_check_in(client, c, 30, outcome="not_home")
    clock.travel(dt.timedelta(minutes=4))
    second = post_check_in(client, c, 700, outcome="met", note="回来了")
    assert second.location == first.location
    page = soup(client.get(second.location))
    assert page.select_one(".outcome").text == "见到本人"
    assert len(page.select(".fixes li")) == 2
    assert page.select_one(".verified") is not None  # the first fix decides


def walk(client, **args):
    query = "&".join(f"{k}={v}" for k, v in args.items())
    page = soup(client.get("/today" + (f"?{query}" if query else "")))
    return [li.select_one(".row-main").contents[0].strip() for li in page.select(".to-visit .walk-row")], page


def test_today_orders_nearest_first_gold_first_in_a_band_and_by_village_without_position(app, county, client):
    with app.app_context(), database.obj.connection_context():
        v1 = county.territories["V1"]
        mk = dict(kind="household", branch=v1.branch_id, territory=v1.id, consent=True, village="茶园村")
        Customer.create(name="近处大众", lat=28.9151, lng=107.6051, tier="mass", group_name="二组", **mk)
        Customer.create(name="近处黄金", lat=28.9153, lng=107.6051, tier="gold", group_name="三组", **mk)
        Customer.create(name="远处黄金", lat=28.9190, lng=107.6090, tier="gold", group_name="一组", **mk)
        Customer.create(name="不愿联系", lat=28.9151, lng=107.6050, tier="gold",
                        **{**mk, "consent": False})
        Visit.delete().execute()
    login(client, "mgr1")
    names, _ = walk(client, lat="28.9150", lng="107.6050")
    # 周大福 (gold, on the spot) and 近处黄金 (gold, 35 m) lead the first band, then 近处大众
    assert names[:3] == ["周大福", "近处黄金", "近处大众"]
    assert names.index("远处黄金") > names.index("近处大众")
    assert "不愿联系" not in names  # consent withdrawn leaves the walk list
    names, page = walk(client)
    # village by village, group by group (a customer with no group last in its village)
    assert names == ["远处黄金", "近处黄金", "近处大众", "周大福", "吴小梅"]
    assert "按村、组排列" in page.select_one("#locate-status").text


def test_today_puts_follow_ups_first_and_a_check_in_moves_the_counters(app, client, county):
    with app.app_context(), database.obj.connection_context():
        FollowUp.create(customer=county.customers["c_g1"].id, user=county.users["mgr1"].id,
                        due_on=clock.today() - dt.timedelta(days=2), reason="回访贷款需求")
    login(client, "mgr1")
    page = soup(client.get("/today"))
    assert page.select_one(".follow-ups .walk-row.overdue") is not None
    assert "回访贷款需求" in page.select_one(".follow-ups").text
    visits_before = int(page.select_one(".visits-today").text)
    covered_before = page.select_one(".covered").text
    post_check_in(client, county.customers["c_g1"], 25)
    page = soup(client.get("/today"))
    assert int(page.select_one(".visits-today").text) == visits_before + 1
    assert page.select_one(".covered").text != covered_before
    assert "吴小梅" not in page.select_one(".to-visit").text


def test_the_ledger_marks_done_and_reschedules_with_one_tap(app, client, county):
    today = clock.today()
    with app.app_context(), database.obj.connection_context():
        ids = [FollowUp.create(customer=county.customers["c_v1"].id, user=county.users["mgr1"].id,
                               due_on=today + dt.timedelta(days=d), reason=f"r{d}").id for d in (-3, 0)]
        FollowUp.create(customer=county.customers["c_v2"].id, user=county.users["mgr2"].id, due_on=today)
    login(client, "mgr1")
    page = soup(client.get("/ledger"))
    assert [len(page.select(f".ledger-{k} .follow-up")) for k in ("overdue", "today")] == [1, 1]
    token = csrf_token(client, "/me")
    row = client.post(f"/follow-ups/{ids[0]}/done", data={"csrf_token": token}, headers={"HX-Request": "true"})
    assert row.status_code == 200 and "done" in soup(row).select_one("li")["class"]
    moved = client.post(f"/follow-ups/{ids[1]}/reschedule", data={"csrf_token": token, "days": "7"})
    assert moved.status_code == 302
    with app.app_context(), database.obj.connection_context():
        assert FollowUp.get_by_id(ids[0]).done_at is not None
        assert FollowUp.get_by_id(ids[1]).due_on == today + dt.timedelta(days=7)
        other = FollowUp.get(FollowUp.user == county.users["mgr2"].id).id
    assert client.post(f"/follow-ups/{other}/done", data={"csrf_token": token}).status_code == 404
    bad = client.post(f"/follow-ups/{ids[1]}/reschedule", data={"csrf_token": token, "due_on": "2001-01-01"},
                      headers={"HX-Request": "true"})
    assert bad.status_code == 400


def test_the_customer_page_shows_the_timeline(app, client, county):
    login(client, "mgr1")
    c = county.customers["c_v1"]
    later = (clock.today() + dt.timedelta(days=5)).isoformat()
    post_check_in(client, c, 30, note="第一次上门", next_follow_up_on=later)
    page = soup(client.get(f"/customers/{c.id}"))
    kinds = [li["class"][0] for li in page.select(".timeline-items li")]
    assert "timeline-visit" in kinds and "timeline-follow_up" in kinds and "timeline-lead" in kinds
    assert "第一次上门" in page.select_one(".timeline").text


def test_a_customer_met_on_the_street_then_checked_in_and_confirmed(app, client, county):
    login(client, "mgr1")
    token = csrf_token(client, "/me")
    g1 = county.territories["G1"]
    bad = client.post("/visits/met", data={"csrf_token": token, "name": "", "phone": "123",
                                           "territory": str(county.territories["V2"].id)})
    assert bad.status_code == 400
    assert {p["id"] for p in soup(bad).select(".field-error")} == {"name-error", "phone-error", "territory-error"}
    response = client.post("/visits/met", data={"csrf_token": token, "name": "路边新客", "phone": PHONE,
                                                "territory": str(g1.id), "lat": "28.9052", "lng": "107.6052"})
    assert response.status_code == 302 and "/visits/check-in/" in response.location
    with app.app_context(), database.obj.connection_context():
        customer = Customer.get(Customer.name == "路边新客")
        assert (customer.territory_id, customer.position_confirmed) == (g1.id, False)
    assert client.post(f"/visits/check-in/{customer.id}", data={
        "csrf_token": token, "client_uuid": str(uuid.uuid4()), "outcome": "interested",
        "lat": "28.90521", "lng": "107.60521", "accuracy": "8"}).status_code == 302
    again = client.post("/visits/met", data={"csrf_token": token, "name": "重复", "phone": PHONE,
                                             "territory": str(g1.id)})
    assert "路边新客" in soup(again).select_one("#phone-error").text
    # the team lead sees the position to confirm, without the full phone, and confirms it
    client.post("/logout", data={"csrf_token": token})
    login(client, "lead1")
    for path in ("/team/review", "/ledger", f"/customers/{customer.id}"):
        html = client.get(path).get_data(as_text=True)
        assert PHONE not in html, path
    # a team lead's positions to confirm are part of the review queue (issue 18)
    assert client.get("/positions").location == "/team/review#positions"
    assert "路边新客" in soup(client.get("/team/review")).select_one("#positions").text
    done = client.post(f"/customers/{customer.id}/position/confirm", data={"csrf_token": csrf_token(client, "/me")})
    assert done.status_code == 302
    with app.app_context(), database.obj.connection_context():
        assert Customer.get_by_id(customer.id).position_confirmed
    assert "路边新客" not in soup(client.get("/team/review")).select_one("#positions").text


def test_today_carries_a_page_of_the_walk_and_more_brings_the_rest_in_order(app, county, client, monkeypatch):
    from app import walk as walk_module
    login(client, "mgr1")
    everyone, _ = walk(client)
    monkeypatch.setattr(walk_module, "SHOWN", 2)  # the county is small; a page of 2 shows the paging
    names, page = walk(client)
    assert names == everyone[:2]
    assert page.select_one(".remaining").text == f"({len(everyone)})"  # the counter counts them all
    more = page.select_one(".to-visit .more a")
    seen = list(names)
    while more is not None:
        assert more["href"] == more["hx-get"]  # works without JS too
        part = soup(client.get(more["hx-get"], headers={"HX-Request": "true"}))
        assert part.select_one("#counters") is None  # only the next rows
        seen += [li.select_one(".row-main").contents[0].strip() for li in part.select(".walk-row")]
        more = part.select_one(".more a")
    assert seen == everyone


def test_a_campaign_over_the_village_widens_the_walk_to_its_start(app, county, client):
    """进村入户 drives run for weeks: a household visited since the campaign began is done,
    even if that was before this Monday; without the campaign it is due again this week."""
    today = clock.today()
    monday = clock.week_bounds(today)[0]
    with app.app_context(), database.obj.connection_context():
        Visit.delete().execute()
        Visit.create(client_uuid=str(uuid.uuid4()), customer=county.customers["c_g1"],
                     user=county.users["mgr1"], outcome="met", verified=True,
                     made_at=clock.local_day_start_utc(monday - dt.timedelta(days=3)) + dt.timedelta(hours=3))
    login(client, "mgr1")
    names, page = walk(client)
    assert "吴小梅" in names  # visited last week: due again this week
    assert "本周待走访" in page.text
    with app.app_context(), database.obj.connection_context():
        drive = Campaign.create(branch=county.territories["V1"].branch_id, name="百日进村入户",
                                starts_on=monday - dt.timedelta(days=10), ends_on=today + dt.timedelta(days=30))
        CampaignTerritory.create(campaign=drive, territory=county.territories["V1"])
    names, page = walk(client)
    assert "吴小梅" not in names
    assert "周大福" in names
    assert "百日进村入户" in page.select_one(".to-visit").find_previous("h2").text


def test_a_town_customer_in_the_walk_shows_and_sorts_by_street(app, county, client):
    """A town's customers have a street and house number instead of a village and group."""
    with app.app_context(), database.obj.connection_context():
        v1 = county.territories["V1"]
        Customer.create(name="老街药房", kind="merchant", branch=v1.branch_id, territory=v1.id, consent=True,
                        street="老街", house_no="12号", lat=28.9152, lng=107.6051, tier="mass")
        Visit.delete().execute()
    login(client, "mgr1")
    _, page = walk(client, lat="28.9150", lng="107.6050")
    row = next(li for li in page.select(".to-visit .walk-row") if "老街药房" in li.text)
    assert row.select_one(".row-sub .place").text.split() == ["老街", "12号"]
    assert row.select_one(".row-sub .walk-reason").text == "从未走访"
    names, _ = walk(client)
    # without a position: the village's customers, then the town's by street
    assert names[-1] == "老街药房" and len(names) > 1


def test_the_same_uuid_at_another_customer_is_a_conflict_not_a_silent_replay(app, client, county):
    """Issue 15: a replayed UUID with another customer was answered as saved and the new
    check-in dropped. It is a 409 with the reason; a true replay stays a success."""
    login(client, "mgr1")
    key = str(uuid.uuid4())
    first = post_check_in(client, county.customers["c_v1"], client_uuid=key)
    assert first.status_code == 302
    before = counts(app)
    replay = post_check_in(client, county.customers["c_v1"], client_uuid=key)
    assert replay.status_code == 302 and replay.location == first.location
    other = post_check_in(client, county.customers["c_g1"], client_uuid=key, outcome="interested")
    assert other.status_code == 409
    page = soup(other)
    assert "已用于另一位客户" in page.select_one(".refusal").text
    assert page.select_one("input[name=client_uuid]")["value"] != key  # checking in again is a new one
    assert counts(app) == before
    with app.app_context(), database.obj.connection_context():
        assert Visit.select().where(Visit.customer == county.customers["c_g1"].id).count() == 0
