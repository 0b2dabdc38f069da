"""The offline batch (/sync) through real HTTP, on both databases: a phone's outbox applied
through the same write paths as the forms, each UUID once, an answer per item, and bad
input refused (per item or as a whole) with nothing written for the refused and nothing
lost of the good."""
import base64
import datetime as dt
import io
import json
import uuid

import pytest
from PIL import Image

from app import clock
from app.db import database
from app.models import Customer, FollowUp, Lead, Visit
from app.models.merge import merge_customers
from tests.conftest import csrf_token, login

M_LAT = 1 / 110_836


@pytest.fixture(autouse=True)
def photos(app, tmp_path):
    app.config["PHOTO_DIR"] = str(tmp_path / "photos")
    return tmp_path / "photos"


def jpeg():
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(out, "JPEG")
    return out.getvalue()


def iso(moment):
    return moment.replace(tzinfo=dt.UTC).isoformat()


def check_in(county, user="mgr1", customer="c_v1", made_at=None, photo=None, **fields):
    c = county.customers[customer]
    made_at = made_at or clock.now() - dt.timedelta(hours=2)
    return {"uuid": str(uuid.uuid4()), "kind": "check_in", "user": county.users[user].id,
            "made_at": iso(made_at), "customer": c.id,
            "fields": {"outcome": "interested", "note": "离线签到", "lat": c.lat + 20 * M_LAT, "lng": c.lng,
                       "accuracy": "12", "fix_at": iso(made_at), **fields},
            "photo": base64.b64encode(photo).decode() if photo else None}


def lead(county, user="mgr1", visit=None, made_at=None, **fields):
    return {"uuid": str(uuid.uuid4()), "kind": "lead", "user": county.users[user].id,
            "made_at": iso(made_at or clock.now()), "visit_uuid": visit and visit["uuid"],
            "customer": visit and visit["customer"],
            "fields": {"product": county.products["a"].id, "source": "visit" if visit else "referral",
                       **({"customer": visit["customer"]} if visit else {"name": "路上遇到的", "phone": "13700001111"}),
                       **fields}}


def send(client, items=None, token=None, body=None, headers=None):
    token = csrf_token(client, "/today") if token is None else token
    data = body if body is not None else json.dumps({"items": items})
    return client.post("/sync", data=data, content_type="application/json",
                       headers={**({"X-CSRFToken": token} if token else {}), **(headers or {})})


def counts():
    with database.obj.connection_context():
        return Visit.select().count(), Lead.select().count()


def by_uuid(response):
    return {r["uuid"]: r for r in response.get_json()["results"]}


def test_a_day_offline_arrives_once_with_its_times_and_photo(app, client, county, photos):
    login(client, "mgr1")
    early = clock.now() - dt.timedelta(hours=3)
    a = check_in(county, made_at=early, photo=jpeg(), **{f"product_{county.products['a'].id}": "interested"})
    b = check_in(county, customer="c_g1", made_at=early + dt.timedelta(minutes=40))
    c = lead(county, visit=b, note="想存五万", made_at=early + dt.timedelta(minutes=42))
    before = counts()
    response = send(client, [a, b, c])
    assert response.status_code == 200
    answers = by_uuid(response)
    assert [answers[x["uuid"]]["status"] for x in (a, b, c)] == ["saved"] * 3, answers
    assert counts() == (before[0] + 2, before[1] + 1)
    with database.obj.connection_context():
        visit = Visit.get(Visit.client_uuid == a["uuid"])
        assert visit.made_at == early.replace(tzinfo=None) and visit.late
        assert visit.outcome == "interested" and visit.verified and visit.note == "离线签到"
        assert visit.photo_path and (photos / visit.photo_path).exists()
        assert [p.result for p in visit.pitches()] == ["interested"]
        captured = Lead.get(Lead.client_uuid == c["uuid"])
        assert captured.visit_id == Visit.get(Visit.client_uuid == b["uuid"]).id
        assert captured.customer_id == county.customers["c_g1"].id and captured.note == "想存五万"
        # the lead keeps the time it was made on the phone, not the time it arrived
        assert captured.created_at == (early + dt.timedelta(minutes=42)).replace(tzinfo=None)
        assert [e.at for e in captured.history()] == [captured.created_at]
    # The same batch again (a reply lost on the way): nothing doubles, every item is saved.
    again = send(client, [a, b, c])
    assert [r["status"] for r in again.get_json()["results"]] == ["saved"] * 3
    assert all(r["replayed"] for r in again.get_json()["results"])
    assert counts() == (before[0] + 2, before[1] + 1)


def test_a_lead_from_too_long_ago_or_from_the_future_is_refused_with_the_reason(app, client, county):
    login(client, "mgr1")
    old = lead(county, made_at=clock.now() - dt.timedelta(days=8))
    ahead = lead(county, made_at=clock.now() + dt.timedelta(hours=3), phone="13700002222")
    garbled = dict(lead(county, phone="13700003333"), made_at="yesterday-ish")
    before = counts()
    results = send(client, [old, ahead, garbled]).get_json()["results"]
    assert [r["status"] for r in results] == ["refused"] * 3
    assert "7 天" in results[0]["reasons"][0] and "未来" in results[1]["reasons"][0]
    assert "时间" in results[2]["reasons"][0]
    assert counts() == before


def test_refused_items_write_nothing_and_the_good_arrive(app, client, county):
    login(client, "mgr1")
    good = check_in(county)
    outside = check_in(county, customer="c_v2")  # mgr2's village
    waits = lead(county, visit=outside)           # its lead waits with it
    theirs = check_in(county, user="mgr2", customer="c_v2")
    late = check_in(county, made_at=clock.now() - dt.timedelta(days=8))
    twice = check_in(county, customer="c_g1")
    unreadable = {"uuid": str(uuid.uuid4()), "kind": "check_in", "user": county.users["mgr1"].id,
                  "fields": {"nested": {"x": 1}}}
    before = counts()
    response = send(client, [good, outside, waits, theirs, late, twice, dict(twice), unreadable])
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [r["status"] for r in results] == ["saved", "refused", "waiting", "refused", "refused", "saved",
                                              "refused", "refused"]
    assert all(r["reasons"] for r in results if r["status"] != "saved")
    assert "late check-ins for 7 days" in results[4]["reasons"][0] or "7 天" in results[4]["reasons"][0]
    # what no edit can mend is offered only for discarding: a customer out of scope, too late, another user's
    assert [r["fixable"] for r in results if r["status"] == "refused"] == [False, False, False, True, True]
    assert counts() == (before[0] + 2, before[1])
    with database.obj.connection_context():
        assert not Visit.select().where(Visit.client_uuid.in_([outside["uuid"], theirs["uuid"],
                                                                late["uuid"]])).exists()


def test_a_customer_merged_away_meanwhile_is_refused_the_rest_arrives(app, client, county):
    login(client, "mgr1")
    kept = check_in(county)
    gone = check_in(county, customer="c_g1")
    with app.app_context(), database.obj.connection_context():
        admin = county.users["admin"]
        merge_customers(admin, Customer.get_by_id(county.customers["c_v1"].id),
                        Customer.get_by_id(county.customers["c_g1"].id))
    kept["fields"]["outcome"] = "met"
    response = send(client, [gone, kept])
    first, second = response.get_json()["results"]
    assert first["status"] == "refused" and first["reasons"]
    assert second["status"] == "saved"


@pytest.mark.parametrize("case", ["malformed", "not_a_list", "too_many", "too_big", "no_csrf", "stale_csrf"])
def test_a_bad_batch_is_refused_whole(app, client, county, case):
    login(client, "mgr1")
    items = [check_in(county)]
    before = counts()
    if case == "malformed":
        response = send(client, body='{"items": [')
    elif case == "not_a_list":
        response = send(client, body='{"items": {"uuid": 1}}')
    elif case == "too_many":
        response = send(client, [check_in(county) for _ in range(1000)])
    elif case == "too_big":
        response = send(client, body="x" * (50 * 1024 * 1024))
    elif case == "no_csrf":
        response = send(client, items, token="")
    else:
        other = app.test_client()
        login(other, "mgr1")
        response = send(client, items, token=csrf_token(other, "/today") + "x")
    assert response.status_code in (400, 413)
    body = response.get_json()
    assert body["ok"] is False and body["reason"] and body["results"] == []
    assert counts() == before


def test_signed_out_keeps_the_batch_and_says_so(app, client, county):
    response = client.post("/sync", data=json.dumps({"items": [check_in(county)]}), content_type="application/json")
    assert response.status_code == 401 and response.get_json()["signed_out"] is True


def test_only_a_manager_has_an_outbox(app, client, county):
    login(client, "lead1")
    assert send(client, []).status_code == 403


def test_the_phone_keeps_the_walk_list_in_the_servers_order(app, client, county):
    with database.obj.connection_context():
        FollowUp.create(customer=county.customers["c_v1"].id, user=county.users["mgr1"].id,
                        due_on=clock.today() - dt.timedelta(days=2))
    login(client, "mgr1")
    data = client.get("/offline/data").get_json()
    assert data["user"] == county.users["mgr1"].id
    # the overdue follow-up first (group 0), then the customer never visited (8), each with its reason
    assert [(r["id"], r["section"], r["group"], r["position"], r["reason"]) for r in data["rows"]] == [
        (county.customers["c_v1"].id, "follow_ups", 0, 0, "逾期跟进"),
        (county.customers["c_g1"].id, "walk", 8, 1, "从未走访")]
    assert all(r["lat"] for r in data["rows"])
    assert {c["phone"] for c in data["cards"]} == {"139****5678"}
    assert [p["name"] for p in data["products"]] == ["节节高"]
    assert set(data["outcomes"]) == {"met", "not_home", "refused", "interested", "applied", "signed", "moved"}


def test_the_service_worker_and_the_manifest(app, client, county):
    sw = client.get("/sw.js")
    assert sw.status_code == 200 and sw.mimetype == "text/javascript"
    assert sw.headers["Service-Worker-Allowed"] == "/"
    config = json.loads(sw.get_data(as_text=True).split("\n", 1)[0][len("self.ZRT = "):-1])
    urls = {e["url"] for e in config["precache"]}
    assert {"/static/css/app.css", "/static/vendor/htmx-2.0.11.min.js", "/offline",
            "/static/vendor/leaflet-1.9.4.min.js"} <= urls
    for entry in config["precache"]:
        response = client.get(entry["url"])
        response.close()
        assert response.status_code == 200, entry
    app.config["SHELL_VERSION_SALT"] = "next deploy"
    again = json.loads(client.get("/sw.js").get_data(as_text=True).split("\n", 1)[0][len("self.ZRT = "):-1])
    assert again["version"] != config["version"]
    manifest = client.get("/manifest.webmanifest").get_json()
    assert manifest["display"] == "standalone" and manifest["name"] == "责任田"
    sizes = {(i["sizes"], i.get("purpose", "any")) for i in manifest["icons"]}
    assert {("192x192", "any"), ("512x512", "any"), ("512x512", "maskable")} <= sizes
    offline = client.get("/offline")
    assert offline.status_code == 200 and "没有网络" in offline.get_data(as_text=True)


def test_a_lead_from_a_check_in_merged_into_an_earlier_visit_finds_that_visit(app, client, county):
    login(client, "mgr1")
    first = check_in(county, customer="c_g1", made_at=clock.now() - dt.timedelta(minutes=30))
    second = check_in(county, customer="c_g1", made_at=clock.now() - dt.timedelta(minutes=25))
    captured = lead(county, visit=second)
    results = send(client, [first, second, captured]).get_json()["results"]
    assert [r["status"] for r in results] == ["saved"] * 3
    assert results[0]["visit"] == results[1]["visit"]  # the second check-in was merged
    with database.obj.connection_context():
        assert Lead.get(Lead.client_uuid == captured["uuid"]).visit_id == results[0]["visit"]
