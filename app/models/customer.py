"""Customers (农户 / 商户 / 企业) and their archive (建档)."""
import datetime as dt

from peewee import (JOIN, BooleanField, DateField, DateTimeField, DoubleField, ForeignKeyField,
                    IntegerField, TextField, fn)

from app import clock, crypto
from app.crypto import mask_phone
from app.models.base import BaseModel, created_at_field, default, one_of
from app.models.org import Branch, User
from app.models.product import Product
from app.models.territory import Territory
from app.models.vocabulary import CUSTOMER_KINDS, TIERS

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
    core_no = TextField(null=True, index=True)  # the core-banking system's customer number
    refreshed_on = DateField(null=True)  # business date of the last core-banking refresh

    class Meta:
        indexes = (
            (("territory", "tier"), False),
            (("branch", "status"), False),
            (("phone",), False),
            # Covering index of the walk list and the coverage counter: a manager's ~5,000
            # customers are scattered over the table, and reading them from the index alone
            # spares thousands of random page reads on every Today view.
            (("territory", "status", "consent", "kind", "tier", "village", "group_name", "lat", "lng",
              "name"), False),
        )

    @classmethod
    def visible_to(cls, user, day=None):
        """Customers this user may see (the one scoping rule of DESIGN.md); a manager's by the
        territories assigned to them on day (today by default)."""
        from app.models.scope import customer_scope

        return cls.select().where(customer_scope(user, day))

    # --- the customers of a territory: one definition -------------------------------------

    @classmethod
    def present(cls):
        """The condition "still there": not moved away or closed (status active)."""
        return cls.status == "active"

    @classmethod
    def counted(cls, kinds):
        """The condition coverage counts by: present, of the bank's counted kinds
        (setting.counted_kinds), and not withdrawn from contact (consent)."""
        return cls.present() & cls.kind.in_(tuple(kinds)) & cls.consent

    @classmethod
    def of_territories(cls, territory_ids, customers=None, kinds=None):
        """The customers of each of the territories (a list of ids, or a query selecting them):
        placed in the territory or anywhere below it (by path) and present; with kinds, only
        the counted ones (`counted`), the population of coverage.

        Returns (query, territory id): the query on Customer joined to the territory holding
        each customer (one row per customer and such territory), and the column to select
        and group by. customers is the query on Customer to start from, normally
        `visible_to(user)`, so the scope is never written again. Customers take today's
        territory: the reports issue keeps history.
        """
        area, placed = Territory.alias("area"), Territory.alias("placed")
        # The few (territory, territory below it) pairs first, then each customer once. DISTINCT
        # (the pairs are distinct anyway) keeps SQLite from flattening the pairs into the outer
        # join, which compared every customer's path with every territory's: 10× slower.
        held = (area.select(area.id.alias("territory_id"), placed.id.alias("placed_id")).distinct()
                .join(placed, on=(fn.substr(placed.path, 1, fn.length(area.path)) == area.path))
                .where(area.id.in_(territory_ids))).alias("held")
        query = customers if customers is not None else cls.select()
        query = (query.join(held, on=(cls.territory == held.c.placed_id))
                 .where(cls.counted(kinds) if kinds is not None else cls.present()))
        return query, held.c.territory_id

    @classmethod
    def counts_by_territory(cls, territory_ids, customers=None, kinds=None):
        """{territory id: number of its customers (of_territories)} for the given ids, in one
        query; a territory without any is left out."""
        territory_ids = list(territory_ids)
        if not territory_ids:
            return {}
        query, territory_id = cls.of_territories(territory_ids, customers, kinds)
        return dict(query.select(territory_id, fn.COUNT(cls.id)).group_by(territory_id).order_by().tuples())

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
        """Match a name, village or group, or the tail of a phone number when the text is digits."""
        if text.isdigit():
            return Customer.phone.endswith(text)
        return (Customer.name.contains(text) | Customer.village.contains(text)
                | Customer.group_name.contains(text))

    @classmethod
    def listing(cls, user, q="", tier=None, territory=None, kind=None, last_visit=None):
        """The Customers tab: the user's scope, searched and filtered, with each one's last visit.

        territory is a Territory in the user's scope (its whole subtree counts);
        last_visit is "never" or "stale" (no visit in the last 30 days, never included).
        """
        from app.models.visit import Visit

        last = (Visit.select(Visit.customer.alias("cid"), fn.MAX(Visit.made_at).alias("last_at"))
                .group_by(Visit.customer).alias("last"))
        query = (cls.visible_to(user)
                 .select_extend(Territory.name.alias("territory_name"), last.c.last_at.alias("last_visit_at"))
                 .join(Territory, JOIN.LEFT_OUTER, on=(cls.territory == Territory.id))
                 .join(last, JOIN.LEFT_OUTER, on=(cls.id == last.c.cid)))
        if q:
            query = query.where(cls.search(q))
        if tier:
            query = query.where(cls.tier == tier)
        if kind:
            query = query.where(cls.kind == kind)
        if territory is not None:
            query = query.where(Territory.path.startswith(territory.path))
        if last_visit == "never":
            query = query.where(last.c.last_at.is_null())
        elif last_visit == "stale":
            since = clock.now() - dt.timedelta(days=30)
            query = query.where(last.c.last_at.is_null() | (last.c.last_at < since))
        return query.order_by(cls.village, cls.group_name, cls.name, cls.id).objects()

    @property
    def last_visit(self):
        """The listing's last visit as a datetime (SQLite hands MAX() back as text)."""
        value = getattr(self, "last_visit_at", None)
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return value

    @property
    def last_visit_day(self):
        """The business date (Asia/Shanghai) of the last visit."""
        return None if self.last_visit is None else clock.to_local(self.last_visit).date()

    @property
    def days_since_visit(self):
        return None if self.last_visit is None else (clock.today() - self.last_visit_day).days

    @property
    def business_volume_wan(self):
        return (self.deposit_balance_wan or 0) + (self.loan_balance_wan or 0)

    @classmethod
    def recompute_tiers(cls, bank, rules):
        """Every customer of the bank under these rules; call inside the rules' transaction.

        One UPDATE per (tier, rule) outcome rather than one per customer.
        """
        outcomes = {}
        rows = (cls.select(cls.id, cls.deposit_balance_wan, cls.loan_balance_wan, cls.credit_rating,
                           cls.scale_mu, cls.tier, cls.tier_rule)
                .where(cls.branch.in_(bank.subtree().select(Branch.id))))
        for c in rows:
            outcome = compute_tier(c, rules)
            if outcome != (c.tier, c.tier_rule):
                outcomes.setdefault(outcome, []).append(c.id)
        for (tier, rule), ids in outcomes.items():
            for start in range(0, len(ids), 500):  # SQLite's bound-parameter limit
                cls.update(tier=tier, tier_rule=rule).where(cls.id.in_(ids[start:start + 500])).execute()
        return sum(len(ids) for ids in outcomes.values())

    @property
    def masked_phone(self):
        return mask_phone(self.phone)

    @property
    def id_number(self):
        """The ID number in clear: only for the audited full view."""
        return crypto.decrypt_id(self.id_number_cipher)

    @property
    def masked_id(self):
        return crypto.mask_id(self.id_number)

    def set_id_number(self, number):
        """Keep an ID number encrypted, with its keyed hash for duplicate look-ups."""
        if number:
            number = crypto.validate_id_number(number)
            self.id_number_cipher = crypto.encrypt_id(number)
            self.id_number_hash = crypto.hash_id(number)
        else:
            self.id_number_cipher = self.id_number_hash = None

    def update_archive(self, user, fields, id_number=None, products=None):
        """The one write path for editing an archive: each changed field kept in the history.

        A blank id_number leaves the stored one as it is; changes to it and to the phone
        are recorded masked, so the history never holds either in clear.
        """
        from app.db import database

        with database.atomic():
            changes = []
            for name, new in fields.items():
                old = getattr(self, name)
                if _shown(old) != _shown(new):
                    if name == "phone":  # the history is read by many: masked, as the ID number
                        changes.append((name, mask_phone(old) or None, mask_phone(new) or None))
                    else:
                        changes.append((name, _shown(old), _shown(new)))
                    setattr(self, name, new)
            if id_number and id_number != self.id_number:
                old = self.masked_id or None
                self.set_id_number(id_number)
                changes.append(("id_number", old, self.masked_id))
            if products is not None:
                change = self._set_products(products)
                if change:
                    changes.append(change)
            if changes:
                self.tier, self.tier_rule = compute_tier(self, bank_rules(self.branch_id))
                self.updated_at = clock.now()
                self.save()
                CustomerChange.insert_many(
                    [{"customer": self.id, "user": user.id, "field": f, "old": o, "new": n}
                     for f, o, n in changes]).execute()
            return changes

    def add_member(self, user, relation, name, occupation=None):
        """A family member, recorded in the customer's history."""
        from app.db import database

        with database.atomic():
            member = CustomerMember.create(customer=self.id, relation=relation, name=name,
                                           occupation=occupation or None)
            CustomerChange.create(customer=self.id, user=user.id, field="member",
                                  new=f"{relation} {name}")
            return member

    def remove_member(self, user, member_id):
        from app.db import database

        with database.atomic():
            member = CustomerMember.get_or_none((CustomerMember.id == member_id)
                                                & (CustomerMember.customer == self.id))
            if member is None:
                return False
            member.delete_instance()
            CustomerChange.create(customer=self.id, user=user.id, field="member",
                                  old=f"{member.relation} {member.name}")
            return True

    def _set_products(self, product_ids):
        """Holdings for exactly these products (of the customer's bank); (field, old, new) or None."""
        bank = Branch.get_by_id(self.branch_id).bank
        wanted = {p.id: p for p in Product.select().where(Product.id.in_(list(product_ids)),
                                                            Product.bank == (bank.id if bank else None))}
        held = {h.product_id: h for h in Holding.select(Holding, Product).join(Product)
                .where(Holding.customer == self.id)}
        if set(wanted) == set(held):
            return None
        old = "、".join(sorted(h.product.name for h in held.values())) or None
        Holding.delete().where((Holding.customer == self.id)
                               & Holding.product.not_in(list(wanted) or [0])).execute()
        for product_id in set(wanted) - set(held):
            Holding.create(customer=self.id, product=product_id)
        return ("products", old, "、".join(sorted(p.name for p in wanted.values())) or None)

    @classmethod
    def add_archive(cls, user, territory, fields, id_number=None, products=None):
        """The one write path for a new archive, placed in one of the user's territories."""
        from app.db import database

        with database.atomic():
            customer = cls(branch=territory.branch_id, territory=territory.id,
                           position_source=None, **fields)
            customer.set_id_number(id_number)
            customer.tier, customer.tier_rule = compute_tier(customer, bank_rules(customer.branch_id))
            customer.save()
            if products:
                customer._set_products(products)
            CustomerChange.create(customer=customer.id, user=user.id, field="created", new=customer.name)
            return customer

    @classmethod
    def duplicates(cls, user, phone=None, id_number=None, exclude=None):
        """Customers of the user's bank with this phone or ID number (matched through its hash)."""
        from app.models.scope import bank_scope

        matches = []
        if phone:
            matches.append(cls.phone == phone)
        if id_number:
            matches.append(cls.id_number_hash == crypto.hash_id(id_number))
        if not matches:
            return cls.select().where(cls.id.is_null())
        condition = matches[0] if len(matches) == 1 else (matches[0] | matches[1])
        query = cls.select().where(bank_scope(user, cls.branch) & condition)
        if exclude is not None:
            query = query.where(cls.id != exclude)
        return query.order_by(cls.id)


def _shown(value):
    """A value as the history stores it: text, or None for blank."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def compute_tier(customer, rules=None):
    """(tier, code of the rule that gave it) under the bank's rules (the defaults when None)."""
    from app.models.tier import DEFAULT_RULES, ordered, tier_of

    return tier_of(customer, rules if rules is not None else ordered(DEFAULT_RULES))


def bank_rules(branch_id):
    """The tier rules of the bank a branch belongs to."""
    from app.models.tier import TierRule

    bank = Branch.get_by_id(branch_id).bank
    return TierRule.for_bank(bank.id if bank else None)


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


class CustomerChange(BaseModel):
    """One field of one customer changed by one user: the customer's history."""

    customer = ForeignKeyField(Customer, backref="changes", on_delete="CASCADE")
    user = ForeignKeyField(User, null=True, backref="customer_changes", on_delete="SET NULL")
    at = created_at_field()
    field = TextField()
    old = TextField(null=True)  # ID numbers are kept masked here, never in clear
    new = TextField(null=True)

    class Meta:
        indexes = ((("customer", "at"), False),)

    @classmethod
    def of(cls, customer):
        return cls.select().where(cls.customer == customer).order_by(cls.at.desc(), cls.id.desc())
