"""Customer.add_archives: many archives in one write, each kept as add_archive keeps one."""
import datetime as dt

import pytest

from app import crypto
from app.db import database
from app.models import Customer, CustomerChange, CustomerMember, Holding

ID = "52032119800101" + "123"
ID = ID + crypto.check_digit(ID)
FIELDS = {"kind": "household", "name": "冉德明", "phone": "13700000001", "village": "茶园村",
          "deposit_balance_wan": 30.0, "loan_balance_wan": 25.0, "credit_rating": "AA", "consent": True,
          "legal_basis": "contract"}  # holds a loan with us: its contract is the basis (models/consent.py)


def archive(county, **fields):
    return {"territory": county.territories["V1"], "fields": {**FIELDS, **fields}}


def test_each_archive_is_tiered_and_keeps_its_id_number_as_add_archive_does(app, county):
    with app.app_context(), database.obj.connection_context():
        user = county.users["mgr1"]
        one = Customer.add_archive(user, county.territories["V1"], dict(FIELDS), id_number=ID)
        ids = Customer.add_archives(user, [
            {**archive(county, phone="13700000002"), "id_number": ID.lower()},
            archive(county, name="母光华", deposit_balance_wan=0.5, loan_balance_wan=0.0, credit_rating=None,
                    lat=28.915, lng=107.605, position_source="surveyed"),
        ])
        many = [Customer.get_by_id(i) for i in ids]
        assert ids == sorted(ids) and ids[0] > one.id
        assert (many[0].tier, many[0].tier_rule) == (one.tier, one.tier_rule) == ("gold", "gold:50::")
        assert many[0].id_number == ID and many[0].id_number_hash == one.id_number_hash
        assert many[0].id_number_cipher != one.id_number_cipher  # encrypted, never stored in clear
        assert many[0].branch_id == county.territories["V1"].branch_id
        assert (many[1].tier, many[1].lat, many[1].position_source) == ("potential", 28.915, "surveyed")
        assert many[1].id_number_cipher is None and many[1].created_at is not None
        assert [(c.customer_id, c.field, c.new) for c in CustomerChange.select().where(
            CustomerChange.customer.in_(ids)).order_by(CustomerChange.customer)] == [
            (ids[0], "created", "冉德明"), (ids[1], "created", "母光华")]


def test_members_and_holdings_go_with_their_archive(app, county):
    with app.app_context(), database.obj.connection_context():
        product = county.products["a"]
        since = dt.date(2025, 3, 1)
        ids = Customer.add_archives(county.users["admin"], [
            {**archive(county, phone=None), "members": [{"relation": "配偶", "name": "冉秀英"}],
             "holdings": [{"product": product.id, "since": since, "amount_wan": 12.5, "reference": "X1"}]},
            archive(county, name="冉小梅", phone=None),
        ], history=False)
        assert [(m.customer_id, m.relation, m.name, m.phone) for m in CustomerMember.select()] == [
            (ids[0], "配偶", "冉秀英", None)]
        assert [(h.customer_id, h.product_id, h.since, h.amount_wan, h.reference)
                for h in Holding.select().where(Holding.customer.in_(ids))] == [
            (ids[0], product.id, since, 12.5, "X1")]
        assert not CustomerChange.select().where(CustomerChange.customer.in_(ids)).exists()


@pytest.mark.parametrize("bad", ["id_number", "product"])
def test_one_bad_archive_writes_none(app, county, bad):
    with app.app_context(), database.obj.connection_context():
        before = Customer.select().count()
        wrong = archive(county, phone=None)
        if bad == "id_number":
            wrong["id_number"] = ID[:-1] + ("0" if ID[-1] != "0" else "1")
        else:  # bank B's product for a customer of bank A
            wrong["holdings"] = [{"product": county.products["b"].id}]
        with pytest.raises(ValueError):
            Customer.add_archives(county.users["admin"], [archive(county, phone=None), wrong])
        assert Customer.select().count() == before
