"""The bank's product catalogue (节节高, 月月红, loans, 黔农云, 社保代缴 …)."""
from peewee import BooleanField, DoubleField, ForeignKeyField, TextField

from app.db import chinese_order
from app.models.base import BaseModel, created_at_field, default, one_of
from app.models.org import Branch

PRODUCT_KINDS = ("deposit", "loan", "ebanking", "payment")


class Product(BaseModel):
    bank = ForeignKeyField(Branch, backref="products", on_delete="RESTRICT")
    name = TextField()
    kind = TextField(constraints=[one_of("kind", PRODUCT_KINDS)])
    description = TextField(default="", constraints=[default("''")])
    amount_limit_wan = DoubleField(null=True)
    active = BooleanField(default=True, constraints=[default("TRUE")])
    created_at = created_at_field()

    class Meta:
        indexes = ((("bank", "name"), True),)

    @classmethod
    def offered_by(cls, bank):
        return cls.select().where((cls.bank == bank) & cls.active).order_by(cls.kind, chinese_order(cls.name))
