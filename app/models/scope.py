"""The one place that decides which records a user may see (DESIGN.md, *Scopes*).

Every scope is a branch subtree: a bank's users never see another bank unless
they sit above it. A manager sees the customers of the territories assigned to
them today, and their own visits and leads.
"""

from peewee import fn

from app import clock
from app.models.customer import Customer
from app.models.lead import Lead
from app.models.org import Branch, User
from app.models.prepared import Prepared
from app.models.territory import Assignment, Territory
from app.models.visit import Visit



def _nothing(model):
    return model.id.is_null(True) & model.id.is_null(False)


def branch_ids(user):
    """Ids of the branches in the user's subtree."""
    return Branch.select(Branch.id).where(Branch.path.startswith(user.branch.path))


def assigned_territory_ids(user, day=None):
    """Ids of the territories assigned to the user on day, with everything below them."""
    assigned = Territory.alias("assigned")
    day = day or clock.today()
    return (
        Territory.select(Territory.id)
        .join(assigned, on=(fn.substr(Territory.path, 1, fn.length(assigned.path)) == assigned.path))
        .join(Assignment, on=(Assignment.territory == assigned.id))
        .where(
            (Assignment.user == user.id)
            & (Assignment.starts_on <= day)
            & (Assignment.ends_on.is_null() | (Assignment.ends_on >= day))
        )
    )


def manager_with_id(user_id):
    """A manager known only by id: user_id may be a Prepared query's parameter (p.user_id),
    so a manager's scope is built once for every manager."""
    return User(id=user_id, role="manager", active=True)


def _usable(user):
    return user is not None and getattr(user, "is_authenticated", False) and user.active


def customer_scope(user, day=None):
    if not _usable(user):
        return _nothing(Customer)
    if user.role == "manager":
        return Customer.territory.in_(assigned_territory_ids(user, day))
    return Customer.branch.in_(branch_ids(user))


def holds_customer(user, customer, days=()):
    """Whether the user's scope holds this customer today or on any of the given days.

    The same rule as customer_scope, checked for one customer with indexed look-ups
    instead of a join over the territory tree: the check-in path runs it on every post.
    customer needs branch_id and territory_id (territory_path too saves a query).
    """
    if not _usable(user):
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


def territory_scope(user):
    if not _usable(user):
        return _nothing(Territory)
    if user.role == "manager":
        return Territory.id.in_(assigned_territory_ids(user))
    return Territory.branch.in_(branch_ids(user))


def visit_scope(user):
    """A condition on Visit joined to Customer."""
    if not _usable(user):
        return _nothing(Visit)
    if user.role == "manager":
        return Visit.user == user.id
    return Customer.branch.in_(branch_ids(user))


def follow_up_scope(user):
    """A condition on FollowUp joined to Customer: a manager's own, else the branch subtree's."""
    from app.models.visit import FollowUp

    if not _usable(user):
        return _nothing(FollowUp)
    if user.role == "manager":
        return FollowUp.user == user.id
    return Customer.branch.in_(branch_ids(user))


def lead_scope(user):
    if not _usable(user):
        return _nothing(Lead)
    if user.role == "manager":
        return (Lead.owner == user.id) | (Lead.created_by == user.id)
    return Lead.branch.in_(branch_ids(user))


def user_scope(user):
    """The colleagues a user may see: their branch subtree (a manager sees themself)."""
    if not _usable(user):
        return _nothing(User)
    if user.role == "manager":
        return User.id == user.id
    return User.branch.in_(branch_ids(user))


def bank_scope(user, branch_field):
    """The user's whole bank (or, above banks, their subtree): where duplicates are looked for."""
    if not _usable(user):
        return branch_field.is_null(True) & branch_field.is_null(False)
    root = user.branch.bank or user.branch
    return branch_field.in_(Branch.select(Branch.id).where(Branch.path.startswith(root.path)))


def branch_scope(user):
    if not _usable(user):
        return _nothing(Branch)
    return Branch.path.startswith(user.branch.path)
