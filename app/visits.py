"""The field loop: a manager's day (今日)."""
from flask import Blueprint
from flask_login import current_user

from app.models import Customer, Territory, Visit
from app.web import render, roles_required

bp = Blueprint("visits", __name__)


@bp.route("/today")
@roles_required("manager")
def today():
    """Today's page: the day's counters and the customers still to visit this week."""
    counts = Visit.day_counters(current_user)
    to_visit = (Customer.visible_to(current_user)
                .where(Customer.status == "active", Customer.consent)
                .where(Customer.id.not_in(Visit.this_week_customer_ids()))
                .order_by(Customer.village, Customer.group_name, Customer.name)
                .limit(30))
    territories = Territory.visible_to(current_user).order_by(Territory.path)
    return render("visits/today.html", counts=counts, to_visit=to_visit, territories=territories)
