"""Property-based tests (Hypothesis) over the write paths and the URL converters (issue 15):
arbitrary strings, numbers, dates and ids give a message or a 404, never a 500, and never a
row that breaks a rule the forms state. The profile (tests/conftest.py) sets how many
examples: a few for `make test`, HYPOTHESIS_PROFILE=thorough for a long run by hand."""
import datetime as dt
import math

from hypothesis import given, strategies as st

from app import clock, crypto
from app.db import database
from app.models import Customer, FollowUp, Lead, Setting, Visit
from app.models.customer_fields import FIELDS
from app.models.visit import FOLLOW_UP_AHEAD, FUTURE_SLACK, OUTCOMES
from app.models.vocabulary import OPEN_STATUSES
from tests.conftest import csrf_token, login

# What a hostile or careless form may carry: any text, numbers of every size and kind,
# dates and times from year 1 to 9999 with any offset.
any_text = st.text(max_size=60)
numbers = st.one_of(st.integers(min_value=-10**30, max_value=10**30).map(str),
                    st.floats(allow_nan=True, allow_infinity=True).map(repr),
                    st.sampled_from(["inf", "-inf", "nan", "1e308", "-1e308", "1e-320", "0", "", " ", "12.5"]))
ids = st.one_of(st.integers(min_value=-10**30, max_value=10**30).map(str), any_text)
dates = st.one_of(st.dates().map(dt.date.isoformat), any_text)


@st.composite
def moments(draw):
    """A phone's ISO time: any day of the calendar, any offset, or garbage."""
    when = draw(st.datetimes(min_value=dt.datetime(1, 1, 1), max_value=dt.datetime(9999, 12, 31, 23, 59)))
    minutes = draw(st.integers(min_value=-14 * 60, max_value=14 * 60))
    sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
    near = clock.now() + dt.timedelta(minutes=draw(st.integers(-60 * 24 * 30, 60)))
    return draw(st.sampled_from([when.isoformat() + f"{sign}{minutes // 60:02d}:{minutes % 60:02d}",
                                 when.isoformat(), near.replace(tzinfo=dt.UTC).isoformat(),
                                 draw(any_text)]))


@st.composite
def forms(draw, valid, hostile):
    """A form: every field a valid value, then up to three of them hostile (so the rules are
    reached one at a time, and rows are written to check)."""
    data = {key: draw(strategy) for key, strategy in valid.items()}
    for key in draw(st.sets(st.sampled_from(sorted(hostile)), max_size=3)):
        data[key] = draw(hostile[key])
    return data


def _ctx(app):
    class Both:
        def __enter__(self):
            self.a = app.app_context()
            self.a.__enter__()
            self.c = database.obj.connection_context()
            self.c.__enter__()

        def __exit__(self, *exc):
            self.c.__exit__(*exc)
            self.a.__exit__(*exc)
    return Both()


ANSWERS = (200, 302, 400, 404, 409, 422)
HUGE_ID = "1" + "0" * 24  # a page, a message or a 404: never a 500


def test_any_id_in_a_url_is_a_page_or_a_404(app, client, county):
    login(client, "mgr1")
    paths = ("/customers/{}", "/visits/{}", "/leads/{}", "/visits/check-in/{}", "/customers/{}/edit",
             "/map/customers/{}", "/map/territories/{}")

    @given(st.sampled_from(paths), st.one_of(st.integers(min_value=0, max_value=10**30).map(str), ids))
    def check(path, value):
        response = client.get(path.format(value))
        assert response.status_code in (200, 302, 308, 400, 404), (path, value, response.status_code)

    check()


def test_any_check_in_is_saved_within_the_rules_or_refused_with_a_message(app, client, county):
    login(client, "mgr1")
    token = csrf_token(client, "/me")
    customer = county.customers["c_g1"]
    product = county.products["a"].id

    def near(minutes):
        return (clock.now() - dt.timedelta(minutes=minutes)).replace(tzinfo=dt.UTC).isoformat()

    valid = {"made_at": st.integers(0, 60 * 24 * 6).map(near), "lat": st.just(str(customer.lat)),
             "lng": st.just(str(customer.lng)), "accuracy": st.sampled_from(["5", "10", "35.5"]),
             "outcome": st.sampled_from(OUTCOMES), "note": any_text,
             "next_follow_up_on": st.integers(0, 366).map(lambda d: (clock.today() + dt.timedelta(days=d)).isoformat()),
             "client_uuid": st.uuids().map(str), f"product_{product}": st.sampled_from(["pitched", "signed"])}
    hostile = {"made_at": moments(), "fix_at": moments(), "lat": numbers, "lng": numbers, "accuracy": numbers,
               "outcome": any_text, "next_follow_up_on": dates, "client_uuid": any_text,
               f"product_{product}": any_text, "product_" + HUGE_ID: st.just("pitched")}

    @given(forms(valid, hostile))
    def check(data):
        data = {"csrf_token": token, "fix_at": data.get("made_at"), **data}
        response = client.post(f"/visits/check-in/{customer.id}", data=data)
        assert response.status_code in ANSWERS, response.status_code
        answers.append(response.status_code)

    answers = []
    check()
    print("check-ins answered", {code: answers.count(code) for code in set(answers)})
    with _ctx(app):
        now = clock.now()
        days = Setting.get(county.branches["A"], "late_check_in_days")
        for visit in Visit.select():
            assert now - dt.timedelta(days=days, minutes=5) <= visit.made_at <= now + FUTURE_SLACK
            assert visit.outcome in OUTCOMES
            for value in (visit.lat, visit.lng, visit.accuracy_m, visit.distance_m):
                assert value is None or math.isfinite(value)
        for follow_up in FollowUp.select():
            assert follow_up.due_on <= clock.today() + FOLLOW_UP_AHEAD


NUMBER_FIELDS = [name for name, rule in FIELDS.items() if rule.bounds is not None and name not in (
    "deposit_balance_wan", "loan_balance_wan")]  # the form's numbers (balances come from the core system)


def test_any_archive_edit_is_saved_within_the_rules_or_refused(app, client, county):
    login(client, "mgr1")
    cid = county.customers["c_v1"].id
    path = f"/customers/{cid}/edit"
    token = csrf_token(client, path)

    valid = {**{name: (st.integers(0, 1000).map(str) if FIELDS[name].type == "whole"
                       else st.floats(0, 1000).map(lambda v: f"{v:.2f}")) for name in NUMBER_FIELDS},
             "name": st.text("周吴郑王李", min_size=1, max_size=10), "village": st.text("茶园村", max_size=10),
             "kind": st.just("household"), "status": st.just("active"), "category": st.just(""),
             "credit_rating": st.sampled_from(["", "AA"]), "consent_via": st.just("")}
    hostile = {**{name: numbers for name in NUMBER_FIELDS}, "name": any_text, "village": any_text,
               "phone": st.one_of(any_text, st.just("13900001111")), "id_number": any_text,
               "consent_on": dates, "kind": any_text, "status": any_text, "base_version": ids,
               "products": ids, "credit_rating": any_text, "category": any_text}

    @given(forms(valid, hostile))
    def check(data):
        with _ctx(app):
            version = Customer.get_by_id(cid).version
        data = {"csrf_token": token, "base_version": str(version), **data}
        response = client.post(path, data=data)
        assert response.status_code in ANSWERS, response.status_code
        answers.append(response.status_code)

    answers = []
    check()
    print("edits answered", {code: answers.count(code) for code in set(answers)})
    with _ctx(app):
        c = Customer.get_by_id(cid)
        for name in NUMBER_FIELDS:
            value, (low, high) = getattr(c, name), FIELDS[name].bounds
            assert value is None or (math.isfinite(value) and low <= value <= high), (name, value)
        assert c.name and len(c.name) <= FIELDS["name"].max_length
        assert len(c.village or "") <= FIELDS["village"].max_length
        assert c.phone is None or crypto.PHONE_PATTERN.match(c.phone)


def test_any_lead_capture_is_saved_within_the_rules_or_refused(app, client, county):
    login(client, "mgr1")
    token = csrf_token(client, "/me")
    customers = [str(county.customers[k].id) for k in ("c_v1", "c_g1", "c_v2", "c_b")]
    products = [str(p.id) for p in county.products.values()]

    valid = {"customer": st.sampled_from(customers[:2] + [""]), "product": st.sampled_from(products[:1]),
             "name": st.text("周吴郑王李", min_size=1, max_size=10),
             "phone": st.integers(13000000000, 13999999999).map(str), "amount": st.sampled_from(["", "3", "12.5"]),
             "source": st.sampled_from(["referral", "event", "phone"]), "note": any_text,
             "confirmed": st.sampled_from(["", "1"]), "client_uuid": st.uuids().map(str)}
    hostile = {"customer": st.one_of(st.sampled_from(customers), ids),
               "product": st.one_of(st.sampled_from(products), ids),
               "name": any_text, "phone": any_text, "amount": numbers, "source": any_text,
               "note": st.text(max_size=600), "id_number": any_text, "visit": ids, "owner": ids,
               "client_uuid": any_text}

    @given(forms(valid, hostile))
    def check(data):
        response = client.post("/leads/new", data={"csrf_token": token, **data})
        assert response.status_code in ANSWERS, response.status_code
        answers.append(response.status_code)

    answers = []
    check()
    print("captures answered", {code: answers.count(code) for code in set(answers)})
    with _ctx(app):
        seen = set()
        for lead in Lead.select():
            assert lead.name and len(lead.name) <= 80
            assert lead.amount_wan is None or (math.isfinite(lead.amount_wan) and lead.amount_wan > 0)
            assert lead.phone is None or crypto.PHONE_PATTERN.match(lead.phone)
            assert len(lead.note) <= 500
            if lead.customer_id and lead.status in OPEN_STATUSES:
                assert (lead.customer_id, lead.product_id) not in seen  # one open lead per both
                seen.add((lead.customer_id, lead.product_id))
        in_scope = {str(county.customers[k].id) for k in ("c_v1", "c_g1")}
        assert all(str(lead.customer_id) in in_scope for lead in Lead.select().where(
            Lead.created_by == county.users["mgr1"].id, Lead.customer.is_null(False)))
