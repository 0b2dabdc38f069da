"""Coverage for team leads: their team, its 责任田 and this week's visits."""
from flask import Blueprint
from flask_login import current_user

from app.models import Assignment, Customer, Territory, User, Visit
from app.models.scope import user_scope
from app.web import render, roles_required

bp = Blueprint("coverage", __name__)


@bp.route("/team")
@roles_required("team_lead")
def team():
    """The team lead's home: each manager's territories, customers and coverage this week."""
    managers = (User.select().where(user_scope(current_user), User.role == "manager", User.active)
                .order_by(User.username))
    rows = []
    for manager in managers:
        visited, total, ratio = Visit.coverage(Customer.visible_to(manager))
        territories = (Territory.select(Territory.name)
                       .where(Territory.id.in_(Assignment.current().select(Assignment.territory)
                                               .where(Assignment.user == manager)))
                       .order_by(Territory.name))
        rows.append({"user": manager, "territories": [t.name for t in territories],
                     "visited": visited, "total": total, "coverage": ratio})
    assigned_ids = Assignment.current().select(Assignment.territory)
    unassigned = (Territory.visible_to(current_user)
                  .where(Territory.kind.in_(("village", "street", "market")),
                         Territory.retired_on.is_null(), Territory.id.not_in(assigned_ids))
                  .order_by(Territory.path))
    return render("coverage/team.html", rows=rows, unassigned=unassigned)
