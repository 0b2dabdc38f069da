"""Leads (线索): prospects the user may see."""
from flask import Blueprint
from flask_login import current_user

from app.models import Lead, Product
from app.web import render, roles_required

bp = Blueprint("leads", __name__, url_prefix="/leads")


@bp.route("/")
@roles_required("manager", "team_lead", "management")
def index():
    """The leads in the user's scope, newest first."""
    leads = (Lead.visible_to(current_user).select(Lead, Product).join(Product)
             .order_by(Lead.updated_at.desc()).limit(100))
    return render("leads/index.html", leads=leads)
