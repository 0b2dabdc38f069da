"""Handing a territory's open work to another manager: a query over customers, follow-ups
and leads, so it lives above all three."""
from flask_babel import lazy_gettext as _l

from app import clock
from app.db import database
from app.models.customer import Customer
from app.models.lead import Lead
from app.models.org import User
from app.models.refused import Refused
from app.models.scope import user_scope
from app.models.territory import Assignment, Territory, editable
from app.models.visit import FollowUp
from app.models.vocabulary import OPEN_STATUSES


def hand_over(user, territory, from_users, to_user):
    """The write path moving open follow-ups and open leads of the territory's customers
    from from_users to to_user. Returns (follow-ups moved, leads moved).

    Refused: not_found for a territory outside the user's scope, forbidden for a manager,
    and a to_user who is not an active account manager of the user's team.
    """
    territory = editable(user, territory)
    to_id = to_user if isinstance(to_user, int) else to_user.id
    to_user = (User.select().where(user_scope(user), User.role == "manager", User.active, User.id == to_id)
               .first())
    if to_user is None:
        raise Refused({"users": _l("Choose at least one account manager of your team.")})
    customers = (Customer.select(Customer.id).join(Territory)
                 .where(Territory.path.startswith(territory.path)))
    old = [u.id for u in from_users if u.id != to_user.id]
    if not old:
        return 0, 0
    with database.atomic():
        follow_ups = (FollowUp.update(user=to_user)
                      .where(FollowUp.customer.in_(customers), FollowUp.user.in_(old),
                             FollowUp.done_at.is_null()).execute())
        # The new owner sees them first on Today, as with a team lead's hand-over.
        leads = (Lead.update(owner=to_user, updated_at=clock.now(), handed_over_at=clock.now(),
                             handover_pending=True)
                 .where(Lead.customer.in_(customers), Lead.owner.in_(old),
                        Lead.status.in_(OPEN_STATUSES)).execute())
    return follow_ups, leads


def reassign(user, territory, managers, business_line, starts_on, hand_over_work=False):
    """The 责任田 page's one action: Assignment.assign, then (hand_over_work) the open work of
    those whose assignment ended handed to the first of managers by name, in one transaction.

    Returns (follow-ups moved, leads moved). Refused as Assignment.assign and hand_over are.
    """
    with database.atomic():
        ended = Assignment.assign(user, territory, managers, business_line, starts_on)
        if not (hand_over_work and ended):
            return 0, 0
        ids = [m if isinstance(m, int) else m.id for m in managers]
        first = User.select().where(User.id.in_(ids)).order_by(User.name).first()
        return hand_over(user, territory, ended, first)
