"""Customers (农户 / 商户 / 企业) and their archive (建档)."""
from peewee import (BooleanField, DateField, DateTimeField, DoubleField, ForeignKeyField,
                    IntegerField, TextField)

from app import clock
from app.models.base import BaseModel, created_at_field, default, one_of
from app.models.org import Branch
from app.models.product import Product
from app.models.territory import TIERS, Territory

CUSTOMER_KINDS = ("household", "merchant", "enterprise")
CATEGORIES = ("planting", "breeding", "trade", "labour", "enterprise", "other")
CREDIT_RATINGS = ("AAA", "AA", "A", "B", "C")
CONSENT_WAYS = ("written", "verbal", "app")
POSITION_SOURCES = ("surveyed", "fix", "import")
STATUSES = ("active", "moved", "closed")


class Customer(BaseModel):
    branch = ForeignKeyField(Branch, backref="customers", on_delete="RESTRICT")
    territory = ForeignKeyField(Territory, null=True, backref="customers", on_delete="SET NULL")
    kind = TextField(constraints=[one_of("kind", CUSTOMER_KINDS)])
    name = TextField()  # head of household, owner, or enterprise name
    phone = TextField(null=True)
    id_number_cipher = TextField(null=True)  # encrypted at rest
    id_number_hash = TextField(null=True, index=True)  # keyed hash for duplicate look-ups
    township = TextField(null=True)
    village = TextField(null=True)
    group_name = TextField(null=True)
    street = TextField(null=True)
    house_no = TextField(null=True)
    category = TextField(null=True, constraints=[one_of("category", CATEGORIES)])
    scale_mu = DoubleField(null=True)
    livestock_head = IntegerField(null=True)
    annual_turnover_wan = DoubleField(null=True)
    assets_wan = DoubleField(null=True)
    debts_wan = DoubleField(null=True)
    net_income_wan = DoubleField(null=True)
    deposit_balance_wan = DoubleField(default=0, constraints=[default("0")])
    loan_balance_wan = DoubleField(default=0, constraints=[default("0")])
    credit_rating = TextField(null=True, constraints=[one_of("credit_rating", CREDIT_RATINGS)])
    products_elsewhere = TextField(default="", constraints=[default("''")])
    consent = BooleanField(default=False, constraints=[default("FALSE")])
    consent_on = DateField(null=True)
    consent_via = TextField(null=True, constraints=[one_of("consent_via", CONSENT_WAYS)])
    lat = DoubleField(null=True)
    lng = DoubleField(null=True)
    position_source = TextField(null=True, constraints=[one_of("position_source", POSITION_SOURCES)])
    position_confirmed = BooleanField(default=True, constraints=[default("TRUE")])
    tier = TextField(default="potential", constraints=[one_of("tier", TIERS), default("'potential'")])
    tier_rule = TextField(null=True)
    status = TextField(default="active", constraints=[one_of("status", STATUSES), default("'active'")])
    created_at = created_at_field()
    updated_at = DateTimeField(default=clock.now, constraints=[default("CURRENT_TIMESTAMP")])

    class Meta:
        indexes = (
            (("territory", "tier"), False),
            (("branch", "status"), False),
            (("phone",), False),
        )

    @classmethod
    def visible_to(cls, user):
        """Customers this user may see (the one scoping rule of DESIGN.md)."""
        from app.models.scope import customer_scope

        return cls.select().where(customer_scope(user))

    def move_to(self, lat, lng, source="fix"):
        """Set the customer's position and the territory holding it, in one write.

        Creating a customer with a position and moving one both end here, so the
        territory never disagrees with the position.
        """
        from app.db import database
        from app.models.territory import place_customer

        self.lat, self.lng, self.position_source = lat, lng, source
        self.updated_at = clock.now()
        with database.atomic():
            place_customer(self)
            self.save()
        return self

    @staticmethod
    def search(text):
        """Match a name, or the tail of a phone number when the text is digits."""
        if text.isdigit():
            return Customer.phone.endswith(text)
        return Customer.name.contains(text) | Customer.village.contains(text)

    @property
    def business_volume_wan(self):
        return (self.deposit_balance_wan or 0) + (self.loan_balance_wan or 0)

    @property
    def masked_phone(self):
        return mask_phone(self.phone)


def mask_phone(phone):
    """138****5678: what lists show of a phone number."""
    if not phone:
        return ""
    return phone[:3] + "****" + phone[-4:] if len(phone) >= 8 else "****"


def compute_tier(customer):
    """Gold / mass / potential from business volume, credit rating and scale.

    A first fixed rule set; the settings page makes the thresholds the bank's own.
    Returns (tier, the rule that gave it).
    """
    volume = customer.business_volume_wan
    rating = customer.credit_rating
    if volume >= 50 or (rating == "AAA" and volume >= 20):
        return "gold", "business volume ≥ 50 万元, or AAA with ≥ 20 万元"
    if volume >= 5 or rating in ("AAA", "AA", "A") or (customer.scale_mu or 0) >= 20:
        return "mass", "business volume ≥ 5 万元, a rating of A or better, or ≥ 20 亩"
    return "potential", "none of the above"


class CustomerMember(BaseModel):
    customer = ForeignKeyField(Customer, backref="members", on_delete="CASCADE")
    relation = TextField()
    name = TextField()
    occupation = TextField(null=True)
    phone = TextField(null=True)


class Holding(BaseModel):
    """A product the customer holds with us."""

    customer = ForeignKeyField(Customer, backref="holdings", on_delete="CASCADE")
    product = ForeignKeyField(Product, backref="holdings", on_delete="RESTRICT")
    since = DateField(null=True)
    amount_wan = DoubleField(null=True)
    reference = TextField(null=True)  # account or contract number, where the bank gave one

    class Meta:
        indexes = ((("customer", "product"), True),)
