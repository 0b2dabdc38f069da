"""Customers (农户 / 商户 / 企业) and their archive (建档)."""
import datetime as dt
from types import SimpleNamespace

from flask_babel import lazy_gettext as _l
from peewee import (BooleanField, DateField, DateTimeField, DoubleField, ForeignKeyField,
                    IntegerField, TextField, fn)

from app import clock, crypto
from app.crypto import mask_phone
from app.db import database
from app.db_bulk import bulk_insert
from app.models.base import BaseModel, created_at_field, default, one_of
from app.models.consent import (CONSENT_WAYS, LEGAL_BASES, SENSITIVE_WAYS, grounds_problems, member_problems,
                                sensitive_entered, sensitive_problem)
from app.models.org import Branch, User
from app.models.prepared import Prepared
from app.models.product import Product
from app.models.refused import Refused
from app.models.scope import bank_scope, records, usable
from app.models.customer_fields import maturity_problem
from app.models.territory import Assignment, Territory, assigned_territory_ids, place_customer
from app.models.tier import DEFAULT_RULES, TierRule, ordered, tier_of
from app.models.vocabulary import CUSTOMER_KINDS, TIERS

CATEGORIES = ("planting", "breeding", "trade", "labour", "enterprise", "other")
CREDIT_RATINGS = ("AAA", "AA", "A", "B", "C")
POSITION_SOURCES = ("surveyed", "fix", "import")
STATUSES = ("active", "moved", "closed")
GROUND_FIELDS = ("sensitive_consent", "sensitive_consent_on", "sensitive_consent_via", "legal_basis",
                 "legal_basis_on")
PHONE_TAIL = 4  # the digits of a phone a search may give short of the whole number


def is_phone_search(text):
    """(whether text searches phones, whether it is a searchable one: 11 digits or the last 4)."""
    digits = text.isdigit()
    return digits, digits and len(text) in (11, PHONE_TAIL)


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
    # Sensitive data's own grounds (models/consent.py): a separate consent, or a legal basis.
    sensitive_consent = BooleanField(default=False, constraints=[default("FALSE")])
    sensitive_consent_on = DateField(null=True)
    sensitive_consent_via = TextField(null=True, constraints=[one_of("sensitive_consent_via", SENSITIVE_WAYS)])
    legal_basis = TextField(null=True, constraints=[one_of("legal_basis", LEGAL_BASES)])
    legal_basis_on = DateField(null=True)
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
    # Raised by each edit through update_archive; an edit form carries the version it was read
    # at, so a save applies what nobody else changed since and refuses a field changed by both.
    version = IntegerField(default=1, constraints=[default("1")])

    class Meta:
        indexes = (
            (("territory", "tier"), False),
            (("branch", "status"), False),
            (("phone",), False),
            # Covering index of the walk list and the coverage counter: a manager's ~5,000
            # customers are scattered over the table, and reading them from the index alone
            # spares thousands of random page reads on every Today view.
            (("territory", "status", "consent", "kind", "tier", "village", "group_name", "lat", "lng",
              "name", "branch"), False),  # branch: a team lead's scope, read from the index too
        )

    @classmethod
    def visible_to(cls, user, day=None):
        """Customers this user may see (the one scoping rule of DESIGN.md); a manager's by the
        territories assigned to them on day (today by default)."""
        return cls.select().where(cls.scope(user, day))

    @classmethod
    def scope(cls, user, day=None):
        """The condition of visible_to: scope.records on the customer's branch and territory."""
        return records(user, cls.branch,
                       assigned=lambda u: cls.territory.in_(assigned_territory_ids(u, day)))

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
    def branch_figures(cls, customers, kinds):
        """概览's figures by branch, in one grouped query over `customers` (a scope):
        {branch id: {"tiers": {tier: n} of the counted customers (`counted(kinds)`),
        "counted": n, "left_out": {reason: n}, "all": n, "deposit_wan": sum, "loan_wan": sum}}.

        Every customer counts once, so counted + left out = all: the reason is the first
        that applies of its kind not counted (the kind itself: "enterprise", …), gone
        ("moved", "closed"), or not consenting ("no_consent"). Balances are every customer's.
        """
        figures = {}
        query = (customers.select(cls.branch, cls.kind, cls.status, cls.consent, cls.tier, fn.COUNT(cls.id),
                                  fn.SUM(cls.deposit_balance_wan), fn.SUM(cls.loan_balance_wan))
                 .group_by(cls.branch, cls.kind, cls.status, cls.consent, cls.tier).order_by())
        for branch, kind, status, consent, tier, n, deposit, loan in query.tuples():
            f = figures.setdefault(branch, {"tiers": {}, "counted": 0, "left_out": {}, "all": 0,
                                            "deposit_wan": 0.0, "loan_wan": 0.0})
            f["all"] += n
            f["deposit_wan"] += deposit or 0
            f["loan_wan"] += loan or 0
            reason = kind if kind not in kinds else status if status != "active" else None if consent else "no_consent"
            if reason is None:
                f["tiers"][tier] = f["tiers"].get(tier, 0) + n
                f["counted"] += n
            else:
                f["left_out"][reason] = f["left_out"].get(reason, 0) + n
        return figures

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
        self.lat, self.lng, self.position_source = lat, lng, source
        self.updated_at = clock.now()
        with database.atomic():
            place_customer(self)
            self.save()
        return self

    @staticmethod
    def search(text):
        """Match a name, village or group; digits match a phone only whole or by its last 4.

        Any other tail would read a masked number back a digit at a time (issue 15: ever
        longer suffixes gave the whole number in about 20 searches); the last 4 are shown
        on every masked phone anyway. Views audit phone searches (is_phone_search).
        """
        if text.isdigit():
            if len(text) == 11:
                return Customer.phone == text
            if len(text) == PHONE_TAIL:
                return Customer.phone.endswith(text)
            return Customer.id.is_null()  # matches nothing: is_phone_search says why
        return (Customer.name.contains(text) | Customer.village.contains(text)
                | Customer.group_name.contains(text))

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

    def update_archive(self, user, fields, id_number=None, products=None, confirmed=False, base_version=None):
        """The one write path for editing an archive: each changed field kept in the history.

        A blank id_number leaves the stored one as it is; changes to it and to the phone
        are recorded masked, so the history never holds either in clear. A new ID number
        already on another archive of the bank is refused (one person, one archive):
        Refused with code "conflict", errors["id_number"] and choices["customers"]. A new
        phone on other archives is refused the same way (without the id_number error)
        unless confirmed says the user knows it is a different person. An archive outside
        the user's scope (holds_customer) is Refused with code "not_found", whichever
        path calls this.

        base_version is the archive's version the form was read at (None: the values are
        meant against the archive as it is now, e.g. a lead's signing). Fields nobody
        changed since are applied; a field someone else changed since is left as they set
        it when this edit did not change it, and when both changed it differently the save
        is Refused with code "conflict", errors by field, choices["fields"] (each with its
        "field", "theirs" and "mine"), choices["theirs"] (the fields others changed that
        this edit left alone: a form shown again takes their values) and
        choices["version"], the version to save against once the user has chosen. A save
        racing another one is refused the same with code "changed_meanwhile" (the version
        is claimed in the UPDATE).
        """
        if not holds_customer(user, self):
            raise Refused.not_found()
        fields = dict(fields)
        id_number = (id_number or "").strip() or None
        if id_number:
            try:
                id_number = crypto.validate_id_number(id_number)
            except crypto.InvalidIdNumber as error:  # a form's check skipped (blank-looking text)
                raise Refused({"id_number": _l(str(error))}) from None
        if base_version is not None and base_version != self.version:
            fields, id_number, products = self._rebase(fields, id_number, products, base_version)
        grounds = {name: fields.get(name, getattr(self, name)) for name in GROUND_FIELDS}
        problems = grounds_problems(grounds)
        problems.update(sensitive_problem(grounds, sensitive_entered(
            fields, id_number if id_number and id_number != self.id_number else None, old=self)))
        if problems:
            raise Refused(problems, code="no_basis")
        if id_number and id_number != self.id_number:
            taken = list(Customer.duplicates(user, id_number=id_number, exclude=self.id))
            if taken:
                raise Refused.conflict(
                    errors={"id_number": _l("This ID number is already on another archive in the bank")},
                    customers=taken)
        if not confirmed and fields.get("phone") and fields["phone"] != self.phone:
            same_phone = list(Customer.duplicates(user, phone=fields["phone"], exclude=self.id))
            if same_phone:
                raise Refused.conflict(_l("This phone or ID number is already in the bank's archives"),
                                       customers=same_phone)
        with database.atomic():
            changes, written = [], set()
            for name, new in fields.items():
                old = getattr(self, name)
                if _shown(old) != _shown(new):
                    if name == "phone":  # the history is read by many: masked, as the ID number
                        changes.append((name, mask_phone(old) or None, mask_phone(new) or None))
                    else:
                        changes.append((name, _shown(old), _shown(new)))
                    setattr(self, name, new)
                    written.add(name)
            if id_number and id_number != self.id_number:
                old = self.masked_id or None
                self.set_id_number(id_number)
                changes.append(("id_number", old, self.masked_id))
                written |= {"id_number_cipher", "id_number_hash"}
            if products is not None:
                change = self._set_products(products)
                if change:
                    changes.append(change)
            if changes:
                self.tier, self.tier_rule = compute_tier(self, bank_rules(self.branch_id))
                self.updated_at = clock.now()
                base, self.version = self.version, self.version + 1
                values = {name: getattr(self, name)
                          for name in written | {"tier", "tier_rule", "updated_at", "version"}}
                # Only the columns this edit changed, and only over the version it was judged
                # against: a save committed meanwhile makes this one a conflict, never a revert.
                if not Customer.update(values).where((Customer.id == self.id)
                                                     & (Customer.version == base)).execute():
                    raise Refused(message=_l("Someone saved this archive meanwhile: nothing was "
                                             "saved. Check it and save again."), code="changed_meanwhile")
                CustomerChange.insert_many(
                    [{"customer": self.id, "user": user.id, "field": f, "old": o, "new": n,
                      "version": self.version} for f, o, n in changes]).execute()
            return changes

    def _rebase(self, fields, id_number, products, base_version):
        """(fields, id_number, products) of an edit read at base_version, against the archive now.

        What others changed since (the history's lines of later versions) stays as they set
        it unless this edit changed it too; changed by both to different values → Refused.
        """
        since = {}
        for change in (CustomerChange.select().where((CustomerChange.customer == self.id)
                                                     & (CustomerChange.version > base_version))
                       .order_by(CustomerChange.id)):
            since.setdefault(change.field, change.old)  # the value the form was read with
        kept, clashes, theirs = {}, [], []
        for name, mine in fields.items():
            if name not in since or _shown(mine) == _shown(getattr(self, name)):
                kept[name] = mine
            elif name == "phone" or _shown(mine) != since[name]:  # a phone typed is a change
                shown = (lambda v: mask_phone(v) or None) if name == "phone" else _shown
                clashes.append((name, shown(getattr(self, name)), shown(mine)))
            else:
                theirs.append(name)
        if id_number and "id_number" in since and id_number != self.id_number:
            clashes.append(("id_number", self.masked_id or None, crypto.mask_id(id_number)))
        if products is not None and "products" in since:
            bank = Branch.get_by_id(self.branch_id).bank
            mine = _product_names(products, bank)
            now = _product_names([h.product_id for h in Holding.select(Holding.product)
                                  .where(Holding.customer == self.id)], bank)
            if mine == now or mine == since["products"]:
                products = None  # the same as theirs, or left as read: theirs stays
                theirs.append("products")
            else:
                clashes.append(("products", now, mine))
        if clashes:
            raise Refused.conflict(
                _l("Someone else changed this archive since you opened it: choose each value "
                   "marked below and save again."),
                errors={name: _l("Changed meanwhile to %(theirs)s; you entered %(mine)s.",
                                 theirs=now or "—", mine=mine or "—") for name, now, mine in clashes},
                fields=[{"field": name, "theirs": now, "mine": mine} for name, now, mine in clashes],
                version=self.version, theirs=theirs)
        return kept, id_number, products

    def set_maturity(self, user, holding_id, matures_on):
        """The one write path of a holding's maturity (到期日), or None to clear it: a term
        deposit or a loan of this customer; refused with the reason (customer_fields.
        maturity_problem) when it is before the start or beyond 30 years. Returns the holding."""
        with database.atomic():
            holding = (Holding.select(Holding, Product).join(Product)
                       .where(Holding.id == holding_id, Holding.customer == self.id).first())
            if holding is None:
                raise Refused.not_found()
            if holding.product.kind not in ("deposit", "loan"):
                raise Refused({"matures_on": _l("Only a term deposit or a loan has a maturity date.")})
            problem = maturity_problem(holding.since, matures_on, clock.today())
            if problem:
                raise Refused({"matures_on": problem})
            if holding.matures_on != matures_on:
                CustomerChange.create(customer=self.id, user=user.id, field="matures_on",
                                      old=f"{holding.product.name} {holding.matures_on or '—'}",
                                      new=f"{holding.product.name} {matures_on or '—'}")
                holding.matures_on = matures_on
                holding.save(only=[Holding.matures_on])
            return holding

    def add_member(self, user, relation, name, occupation=None, minor=False, guardian_consent_on=None):
        """A family member, recorded in the customer's history; Refused without a relation or name,
        without the archive's ground for sensitive data, or a minor without a guardian's consent."""
        relation, name, occupation = (relation or "").strip(), (name or "").strip(), (occupation or "").strip()
        errors = member_problems({name: getattr(self, name) for name in GROUND_FIELDS}, minor, guardian_consent_on)
        if guardian_consent_on and guardian_consent_on > clock.today():
            errors["guardian_consent_on"] = _l("This date is in the future.")
        if not relation or len(relation) > 20:
            errors["relation"] = _l("Enter the relation, e.g. spouse.")
        if not name or len(name) > 40:
            errors["member_name"] = _l("Enter a name.")
        if errors:
            raise Refused(errors)
        with database.atomic():
            member = CustomerMember.create(customer=self.id, relation=relation, name=name,
                                           occupation=occupation or None, minor=bool(minor),
                                           guardian_consent_on=guardian_consent_on if minor else None)
            CustomerChange.create(customer=self.id, user=user.id, field="member",
                                  new=f"{relation} {name}")
            return member

    def remove_member(self, user, member_id):
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
    def add_archive(cls, user, territory, fields, id_number=None, products=None, confirmed=False):
        """The one write path for a new archive, placed in one of the user's territories.

        A phone or ID number already on archives of the user's bank is refused (Refused
        with code "conflict" and choices["customers"], ordered by id) unless confirmed
        says the user knows it is a different customer. Sensitive data without its ground
        (models/consent.py) is Refused with code "no_basis".
        """
        problems = grounds_problems(fields)
        problems.update(sensitive_problem(fields, sensitive_entered(fields, id_number)))
        if problems:
            raise Refused(problems, code="no_basis")
        if not confirmed and (fields.get("phone") or id_number):
            same = list(cls.duplicates(user, phone=fields.get("phone"), id_number=id_number))
            if same:
                raise Refused.conflict(_l("This phone or ID number is already in the bank's archives"),
                                       customers=same)
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

    @classmethod
    def add_archives(cls, user, archives, history=True):
        """add_archive for many new archives at once, in one transaction (the demo county's
        100,000): each one checked and tiered as add_archive does it, written in multi-row
        INSERTs. Returns the new ids in the order of archives.

        Each archive is a dict: territory (a Territory), fields (as add_archive takes them,
        and a surveyed position: lat, lng, position_source), id_number (validated, kept
        encrypted with its hash), members (dicts of CustomerMember's fields) and holdings
        (dicts of Holding's fields; products of the customer's bank). history=False writes
        no "created" line: for archives that arrive as if long kept, with no history here.
        """
        fernet, now = crypto.id_cipher(), clock.now()
        rules, offered, records = {}, {}, []
        for archive in archives:
            branch_id = archive["territory"].branch_id
            if branch_id not in rules:
                bank = Branch.get_by_id(branch_id).bank
                rules[branch_id] = bank_rules(branch_id)
                offered[branch_id] = {p for (p,) in Product.select(Product.id)
                                      .where(Product.bank == (bank.id if bank else None)).tuples()}
            record = {"branch": branch_id, "territory": archive["territory"].id, "created_at": now,
                      "updated_at": now, **archive["fields"]}
            number = archive.get("id_number")
            if number:
                number = crypto.validate_id_number(number)
                record["id_number_cipher"] = crypto.encrypt_id(number, fernet)
                record["id_number_hash"] = crypto.hash_id(number)
            tiered = SimpleNamespace(business_volume_wan=(record.get("deposit_balance_wan") or 0)
                                     + (record.get("loan_balance_wan") or 0),
                                     credit_rating=record.get("credit_rating"), scale_mu=record.get("scale_mu"))
            record["tier"], record["tier_rule"] = compute_tier(tiered, rules[branch_id])
            problems = grounds_problems(archive["fields"])
            problems.update(sensitive_problem(archive["fields"], sensitive_entered(archive["fields"], number)))
            for member in archive.get("members", ()):
                problems.update(member_problems(archive["fields"], member.get("minor"),
                                                member.get("guardian_consent_on")))
            if problems:
                raise ValueError(f"{record.get('name')}: sensitive data without its ground: {sorted(problems)}")
            if any(h["product"] not in offered[branch_id] for h in archive.get("holdings", ())):
                raise ValueError(f"{record.get('name')}: a holding of a product the bank does not offer")
            records.append(record)
        with cls._meta.database.atomic():
            ids = bulk_insert(cls, records, returning=True)
            bulk_insert(CustomerMember, [{"customer": i, **m} for i, a in zip(ids, archives)
                                          for m in a.get("members", ())])
            bulk_insert(Holding, [{"customer": i, **h} for i, a in zip(ids, archives)
                                   for h in a.get("holdings", ())])
            if history:
                bulk_insert(CustomerChange, [{"customer": i, "user": user.id, "at": now, "field": "created",
                                               "new": r["name"]} for i, r in zip(ids, records)])
        return ids


def _product_names(product_ids, bank):
    """The products as the history writes them: the names of the bank's ones, sorted, or None."""
    names = [p.name for p in Product.select(Product.name).where(
        Product.id.in_(list(product_ids) or [0]), Product.bank == (bank.id if bank else None))]
    return "、".join(sorted(names)) or None


def _shown(value):
    """A value as the history stores it: text, or None for blank."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def holds_customer(user, customer, days=()):
    """Whether the user's scope holds this customer today or on any of the given days.

    Customer.scope's rule, checked for one customer with indexed look-ups instead of a
    join over the territory tree: the check-in path runs it on every post. customer
    needs branch_id and territory_id (territory_path too saves a query).
    """
    if not usable(user):
        return False
    if user.role != "manager":
        path = _BRANCH_PATH.scalar(branch_id=customer.branch_id)
        return path is not None and path.startswith(user.branch.path)
    if customer.territory_id is None:
        return False
    path = getattr(customer, "territory_path", None) or Territory.select(Territory.path).where(
        Territory.id == customer.territory_id).scalar()
    checked = {clock.today(), *days}
    first, last = min(checked), max(checked)
    assigned = _ASSIGNED_PATHS(user_id=user.id, first=first, last=last)
    return any(path.startswith(prefix)
               and any(_on_or_before(starts, day) and (ends is None or _on_or_before(day, ends))
                       for day in checked)
               for prefix, starts, ends in assigned)


# The check-in path runs these on every post: their SQL is built once.
_BRANCH_PATH = Prepared("branch_path", lambda p: Branch.select(Branch.path).where(Branch.id == p.branch_id))
_ASSIGNED_PATHS = Prepared(
    "assigned_paths",
    lambda p: (Assignment.select(Territory.path, Assignment.starts_on, Assignment.ends_on)
               .join(Territory, on=(Assignment.territory == Territory.id))
               .where((Assignment.user == p.user_id) & (Assignment.starts_on <= p.last)
                      & (Assignment.ends_on.is_null() | (Assignment.ends_on >= p.first)))))


def _on_or_before(a, b):
    """a <= b for dates that SQLite may hand back as text."""
    return str(a) <= str(b)


def compute_tier(customer, rules=None):
    """(tier, code of the rule that gave it) under the bank's rules (the defaults when None)."""
    return tier_of(customer, rules if rules is not None else ordered(DEFAULT_RULES))


def bank_rules(branch_id):
    """The tier rules of the bank a branch belongs to."""
    bank = Branch.get_by_id(branch_id).bank
    return TierRule.for_bank(bank.id if bank else None)


class CustomerMember(BaseModel):
    customer = ForeignKeyField(Customer, backref="members", on_delete="CASCADE")
    relation = TextField()
    name = TextField()
    occupation = TextField(null=True)
    phone = TextField(null=True)
    minor = BooleanField(default=False, constraints=[default("FALSE")])  # under 14 (PIPL art. 31)
    guardian_consent_on = DateField(null=True)


class Holding(BaseModel):
    """A product the customer holds with us."""

    customer = ForeignKeyField(Customer, backref="holdings", on_delete="CASCADE")
    product = ForeignKeyField(Product, backref="holdings", on_delete="RESTRICT")
    since = DateField(null=True)
    amount_wan = DoubleField(null=True)
    reference = TextField(null=True)  # account or contract number, where the bank gave one
    matures_on = DateField(null=True)  # a term deposit's or a loan's maturity (到期日)

    class Meta:
        # (customer, matures_on): Today's 到期提醒 probes it from the manager's customers.
        indexes = ((("customer", "product"), True), (("customer", "matures_on"), False))


class CustomerChange(BaseModel):
    """One field of one customer changed by one user: the customer's history."""

    customer = ForeignKeyField(Customer, backref="changes", on_delete="CASCADE")
    user = ForeignKeyField(User, null=True, backref="customer_changes", on_delete="SET NULL")
    at = created_at_field()
    field = TextField()
    old = TextField(null=True)  # ID numbers are kept masked here, never in clear
    new = TextField(null=True)
    version = IntegerField(null=True)  # the archive's version this change made (update_archive's)

    class Meta:
        indexes = ((("customer", "at"), False),)

    @classmethod
    def of(cls, customer):
        return cls.select().where(cls.customer == customer).order_by(cls.at.desc(), cls.id.desc())
