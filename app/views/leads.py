"""Leads (营销线索): capture, the pipeline list and board, hand-offs, the funnel."""
import datetime as dt
from urllib.parse import parse_qsl, urlencode

from flask import Blueprint, abort, flash, redirect, request, url_for
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user
from peewee import fn
from werkzeug.datastructures import MultiDict

from app.db import tree_order
from app import clock
from app.models import AuditLog, Customer, Lead, LostReason, Product, Setting, Territory, User, Visit
from app.models.customer import CUSTOMER_KINDS, holds_customer
from app.models.lead import LEAD_SOURCES, LEAD_STATUSES, OPEN_STATUSES, new_client_uuid, team_managers
from app.models.lead_funnel import funnel as lead_funnel, listing
from app.models.refused import CONFLICT, FORBIDDEN, Refused
from app.views.customer_forms import KIND_LABELS
from app.web import abort_refused, arg_id, get_visible_or_404, render, roles_required

bp = Blueprint("leads", __name__, url_prefix="/leads")

READERS = ("manager", "team_lead", "management")
WORKERS = ("manager", "team_lead")  # management reads leads, never works them

STATUS_LABELS = {"new": _l("New"), "contacted": _l("Contacted"), "qualified": _l("Qualified"),
                 "won": _l("Won"), "lost": _l("Lost")}
SOURCE_LABELS = {"visit": _l("Visit"), "referral": _l("Referral"), "counter": _l("Counter"),
                 "event": _l("Village event"), "phone": _l("Phone call")}
CHIPS = {"open": _l("Open"), "new": _l("New"), "contacted": _l("Contacted"), "qualified": _l("Qualified"),
         "won": _l("Won"), "lost": _l("Lost"), "stale": _l("Stale"), "all": _l("All")}
LANE_SIZE = 30


@bp.app_context_processor
def lead_labels():
    return {"LEAD_STATUS_LABELS": STATUS_LABELS, "LEAD_SOURCE_LABELS": SOURCE_LABELS}


# The dates a filter may name: any the bank has leads for, and far enough from the calendar's
# ends (0001-01-01, 9999-12-31) that a period around them and its UTC bounds exist.
FIRST_DAY, LAST_DAY = dt.date(1900, 1, 1), dt.date(2999, 12, 31)


def _day(text):
    """A date of the query string, within FIRST_DAY..LAST_DAY; None when unreadable."""
    try:
        day = dt.date.fromisoformat(text) if text else None
    except ValueError:
        return None
    return None if day is None else min(max(day, FIRST_DAY), LAST_DAY)


def _filters(args):
    """The list's filters from the query string; unknown values are dropped, not refused."""
    chip = args.get("status", "")
    chip = chip if chip in CHIPS else ""
    return {"status": chip, "owner": args.get("owner", type=arg_id), "by": args.get("by", type=arg_id),
            "product": args.get("product", type=arg_id),
            "reached": args.get("reached") if args.get("reached") in ("new", "contacted", "qualified", "won") else None,
            "since": _day(args.get("since")), "until": _day(args.get("until"))}


@bp.route("/")
@roles_required(*READERS)
def index():
    """The leads in scope: status chips and one-tap moves on a phone, a board by status on a laptop."""
    return _board(request.args, moved=request.args.get("moved", type=arg_id))


def _board(args, moved=None, row_error=None, status=200):
    """The list page, or only its board for htmx (a one-tap move answers with the board it changed)."""
    filters = _filters(args)
    query = listing(current_user, status=None if filters["status"] in ("", "all", "stale") else filters["status"],
                         stale=filters["status"] == "stale", owner=filters["owner"], product=filters["product"],
                         reached=filters["reached"], since=filters["since"], until=filters["until"],
                         by=filters["by"])
    if filters["status"] in LEAD_STATUSES:
        lanes = [filters["status"]]
    elif filters["status"] in ("open", "stale"):
        lanes = list(OPEN_STATUSES)
    else:
        lanes = list(LEAD_STATUSES)
    totals = dict(query.select(Lead.status, fn.COUNT(Lead.id)).order_by().group_by(Lead.status).tuples())
    counts = {status: totals.get(status, 0) for status in lanes}
    rows = {status: list(query.where(Lead.status == status).limit(LANE_SIZE)) if counts[status] else []
            for status in lanes}
    link_args = {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in filters.items()
                 if v and k != "status"}
    list_query = urlencode({k: v for k, v in {**link_args, "status": filters["status"]}.items() if v})
    return render("leads/index.html", "leads/_board.html", lanes=lanes, rows=rows, counts=counts,
                  filters=filters, link_args=link_args, list_query=list_query, CHIPS=CHIPS,
                  stale_before=Lead.stale_before(current_user.branch.bank), moved=moved, row_error=row_error,
                  can_work=current_user.role in WORKERS), status


def _capture_context(values, errors=None, duplicates=None):
    bank = current_user.branch.bank
    customer = visit = None
    if values.get("customer"):
        customer = get_visible_or_404(Customer, values.get("customer"))
    if values.get("visit"):
        try:
            visit_id = arg_id(values.get("visit"))
        except ValueError:
            abort(404)  # a form shown again with a garbled visit (found by tests/test_properties.py)
        visit = Visit.visible_to(current_user).where(Visit.id == visit_id).first()
        if visit is None or (customer is not None and visit.customer_id != customer.id):
            abort(404)
        customer = customer or Customer.get_by_id(visit.customer_id)
    products = list(Product.offered_by(bank)) if bank else []
    visible = set()
    if duplicates is not None:
        ids = [c.id for c in duplicates["customers"]]
        visible = {c.id for c in Customer.visible_to(current_user).where(Customer.id.in_(ids or [0]))}
        lead_ids = [lead.id for lead in duplicates["leads"]]
        workable = Lead.visible_to(current_user).where(Lead.id.in_(lead_ids or [0]))
        if current_user.role == "manager":
            workable = workable.where(Lead.owner == current_user.id)  # only an owner adds to a lead
        visible |= {("lead", lead.id) for lead in workable}
    return dict(values=values, errors=errors or {}, customer=customer, visit=visit, products=products,
                managers=list(team_managers(current_user)), duplicates=duplicates, visible=visible,
                SOURCES=[(s, SOURCE_LABELS[s]) for s in LEAD_SOURCES])


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*WORKERS)
def new():
    """Capture a lead: from a visit, from a customer's page, or standalone (name and phone)."""
    if request.method == "GET":
        values = {"client_uuid": new_client_uuid(), "customer": request.args.get("customer", type=arg_id),
                  "visit": request.args.get("visit", type=arg_id), "owner": current_user.id,
                  "source": "visit" if request.args.get("visit") else ""}
        return render("leads/new.html", **_capture_context(values))
    values = request.form.to_dict()
    try:
        lead, created = Lead.capture(current_user, values)
    except Refused as refused:
        abort_refused(refused)  # a customer or visit outside the user's scope: say nothing about it
        if refused.code == CONFLICT and "client_uuid" in refused.errors:
            # The same form's UUID with another body: said, with a fresh UUID to save it as new.
            values["client_uuid"] = new_client_uuid()
            return render("leads/new.html", **_capture_context(values, errors=refused.errors)), 409
        if refused.code == CONFLICT:
            return render("leads/new.html", **_capture_context(values, duplicates=refused.choices)), 409
        return render("leads/new.html", **_capture_context(values, errors=refused.errors)), 400
    flash(_("Lead saved.") if created else _("This lead was already saved."))
    return redirect(url_for("leads.detail", lead_id=lead.id))


def _detail(lead, errors=None, values=None, status=200, full=False, duplicates=None):
    bank = current_user.branch.bank
    can_work = current_user.role == "team_lead" or (current_user.role == "manager"
                                                   and lead.owner_id == current_user.id)
    territories = []
    if can_work and lead.is_open and not lead.customer_id:
        # Where the won form may open the new customer's archive: the user's own territories.
        territories = tree_order(Territory.visible_to(current_user).where(Territory.live())
                           .order_by(Territory.path))
    visible = set()
    if duplicates:
        visible = {c.id for c in Customer.visible_to(current_user)
                   .where(Customer.id.in_([c.id for c in duplicates]))}
    # A lead may name a customer who is (or has since moved) outside the user's territories:
    # their name and tier are the archive's, shown only to whom the archive is.
    customer_visible = bool(lead.customer_id) and holds_customer(current_user, lead.customer)
    return render("leads/detail.html", lead=lead, history=list(lead.history()), errors=errors or {},
                  customer_visible=customer_visible,
                  values=values or {}, can_work=can_work, reasons=LostReason.labels(bank),
                  territories=territories, duplicates=duplicates or [], visible=visible,
                  KIND_LABELS={k: KIND_LABELS[k] for k in CUSTOMER_KINDS},
                  managers=list(team_managers(current_user)) if current_user.role == "team_lead" else [],
                  stale=lead.is_stale(_stale_days()), today=clock.today(), full=full,
                  # the manager working the lead calls its person (through the audited call route)
                  call=bool(_number_to_call(lead)),
                  can_reveal=lead.may_reveal(current_user)), status


def _stale_days():
    return Setting.get(current_user.branch.bank, "stale_lead_days")


@bp.route("/<int:lead_id>")
@roles_required(*READERS)
def detail(lead_id):
    """One lead: its facts, the moves it may make, its history."""
    return _detail(get_visible_or_404(Lead, lead_id))


@bp.route("/<int:lead_id>/full", methods=["POST"])
@roles_required(*WORKERS)
def full(lead_id):
    """The lead with phone and account number in clear, for its owner or a team lead; audited,
    as the archive's full view is."""
    lead = get_visible_or_404(Lead, lead_id)
    if not lead.may_reveal(current_user):
        abort(403)
    AuditLog.record(current_user.id, "view_full", "lead", lead.id, ip=request.remote_addr)
    return _detail(lead, full=True)


def _number_to_call(lead):
    """The number the current user may dial for a lead: only its owner, a manager, may."""
    if current_user.role == "manager" and lead.owner_id == current_user.id:
        return lead.phone or (lead.customer.phone if lead.customer_id else None)
    return None


@bp.route("/<int:lead_id>/call")
@roles_required("manager")
def call(lead_id):
    """Dial the lead's person: a redirect to a tel: link, so the number never sits in a
    page's source; each call is audited like the full view."""
    number = _number_to_call(get_visible_or_404(Lead, lead_id))
    if not number:
        abort(404)
    AuditLog.record(current_user.id, "call", "lead", lead_id, ip=request.remote_addr)
    return redirect(f"tel:{number}")


def _list_args():
    """The filters of the list a one-tap move was made from, as the form carried them back."""
    return MultiDict(parse_qsl(request.form.get("list_query", "")))


def _act(lead_id, action):
    """Run action(lead) for a lead in scope; errors re-render the lead page beside their fields."""
    lead = get_visible_or_404(Lead, lead_id)
    try:
        action(lead)
    except Refused as refused:
        if refused.code == FORBIDDEN:
            abort(403)
        if refused.code == CONFLICT:
            return _detail(Lead.get_by_id(lead.id), values=request.form, duplicates=refused.choices["customers"],
                           status=409)
        if request.form.get("back") == "list":
            # Said on the row itself; 200 for htmx, which swaps no error response.
            return _board(_list_args(), row_error=(lead.id, refused.message),
                          status=200 if request.htmx else 400)
        return _detail(Lead.get_by_id(lead.id), errors=refused.errors, values=request.form, status=400)
    if request.form.get("back") == "list":
        if request.htmx:
            return _board(_list_args(), moved=lead.id)
        return redirect(url_for("leads.index", moved=lead.id, **_list_args().to_dict()))
    return redirect(url_for("leads.detail", lead_id=lead.id))


@bp.route("/<int:lead_id>/status", methods=["POST"])
@roles_required(*WORKERS)
def move(lead_id):
    """Move a lead along the pipeline (won asks amount, date, number; lost asks a reason)."""
    form = request.form

    def action(lead):
        archive = {key: form.get(key) for key in ("territory", "kind", "id_number", "link")}
        lead.move(current_user, form.get("to", ""), amount=form.get("amount"), won_on=form.get("won_on"),
                  reference=form.get("reference"), reason=form.get("reason"), note=form.get("note", ""),
                  archive=archive)
        outcome = lead.archive_outcome
        if outcome and outcome[0] == "created":
            flash(_("Signed: %(name)s's archive was opened with the product.", name=outcome[1].name))
        elif outcome:
            flash(_("Signed: linked to %(name)s's existing archive, whose products and tier are updated.",
                    name=outcome[1].name))
        elif lead.status == "won" and lead.customer_id:
            flash(_("Signed: the customer's products and tier are updated."))
    return _act(lead_id, action)


@bp.route("/<int:lead_id>/reopen", methods=["POST"])
@roles_required(*WORKERS)
def reopen(lead_id):
    """Reopen a lost lead."""
    return _act(lead_id, lambda lead: lead.reopen(current_user, request.form.get("note", "")))


@bp.route("/<int:lead_id>/note", methods=["POST"])
@roles_required(*WORKERS)
def note(lead_id):
    """A note in the lead's history; also how a second capture of the same interest joins it."""
    def action(lead):
        text = request.form.get("note", "").strip()
        if request.form.get("attach"):
            source = SOURCE_LABELS.get(request.form.get("source"), "")
            text = _("Reported again (%(source)s): %(note)s", source=source, note=text or "—")
            flash(_("Added to the open lead instead of a second one."))
        lead.add_note(current_user, text)
    return _act(lead_id, action)


@bp.route("/<int:lead_id>/reassign", methods=["POST"])
@roles_required("team_lead")
def reassign(lead_id):
    """A team lead hands a lead to another manager of the team, with a note the new owner sees first."""
    def action(lead):
        lead.reassign(current_user, request.form.get("owner"), request.form.get("handover_note"))
        flash(_("Handed over to %(name)s.", name=User.get_by_id(lead.owner_id).name))
    return _act(lead_id, action)


@bp.route("/funnel")
@roles_required("team_lead", "management")
def funnel():
    """The funnel per manager and per product for a period; every figure opens its leads."""
    until = _day(request.args.get("until")) or clock.today()
    since = _day(request.args.get("since")) or until - dt.timedelta(days=29)
    error = None
    if since > until:
        error = _("The start of the period is after its end.")
        since = until - dt.timedelta(days=29)
    figures = lead_funnel(current_user, since, until)
    return render("leads/funnel.html", figures=figures, since=since, until=until, error=error)
