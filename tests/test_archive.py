"""Customer archives: ID numbers kept safe, masked everywhere, edited with a history."""
import datetime as dt
import json

import pytest

from app import clock, crypto
from app.db import database
from app.models import AuditLog, Customer, CustomerChange
from tests.conftest import csrf_token, login, soup

# A valid ID number (GB 11643 check digit) and its masked form.
ID = "52032119800101" + "123"
ID = ID + crypto.check_digit(ID)
PHONE = "13812345678"


def with_db(app):
    return app.app_context(), database.obj.connection_context()


def seed_archive(app, county, key="c_v1", id_number=ID, phone=PHONE):
    with app.app_context(), database.obj.connection_context():
        customer = Customer.get_by_id(county.customers[key].id)
        customer.set_id_number(id_number)
        customer.phone = phone
        customer.save()
        return customer


def form_data(client, path, **overrides):
    """What the edit form posts as it stands, with some fields changed."""
    data = form_data_of(soup(client.get(path)))
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def form_data_of(page):
    """What a shown archive form posts as it stands."""
    data = {}
    for field in page.select("form.archive-form input, form.archive-form select"):
        name = field.get("name")
        if field.name == "select" and field.has_attr("multiple"):
            data[name] = [o["value"] for o in field.select("option[selected]")]
        elif field.name == "select":
            chosen = field.select_one("option[selected]") or field.select_one("option")
            data[name] = chosen.get("value", "") if chosen else ""
        elif field.get("type") == "checkbox":
            if field.has_attr("checked"):
                data[name] = "y"
        else:
            data[name] = field.get("value", "")
    return data


# --- the check digit ---------------------------------------------------------------

def test_the_gb11643_check_digit():
    assert crypto.check_digit("11010519491231002") == "X"  # the standard's own example
    assert crypto.validate_id_number("11010519491231002x") == "11010519491231002X"


@pytest.mark.parametrize("number, why", [
    ("1101051949123100", "18 digits"),
    ("110105194912310021", "check digit"),
    ("110105194902300024", "does not exist"),
])
def test_bad_id_numbers_are_refused(number, why):
    if why == "check digit":
        assert crypto.check_digit(number[:17]) != number[17]
    if why == "does not exist":
        number = number[:17] + crypto.check_digit(number[:17])
    with pytest.raises(crypto.InvalidIdNumber, match=why):
        crypto.validate_id_number(number, today=dt.date(2026, 1, 1))


def test_a_birth_date_in_the_future_is_refused():
    first = "520321" + "20300101" + "123"
    with pytest.raises(crypto.InvalidIdNumber, match="future"):
        crypto.validate_id_number(first + crypto.check_digit(first), today=dt.date(2026, 1, 1))


def test_masks():
    assert crypto.mask_phone("13812345678") == "138****5678"
    assert crypto.mask_id(ID) == "5203**********" + ID[-4:]


# --- encrypted at rest, found through the keyed hash ---------------------------------

def test_the_id_number_is_stored_nowhere_in_clear(app, county):
    seed_archive(app, county)
    with app.app_context(), database.obj.connection_context():
        row = Customer.select().where(Customer.id == county.customers["c_v1"].id).dicts().get()
        assert ID not in json.dumps(row, default=str)
        assert ID[-8:] not in json.dumps(row, default=str)
        assert Customer.get_by_id(row["id"]).id_number == ID
        assert row["id_number_hash"] == crypto.hash_id(ID) != crypto.hash_id(ID[:-1] + "0")


def test_duplicates_by_phone_and_by_id_number(app, county):
    seed_archive(app, county, phone="13700000001")
    with app.app_context(), database.obj.connection_context():
        mgr2 = county.users["mgr2"]
        target = county.customers["c_v1"].id
        by_id = list(Customer.duplicates(mgr2, id_number=ID))
        by_phone = list(Customer.duplicates(mgr2, phone="13700000001"))
        assert [c.id for c in by_id] == [target] == [c.id for c in by_phone]
        # another bank never matches
        assert list(Customer.duplicates(county.users["mgr_b"], id_number=ID)) == []


def test_a_new_archive_with_a_known_id_number_offers_the_existing_one(app, client, county):
    seed_archive(app, county)
    login(client, "mgr1")
    data = form_data(client, "/customers/new", name="周大福二", phone="13900000009",
                     id_number=ID, territory=str(county.territories["V1"].id), legal_basis="kyc")
    data["csrf_token"] = csrf_token(client, "/customers/new")
    response = client.post("/customers/new", data=data)
    assert response.status_code == 409
    link = soup(response).select_one(".warn a.row")
    assert link["href"] == f"/customers/{county.customers['c_v1'].id}"
    with app.app_context(), database.obj.connection_context():
        assert Customer.select().where(Customer.name == "周大福二").count() == 0
    data["create_anyway"] = "y"
    assert client.post("/customers/new", data=data).status_code == 302
    with app.app_context(), database.obj.connection_context():
        created = Customer.get(Customer.name == "周大福二")
        assert created.territory_id == county.territories["V1"].id
        assert CustomerChange.select().where(CustomerChange.customer == created).count() == 1


# --- the full view is audited ---------------------------------------------------------

def test_the_page_masks_and_the_full_view_is_audited(app, client, county):
    seed_archive(app, county)
    cid = county.customers["c_v1"].id
    login(client, "mgr1")
    page = soup(client.get(f"/customers/{cid}"))
    assert page.select_one("dd.phone").text.strip() == "138****5678"
    assert page.select_one("dd.id-number").text.strip() == crypto.mask_id(ID)
    token = csrf_token(client, f"/customers/{cid}")
    full = soup(client.post(f"/customers/{cid}/full", data={"csrf_token": token}))
    assert full.select_one("dd.phone").text.strip() == PHONE
    assert full.select_one("dd.id-number").text.strip() == ID
    with app.app_context(), database.obj.connection_context():
        entry = AuditLog.get(AuditLog.action == "view_full")
        assert (entry.entity, entry.entity_id, entry.user_id) == ("customer", cid, county.users["mgr1"].id)


def test_a_manager_calls_through_an_audited_link_and_others_cannot(app, client, county):
    """The phone is a link its manager taps to dial; the number is in no page, only in the
    answer's tel: redirect, and each call is in the audit log. A team lead reads it masked."""
    seed_archive(app, county)
    cid = county.customers["c_v1"].id
    login(client, "mgr1")
    link = soup(client.get(f"/customers/{cid}")).select_one("dd.phone a.tel")
    assert link["href"] == f"/customers/{cid}/call" and link.text.strip() == "138****5678"
    answer = client.get(link["href"])
    assert answer.status_code == 302 and answer.headers["Location"] == f"tel:{PHONE}"
    with app.app_context(), database.obj.connection_context():
        entry = AuditLog.get(AuditLog.action == "call")
        assert (entry.entity, entry.entity_id, entry.user_id) == ("customer", cid, county.users["mgr1"].id)
    lead = app.test_client()
    login(lead, "lead1")
    assert soup(lead.get(f"/customers/{cid}")).select_one("dd.phone a.tel") is None
    assert lead.get(f"/customers/{cid}/call").status_code == 403
    other = app.test_client()
    login(other, "mgr2")  # another territory's manager: the customer is not theirs
    assert other.get(f"/customers/{cid}/call").status_code == 404


# --- masking everywhere a manager can reach ----------------------------------------------

REFERENCE = "6228 4800 1234 9876"  # an account number a won lead keeps


def test_no_list_or_fragment_shows_a_full_phone_or_id_number(app, client, county):
    seed_archive(app, county)
    with app.app_context(), database.obj.connection_context():
        from app.models import Lead, User

        # mgr1's lead signed, with the account number its customer opened
        Lead.get_by_id(county.leads["l_mgr1"].id).move(
            User.get_by_id(county.users["mgr1"].id), "won", amount="2", won_on=clock.today(), reference=REFERENCE)
    login(client, "mgr1")
    cid = county.customers["c_v1"].id
    pages = ["/today", "/map", "/map/data", f"/map/customers/{cid}", "/territories",
             "/customers/", "/customers/?q=5678", "/customers/?q=周",
             "/leads/", "/me", f"/customers/{cid}", f"/customers/{cid}/edit", "/customers/new",
             "/leads/?status=all", f"/leads/{county.leads['l_mgr1'].id}", f"/leads/new?customer={cid}",
             "/today?lat=28.91&lng=107.605", "/ledger", f"/visits/check-in/{cid}", "/visits/met",
             f"/visits/{county.visits['v_mgr1'].id}", "/leads/?status=won",
             f"/leads/?status=won&reached=won&by={county.users['mgr1'].id}"]
    for path in pages:
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(path, headers=headers)
            assert response.status_code == 200, path
            html = response.get_data(as_text=True)
            assert PHONE not in html and ID not in html and ID[-8:] not in html, path
            assert REFERENCE not in html and REFERENCE.replace(" ", "")[:-4] not in html, path
    # the lead page itself shows the number's last four only
    page = soup(client.get(f"/leads/{county.leads['l_mgr1'].id}"))
    assert page.select_one(".reference").get_text() == "****9876"


# --- editing: scope, roles, bad input, history -------------------------------------------

def test_management_reads_but_never_edits(client, county):
    login(client, "mgmt")
    cid = county.customers["c_v1"].id
    assert client.get(f"/customers/{cid}").status_code == 200
    response = client.post(f"/customers/{cid}/edit",
                           data={"csrf_token": csrf_token(client, "/me"), "name": "x"})
    assert response.status_code == 403


def test_a_forged_post_outside_the_territories_is_404_and_writes_nothing(app, client, county):
    login(client, "mgr1")
    other = county.customers["c_v2"]
    response = client.post(f"/customers/{other.id}/edit", data={
        "csrf_token": csrf_token(client, "/me"), "kind": "household", "name": "改名",
        "status": "active"})
    assert response.status_code == 404
    assert other.name not in response.get_data(as_text=True)
    with app.app_context(), database.obj.connection_context():
        assert Customer.get_by_id(other.id).name == other.name
        assert CustomerChange.select().count() == 0


BAD_INPUT = {
    "a 10-digit phone": ("phone", "1381234567", "手机号为以 1 开头的 11 位数字。"),
    "a wrong check digit": ("id_number", ID[:-1] + ("0" if ID[-1] != "0" else "1"), "身份证号校验位错误。"),
    "a birth date in the future": ("id_number", "future", "身份证号中的出生日期在未来。"),
    "negative land area": ("scale_mu", "-3", "不能为负数。"),
    "assets as text": ("assets_wan", "十万", "请输入数字，例如 12.5。"),
    "an unknown product": ("products", "999999", "请从本行产品目录中选择产品。"),
    "a consent date in the future": ("consent_on", "2999-01-01", "该日期在未来。"),
    # issue 15: non-finite and absurd numbers were stored, shown and tiered (or gave a 500)
    "assets of inf": ("assets_wan", "inf", "请输入数字，例如 12.5。"),
    "debts of -inf": ("debts_wan", "-inf", "请输入数字，例如 12.5。"),
    "land of nan": ("scale_mu", "nan", "请输入数字，例如 12.5。"),
    "turnover of 1e308": ("annual_turnover_wan", "1e308", "请输入 0 到 10000000 之间的数。"),
    "net income of -1e308": ("net_income_wan", "-1e308", "请输入 -10000000 到 10000000 之间的数。"),
    "10^30 head of livestock": ("livestock_head", "1" + "0" * 30, "请输入 0 到 10000000 之间的数。"),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUT))
def test_bad_input_is_refused_beside_its_field(case, app, client, county):
    field, value, message = BAD_INPUT[case]
    if value == "future":
        first = "520321" + (clock.today() + dt.timedelta(days=400)).strftime("%Y%m%d") + "123"
        value = first + crypto.check_digit(first)
    cid = county.customers["c_v1"].id
    login(client, "mgr1")
    data = form_data(client, f"/customers/{cid}/edit", **{field: value, "name": "不该保存"})
    data["csrf_token"] = csrf_token(client, f"/customers/{cid}/edit")
    response = client.post(f"/customers/{cid}/edit", data=data)
    assert response.status_code == 400
    error = soup(response).select_one(f"#{field}-error")
    assert error is not None and error.text.strip() == message
    with app.app_context(), database.obj.connection_context():
        assert Customer.get_by_id(cid).name == "周大福"
        assert CustomerChange.select().count() == 0


def test_edits_are_kept_in_the_history_and_shown(app, client, county):
    seed_archive(app, county)
    cid = county.customers["c_v1"].id
    login(client, "mgr1")
    data = form_data(client, f"/customers/{cid}/edit", village="新茶园村", assets_wan="12.5",
                     credit_rating="AA")
    data["csrf_token"] = csrf_token(client, f"/customers/{cid}/edit")
    response = client.post(f"/customers/{cid}/edit", data=data)
    assert response.status_code == 302
    with app.app_context(), database.obj.connection_context():
        changes = {c.field: (c.old, c.new, c.user_id) for c in CustomerChange.of(cid)}
        customer = Customer.get_by_id(cid)
        assert customer.id_number == ID  # a blank ID field keeps the one on file
    mgr1 = county.users["mgr1"].id
    assert changes == {"village": ("茶园村", "新茶园村", mgr1), "assets_wan": (None, "12.5", mgr1),
                       "credit_rating": (None, "AA", mgr1)}
    history = soup(client.get(f"/customers/{cid}")).select(".history li")
    assert len(history) == 3 and any("新茶园村" in li.text for li in history)


def test_a_changed_id_number_is_kept_masked_in_the_history(app, client, county):
    seed_archive(app, county)
    cid = county.customers["c_v1"].id
    first = "52032119900202" + "456"
    new_id = first + crypto.check_digit(first)
    login(client, "team_lead" and "lead1")
    data = form_data(client, f"/customers/{cid}/edit", id_number=new_id)
    data["csrf_token"] = csrf_token(client, f"/customers/{cid}/edit")
    assert client.post(f"/customers/{cid}/edit", data=data).status_code == 302
    with app.app_context(), database.obj.connection_context():
        change = CustomerChange.get(CustomerChange.field == "id_number")
        assert (change.old, change.new) == (crypto.mask_id(ID), crypto.mask_id(new_id))
        assert Customer.get_by_id(cid).id_number_hash == crypto.hash_id(new_id)


def test_products_held_are_edited_and_kept_in_the_history(app, client, county):
    cid = county.customers["c_v1"].id
    product = county.products["a"]
    login(client, "mgr1")
    data = form_data(client, f"/customers/{cid}/edit", products=[str(product.id)])
    data["csrf_token"] = csrf_token(client, f"/customers/{cid}/edit")
    assert client.post(f"/customers/{cid}/edit", data=data).status_code == 302
    with app.app_context(), database.obj.connection_context():
        from app.models import Holding
        assert [h.product_id for h in Holding.select().where(Holding.customer == cid)] == [product.id]
        change = CustomerChange.get(CustomerChange.field == "products")
        assert (change.old, change.new) == (None, "节节高")
    # another bank's product is not in the catalogue
    data["products"] = [str(county.products["b"].id)]
    response = client.post(f"/customers/{cid}/edit", data=data)
    assert response.status_code == 400 and soup(response).select_one("#products-error")


def test_family_members_are_added_and_removed_with_history(app, client, county):
    cid = county.customers["c_v1"].id
    login(client, "mgr1")
    token = csrf_token(client, f"/customers/{cid}")
    refused = client.post(f"/customers/{cid}/members", data={"csrf_token": token, "relation": "配偶"})
    assert refused.status_code == 400
    assert soup(refused).select_one("#member_name-error").text == "请输入姓名。"
    assert client.post(f"/customers/{cid}/members", data={
        "csrf_token": token, "relation": "配偶", "member_name": "李秀英", "occupation": "务农"}).status_code == 302
    page = soup(client.get(f"/customers/{cid}"))
    assert "李秀英" in page.select_one(".members").text
    with app.app_context(), database.obj.connection_context():
        from app.models import CustomerMember
        member = CustomerMember.get(CustomerMember.name == "李秀英")
    assert client.post(f"/customers/{cid}/members/{member.id}/delete",
                       data={"csrf_token": token}).status_code == 302
    with app.app_context(), database.obj.connection_context():
        history = [(c.old, c.new) for c in CustomerChange.of(cid)]
    assert history == [("配偶 李秀英", None), (None, "配偶 李秀英")]
    # a manager cannot touch another territory's archive
    other = county.customers["c_v2"].id
    assert client.post(f"/customers/{other}/members", data={
        "csrf_token": token, "relation": "子", "member_name": "x"}).status_code == 404


# --- duplicates on edit; clearing a phone -----------------------------------------------

def _edit(client, customer, **overrides):
    path = f"/customers/{customer.id}/edit"
    data = form_data(client, path, **overrides)
    data["csrf_token"] = csrf_token(client, path)
    return client.post(path, data=data)


def test_an_edit_to_a_phone_on_another_archive_shows_it_and_saves_only_when_confirmed(app, client, county):
    seed_archive(app, county)  # 周大福 (c_v1) holds PHONE
    login(client, "mgr2")       # mgr2 keeps c_v2, not c_v1
    c_v2 = county.customers["c_v2"]
    response = _edit(client, c_v2, phone=PHONE)
    assert response.status_code == 409
    page = soup(response)
    assert "该手机号或身份证号已在本行建档" in page.select_one("#duplicates h2").get_text()
    # Outside mgr2's territories: the match is named as such, without a link or a name.
    assert page.select_one("#duplicates a.row") is None
    assert county.customers["c_v1"].name not in page.select_one("#duplicates").get_text()
    assert page.select_one("input[name=save_anyway]") is not None
    with with_db(app)[0], with_db(app)[1]:
        assert Customer.get_by_id(c_v2.id).phone != PHONE
    confirmed = _edit(client, c_v2, phone=PHONE, save_anyway="y")
    assert confirmed.status_code == 302
    with app.app_context(), database.obj.connection_context():
        assert Customer.get_by_id(c_v2.id).phone == PHONE
        change = CustomerChange.get((CustomerChange.customer == c_v2.id) & (CustomerChange.field == "phone"))
        assert change.new == "138****5678"  # the history keeps phones masked


def test_an_edit_to_an_id_number_on_another_archive_is_refused(app, client, county):
    seed_archive(app, county)
    login(client, "lead1")  # lead1 sees both c_v1 and c_v2
    c_v2 = county.customers["c_v2"]
    response = _edit(client, c_v2, id_number=ID)
    assert response.status_code == 409
    page = soup(response)
    assert "该身份证号已登记在本行另一份档案中" in page.select_one("#duplicates").get_text()
    assert page.select_one("#duplicates a.row")["href"] == f"/customers/{county.customers['c_v1'].id}"
    assert page.select_one("input[name=save_anyway]") is None  # no way past it
    assert _edit(client, c_v2, id_number=ID, save_anyway="y").status_code == 409
    with app.app_context(), database.obj.connection_context():
        assert Customer.get_by_id(c_v2.id).id_number_hash is None
        assert not CustomerChange.select().where(CustomerChange.customer == c_v2.id).exists()
    # The archive's own ID number typed again is no duplicate.
    assert _edit(client, county.customers["c_v1"], id_number=ID, name="周大福").status_code == 302


def test_a_phone_can_be_cleared_from_the_edit_form_and_the_history_says_so(app, client, county):
    seed_archive(app, county)
    login(client, "mgr1")
    c_v1 = county.customers["c_v1"]
    page = soup(client.get(f"/customers/{c_v1.id}/edit"))
    assert page.select_one("input[name=clear_phone]") is not None
    both = _edit(client, c_v1, phone="13900000001", clear_phone="y")
    assert both.status_code == 400
    assert "二者选其一" in soup(both).get_text()
    # Blank still keeps the phone on file.
    assert _edit(client, c_v1, name="周大福").status_code == 302
    with app.app_context(), database.obj.connection_context():
        assert Customer.get_by_id(c_v1.id).phone == PHONE
    assert _edit(client, c_v1, clear_phone="y").status_code == 302
    with app.app_context(), database.obj.connection_context():
        assert Customer.get_by_id(c_v1.id).phone is None
    history = soup(client.get(f"/customers/{c_v1.id}")).select_one("ul.history").get_text()
    assert "电话: 138****5678 → —" in history
    # Nothing left to clear: the box is gone.
    assert soup(client.get(f"/customers/{c_v1.id}/edit")).select_one("input[name=clear_phone]") is None


def test_two_people_editing_one_archive_keep_each_others_changes(app, client, county):
    """Issue 15: the second save reverted the first's change to another field. Each edit form
    carries the version it was read at: what nobody else changed since is applied, a field
    changed by both is refused with both values shown, for the user to choose."""
    seed_archive(app, county)
    cid = county.customers["c_v1"].id
    path = f"/customers/{cid}/edit"
    login(client, "mgr1")
    lead1 = app.test_client()
    login(lead1, "lead1")
    mine = form_data(client, path, village="新茶园村")          # mgr1 opens the form
    theirs = form_data(lead1, path, assets_wan="20", credit_rating="AA")  # so does the team lead
    theirs["csrf_token"] = csrf_token(lead1, path)
    assert lead1.post(path, data=theirs).status_code == 302      # the team lead saves first
    mine["csrf_token"] = csrf_token(client, path)
    assert client.post(path, data=mine).status_code == 302       # mgr1's older form: other fields
    with app.app_context(), database.obj.connection_context():
        c = Customer.get_by_id(cid)
        assert (c.village, c.assets_wan, c.credit_rating) == ("新茶园村", 20, "AA")  # nothing reverted
    # both change one field: refused, both values shown, nothing saved
    mine = form_data(client, path, assets_wan="30", house_no="8号")
    theirs = form_data(lead1, path, assets_wan="25", credit_rating="A")
    theirs["csrf_token"] = csrf_token(lead1, path)
    assert lead1.post(path, data=theirs).status_code == 302
    mine["csrf_token"] = csrf_token(client, path)
    clash = client.post(path, data=mine)
    assert clash.status_code == 409
    page = soup(clash)
    rows = page.select("#clashes .clash")
    assert [r["data-field"] for r in rows] == ["assets_wan"]
    assert "25" in rows[0].text and "30" in rows[0].text
    with app.app_context(), database.obj.connection_context():
        c = Customer.get_by_id(cid)
        assert (c.assets_wan, c.credit_rating, c.house_no) == (25, "A", None)
    # the form shown again keeps the user's values and takes theirs where only they changed;
    # saving it (the user chose their own 30) applies over the version now
    again = {**form_data_of(page), "csrf_token": csrf_token(client, path)}
    assert again["credit_rating"] == "A" and again["assets_wan"] == "30"
    assert client.post(path, data=again).status_code == 302
    with app.app_context(), database.obj.connection_context():
        c = Customer.get_by_id(cid)
        assert (c.assets_wan, c.credit_rating, c.house_no, c.village) == (30, "A", "8号", "新茶园村")
