"""Every time a user reads is Beijing time: the audit trails print no UTC."""
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
