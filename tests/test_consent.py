"""Personal information as PIPL frames it (issue 21): consent to be contacted, separate consent for
sensitive data, a guardian's consent for a minor, and the bank's legal basis; refused without
its ground, shown per kind of data on the customer page, accepted from an import. Both databases."""
import datetime as dt

import pytest

from app import clock
from app.db import database
from app.models import Customer, CustomerMember
from app.models.refused import Refused
from tests.conftest import login, soup, user
from tests.county import _customer
from tests.test_imports import check, confirm, customers, job_of, make_id, remember_app, upload, xlsx  # noqa: F401

ID = make_id(7)


@pytest.fixture
def stranger(ctx):
    """A household the bank holds nothing for: contact consent only, no account, no basis."""
    return _customer("冉德明", ctx.territories["V1"], 28.915, 107.606, legal_basis=None)


def test_sensitive_data_without_its_ground_is_refused_with_the_reason(ctx, stranger):
    mgr1 = user(ctx, "mgr1")
    for fields, id_number in (({}, ID), ({"assets_wan": 20.0}, None)):
        with pytest.raises(Refused) as refused:
            stranger.update_archive(mgr1, fields, id_number)
        assert refused.value.code == "no_basis"
        assert "敏感个人信息" in " ".join(map(str, refused.value.messages))
    fresh = Customer.get_by_id(stranger.id)
    assert fresh.id_number_cipher is None and fresh.assets_wan is None


def test_separate_consent_is_given_in_writing_or_in_the_app_with_its_date(ctx, stranger):
    mgr1, today = user(ctx, "mgr1"), clock.today()
    with pytest.raises(Refused) as refused:
        stranger.update_archive(mgr1, {"sensitive_consent": True, "sensitive_consent_on": today,
                                       "sensitive_consent_via": "verbal"}, ID)
    assert set(refused.value.errors) == {"sensitive_consent_via"}
    stranger.update_archive(mgr1, {"sensitive_consent": True, "sensitive_consent_on": today,
                                   "sensitive_consent_via": "written"}, ID)
    fresh = Customer.get_by_id(stranger.id)
    assert fresh.id_number == ID and fresh.sensitive_consent_via == "written"
    # contact consent still alone decides coverage: unchanged by the sensitive one
    assert fresh.consent is True


def test_a_legal_basis_lets_the_bank_keep_what_account_opening_requires(ctx, stranger):
    stranger.update_archive(user(ctx, "mgr1"), {"legal_basis": "kyc", "legal_basis_on": clock.today(),
                                                "debts_wan": 3.0}, ID)
    assert Customer.get_by_id(stranger.id).debts_wan == 3.0


def test_family_members_need_a_ground_and_a_minor_a_guardians_consent(ctx, stranger):
    mgr1 = user(ctx, "mgr1")
    with pytest.raises(Refused) as refused:
        stranger.add_member(mgr1, "配偶", "冉秀英")
    assert "member_name" in refused.value.errors
    kept = _customer("王大妈", ctx.territories["V1"], 28.915, 107.607)  # the county's kyc basis
    kept.add_member(mgr1, "配偶", "王大伯")
    with pytest.raises(Refused) as refused:
        kept.add_member(mgr1, "子女", "王小宝", minor=True)
    assert "监护人" in str(refused.value.errors["guardian_consent_on"])
    kept.add_member(mgr1, "子女", "王小宝", minor=True, guardian_consent_on=clock.today() - dt.timedelta(days=3))
    assert [(m.name, m.minor) for m in CustomerMember.select().where(CustomerMember.customer == kept.id)
            .order_by(CustomerMember.id)] == [("王大伯", False), ("王小宝", True)]


def test_the_customer_page_says_what_each_kind_of_data_rests_on(app, client, county):
    with app.app_context(), database.obj.connection_context():
        c = Customer.get_by_id(county.customers["c_v1"].id)
        Customer.update(consent_on=dt.date(2026, 3, 2), consent_via="verbal", legal_basis_on=dt.date(2025, 5, 6)).where(
            Customer.id == c.id).execute()
    login(client, "mgr1")
    page = soup(client.get(f"/customers/{c.id}"))
    section = page.select_one("section.consent")
    facts = dict(zip([dt_.get_text(strip=True) for dt_ in section.select("dt")],
                     [dd.get_text(" ", strip=True) for dd in section.select("dd")]))
    assert facts["电话与走访"].startswith("联系同意") and "口头" in facts["电话与走访"]
    assert facts["身份证号"] == "法定义务（开户身份识别） · 2025-05-06"
    assert facts["家庭成员"] == facts["资产、负债与收入"] == facts["身份证号"]


def test_the_archive_form_edits_the_grounds(app, client, county):
    with app.app_context(), database.obj.connection_context():
        stranger = _customer("冉德明", county.territories["V1"], 28.915, 107.606, legal_basis=None)
    login(client, "mgr1")
    path = f"/customers/{stranger.id}/edit"
    form = soup(client.get(path)).select_one("form.archive-form, form[method=post]")
    data = {i["name"]: i.get("value", "") for i in form.select("input[name]") if i.get("type") != "checkbox"}
    data.update({s["name"]: "" for s in form.select("select[name]") if not s.has_attr("multiple")})
    data.update(kind="household", status="active", consent="y", id_number=ID)
    refused = client.post(path, data=data)
    assert refused.status_code in (400, 422), [e.get_text() for e in soup(refused).select(".field-error, .warn")]
    assert "敏感个人信息" in refused.get_data(as_text=True)
    data.update(sensitive_consent="y", sensitive_consent_on="2026-11-20", sensitive_consent_via="app")
    response = client.post(path, data=data)
    assert response.status_code == 302, [e.get_text() for e in soup(response).select(".field-error, .error")]
    with app.app_context(), database.obj.connection_context():
        fresh = Customer.get_by_id(stranger.id)
        assert fresh.sensitive_consent and fresh.sensitive_consent_on == dt.date(2026, 11, 20)
        assert fresh.id_number == ID


def test_an_import_takes_the_grounds_and_refuses_sensitive_data_without_one(app, login_as, county):
    client = login_as("lead1")
    header = ["户主姓名", "身份证号码", "联系电话", "村", "同意联系", "敏感信息单独同意"]
    data = xlsx([["杨一", make_id(61), "13800001111", "茶园村", "是", "是"],
                 ["杨二", make_id(62), "13800002222", "茶园村", "是", "否"]], header=header)
    job_id = job_of(upload(client, data))
    check(client, job_id)
    confirm(client, job_id)
    with app.app_context(), database.obj.connection_context():
        one = customers(name="杨一")[0]
        assert one.consent and one.sensitive_consent and one.sensitive_consent_on == clock.today()
        assert one.sensitive_consent_via == "written" and one.id_number == make_id(61)
        assert customers(name="杨二") == []
