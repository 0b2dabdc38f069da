"""The reasons a lead may be lost for (营销未成功原因), as each bank keeps them (/admin/lost-reasons)."""
from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user

from app.models import AuditLog, Branch, LostReason
from app.models.refused import Refused
from app.models.scope import branch_scope
from app.views.admin.common import admin_bank
from app.web import render, roles_required

bp = Blueprint("lost_reasons", __name__, url_prefix="/admin/lost-reasons")


def _reasons_url(bank, banks):
    return url_for("lost_reasons.index", bank=bank.id if len(banks) > 1 else None)


@bp.route("/", methods=["GET", "POST"], endpoint="index")
@roles_required("admin")
def reasons():
    """The reasons a lead may be lost for, as the bank keeps them.

    Chosen like the other bank-wide admin pages (common.admin_bank): a bank's admin keeps
    their own list, a union's admin picks one of the banks below, a sub-branch's admin reads.
    """
    bank, banks, editable = admin_bank(change=request.method == "POST")
    error = None
    if request.method == "POST":
        try:
            LostReason.add(current_user, bank, request.form.get("label", ""), ip=request.remote_addr)
        except Refused as refused:
            error = refused.message
        else:
            return redirect(_reasons_url(bank, banks))
    rows = list(LostReason.select().where(LostReason.bank == bank.id).order_by(LostReason.id))
    return render("leads/lost_reasons.html", rows=rows, defaults=LostReason.labels(None) if not rows else [],
                  error=error, value=request.form.get("label", ""), bank=bank, banks=banks,
                  editable=editable), (400 if error else 200)


@bp.route("/<int:reason_id>/active", methods=["POST"])
@roles_required("admin")
def toggle(reason_id):
    """Stop offering a reason (or offer it again); leads already lost for it keep it."""
    row = LostReason.get_or_none(LostReason.id == reason_id)
    banks = list(Branch.select().where(branch_scope(current_user) & (Branch.kind == "bank")))
    bank = next((b for b in banks if row is not None and b.id == row.bank_id), None)
    if bank is None:
        own = current_user.branch.bank
        if row is not None and own is not None and row.bank_id == own.id:
            abort(403)  # a sub-branch admin's own bank: readable, changed by the bank's admin
        abort(404)
    row.active = not row.active
    row.save()
    AuditLog.record(current_user.id, "toggle_lost_reason", "branch", bank.id, ip=request.remote_addr,
                    label=row.label, active=row.active)
    return redirect(_reasons_url(bank, banks))
