"""Leads (营销线索): prospects for a product, new → contacted → qualified → won / lost."""
from peewee import DateField, DateTimeField, DoubleField, ForeignKeyField, TextField

from app import clock
from app.models.base import BaseModel, created_at_field, default, one_of
from app.models.customer import Customer
from app.models.org import Branch, User
from app.models.product import Product

LEAD_STATUSES = ("new", "contacted", "qualified", "won", "lost")
LEAD_SOURCES = ("visit", "referral", "counter", "event", "phone")


class Lead(BaseModel):
    client_uuid = TextField(unique=True)
    branch = ForeignKeyField(Branch, backref="leads", on_delete="RESTRICT")
    customer = ForeignKeyField(Customer, null=True, backref="leads", on_delete="SET NULL")
    name = TextField()
    phone = TextField(null=True)
    product = ForeignKeyField(Product, backref="leads", on_delete="RESTRICT")
    amount_wan = DoubleField(null=True)
    source = TextField(constraints=[one_of("source", LEAD_SOURCES)])
    status = TextField(default="new", constraints=[one_of("status", LEAD_STATUSES), default("'new'")])
    owner = ForeignKeyField(User, backref="leads", on_delete="RESTRICT")
    created_by = ForeignKeyField(User, backref="leads_captured", on_delete="RESTRICT")
    note = TextField(default="", constraints=[default("''")])
    won_amount_wan = DoubleField(null=True)
    won_on = DateField(null=True)
    contract_no = TextField(null=True)
    lost_reason = TextField(null=True)
    created_at = created_at_field()
    updated_at = DateTimeField(default=clock.now, constraints=[default("CURRENT_TIMESTAMP")])

    class Meta:
        indexes = (
            (("owner", "status"), False),
            (("product", "status"), False),
            (("phone",), False),
        )

    @classmethod
    def visible_to(cls, user):
        from app.models.scope import lead_scope

        return cls.select().where(lead_scope(user))
