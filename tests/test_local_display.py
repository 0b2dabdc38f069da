"""What a manager reads is theirs: Beijing time (no UTC in the audit trails), places as navigation."""
import datetime as dt

from app.db import database
from app.models import CustomerChange, LeadEvent
from tests.conftest import soup

# 02:30 UTC is 10:30 in Asia/Shanghai.
AT = dt.datetime(2026, 11, 24, 2, 30)


def test_a_customers_history_and_a_leads_history_show_beijing_time(app, county, login_as):
    with app.app_context(), database.obj.connection_context():
        customer, lead, user = county.customers["c_v1"], county.leads["l_mgr1"], county.users["mgr1"]
        CustomerChange.create(customer=customer, user=user, at=AT, field="phone", old=None, new="138****0000")
        LeadEvent.create(lead=lead, user=user, at=AT, kind="note", note="回访")
    client = login_as("mgr1")
    for path in (f"/customers/{customer.id}", f"/leads/{lead.id}"):
        text = soup(client.get(path)).get_text(" ", strip=True)
        assert "2026-11-24 10:30" in text, path
        assert "UTC" not in text, path


def test_a_customers_position_opens_the_phones_map_app_not_raw_coordinates(app, county, login_as):
    customer = county.customers["c_v1"]  # at 28.915, 107.605
    page = soup(login_as("mgr1").get(f"/customers/{customer.id}"))
    link = page.select_one("a.navigate")
    assert link["href"].startswith("geo:28.915000,107.605000?q=28.915000,107.605000(")
    assert "28.91500" not in page.get_text(" ")
