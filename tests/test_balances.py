"""Balances a team would check (issue 21): 到期提醒 on Today, deposits and loans apart on the
customer page with each holding's maturity, and 概览 whose figures add up. Every figure
of the hand-made county is written here; both engines."""
import datetime as dt
from contextlib import contextmanager

from bs4 import BeautifulSoup

from app import clock
from app.db import database
from app.models import Customer, CustomerChange, FollowUp, Holding, Product, User
from app.walk import walk_list
from tests.conftest import csrf_token


@contextmanager
def models(app):
    """Model calls between requests: a context of their own, so no request reuses its `g`
    (the CSRF token of another session)."""
    with app.app_context(), database.obj.connection_context():
        yield


def soup(response):
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")


def text(node):
    return " ".join(node.get_text(" ", strip=True).split())


def _holdings(ctx):
    """c_v1 (mgr1's, gold) holds 节节高 maturing in 5 days and a loan in 30; c_g1 (mgr1's)
    a deposit maturing in 31 days and one matured yesterday; c_v2 (mgr2's) one in 3 days;
    a customer of mgr1's who withdrew consent one in 2 days."""
    today = clock.today()
    a = ctx.branches["A"]
    loan = Product.create(bank=a, name="农户小额信用贷款", kind="loan")
    term = Product.create(bank=a, name="定期存款", kind="deposit")
    app_ = Product.create(bank=a, name="黔农云", kind="ebanking")
    c = ctx.customers
    withdrawn = Customer.create(name="冯不联系", kind="household", branch=ctx.branches["A1"],
                                territory=ctx.territories["V1"], consent=False, village="茶园村")
    day = dt.timedelta(days=1)
    rows = {
        "soon": Holding.create(customer=c["c_v1"], product=ctx.products["a"], amount_wan=20,
                               since=today - 360 * day, matures_on=today + 5 * day),
        "loan": Holding.create(customer=c["c_v1"], product=loan, amount_wan=8.5, since=today - 335 * day,
                               matures_on=today + 30 * day, reference="QBDK2025000001"),
        "app": Holding.create(customer=c["c_v1"], product=app_, since=today - 100 * day),
        "later": Holding.create(customer=c["c_g1"], product=term, amount_wan=3, since=today - 60 * day,
                                matures_on=today + 31 * day),
        "past": Holding.create(customer=c["c_g1"], product=ctx.products["a"], amount_wan=1,
                               since=today - 400 * day, matures_on=today - day),
        "other": Holding.create(customer=c["c_v2"], product=term, amount_wan=2, since=today - 80 * day,
                                matures_on=today + 3 * day),
        "withdrawn": Holding.create(customer=withdrawn, product=term, amount_wan=9, since=today - 80 * day,
                                    matures_on=today + 2 * day),
    }
    Customer.update(loan_balance_wan=8.5).where(Customer.id == c["c_v1"].id).execute()
    return rows


def test_today_lists_maturities_of_the_managers_customers_after_the_follow_ups(app, county, client, login_as):
    today = clock.today()
    with models(app):
        _holdings(county)
        FollowUp.create(customer=county.customers["c_g1"], user=county.users["mgr1"],
                        due_on=today - dt.timedelta(days=2), reason="回访")
        found = walk_list(User.get_by_id(county.users["mgr1"].id)).maturities
        assert [(m.name, m.product, m.matures_on, m.amount_wan) for m in found] == [
            ("周大福", "节节高", today + dt.timedelta(days=5), 20.0),
            ("周大福", "农户小额信用贷款", today + dt.timedelta(days=30), 8.5),
        ]
        mgr2 = User.get_by_id(county.users["mgr2"].id)
        assert [m.product for m in walk_list(mgr2).maturities] == ["定期存款"]  # c_v2's, in 3 days

    page = soup(login_as("mgr1").get("/today"))
    lists = [ul["class"] for ul in page.select("#walk ul.rows")]
    assert lists.index(["rows", "walk", "follow-ups"]) < lists.index(["rows", "walk", "maturities"])
    # one row a customer (DESIGN.md "Today's order": each customer once), its holdings soonest first
    rows = [[text(h) for h in li.select(".holding")] for li in page.select("ul.maturities li")]
    soon = (today + dt.timedelta(days=5)).strftime("%m-%d")
    assert len(rows) == 1
    assert rows[0][0] == f"节节高 {soon} 到期 · 还有 5 天 · 20 万元"
    assert "农户小额信用贷款" in rows[0][1] and "还有 30 天" in rows[0][1] and "8.5 万元" in rows[0][1]
    assert "到期提醒（30 天内）" in text(page.select_one("#walk"))


def test_a_manager_without_maturities_sees_no_reminder(county, client, login_as):
    page = soup(login_as("mgr1").get("/today"))
    assert not page.select("ul.maturities")


def test_customer_page_shows_deposits_and_loans_apart_with_maturities(app, county, client, login_as):
    ctx = county
    with models(app):
        _holdings(county)
    today = clock.today()
    page = soup(login_as("mgr1").get(f"/customers/{ctx.customers['c_v1'].id}"))
    deposits, loans = page.select_one(".balance-deposit"), page.select_one(".balance-loan")
    assert text(deposits.select_one(".balance-line")) == "存款 60.00 万元"
    assert text(loans.select_one(".balance-line")) == "贷款 8.50 万元"
    soon = deposits.select_one("li.holding")
    assert text(soon.select_one(".holding-name")) == "节节高"
    assert text(soon.select_one(".holding-amount")) == "20 万元"
    assert f"{today + dt.timedelta(days=5)} 到期" in text(soon.select_one(".holding-dates"))
    assert "maturing" in soon["class"]
    loan = loans.select_one("li.holding")
    assert text(loan.select_one(".holding-amount")) == "8.5 万元"
    assert f"{today + dt.timedelta(days=30)} 到期" in text(loan)
    assert text(page.select_one(".other-products")) == "其他签约产品 黔农云"


def _set(client, ctx, holding, value):
    customer = ctx.customers["c_v1"].id
    token = csrf_token(client, f"/customers/{customer}")
    return client.post(f"/customers/{customer}/holdings/{holding.id}/maturity",
                       data={"matures_on": value, "csrf_token": token})


def test_a_maturity_is_set_through_the_form_and_refused_with_its_reason(app, county, client, login_as):
    ctx = county
    with models(app):
        rows = _holdings(county)
    today = clock.today()
    client = login_as("mgr1")
    soon = rows["soon"]
    new = today + dt.timedelta(days=200)
    assert _set(client, ctx, soon, new.isoformat()).status_code == 302
    with models(app):
        assert Holding.get_by_id(soon.id).matures_on == new
        change = CustomerChange.select().where(CustomerChange.field == "matures_on").get()
        assert change.new == f"节节高 {new}"

    before = _set(client, ctx, soon, (soon.since - dt.timedelta(days=1)).isoformat())
    assert before.status_code == 400
    assert "早于起始日" in text(soup(before).select_one(".maturity-edit .field-error"))
    far = _set(client, ctx, soon, soon.since.replace(year=soon.since.year + 31).isoformat())
    assert far.status_code == 400 and "超过 30 年" in before.get_data(as_text=True) + far.get_data(as_text=True)
    assert "超过 30 年" in text(soup(far).select_one(".maturity-edit .field-error"))
    assert _set(client, ctx, soon, "2027-13-45").status_code == 400
    with models(app):
        assert Holding.get_by_id(soon.id).matures_on == new  # nothing written by a refusal
    assert _set(client, ctx, rows["app"], new.isoformat()).status_code == 400  # 黔农云 has no maturity
    assert _set(client, ctx, rows["other"], new.isoformat()).status_code == 404  # another customer's holding
    assert _set(client, ctx, soon, "").status_code == 302  # empty clears it
    with models(app):
        assert Holding.get_by_id(soon.id).matures_on is None


def test_overview_figures_add_up_and_give_balances_by_branch(app, county, client, login_as):
    """Bank A: A1 has c_v1 (gold, deposit 60), c_g1 (mass, 8), c_v2 (merchant, potential),
    an enterprise (deposit 100, loan 50) and a household moved away (deposit 3); A2 has c_v3
    (potential, loan 5) and a household not agreeing to contact (deposit 2). Bank B is not seen."""
    ctx = county
    a1, a2 = ctx.branches["A1"], ctx.branches["A2"]
    with models(app):
        Customer.update(loan_balance_wan=5).where(Customer.id == ctx.customers["c_v3"].id).execute()
        Customer.create(name="黔北鑫源商贸有限公司", kind="enterprise", branch=a1, territory=ctx.territories["V2"],
                        consent=True, deposit_balance_wan=100, loan_balance_wan=50, tier="gold")
        Customer.create(name="搬走户", kind="household", branch=a1, territory=ctx.territories["V1"], consent=True,
                        status="moved", deposit_balance_wan=3, tier="mass")
        Customer.create(name="不联系户", kind="household", branch=a2, territory=ctx.territories["V3"],
                        consent=False, deposit_balance_wan=2, tier="potential")
    page = soup(login_as("mgmt").get("/overview"))
    assert text(page.select_one(".counter .counted")) == "4"
    tiers = [[text(c) for c in tr.select("td, th")] for tr in page.select("table.tiers tbody tr, table.tiers tfoot tr")]
    assert tiers == [["城关支行", "1", "1", "1", "3"], ["河坝支行", "0", "0", "1", "1"], ["合计", "1", "1", "2", "4"]]
    assert page.select_one(".left-out").get_text() == "客户共 7 户，其中 4 户计入覆盖率。"
    assert page.select_one(".left-out-reasons").get_text() == "不计入覆盖率：企业 1 户、已迁出 1 户、不同意联系 1 户"
    balances = [[text(c) for c in tr.select("td, th")]
                for tr in page.select("table.balances tbody tr, table.balances tfoot tr")]
    assert balances == [["城关支行", "171.00", "50.00"], ["河坝支行", "2.00", "5.00"], ["合计", "173.00", "55.00"]]


def test_the_maturity_rule_at_its_edges():
    from app.models.customer_fields import maturity_problem
    start = dt.date(2024, 2, 29)
    assert maturity_problem(start, None, start) is None
    assert maturity_problem(start, start, start) is None
    assert maturity_problem(start, dt.date(2054, 2, 28), start) is None  # 30 years from a 29 February
    assert maturity_problem(start, dt.date(2054, 3, 1), start) is not None
    assert maturity_problem(start, dt.date(2024, 2, 28), start) is not None
    assert maturity_problem(None, dt.date(2026, 1, 1), dt.date(2026, 1, 2)) is not None  # no start: today
