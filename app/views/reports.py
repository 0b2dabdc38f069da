"""Figures for management (行领导): the bank at a glance, and the weekly PDF reports."""
import datetime as dt

from flask import Blueprint, abort, redirect, request, send_file, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from app import reporting
from app.db import tree_order
from app.models import Branch, Customer, Job, ReportFile, Territory, Visit
from app.models.refused import Refused
from app.models.report import BANK_READERS, READERS
from app.models.scope import branch_scope
from app.models.setting import counted_kinds
from app.models.territory import TERRITORY_KIND_LABELS
from app.models.weekly import REPORTED_KINDS, last_closed_week, parse_week, week_label
from app.views.customer_forms import KIND_LABELS
from app.web import get_visible_or_404, render, roles_required, wants_fragment

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


# --- the weekly reports (issue 19) -------------------------------------------------------------
def _week_arg():
    """The ?week= asked for (ISO week) or last week; with the reason when it was unreadable."""
    text = request.args.get("week", "").strip()
    if text:
        try:
            return parse_week(text), None
        except Refused as refused:
            return last_closed_week(), refused.errors.get("week")
    return last_closed_week(), None


def _rows(user, monday):
    """The reported territories in the user's scope, each with its kept report for the week and the
    live job making it."""
    territories = tree_order(Territory.visible_to(user).where(Territory.live(), Territory.kind.in_(REPORTED_KINDS))
                             .order_by(Territory.path))
    files = {f.territory_id: f for f in ReportFile.visible_to(user).where(
        ReportFile.week == monday, ReportFile.kind == "territory")}
    week = week_label(monday)
    jobs = {j.key: j for j in Job.select().where(
        Job.key.in_([reporting.job_key("territory", t.id, week) for t in territories] or [""]),
        Job.state.in_(("queued", "running")))}
    return [{"territory": t, "file": files.get(t.id), "job": jobs.get(reporting.job_key("territory", t.id, week)),
             "depth": t.path.count("/") - 2} for t in territories]


@bp.route("/reports/weekly")
@roles_required(*READERS)
def weekly():
    """The weekly PDFs of a week, for the territories in the user's scope (and the bank summary)."""
    monday, problem = _week_arg()
    banks = []
    if current_user.role in BANK_READERS:
        files = {f.bank_id: f for f in ReportFile.visible_to(current_user).where(
            ReportFile.week == monday, ReportFile.kind == "bank")}
        in_scope = Branch.select().where(branch_scope(current_user), Branch.kind == "bank").order_by(Branch.path)
        banks = [{"bank": b, "file": files.get(b.id)} for b in in_scope]
    return render("reports/weekly.html", kind_labels=TERRITORY_KIND_LABELS, rows=_rows(current_user, monday),
                  banks=banks, week=week_label(monday),
                  monday=monday, sunday=monday + dt.timedelta(days=6), problem=problem,
                  previous=week_label(monday - dt.timedelta(days=7)),
                  following=week_label(monday + dt.timedelta(days=7)) if monday < last_closed_week() else None)


@bp.route("/reports/weekly/<int:territory_id>/generate", methods=["POST"])
@roles_required(*READERS)
def generate(territory_id):
    """Queue one territory's report now; the row's progress comes back for htmx, else the page."""
    territory = get_visible_or_404(Territory, territory_id)
    if territory.kind not in REPORTED_KINDS:
        abort(404)
    try:
        monday = parse_week(request.form.get("week", ""))
    except Refused as refused:
        return render("reports/weekly_error.html", message=refused.errors.get("week")), 400
    week = week_label(monday)
    job = reporting.queue("territory", territory.id, week, territory.branch.bank or territory.branch, current_user)
    if not wants_fragment():
        return redirect(url_for("reports.weekly", week=week))
    return render("partials/_report_row.html", row=_row_for(territory, monday, job), week=week,
                  kind_labels=TERRITORY_KIND_LABELS)


@bp.route("/reports/weekly/bank/<int:bank_id>/generate", methods=["POST"])
@roles_required(*BANK_READERS)
def generate_bank(bank_id):
    """Queue a bank's summary now; its progress on the job's page (htmx polling there)."""
    bank = Branch.select().where(branch_scope(current_user), Branch.kind == "bank", Branch.id == bank_id).first()
    if bank is None:
        abort(404)
    try:
        monday = parse_week(request.form.get("week", ""))
    except Refused as refused:
        return render("reports/weekly_error.html", message=refused.errors.get("week")), 400
    job = reporting.queue("bank", bank.id, week_label(monday), bank, current_user)
    return redirect(url_for("jobs.job", job_id=job.id))


@bp.route("/reports/weekly/<int:territory_id>/status")
@roles_required(*READERS)
def status(territory_id):
    """One row of the reports page: its progress while a worker makes it, the download once made."""
    territory = get_visible_or_404(Territory, territory_id)
    monday, _ = _week_arg()
    week = week_label(monday)
    job = Job.select().where(Job.key == reporting.job_key("territory", territory.id, week)).order_by(
        Job.id.desc()).first()
    return render("partials/_report_row.html", row=_row_for(territory, monday, job), week=week,
                  kind_labels=TERRITORY_KIND_LABELS)


def _row_for(territory, monday, job):
    kept = ReportFile.visible_to(current_user).where(ReportFile.week == monday, ReportFile.kind == "territory",
                                                     ReportFile.territory == territory.id).first()
    if job is not None:
        job.live_view()
    return {"territory": territory, "file": kept, "job": job, "depth": territory.path.count("/") - 2}


@bp.route("/reports/files/<int:file_id>")
@roles_required(*READERS)
def download(file_id):
    """A kept PDF, to whoever may see its territory (or, for the bank summary, the bank)."""
    kept = get_visible_or_404(ReportFile, file_id)
    path = reporting.reports_dir() / kept.path
    if not path.is_file():
        abort(404)
    subject = kept.territory.name if kept.territory_id else kept.bank.name
    return send_file(path, mimetype="application/pdf", as_attachment=True,
                     download_name=f"{subject}-{week_label(kept.week)}.pdf", max_age=0)
