"""The bank's product catalogue (节节高, 月月红, loans, 黔农云, 社保代缴 …)."""
from peewee import BooleanField, DoubleField, ForeignKeyField, TextField

from app.db import chinese_order
from app.models.base import BaseModel, created_at_field, default, one_of
from app.models.org import Branch

PRODUCT_KINDS = ("deposit", "loan", "ebanking", "payment")
# What a manager most likely offers each kind of customer first, by product kind: a household
# saves, signs up for mobile banking and social-insurance collection, then borrows; a merchant
# takes collection (QR code, POS) first; an enterprise its deposits and settlement.
LIKELY_KINDS = {"household": ("deposit", "ebanking", "payment", "loan"),
                "merchant": ("payment", "ebanking", "deposit", "loan"),
                "enterprise": ("deposit", "payment", "loan", "ebanking")}
LIKELY_SHOWN = 4


def likely_first(products, customer_kind, held_ids):
    """(likely, rest): the products the customer does not hold yet, in the order their kind makes
    likely, the first LIKELY_SHOWN of them; everything else (held ones last) in `rest`."""
    order = LIKELY_KINDS.get(customer_kind, PRODUCT_KINDS)
    rank = {kind: i for i, kind in enumerate(order)}
    products = list(products)  # already in the catalogue's (pinyin) order within a kind
    fresh = sorted((p for p in products if p.id not in held_ids), key=lambda p: rank.get(p.kind, len(rank)))
    # one product of each likely kind before a second of any
    likely, seen = [], set()
    for p in fresh:
        if p.kind not in seen and len(likely) < LIKELY_SHOWN:
            likely.append(p)
            seen.add(p.kind)
    for p in fresh:
        if len(likely) < LIKELY_SHOWN and p not in likely:
            likely.append(p)
    rest = [p for p in fresh if p not in likely] + [p for p in products if p.id in held_ids]
    return likely, rest


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
