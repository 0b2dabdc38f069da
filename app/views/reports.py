"""Figures for management (行领导): the bank at a glance."""
from flask import Blueprint
from flask_login import current_user
from peewee import fn

from app.db import tree_order
from app.models import Branch, Customer, Visit
from app.models.scope import branch_scope
from app.web import render, roles_required

bp = Blueprint("reports", __name__)


@bp.route("/overview")
@roles_required("management")
def overview():
    """Customers by tier for each branch, and this week's coverage."""
    tiers = {}
    query = (Customer.visible_to(current_user)
             .select(Customer.branch, Customer.tier, fn.COUNT(Customer.id).alias("n"))
             .group_by(Customer.branch, Customer.tier))
    for row in query.dicts():
        tiers.setdefault(row["branch"], {})[row["tier"]] = row["n"]
    branches = tree_order(Branch.select().where(branch_scope(current_user), Branch.kind != "union")
                          .order_by(Branch.path))
    rows = [{"branch": b, "tiers": tiers.get(b.id, {}), "total": sum(tiers.get(b.id, {}).values())}
            for b in branches if b.id in tiers]
    visited, total, ratio = Visit.coverage(current_user)
    return render("reports/overview.html", rows=rows, visited=visited, total=total, coverage=ratio)
