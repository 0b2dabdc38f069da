"""Merging two archives keeps every visit, lead, follow-up, holding, member and history entry."""
import datetime as dt

from app import clock
from app.db import database
from app.models import (AuditLog, Customer, CustomerChange, CustomerMember, FollowUp, Holding, Lead,
                        Product, Visit)
from tests.conftest import csrf_token, login, soup


def test_merging_keeps_everything(app, client, county):
    keep, gone = county.customers["c_v1"], county.customers["c_g1"]
    with app.app_context(), database.obj.connection_context():
        mgr1 = county.users["mgr1"]
        product = county.products["a"]
        Visit.create(client_uuid="00000000-0000-4000-8000-0000000000aa", customer=gone.id, user=mgr1,
                     made_at=clock.now(), outcome="met")
        # (another product than keep's open lead: one open lead per customer and product, issue 15)
        loan = Product.create(bank=county.branches["A"], name="农户小额信用贷款", kind="loan")
        Lead.create(client_uuid="10000000-0000-4000-8000-0000000000aa", branch=gone.branch_id,
                    customer=gone.id, name="吴小梅", product=loan, source="visit", owner=mgr1,
                    created_by=mgr1)
        FollowUp.create(customer=gone.id, user=mgr1, due_on=clock.today() + dt.timedelta(days=3))
        CustomerMember.create(customer=gone.id, relation="配偶", name="周二")
        Holding.create(customer=keep.id, product=product, amount_wan=2)
        Holding.create(customer=gone.id, product=product, amount_wan=3)
        Customer.get_by_id(gone.id).update_archive(mgr1, {"township": "茶园乡"})
        before = {model: model.select().count() for model in (Visit, Lead, FollowUp, CustomerMember)}
    login(client, "admin")
    page = soup(client.get(f"/customers/{keep.id}/merge?other={gone.id}"))
    assert gone.name in page.select_one(".warn h2").text
    response = client.post(f"/customers/{keep.id}/merge", data={
        "csrf_token": csrf_token(client, f"/customers/{keep.id}"), "other": gone.id})
    assert response.status_code == 302
    with app.app_context(), database.obj.connection_context():
        assert Customer.get_or_none(Customer.id == gone.id) is None
        for model, count in before.items():
            assert model.select().count() == count, model
            assert model.select().where(model.customer == gone.id).count() == 0, model
        assert Visit.select().where(Visit.customer == keep.id).count() == 2
        assert Lead.select().where(Lead.customer == keep.id).count() == 2
        assert [h.amount_wan for h in Holding.select().where(Holding.customer == keep.id)] == [5]
        kept = Customer.get_by_id(keep.id)
        assert kept.township == "茶园乡"  # a blank of the kept archive filled from the merged one
        fields = [c.field for c in CustomerChange.of(keep.id)]
        assert "merged" in fields and "township" in fields
        assert AuditLog.get(AuditLog.action == "merge").entity_id == keep.id
    assert client.get(f"/customers/{gone.id}").status_code == 404


def test_two_open_leads_for_one_product_are_not_merged_into_one_customer(app, client, county):
    """Issue 15: one open lead per customer and product is a database rule; a merge that would
    break it is refused with the reason (it gave a 500), and nothing moves."""
    keep, gone = county.customers["c_v1"], county.customers["c_g1"]  # keep has an open lead for 节节高
    with app.app_context(), database.obj.connection_context():
        mgr1 = county.users["mgr1"]
        Lead.create(client_uuid="10000000-0000-4000-8000-0000000000ab", branch=gone.branch_id,
                    customer=gone.id, name="吴小梅", product=county.products["a"], source="visit",
                    owner=mgr1, created_by=mgr1)
    login(client, "admin")
    response = client.post(f"/customers/{keep.id}/merge", data={
        "csrf_token": csrf_token(client, f"/customers/{keep.id}"), "other": gone.id})
    assert response.status_code == 409
    assert "两份档案都有同一产品的未结线索" in soup(response).select_one("p.error").get_text()
    with app.app_context(), database.obj.connection_context():
        assert Customer.get_or_none(Customer.id == gone.id) is not None
        assert Lead.select().where(Lead.customer == gone.id).count() == 1


def test_only_admins_merge_and_never_across_banks(app, client, county):
    keep, gone = county.customers["c_v1"], county.customers["c_g1"]
    login(client, "lead1")
    token = csrf_token(client, "/me")
    assert client.post(f"/customers/{keep.id}/merge", data={"csrf_token": token, "other": gone.id}).status_code == 403
    client.post("/logout", data={"csrf_token": token})
    login(client, "union_admin")
    other_bank = county.customers["c_b"]
    response = client.post(f"/customers/{keep.id}/merge", data={
        "csrf_token": csrf_token(client, "/me"), "other": other_bank.id})
    assert response.status_code == 404
    with app.app_context(), database.obj.connection_context():
        assert Customer.get_or_none(Customer.id == other_bank.id) is not None
