"""Merging two archives of one customer: everything the second holds moves to the first."""
from flask_babel import lazy_gettext as _l

from app import clock
from app.db import database
from app.models.audit import AuditLog
from app.models.customer import Customer, CustomerChange, CustomerMember, Holding, _shown
from app.models.lead import Lead
from app.models.refused import Refused
from app.models.visit import FollowUp, Visit
from app.models.vocabulary import OPEN_STATUSES

# Archive fields the kept customer takes from the merged one when it has none of its own.
FILLABLE = ("phone", "township", "village", "group_name", "street", "house_no", "category",
            "scale_mu", "livestock_head", "annual_turnover_wan", "assets_wan", "debts_wan",
            "net_income_wan", "credit_rating", "consent_on", "consent_via", "lat", "lng",
            "position_source")


def can_merge(keep, gone):
    """Whether gone may be merged into keep: two different archives of one bank."""
    return keep.id != gone.id and keep.branch.bank == gone.branch.bank


def merge_customers(user, keep, gone, ip=None):
    """Move every visit, lead, follow-up, holding, member and history entry of gone to keep,
    fill keep's blanks from gone, then delete gone; one transaction.

    Refused with code "forbidden" for anyone but an admin, "not_found" unless both archives
    are in the user's scope and can_merge(keep, gone).
    """
    if user.role != "admin":
        raise Refused.forbidden()
    in_scope = Customer.visible_to(user).where(Customer.id.in_([keep.id, gone.id])).count()
    if not can_merge(keep, gone) or in_scope != 2:
        raise Refused.not_found()
    both = (Lead.select(Lead.product).where(Lead.customer == keep.id, Lead.status.in_(OPEN_STATUSES))
            & Lead.select(Lead.product).where(Lead.customer == gone.id, Lead.status.in_(OPEN_STATUSES)))
    if both.exists():  # one open lead per customer and product (the lead table's unique index)
        raise Refused(message=_l("Both archives have an open lead for the same product: "
                                 "close one of them before merging."), code="open_leads")
    with database.atomic():
        moved = {
            "visits": Visit.update(customer=keep.id).where(Visit.customer == gone.id).execute(),
            "leads": Lead.update(customer=keep.id).where(Lead.customer == gone.id).execute(),
            "follow_ups": FollowUp.update(customer=keep.id).where(FollowUp.customer == gone.id).execute(),
            "members": CustomerMember.update(customer=keep.id)
            .where(CustomerMember.customer == gone.id).execute(),
        }
        # A product both hold is one holding: amounts add up, the kept reference stays.
        held = {h.product_id: h for h in Holding.select().where(Holding.customer == keep.id)}
        for holding in Holding.select().where(Holding.customer == gone.id):
            mine = held.get(holding.product_id)
            if mine is None:
                holding.customer = keep.id
                holding.save()
            else:
                if holding.amount_wan is not None:
                    mine.amount_wan = (mine.amount_wan or 0) + holding.amount_wan
                mine.reference = mine.reference or holding.reference
                mine.since = min(d for d in (mine.since, holding.since) if d) if (mine.since or holding.since) else None
                mine.save()
                holding.delete_instance()
        CustomerChange.update(customer=keep.id).where(CustomerChange.customer == gone.id).execute()
        changes = []
        for name in FILLABLE:
            if _shown(getattr(keep, name)) is None and _shown(getattr(gone, name)) is not None:
                setattr(keep, name, getattr(gone, name))
                changes.append((name, None, _shown(getattr(gone, name))))
        if not keep.id_number_cipher and gone.id_number_cipher:
            keep.id_number_cipher, keep.id_number_hash = gone.id_number_cipher, gone.id_number_hash
            changes.append(("id_number", None, keep.masked_id))
        if gone.products_elsewhere and gone.products_elsewhere not in keep.products_elsewhere:
            keep.products_elsewhere = "、".join(p for p in (keep.products_elsewhere, gone.products_elsewhere) if p)
        keep.updated_at = clock.now()
        keep.save()
        changes.append(("merged", f"#{gone.id} {gone.name}", f"#{keep.id}"))
        CustomerChange.insert_many([{"customer": keep.id, "user": user.id, "field": f, "old": o, "new": n}
                                    for f, o, n in changes]).execute()
        AuditLog.record(user.id, "merge", "customer", keep.id, ip=ip, merged=gone.id, **moved)
        gone.delete_instance()
    return moved
