"""Handing a territory's open work to another manager: a query over customers, follow-ups
and leads, so it lives above all three."""
from app import clock
from app.db import database
from app.models.customer import Customer
from app.models.lead import Lead
from app.models.territory import Territory
from app.models.visit import FollowUp
from app.models.vocabulary import OPEN_STATUSES


def hand_over(territory, from_users, to_user):
    """Move open follow-ups and open leads of the territory's customers to to_user.

    Returns (follow-ups moved, leads moved).
    """
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
