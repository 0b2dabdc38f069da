"""Coverage for team leads: their team, its 责任田 and this week's visits."""
from flask import Blueprint
from flask_login import current_user

from app.db import chinese_order, tree_order
from app.models import Assignment, Territory, User, Visit
from app.models.scope import user_scope
from app.web import render, roles_required

bp = Blueprint("coverage", __name__)


@bp.route("/team")
@roles_required("team_lead")
def team():
    """The team lead's home: each manager's territories, customers and coverage this week."""
    managers = list(User.select().where(user_scope(current_user), User.role == "manager", User.active)
                    .order_by(chinese_order(User.name), User.id))
    # A fixed number of queries whatever the team's size: coverage grouped by manager,
    # and every manager's territory names at once.
    coverage = Visit.coverage(current_user, by="manager", among=managers)
    names, seen = {}, set()
    for user_id, territory_id, name in (
            Territory.select(Assignment.user, Territory.id, Territory.name)
            .join(Assignment, on=(Assignment.territory == Territory.id))
            .where(Assignment.id.in_(Assignment.current().select(Assignment.id)),
                   Assignment.user.in_([m.id for m in managers]))
            .order_by(chinese_order(Territory.name), Territory.id).tuples()):
        if (user_id, territory_id) not in seen:  # two business lines: one territory, named once
            seen.add((user_id, territory_id))
            names.setdefault(user_id, []).append(name)
    rows = []
    for manager in managers:
        visited, total, ratio = coverage[manager.id]
        rows.append({"user": manager, "territories": names.get(manager.id, []),
                     "visited": visited, "total": total, "coverage": ratio})
    assigned_ids = Assignment.current().select(Assignment.territory)
    unassigned = (Territory.visible_to(current_user)
                  .where(Territory.kind.in_(("village", "street", "market")),
                         Territory.live(), Territory.id.not_in(assigned_ids))
                  .order_by(Territory.path))
    unassigned = tree_order(unassigned)
    return render("coverage/team.html", rows=rows, unassigned=unassigned)
