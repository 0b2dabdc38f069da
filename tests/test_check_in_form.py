"""The check-in form (issue 21): no outcome chosen for the manager, the last visit's note and the
holdings in sight, the likely products as chips and the rest behind 更多; works without JavaScript."""

from app import clock
from app.db import database
from app.models import Holding, Product, Visit
from app.models.product import likely_first
from tests.conftest import csrf_token, login, soup

def _catalogue(county):
    bank = county.branches["A"]
    made = {name: Product.create(bank=bank, name=name, kind=kind) for name, kind in (
        ("月月红", "deposit"), ("黔农云", "ebanking"), ("社保代缴", "payment"), ("收款码", "payment"),
        ("农户小额信用贷款", "loan"), ("创业贷", "loan"))}
    made["节节高"] = county.products["a"]
    return made

def test_likely_products_follow_the_customers_kind_and_skip_what_they_hold(ctx):
    products = _catalogue(ctx)
    offered = list(Product.offered_by(ctx.branches["A"]))
    held = {products["节节高"].id}
    likely, rest = likely_first(offered, "household", held)
    assert [p.name for p in likely] == ["月月红", "黔农云", "社保代缴", "创业贷"]  # deposit, e-banking, payment, loan
    assert rest[-1].name == "节节高" and {p.name for p in rest} == {"收款码", "农户小额信用贷款", "节节高"}
    likely, _ = likely_first(offered, "merchant", set())
    assert [p.kind for p in likely] == ["payment", "ebanking", "deposit", "loan"]

def test_the_form_shows_the_last_note_and_holdings_chooses_no_outcome_and_hides_the_rest(app, client, county):
    with app.app_context(), database.obj.connection_context():
        products = _catalogue(county)
        customer = county.customers["c_v1"]
        Holding.create(customer=customer, product=products["节节高"], amount_wan=5)
        Visit.update(note="想等茶叶款到了再存").where(Visit.id == county.visits["v_mgr1"].id).execute()
    login(client, "mgr1")
    path = f"/visits/check-in/{customer.id}"
    page = soup(client.get(path))
    assert not page.select("input[name=outcome][checked]")
    assert "想等茶叶款到了再存" in page.select_one(".last-visit").get_text()
    assert page.select_one(".holdings").get_text(strip=True) == "节节高"
    chips = [li.select_one("label").get_text() for li in page.select("ul.likely li.chip")]
    assert chips == ["月月红", "黔农云", "社保代缴", "创业贷"]
    more = page.select_one("details.more-products")
    assert more is not None and not more.has_attr("open")
    assert {li.select_one("label").get_text() for li in more.select("li")} == {"收款码", "农户小额信用贷款", "节节高"}
    gps = page.select_one("#gps")
    assert float(gps["data-lat"]) == customer.lat and "{m}" in gps["data-msg-distance"]

    # Without JavaScript and without an outcome: refused with the reason, nothing written
    with app.app_context(), database.obj.connection_context():
        before = Visit.select().count()
    data = {"csrf_token": csrf_token(client, path), "client_uuid": "00000000-0000-4000-8000-0000000000aa",
            "made_at": "", "fix_at": "", "lat": "", "lng": "", "accuracy": "", "note": "",
            f"product_{products['收款码'].id}": "interested"}
    response = client.post(path, data=data)
    assert response.status_code == 422
    refused = soup(response)
    assert "请选择走访结果" in refused.select_one(".refusal").get_text()
    assert refused.select_one("details.more-products").has_attr("open")  # the choice made stays in sight
    with app.app_context(), database.obj.connection_context():
        assert Visit.select().count() == before
    data["outcome"] = "met"
    assert client.post(path, data=data).status_code == 302
    with app.app_context(), database.obj.connection_context():
        assert Visit.select().count() == before + 1
        assert clock.to_local(Visit.select().order_by(Visit.id.desc()).first().made_at).date() == clock.today()
