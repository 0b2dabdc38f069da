"""Issue 21's screens at 390×844, for the eye (/tmp/shots/lang21 when that folder exists) and
for what can be measured: the funnel fits the phone without a horizontal page scroll, the
customer page says what each kind of data rests on, a phone is a tel: link for its manager."""
import datetime as dt
from pathlib import Path

import pytest
from playwright.sync_api import expect

from app import clock
from app.models import Holding, Product, Visit
from tests.browser.conftest import PHONE, screenshot

pytestmark = pytest.mark.browser
SHOTS = Path("/tmp/shots/lang21")


def shot(page, name):
    screenshot(page, name)
    if SHOTS.is_dir():
        page.screenshot(path=SHOTS / f"{name}.png", full_page=True)


@pytest.fixture
def phone(browser):
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, locale="zh-CN", timezone_id="Asia/Shanghai",
                                  permissions=["geolocation"],
                                  geolocation={"latitude": 28.9052, "longitude": 107.6051, "accuracy": 9})
    page = context.new_page()
    yield page
    context.close()


def test_today_the_check_in_form_and_the_customer_page_on_a_phone(live, live_server, signed_in, phone):
    with live.app.app_context(), live.db.connection_context():
        bank, g1 = live.county.branches["A"], live.county.customers["c_g1"]
        for name, kind in (("月月红", "deposit"), ("黔农云", "ebanking"), ("社保代缴", "payment"),
                           ("农户小额信用贷款", "loan"), ("收款码", "payment")):
            Product.get_or_create(bank=bank, name=name, kind=kind)
        Holding.get_or_create(customer=g1.id, product=live.county.products["a"].id)
        Visit.get_or_create(client_uuid="00000000-0000-4000-8000-00000000021a", defaults=dict(
            customer=g1.id, user=live.county.users["mgr1"].id, made_at=clock.now() - dt.timedelta(days=9),
            outcome="interested", verified=True, note="想等茶叶款到了再存"))
    page = phone
    signed_in(page, "mgr1")
    page.goto(f"{live_server}/today")
    shot(page, "today")
    page.goto(f"{live_server}/visits/check-in/{g1.id}")
    expect(page.locator("#gps-distance")).to_contain_text("距客户约")
    expect(page.locator("input[name=outcome]:checked")).to_have_count(0)
    shot(page, "check-in")
    page.goto(f"{live_server}/customers/{g1.id}")
    expect(page.locator("section.consent dt").first).to_have_text("电话与走访")
    assert page.locator("dd.phone a.tel").get_attribute("href") == f"/customers/{g1.id}/call"  # redirects to tel:
    assert "****" in page.locator("dd.phone").inner_text()  # the text stays masked
    shot(page, "customer")


def test_the_funnel_fits_a_phone_and_a_team_lead_reads_phones_masked(live, live_server, signed_in, page):
    signed_in(page, "lead1")
    page.goto(f"{live_server}/leads/funnel")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for table in page.locator("table.funnel").all():
        assert table.evaluate("t => t.scrollWidth <= t.parentElement.clientWidth"), "the table scrolls sideways"
    shot(page, "funnel")
    page.goto(f"{live_server}/customers/{live.county.customers['c_v1'].id}")
    assert page.locator("dd.phone a.tel").count() == 0
