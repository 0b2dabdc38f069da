"""What winning a lead does to the archives: find or open the signer's archive, then
record the product they now hold.

Part of Lead.move's one write path (models/lead.py calls these inside its transaction);
below lead.py: it reads a lead's fields and imports no lead module.
"""
from flask_babel import lazy_gettext as _l

from app import clock, crypto
from app.models.customer import CUSTOMER_KINDS, Customer, Holding, holds_customer
from app.models.org import User
from app.models.refused import Refused
from app.models.scope import bank_scope
from app.models.territory import Assignment, Territory


def archive_plan(lead, user, archive, problems):
    """Who signed a lead captured without an archive: (existing customer, None) or (None, plan).

    The person is looked up in the bank as the archive form does: the same ID number
    (through its keyed hash) or the same phone and name is the same person, whose archive
    is linked. A phone on an archive under another name may be a relative or a reused
    number: Refused with code "conflict" and choices["customers"] until the user picks one
    of those archives (link=id) or says "new" (link). The archive found or picked must be
    in the user's scope (holds_customer): one outside it is never written through a lead,
    and the refusal names only who follows that customer (in_scope). Otherwise the plan for a new archive:
    the territory chosen in the form (one the user's scope holds; a lead keeps no position
    of its own to place by), the kind, the ID number if given.

    problems holds what the won form's other fields broke: they are refused together with
    an unreadable ID number, before any look-up.
    """
    id_hash, id_number = lead.id_number_hash, None
    if (archive.get("id_number") or "").strip():
        try:
            id_number = crypto.validate_id_number(archive["id_number"])
        except crypto.InvalidIdNumber as error:
            problems.add("id_number", _l(str(error)))
        else:
            if id_hash and crypto.hash_id(id_number) != id_hash:
                problems.add("id_number", _l("This is not the ID number captured with the lead."))
            id_hash = crypto.hash_id(id_number)
    problems.check()
    in_bank = Customer.select().where(bank_scope(user, Customer.branch)).order_by(Customer.id)
    same = in_bank.where(Customer.id_number_hash == id_hash).first() if id_hash else None
    if same is None and lead.phone:
        same = in_bank.where(Customer.phone == lead.phone, Customer.name == lead.name).first()
    if same is not None:
        if same.id_number_hash and id_hash and same.id_number_hash != id_hash:
            raise Refused({"id_number": _l("An archive with this phone and name has another ID "
                                           "number: check the ID number.")})
        return in_scope(same, user), None
    link = str(archive.get("link") or "")
    if lead.phone and link != "new":
        others = list(in_bank.where(Customer.phone == lead.phone))
        chosen = next((c for c in others if str(c.id) == link), None)
        if chosen is not None:  # the user says it is this archive's holder, under another name
            return in_scope(chosen, user), None
        if others:
            raise Refused.conflict(customers=others)
    kind = archive.get("kind") or "household"
    if kind not in CUSTOMER_KINDS:
        problems.add("kind", _l("Choose household, merchant or enterprise."))
    territory = None
    if archive.get("territory"):
        territory = (Territory.visible_to(user)
                     .where(Territory.id == _id(archive["territory"]), Territory.live())
                     .first())
    if territory is None:
        problems.add("territory", _l("Choose the territory where the new customer lives."))
    problems.check()
    return None, {"territory": territory, "kind": kind, "id_number": id_number, "id_hash": id_hash}


def in_scope(customer, user):
    """customer, when the user's scope holds it; else Refused naming only who follows them.

    The same person may already have an archive in a colleague's 责任田: the lead is not
    signed onto it here (that would add a product and a balance to a record this user
    may not even open), and nothing of the archive but its followers is said.
    """
    if holds_customer(user, customer):
        return customer
    names = followers(customer)
    if names:
        message = _l("This person already has an archive outside your territories, followed by "
                     "%(names)s: hand the lead to them or ask your team lead.", names="、".join(names))
    else:
        message = _l("This person already has an archive outside your territories: ask your "
                     "team lead who follows them.")
    raise Refused({"customer": message}, code="out_of_scope")


def followers(customer):
    """Names of the managers whose territories hold the customer today (for a refusal)."""
    if customer.territory_id is None:
        return []
    path = Territory.select(Territory.path).where(Territory.id == customer.territory_id).scalar()
    today = clock.today()
    rows = (User.select(User.name, Territory.path)
            .join(Assignment, on=(Assignment.user == User.id))
            .join(Territory, on=(Assignment.territory == Territory.id))
            .where(User.active, Assignment.starts_on <= today,
                   Assignment.ends_on.is_null() | (Assignment.ends_on >= today))
            .tuples())
    return sorted({name for name, prefix in rows if path and path.startswith(prefix)})


def create_archive(lead, user, plan):
    """The new customer's archive, through the archive form's own write path."""
    customer = Customer.add_archive(user, plan["territory"],
                                    # won: the customer signed a contract with us (履行合同)
                                    {"kind": plan["kind"], "name": lead.name, "phone": lead.phone,
                                     "legal_basis": "contract", "legal_basis_on": lead.won_on or clock.today()},
                                    plan["id_number"], confirmed=True)  # archive_plan ruled on duplicates
    if plan["id_hash"] and not plan["id_number"]:
        # The lead kept only the ID number's hash: the archive keeps it too, so the next
        # capture or archive with that number finds this person; the number itself is
        # entered on the archive when the customer shows their card.
        customer.id_number_hash = plan["id_hash"]
        customer.save(only=[Customer.id_number_hash])
    return customer


def sign(lead, user, product):
    """The customer now holds the product: holding, balance, tier, each in their history."""
    customer = Customer.get_by_id(lead.customer_id)
    amount = lead.won_amount_wan or 0
    fields = {}
    if product.kind == "deposit" and amount:
        fields["deposit_balance_wan"] = (customer.deposit_balance_wan or 0) + amount
    elif product.kind == "loan" and amount:
        fields["loan_balance_wan"] = (customer.loan_balance_wan or 0) + amount
    held = [h.product_id for h in Holding.select(Holding.product).where(Holding.customer == customer.id)]
    customer.update_archive(user, fields, products=set(held) | {product.id})
    holding = Holding.get((Holding.customer == customer.id) & (Holding.product == product.id))
    holding.since = holding.since or lead.won_on
    holding.amount_wan = (holding.amount_wan or 0) + amount if amount else holding.amount_wan
    holding.reference = lead.contract_no or holding.reference
    holding.save()


def _id(value):
    """An id from the form, or 0 (no record) when unreadable or beyond any id (2**31 - 1)."""
    try:
        value = int(str(value).strip())
    except ValueError:
        return 0
    return value if 0 < value < 2**31 else 0
