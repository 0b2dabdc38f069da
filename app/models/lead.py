"""Leads (营销线索): prospects for a product, new → contacted → qualified → won / lost.

`Lead.capture` is the one write path for a new lead (the capture form and the demo
call it). Every later change goes through `move`, `reopen`, `reassign` or `add_note`,
and each leaves a `LeadEvent` (who, when, from, to). Each refuses with one `Refused`
(models/refused.py) listing every problem: code "not_found" for a customer or visit
outside the scope, "forbidden" for a user who may read the lead but not work it,
"conflict" with choices for duplicates. Winning a lead for someone without an archive
is planned in models/lead_archive.py; the lists and the funnel read leads in
models/lead_funnel.py.
"""
import datetime as dt
import re
import uuid as uuidlib

from flask_babel import lazy_gettext as _l
from peewee import (BooleanField, Case, fn, DateField, DateTimeField, DoubleField, ForeignKeyField,
                    IntegerField, IntegrityError, TextField)

from app import clock, crypto
from app.db import chinese_order, database
from app.models.audit import AuditLog
from app.models.base import BaseModel, created_at_field, default, one_of
from app.models.customer import Customer
from app.models.lead_archive import archive_plan, create_archive, in_scope, sign
from app.models.org import Branch, User
from app.models.prepared import Prepared
from app.models.product import Product
from app.models.refused import Problems, Refused
from app.models.scope import bank_scope, branch_ids, records
from app.models.setting import Setting, for_branch
from app.models.visit import Visit
from app.models.vocabulary import LEAD_STATUSES, OPEN_STATUSES

LEAD_SOURCES = ("visit", "referral", "counter", "event", "phone")
# How far along the pipeline a status is; `stage_reached` keeps the furthest one,
# so the funnel counts a lead signed on the spot as having passed every stage.
STAGE = {"new": 0, "contacted": 1, "qualified": 2, "won": 3}
FUNNEL_STAGES = ("new", "contacted", "qualified", "won")
EVENT_KINDS = ("created", "status", "reassign", "note")
AMOUNT_KINDS = ("deposit", "loan")  # the products whose leads carry an amount
# What a bank that has not written its own list offers as reasons for a lost lead.
DEFAULT_LOST_REASONS = ("利率不如他行", "暂无资金需求", "已在他行办理", "联系不上", "不符合准入条件")


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
    visit = ForeignKeyField(Visit, null=True, backref="leads", on_delete="SET NULL")
    id_number_hash = TextField(null=True)  # keyed hash only: a lead never keeps an ID number
    stage_reached = IntegerField(default=0, constraints=[default("0")])
    handed_over_at = DateTimeField(null=True)
    handover_note = TextField(null=True)
    handover_pending = BooleanField(default=False, constraints=[default("FALSE")])
    closed_at = DateTimeField(null=True)

    class Meta:
        indexes = (
            (("owner", "status"), False),
            (("product", "status"), False),
            (("phone",), False),
            (("id_number_hash",), False),
            (("branch", "created_at"), False),
        )

    @classmethod
    def visible_to(cls, user):
        """Leads the user may see: a manager's own (owned or captured), else the branch subtree's."""
        return cls.select().where(records(user, cls.branch, owners=(cls.owner, cls.created_by)))

    # ------------------------------------------------------------------ capture

    @classmethod
    def capture(cls, user, data=None, **values):
        """The one write path for a new lead; (lead, created).

        The values, as a mapping (data, e.g. the capture form's) and/or keywords:
        client_uuid, customer, visit, name, phone, id_number, product, amount, source,
        note, owner, confirmed; ids and the amount as numbers or their text (the text is
        read here, so an unreadable amount is listed with the other fields' reasons).
        A client UUID already stored returns that lead (created False), so a replayed or
        double-tapped capture is stored once. Raises Refused: every field's reason at once; code "not_found" for
        a customer or visit outside the user's scope; code "conflict" with
        choices["leads"] and choices["customers"] when the capture matches open leads or
        archives (unless confirmed; the same customer's open lead for the product is
        refused even then).
        """
        data = {**(data or {}), **values}
        client_uuid = _client_uuid(data.get("client_uuid"))
        existing = cls._replayed(user, client_uuid, data)
        if existing is not None:
            return existing, False
        clean = cls._clean(user, data)
        leads, customers = cls.matches(user, clean)
        if leads or (customers and not clean["customer"]):
            # The same customer's open lead for the product is never doubled;
            # a phone or ID match may be a different person, which the user confirms.
            same_customer = clean["customer"] and any(m.customer_id == clean["customer"].id for m in leads)
            if same_customer or not _truthy(data.get("confirmed")):
                # The match may be this very capture, committed by a concurrent copy of the
                # request after the replay check above (a double tap, a replayed queue):
                # then it is a replay, not a duplicate.
                existing = cls._replayed(user, client_uuid, data)
                if existing is not None:
                    return existing, False
                raise Refused.conflict(leads=leads, customers=customers)
        try:
            with database.atomic():
                lead = cls.create(
                    client_uuid=client_uuid, branch=clean["branch"], customer=clean["customer"],
                    name=clean["name"], phone=clean["phone"], id_number_hash=clean["id_hash"],
                    product=clean["product"], amount_wan=clean["amount"], source=clean["source"],
                    owner=clean["owner"], created_by=user.id, note=clean["note"], visit=clean["visit"],
                    **({"created_at": clean["made_at"]} if clean["made_at"] else {}))
                LeadEvent.create(lead=lead, user=user.id, kind="created", to_value="new",
                                 note=clean["note"], owner=clean["owner"],
                                 **({"at": clean["made_at"]} if clean["made_at"] else {}))
        except IntegrityError:
            # The same UUID sent twice at once: the other request's row won the race.
            existing = cls._replayed(user, client_uuid, data)
            if existing is not None:
                return existing, False
            # Else another capture of this customer's product committed meanwhile: the
            # database's one-open-lead index refused this one, answered as the duplicate.
            leads, customers = cls.matches(user, clean)
            if not leads:
                raise
            raise Refused.conflict(leads=leads, customers=customers) from None
        return lead, True

    @classmethod
    def _replayed(cls, user, client_uuid, data=None):
        """The lead this UUID already went into, if it was the same user's and the same capture.

        A true replay (a double tap, the offline queue) carries the same body; the same UUID
        for another customer, product or person is not one: Refused with code "conflict"
        (errors["client_uuid"]) rather than answered as saved while the new body is dropped.
        """
        existing = cls.get_or_none(cls.client_uuid == client_uuid)
        if existing is not None and existing.created_by_id != user.id:
            raise Refused({"client_uuid": _l("This form was already used. Reload the page and try again.")})
        if existing is not None and data is not None and not _same_capture(existing, data):
            raise Refused.conflict(errors={"client_uuid": _l(
                "This form was already saved for another customer or product: nothing new was saved. "
                "Check the details and save again.")})
        return existing

    @classmethod
    def _clean(cls, user, data):
        """Typed, checked values of a capture, or Refused with every error at once."""
        errors = Problems()
        bank = user.branch.bank
        visit = customer = None
        if data.get("visit"):
            visit = Visit.visible_to(user).where(Visit.id == _int(data["visit"])).first()
            if visit is None:
                raise Refused.not_found()
        if data.get("customer"):
            customer = Customer.visible_to(user).where(Customer.id == _int(data["customer"])).first()
            if customer is None:
                raise Refused.not_found()
        elif visit is not None:
            customer = Customer.get_by_id(visit.customer_id)
        if visit is not None and customer is not None and visit.customer_id != customer.id:
            raise Refused.not_found()
        product = None
        if bank is not None and data.get("product"):
            product = Product.offered_by(bank).where(Product.id == _int(data["product"])).first()
        if product is None:
            errors.add("product", _l("Choose a product from the bank's catalogue."))
        source = data.get("source") or ("visit" if visit else "")
        if source not in LEAD_SOURCES:
            errors.add("source", _l("Choose where the lead came from."))
        name = phone = id_hash = None
        if customer is not None:
            name = customer.name
        else:
            name = (data.get("name") or "").strip()
            if not name:
                errors.add("name", _l("Enter the person's name."))
            elif len(name) > 40:
                errors.add("name", _l("A name has at most 40 characters."))
            phone = re.sub(r"[\s-]", "", data.get("phone") or "")
            if not phone:
                errors.add("phone", _l("Enter a phone number, so the lead can be followed up."))
            elif not crypto.PHONE_PATTERN.match(phone):
                errors.add("phone", _l("A mobile number has 11 digits and starts with 1."))
            if data.get("id_number"):
                try:
                    id_hash = crypto.hash_id(crypto.validate_id_number(data["id_number"]))
                except crypto.InvalidIdNumber as error:
                    errors.add("id_number", _l(str(error)))
        amount = None
        try:
            amount = _amount(data.get("amount"), product)
        except ValueError as error:
            errors.add("amount", error.args[0])
        note = (data.get("note") or "").strip()
        if len(note) > 500:
            errors.add("note", _l("A note has at most 500 characters."))
        owner = user
        if data.get("owner") and _int(data["owner"]) != user.id:
            owner = team_managers(user).where(User.id == _int(data["owner"])).first()
            if owner is None:
                errors.add("owner", _l("Choose a manager of your team."))
        made_at = _made_at(user, data.get("made_at"), errors)
        errors.check()
        branch = customer.branch_id if customer is not None else owner.branch_id
        return {"customer": customer, "visit": visit.id if visit else None, "product": product,
                "source": source, "name": name, "phone": phone or None, "id_hash": id_hash,
                "amount": amount, "note": note, "owner": owner.id, "branch": branch, "made_at": made_at}

    @classmethod
    def matches(cls, user, clean):
        """Open leads for the same product and customers of the bank this capture may duplicate."""
        same = []
        if clean["customer"] is not None:
            same.append(cls.customer == clean["customer"].id)
            if clean["customer"].phone:
                same.append(cls.phone == clean["customer"].phone)
            if clean["customer"].id_number_hash:
                same.append(cls.id_number_hash == clean["customer"].id_number_hash)
        if clean["phone"]:
            same.append(cls.phone == clean["phone"])
            same.append(cls.customer.in_(Customer.select(Customer.id).where(Customer.phone == clean["phone"])))
        if clean["id_hash"]:
            same.append(cls.id_number_hash == clean["id_hash"])
            same.append(cls.customer.in_(Customer.select(Customer.id)
                                         .where(Customer.id_number_hash == clean["id_hash"])))
        leads = []
        if same:
            condition = same[0]
            for other in same[1:]:
                condition = condition | other
            leads = list(cls.select(cls, User).join(User, on=(cls.owner == User.id))
                         .where(bank_scope(user, cls.branch), cls.product == clean["product"].id,
                                cls.status.in_(OPEN_STATUSES), condition).order_by(cls.id))
        customers = []
        if clean["customer"] is None and (clean["phone"] or clean["id_hash"]):
            query = Customer.select().where(bank_scope(user, Customer.branch))
            match = []
            if clean["phone"]:
                match.append(Customer.phone == clean["phone"])
            if clean["id_hash"]:
                match.append(Customer.id_number_hash == clean["id_hash"])
            customers = list(query.where(match[0] if len(match) == 1 else match[0] | match[1])
                             .order_by(Customer.id))
        return leads, customers

    # ------------------------------------------------------------------ the pipeline

    def _check_actor(self, user):
        """A manager acts on leads they own; a team lead on their team's; others only read."""
        if user.role == "manager" and self.owner_id != user.id:
            raise Refused.forbidden()
        if user.role not in ("manager", "team_lead"):
            raise Refused.forbidden()

    def move(self, user, to, amount=None, won_on=None, reference=None, reason=None, note="", archive=None):
        """Move the lead to status `to` under the pipeline's rules; the one write path of a move.

        Raises Refused with every field's reason found (status, note, amount, won_on,
        reference, reason, id_number, kind, territory), code "forbidden" for a user who
        may not work the lead. Winning a lead for someone without an archive converts
        them into a customer in the same transaction (lead_archive.archive_plan; archive
        holds the won form's territory, kind, id_number and link); self.archive_outcome
        then says ("created" or "linked", customer). Refused with code "conflict" and
        choices["customers"] while their phone is on someone else's archive, and with
        code "out_of_scope" (naming only who follows them) when the archive found or
        picked lies outside the user's scope: a lead never writes to such a record.
        """
        self.archive_outcome = None
        self._check_actor(user)
        problems = Problems()
        if to not in LEAD_STATUSES:
            problems.add("status", _l("Choose a status of the pipeline."))
        elif self.status == "lost":
            problems.add("status", _l("This lead was lost: reopen it before moving it on."))
        elif self.status == "won":
            problems.add("status", _l("This lead is won and closed; correct the customer's "
                                      "products on their archive instead."))
        elif to == self.status:
            problems.add("status", _l("The lead already has this status."))
        note = (note or "").strip()
        if len(note) > 500:
            problems.add("note", _l("A note has at most 500 characters."))
        problems.check()  # what follows depends on a move the pipeline allows
        product = Product.get_by_id(self.product_id)
        changes = {}
        existing = plan = None
        if to == "won":
            changes = self._won_values(product, amount, won_on, reference, problems)
            if not self.customer_id:
                existing, plan = archive_plan(self, user, archive or {}, problems)
            else:  # captured for a customer who may since have left the user's territories
                in_scope(Customer.get_by_id(self.customer_id), user)
        elif to == "lost":
            reason = (reason or "").strip()
            if reason not in LostReason.labels(Branch.get_by_id(self.branch_id).bank):
                problems.add("reason", _l("Choose a reason from the list."))
            changes = {"lost_reason": reason}
        problems.check()
        with database.atomic():
            old = self.status
            # Claim the move: a second request for the same lead (a double tap, a replay, a
            # colleague at the same moment) finds the status already changed and writes nothing.
            claimed = (Lead.update(updated_at=clock.now())
                       .where((Lead.id == self.id) & (Lead.status == old)).execute())
            if not claimed:
                raise Refused({"status": _l("Someone changed this lead meanwhile: reload it and check.")})
            if existing is not None:
                self.customer = existing.id
                self.archive_outcome = ("linked", existing)
            elif plan is not None:
                customer = create_archive(self, user, plan)
                self.customer = customer.id
                self.archive_outcome = ("created", customer)
            self.status = to
            self.stage_reached = max(self.stage_reached, STAGE.get(to, 0))
            self.closed_at = clock.now() if to in ("won", "lost") else None
            for field, value in changes.items():
                setattr(self, field, value)
            self._touch(user)
            self.save()
            LeadEvent.create(lead=self.id, user=user.id, kind="status", from_value=old, to_value=to,
                             note=note or changes.get("lost_reason", ""), owner=self.owner_id)
            if to == "won" and self.customer_id:
                sign(self, user, product)
        return self

    def _won_values(self, product, amount, won_on, reference, errors):
        """The won lead's amount, date and reference; their problems added to errors."""
        value = None
        try:
            value = _amount(amount, product)
            if value is None and product.kind in AMOUNT_KINDS:
                raise ValueError(_l("Enter the amount signed."))
        except ValueError as error:
            errors.add("amount", error.args[0])
        day = None
        try:
            day = won_on if isinstance(won_on, dt.date) else dt.date.fromisoformat((won_on or "").strip())
        except ValueError:
            errors.add("won_on", _l("Enter the date signed, e.g. 2026-05-01."))
        if day is not None:
            if day > clock.today():
                errors.add("won_on", _l("That date is in the future."))
            elif day < clock.to_local(self.created_at).date():
                errors.add("won_on", _l("A lead cannot be signed before it was captured."))
        reference = (reference or "").strip()
        if product.kind == "loan" and not reference:
            # The branch signs a loan after its checks; its contract number is the proof it did.
            errors.add("reference", _l("A loan is won once the branch has signed it: enter its loan "
                                       "contract number."))
        if len(reference) > 40:
            errors.add("reference", _l("An account or contract number has at most 40 characters."))
        return {"won_amount_wan": value, "won_on": day, "contract_no": reference or None}

    def reopen(self, user, note=""):
        """A lost lead back to the open status it had before it was lost."""
        self._check_actor(user)
        if self.status != "lost":
            raise Refused({"status": _l("Only a lost lead can be reopened.")})
        last = (LeadEvent.select().where((LeadEvent.lead == self.id) & (LeadEvent.kind == "status")
                                         & (LeadEvent.to_value == "lost"))
                .order_by(LeadEvent.id.desc()).first())
        back = last.from_value if last and last.from_value in OPEN_STATUSES else "contacted"
        try:
            with database.atomic():
                self.status, self.lost_reason, self.closed_at = back, None, None
                self._touch(user)
                self.save()
                LeadEvent.create(lead=self.id, user=user.id, kind="status", from_value="lost", to_value=back,
                                 note=(note or "").strip()[:500], owner=self.owner_id)
        except IntegrityError:  # the one-open-lead index: the customer has another open lead for it
            self.status = "lost"
            raise Refused({"status": _l("The customer already has an open lead for this product: "
                                        "follow that one.")}) from None
        return self

    def reassign(self, user, owner_id, note):
        """A team lead hands the lead to another manager of their team, with a note."""
        if user.role != "team_lead":
            raise Refused.forbidden()
        errors = Problems()
        owner = team_managers(user).where(User.id == _int(owner_id)).first()
        if owner is None:
            errors.add("owner", _l("Choose a manager of your team."))
        elif owner.id == self.owner_id:
            errors.add("owner", _l("This manager already owns the lead."))
        note = (note or "").strip()
        if not note:
            errors.add("handover_note", _l("Say why, so the new owner knows where things stand."))
        elif len(note) > 500:
            errors.add("handover_note", _l("A note has at most 500 characters."))
        if self.status not in OPEN_STATUSES:
            errors.add("status", _l("Only an open lead can be handed over."))
        errors.check()
        with database.atomic():
            old = User.get_by_id(self.owner_id)
            self.owner = owner.id
            self.handed_over_at = clock.now()
            self.handover_note = note
            self.handover_pending = True
            self.updated_at = clock.now()
            self.save()
            LeadEvent.create(lead=self.id, user=user.id, kind="reassign", from_value=old.name,
                             to_value=owner.name, note=note, owner=owner.id)
        return self

    def add_note(self, user, note):
        """A note in the lead's history (a follow-up call, a second report of the same interest)."""
        self._check_actor(user)
        note = (note or "").strip()
        if not note or len(note) > 500:
            raise Refused({"note": _l("Write a note of at most 500 characters.")})
        with database.atomic():
            self._touch(user)
            self.save()
            LeadEvent.create(lead=self.id, user=user.id, kind="note", note=note, owner=self.owner_id)
        return self

    def _touch(self, user):
        self.updated_at = clock.now()
        if user.id == self.owner_id:
            self.handover_pending = False  # the new owner has taken it up

    # ------------------------------------------------------------------ reading

    @property
    def is_open(self):
        return self.status in OPEN_STATUSES

    @property
    def masked_phone(self):
        return crypto.mask_phone(self.phone or (self.customer.phone if self.customer_id else None))

    @property
    def masked_reference(self):
        return crypto.mask_reference(self.contract_no)

    def may_reveal(self, user):
        """Whether user may open the phone and account number in clear: the owner or a team lead."""
        return user.role == "team_lead" or (user.role == "manager" and self.owner_id == user.id)

    def is_stale(self, days):
        return self.is_open and self.updated_at < clock.now() - dt.timedelta(days=days)

    @property
    def next_status(self):
        """The status a one-tap button moves an open lead to (won needs its form)."""
        return {"new": "contacted", "contacted": "qualified"}.get(self.status)

    @classmethod
    def stale_before(cls, bank):
        return clock.now() - dt.timedelta(days=Setting.get(bank, "stale_lead_days"))

    @classmethod
    def for_today(cls, user):
        """What Today shows of leads: those just handed to the user first, then the stale ones."""
        days = for_branch(user.branch_id, ("stale_lead_days",))["stale_lead_days"]
        stale_before = clock.now() - dt.timedelta(days=days)
        # Each query's SQL is built once (Prepared): Today is opened all day.
        open_count, stale_count = _LEADS_TODAY_COUNTS.one(user_id=user.id, stale_before=stale_before)
        return {"handed": [_today_lead(row) for row in _LEADS_TODAY_HANDED(user_id=user.id)],
                "stale": [_today_lead(row) for row in _LEADS_TODAY_STALE(user_id=user.id, stale_before=stale_before)],
                "stale_count": int(stale_count or 0), "open_count": int(open_count or 0)}

    def history(self):
        return (LeadEvent.select(LeadEvent, User).join(User, on=(LeadEvent.user == User.id))
                .where(LeadEvent.lead == self.id).order_by(LeadEvent.at.desc(), LeadEvent.id.desc()))


def _today_lead(row):
    """A lead of Today's panel, with what the panel shows of it."""
    lead_id, name, status, updated_at, handover_note, product_id, product_name = row
    lead = Lead(id=lead_id, name=name, status=status, updated_at=Lead.updated_at.python_value(updated_at),
                handover_note=handover_note)
    lead.product = Product(id=product_id, name=product_name)
    return lead


def _today_leads(p):
    return (Lead.select(Lead.id, Lead.name, Lead.status, Lead.updated_at, Lead.handover_note, Product.id,
                        Product.name)
            .join(Product).where((Lead.owner == p.user_id) & Lead.status.in_(OPEN_STATUSES)))


def _today_counts(p):
    stale = (~Lead.handover_pending) & (Lead.updated_at < p.stale_before)
    return (Lead.select(fn.COUNT(Lead.id), fn.COALESCE(fn.SUM(Case(None, [(stale, 1)], 0)), 0))
            .where((Lead.owner == p.user_id) & Lead.status.in_(OPEN_STATUSES)))


_LEADS_TODAY_HANDED = Prepared(
    "leads_today_handed",
    lambda p: _today_leads(p).where(Lead.handover_pending).order_by(Lead.handed_over_at.desc()).limit(10))
_LEADS_TODAY_STALE = Prepared(
    "leads_today_stale",
    lambda p: _today_leads(p).where(~Lead.handover_pending & (Lead.updated_at < p.stale_before))
    .order_by(Lead.updated_at).limit(5))
_LEADS_TODAY_COUNTS = Prepared("leads_today_counts", _today_counts)


def team_managers(user):
    """The active managers a team lead may give leads to: their branch subtree."""
    if user.role != "team_lead":
        return User.select().where(User.id == user.id)
    return (User.select().where(User.branch.in_(branch_ids(user)), User.role == "manager", User.active)
            .order_by(chinese_order(User.name)))


def new_client_uuid():
    return str(uuidlib.uuid4())


def _client_uuid(value):
    try:
        return str(uuidlib.UUID(str(value or "")))
    except ValueError:
        raise Refused({"client_uuid": _l("This form is damaged. Reload the page and try again.")}) from None


MAX_ID = 2**31 - 1  # ids past PostgreSQL's SERIAL name no record (and SQLite cannot bind them)


def _int(value):
    """An id from a form, or 0 (no record) when unreadable or beyond any id."""
    try:
        value = int(str(value).strip())
    except ValueError:
        return 0
    return value if 0 < value <= MAX_ID else 0


def _same_capture(lead, data):
    """Whether data is the capture lead was stored from: the same customer (or visit), product,
    and for someone without an archive the same name and phone."""
    def same_id(stored, key):
        return (stored or 0) == _int(data.get(key) or 0)
    if not same_id(lead.product_id, "product"):
        return False
    if data.get("customer") or data.get("visit"):
        return (not data.get("customer") or same_id(lead.customer_id, "customer")) and (
            not data.get("visit") or same_id(lead.visit_id, "visit"))
    phone = re.sub(r"[\s-]", "", str(data.get("phone") or ""))
    return (str(data.get("name") or "").strip() == lead.name) and (phone or None) == lead.phone


def _truthy(value):
    return str(value or "").lower() in ("1", "true", "on", "y", "yes")


def _amount(text, product):
    """An amount in 10k yuan, or None when blank; ValueError with the message otherwise."""
    text = "" if text is None else str(text).strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise ValueError(_l("Enter a number, e.g. 12.5.")) from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(_l("Enter a number, e.g. 12.5."))
    if value <= 0:
        raise ValueError(_l("The amount must be more than zero."))
    if product is not None:
        if product.kind not in AMOUNT_KINDS:
            raise ValueError(_l("This product takes no amount."))
        if product.amount_limit_wan is not None and value > product.amount_limit_wan:
            raise ValueError(_l("%(product)s goes up to %(limit)s (10k yuan).", product=product.name,
                                limit=f"{product.amount_limit_wan:g}"))
    return round(value, 2)


# One open lead per customer and product, kept by the database even when captures race
# (a threaded server, two managers at once): Lead.capture answers the IntegrityError as the
# duplicate it is. schema.sql declares the same partial index.
Lead.add_index(Lead.index(Lead.customer, Lead.product, unique=True, name="lead_one_open_per_customer_product")
               .where(Lead.status.in_(OPEN_STATUSES)))


class LeadEvent(BaseModel):
    """One change of one lead by one user: its history (who, when, from, to)."""

    lead = ForeignKeyField(Lead, backref="events", on_delete="CASCADE")
    user = ForeignKeyField(User, backref="lead_events", on_delete="RESTRICT")
    at = created_at_field()
    kind = TextField(constraints=[one_of("kind", EVENT_KINDS)])
    from_value = TextField(null=True)
    to_value = TextField(null=True)
    note = TextField(default="", constraints=[default("''")])
    # Who held the lead once this happened: the funnel credits each stage to them, so a
    # hand-over does not carry the first manager's work to the next (null on older rows).
    owner = ForeignKeyField(User, null=True, backref="lead_events_held", on_delete="RESTRICT")

    class Meta:
        indexes = ((("lead", "at"), False),)


class LostReason(BaseModel):
    """A reason a lead was lost, from the list the bank's admin keeps."""

    bank = ForeignKeyField(Branch, backref="lost_reasons", on_delete="CASCADE")
    label = TextField()
    active = BooleanField(default=True, constraints=[default("TRUE")])
    created_at = created_at_field()

    class Meta:
        indexes = ((("bank", "label"), True),)

    @classmethod
    def add(cls, user, bank, label, ip=None):
        """Offer one more reason in the bank's list; Refused when blank, too long or already there.

        The bank's first change starts from the defaults the managers saw, so none vanish.
        """
        label = (label or "").strip()
        rows = cls.select().where(cls.bank == bank.id)
        if not label or len(label) > 30:
            raise Refused({"label": _l("Write a reason of 1 to 30 characters.")})
        if rows.where(cls.label == label).exists():
            raise Refused({"label": _l("This reason is already in the list.")})
        with database.atomic():
            if not rows.exists():
                for default_label in cls.labels(None):
                    cls.create(bank=bank.id, label=default_label)
            if not cls.select().where(cls.bank == bank.id, cls.label == label).exists():
                cls.create(bank=bank.id, label=label)
            AuditLog.record(user.id, "add_lost_reason", "branch", bank.id, ip=ip)

    @classmethod
    def labels(cls, bank):
        """The reasons offered: the bank's active ones, or the defaults while it has none."""
        if bank is None:
            return list(DEFAULT_LOST_REASONS)
        rows = list(cls.select().where(cls.bank == bank.id).order_by(cls.id))
        if not rows:
            return list(DEFAULT_LOST_REASONS)
        return [r.label for r in rows if r.active]


LEAD_FUTURE_SLACK = dt.timedelta(minutes=2)  # phones' clocks drift, as for a check-in


def _made_at(user, value, errors):
    """When a lead captured offline was made on the phone (naive UTC), or None for now: not
    in the future past the slack, nor older than the bank's window for late check-ins."""
    if value is None or value == "":
        return None
    if isinstance(value, str):  # the form's hidden field, or the outbox's: ISO with its offset
        try:
            moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            value = moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else None
        except (ValueError, OverflowError):
            value = None
    if not isinstance(value, dt.datetime):
        errors.add("made_at", _l("The phone sent an unreadable time."))
        return None
    now = clock.now()
    if value > now + LEAD_FUTURE_SLACK:
        errors.add("made_at", _l("The lead's time is in the future: check the phone's clock."))
        return None
    days = for_branch(user.branch_id, ("late_check_in_days",))["late_check_in_days"]
    if now - value > dt.timedelta(days=days):
        errors.add("made_at", _l("This lead was made on %(day)s, more than %(days)s days ago: the bank accepts "
                                 "what was recorded offline for %(days)s days. Record it again if it matters.",
                                 day=clock.to_local(value).date().isoformat(), days=days))
        return None
    return min(value, now)
