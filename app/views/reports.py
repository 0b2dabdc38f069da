"""Figures for management (行领导): the bank at a glance."""
from flask import Blueprint
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app.db import tree_order
from app.models import Branch, Customer, Visit
from app.models.scope import branch_scope
from app.models.setting import counted_kinds
from app.views.customer_forms import KIND_LABELS
from app.web import render, roles_required

bp = Blueprint("reports", __name__)

# Why a customer is not counted by coverage, in the order the reasons are tried.
LEFT_OUT = {**KIND_LABELS, "moved": _l("moved away"), "closed": _l("closed"),
            "no_consent": _l("not agreeing to be contacted")}
FIGURES = ("counted", "all", "deposit_wan", "loan_wan")


@bp.route("/overview")
@roles_required("management")
def overview():
    """Counted customers by tier and branch, what is left out of coverage and why (so the
    figures add up to all customers), deposit and loan totals by branch, this week's coverage."""
    figures = Customer.branch_figures(Customer.visible_to(current_user), counted_kinds(current_user.branch_id))
    branches = tree_order(Branch.select().where(branch_scope(current_user), Branch.kind != "union")
                          .order_by(Branch.path))
    rows = [{"branch": b, **figures[b.id]} for b in branches if b.id in figures]
    total = {key: sum(r[key] for r in rows) for key in FIGURES}
    total["tiers"] = {t: sum(r["tiers"].get(t, 0) for r in rows) for t in ("gold", "mass", "potential")}
    left_out = {}
    for r in rows:
        for reason, n in r["left_out"].items():
            left_out[reason] = left_out.get(reason, 0) + n
    left_out = [(LEFT_OUT.get(reason, reason), left_out[reason]) for reason in LEFT_OUT if reason in left_out]
    visited, counted, ratio = Visit.coverage(current_user)
    return render("reports/overview.html", rows=rows, total=total, left_out=left_out, visited=visited,
                  counted=counted, coverage=ratio)
