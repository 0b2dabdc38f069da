"""The one place that decides which records a user may see (DESIGN.md, *Scopes*).

Every scope is a branch subtree: a bank's users never see another bank unless they
sit above it. The rule, `records()`: a signed-in, active user sees their branch
subtree; a manager instead sees what lies in the territories assigned to them on the
day and the records they own (their own visits, follow-ups and leads). Each model's
`visible_to` applies this rule to its own columns (`Customer.scope`, `Visit.visible_to`,
`Lead.visible_to`, …); nothing else writes a scope condition.

It sits just above the organisation's tables, below every other model, so any model
may import it: a manager's territories come in as a condition the model builds from
`territory.assigned_territory_ids`.
"""
import functools
import operator

from app.models.org import Branch, User


def usable(user):
    """Whether the user may see anything at all: signed in and active."""
    return user is not None and getattr(user, "is_authenticated", False) and user.active


def nothing(column):
    """A condition no row meets."""
    return column.is_null(True) & column.is_null(False)


def branch_ids(user):
    """Ids of the branches in the user's subtree."""
    return Branch.select(Branch.id).where(Branch.path.startswith(user.branch.path))


def records(user, branch_field, *, assigned=None, owners=()):
    """The scope rule, as a condition on a model whose branch is branch_field.

    assigned(user): the condition "in the territories assigned to this manager" for the
    model (None: a manager sees none of its rows that way); owners: the fields naming
    the user a row belongs to (a manager sees their own). Anyone else sees the rows of
    their branch subtree.
    """
    if not usable(user):
        return nothing(branch_field)
    if user.role == "manager":
        conditions = ([assigned(user)] if assigned is not None else []) + [field == user.id for field in owners]
        return functools.reduce(operator.or_, conditions) if conditions else nothing(branch_field)
    return branch_field.in_(branch_ids(user))


def manager_with_id(user_id):
    """A manager known only by id: user_id may be a Prepared query's parameter (p.user_id),
    so a manager's scope is built once for every manager."""
    return User(id=user_id, role="manager", active=True)


def user_scope(user):
    """The colleagues a user may see: their branch subtree (a manager sees themself)."""
    return records(user, User.branch, owners=(User.id,))


def bank_scope(user, branch_field):
    """The user's whole bank (or, above banks, their subtree): where duplicates are looked for."""
    if not usable(user):
        return nothing(branch_field)
    root = user.branch.bank or user.branch
    return branch_field.in_(Branch.select(Branch.id).where(Branch.path.startswith(root.path)))


def branch_scope(user):
    if not usable(user):
        return nothing(Branch.id)
    return Branch.path.startswith(user.branch.path)
