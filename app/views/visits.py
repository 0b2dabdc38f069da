"""The field loop: a manager's day (今日), the check-in and visit form (签到), the visit,
its photo, a customer met on the street, positions to confirm, and the maintenance ledger
(跟进待办)."""
import datetime as dt
import math
import re
import uuid

from flask import (Blueprint, abort, flash, make_response, redirect, request,
                   send_from_directory, url_for)
from flask_babel import gettext as _, lazy_gettext as _l
from flask_login import current_user

from app.db import chinese_order, tree_order
from app import clock, geo
from app.models import Customer, FollowUp, Holding, Lead, Product, Territory, Visit
from app.models.product import likely_first
from app.models.refused import CONFLICT, Problems, Refused
from app.models.visit import PHOTO_MAX_BYTES, Fix, photo_root, results_for
from app.walk import GROUPS, reasons, walk_list
from app.web import abort_refused, get_visible_or_404, render, roles_required, wants_fragment

bp = Blueprint("visits", __name__)

OUTCOME_LABELS = {"met": _l("Met"), "not_home": _l("Not at home"), "refused": _l("Refused"),
                  "interested": _l("Interested"), "applied": _l("Application taken"), "signed": _l("Signed"),
                  "moved": _l("Moved away")}
RESULT_LABELS = {"pitched": _l("Pitched"), "interested": _l("Interested"), "declined": _l("Declined"),
                 "applied": _l("Application taken"), "documents": _l("Documents received"),
                 "signed": _l("Signed")}
PHONE = re.compile(r"^1\d{10}$")


@bp.app_template_global()
def outcome_label(code):
    return OUTCOME_LABELS.get(code, code)


@bp.app_template_global()
def result_label(code):
    return RESULT_LABELS.get(code, code)


@bp.app_template_global()
def business_today():
    return clock.today()


@bp.app_template_filter("local")
def local_time(value, fmt="%m-%d %H:%M"):
    """A stored UTC timestamp in business time (Asia/Shanghai)."""
    return clock.to_local(value).strftime(fmt) if value else "—"


# --- Today ---------------------------------------------------------------------------

def _position_args():
    """The phone's position from the query string, when it gave one and it is a number."""
    try:
        lat, lng = float(request.args["lat"]), float(request.args["lng"])
    except (KeyError, ValueError):
        return None
    if not (math.isfinite(lat) and math.isfinite(lng) and -90 <= lat <= 90 and -180 <= lng <= 180):
        return None
    return lat, lng


@bp.route("/today")
@roles_required("manager")
def today():
    """The walk list: follow-ups due first, then customers not yet visited, nearest first."""
    here = _position_args()
    offset = request.args.get("offset", "0")
    offset = min(int(offset), 1_000_000) if offset.isdigit() else 0
    if offset and request.htmx and not request.htmx.history_restore_request:
        # The "more" link: only the next rows, without the counters.
        return render("visits/_walk_rows.html", walk=walk_list(current_user, here, offset=offset), here=here,
                      formats=_walk_formats())
    counts = Visit.day_counters(current_user)
    walk = walk_list(current_user, here, offset=offset)
    handed = walk.handed  # Today's 2nd group: what a team lead handed over
    counts["follow_ups_due"] = len(walk.follow_ups)
    # The leads panel is part of the whole page only, not of the walk list's fragment.
    leads = None if wants_fragment() else Lead.for_today(current_user)
    return render("visits/today.html", "visits/_walk.html", counts=counts, walk=walk, here=here,
                  formats=_walk_formats(), leads=leads, handed=handed)


# Formats of Today's rows, translated once a page rather than once a row (gettext took
# ~40 µs a call; a page has dozens of rows).
WALK_FORMATS = {"last_visit": _l("last visit %(day)s"), "overdue": _l("overdue since %(day)s"),
                "matures": _l("%(product)s matures %(day)s"), "in_days": _l("in %(n)s days"),
                "amount": _l("%(n)s (10k yuan)")}


def _walk_formats():
    # The reasons of the walk list's groups; the plain "not yet visited this week" rows (rest)
    # carry none: the list's heading says it; a never visited row says so once, in its reason.
    return {**{key: str(text) for key, text in WALK_FORMATS.items()}, "reasons": reasons(),
            "rest": GROUPS["rest"], "never": GROUPS["never"]}


# --- Check-in and the visit form -----------------------------------------------------

def _products_for(customer):
    bank = customer.branch.bank
    return list(Product.offered_by(bank.id if bank else None))


def _parse_time(text, default, problems):
    """An ISO timestamp from the phone as naive UTC; the default when the form sent none
    or an unreadable one (then with the problem added)."""
    text = (text or "").strip()
    if not text:
        return default
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        if value.tzinfo is not None:
            # year 1 or 9999 with an offset has no UTC time: as unreadable as any other
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        else:
            value = None
    except (ValueError, OverflowError):
        value = None
    if value is None:
        problems.add("made_at", _l("The phone sent an unreadable time."), "time")
        return default
    return value


def _number(name, form=None):
    """A number from the form; None when blank; ValueError when not a number."""
    text = str((request.form if form is None else form).get(name, "")).strip()
    return float(text) if text else None


def _form_check_in():
    """Read the posted form into Visit.check_in's typed arguments; Refused when it cannot be read."""
    data = None
    photo = request.files.get("photo")
    if photo:
        with photo.stream:  # a big upload is spooled to a temporary file: close it now
            # Read one byte past the limit: enough to refuse a 10 MB photo without holding it.
            data = photo.stream.read(PHOTO_MAX_BYTES + 1)
    return check_in_values(request.form, data)


def check_in_values(form, photo=None, now=None):
    """The check-in form's fields (a mapping of texts, as posted or as the phone's outbox
    kept them) and the photo's bytes as Visit.check_in's typed arguments; Refused when they
    cannot be read. The offline batch (views/sync.py) reads its check-ins here too."""
    problems = Problems()
    now = now or clock.now()
    made_at = _parse_time(form.get("made_at"), now, problems)
    fix = None
    try:
        lat, lng, accuracy = _number("lat", form), _number("lng", form), _number("accuracy", form)
        if (lat is None) != (lng is None):
            raise ValueError("half a position")
    except ValueError:
        problems.add("fix", _l("The phone sent an unreadable position."))
    else:
        if lat is not None:
            # A position typed by hand (no JavaScript) has no accuracy: the worst a fix may have,
            # so it is kept with its distance but never verifies.
            fix = Fix(lat, lng, 2000.0 if accuracy is None else accuracy,
                      _parse_time(form.get("fix_at"), made_at, problems))
    products = []
    for key, result in form.items():
        if key.startswith("product_") and result:
            products.append((key[len("product_"):], result))
    follow = str(form.get("next_follow_up_on", "")).strip()
    next_on = None
    if follow:
        try:
            next_on = dt.date.fromisoformat(follow)
        except ValueError:
            problems.add("next_follow_up_on", _l("Enter a date as YYYY-MM-DD."), "follow_up")
    problems.check()
    return dict(fix=fix, made_at=made_at, client_uuid=form.get("client_uuid", ""),
                outcome=form.get("outcome", ""), products=products, note=form.get("note", ""),
                next_follow_up_on=next_on, photo=photo or None, now=now)


@bp.route("/visits/check-in/<int:customer_id>", methods=["GET", "POST"])
@roles_required("manager")
def check_in(customer_id):
    """The visit form: one tap from Today, a GPS fix, the outcome, products, note, follow-up."""
    errors, status = [], 200
    if request.method == "POST":
        # Visit.check_in checks the scope itself (on made-at's day too, for a late upload):
        # loading the archive first would pay for the check twice on every post.
        try:
            result = Visit.check_in(current_user, customer_id, **_form_check_in())
        except Refused as refused:
            abort_refused(refused)
            errors, status = refused.messages, 409 if refused.code == CONFLICT else 422
        else:
            flash(_describe(result))
            return redirect(url_for("visits.detail", visit_id=result.visit.id))
    customer = get_visible_or_404(Customer, customer_id)
    holdings = list(Holding.select(Holding, Product).join(Product).where(Holding.customer == customer.id)
                    .order_by(Product.kind, chinese_order(Product.name)))
    likely, more = likely_first(_products_for(customer), customer.kind, {h.product_id for h in holdings})
    # a product chosen in a refused post stays in sight
    chosen = {int(k[len("product_"):]) for k, v in request.form.items() if k.startswith("product_") and v
              and k[len("product_"):].isdigit()}
    response = render("visits/check_in.html", customer=customer, likely=likely, more=more,
                      more_open=any(p.id in chosen for p in more), holdings=holdings,
                      last_visit=Visit.last_at(current_user, customer.id),
                      OUTCOME_LABELS=OUTCOME_LABELS, RESULT_LABELS=RESULT_LABELS, results_for=results_for,
                      errors=errors,
                      # a UUID already used at another customer (409) is not offered again
                      client_uuid=(status != 409 and request.form.get("client_uuid")) or str(uuid.uuid4()),
                      form=request.form, tomorrow=clock.today() + dt.timedelta(days=1))
    response.status_code = status
    return response


def _describe(result):
    visit = result.visit
    if result.status == "replayed":
        return _("This check-in was already saved.")
    if result.status == "merged":
        return _("Added to your visit of a few minutes ago.")
    if visit.verified:
        return _("Checked in: verified, %(m)s m from the customer.", m=round(visit.distance_m))
    if visit.distance_m is None:
        return _("Checked in: saved unverified (no position to compare with).")
    return _("Checked in: saved unverified, %(m)s m from the customer.", m=round(visit.distance_m))


@bp.route("/visits/<int:visit_id>")
@roles_required("manager", "team_lead", "management", "admin")
def detail(visit_id):
    visit = get_visible_or_404(Visit, visit_id)
    return render("visits/detail.html", visit=visit, customer=visit.customer,
                  follow_ups=list(visit.follow_ups))


@bp.route("/visits/<int:visit_id>/photo")
def photo(visit_id):
    """The visit's photo, to whoever may see the visit; files live under instance/."""
    visit = get_visible_or_404(Visit, visit_id)
    if not visit.photo_path:
        abort(404)
    response = send_from_directory(photo_root(), visit.photo_path, max_age=0)
    # A person's door and face: never kept in a shared phone's HTTP cache, as no page is.
    response.headers["Cache-Control"] = "private, no-store"
    return response


# --- A customer met on the street -----------------------------------------------------

@bp.route("/visits/met", methods=["GET", "POST"])
@roles_required("manager")
def met():
    """A new customer met on the street: name, phone, group and where, the rest later."""
    territories = tree_order(Territory.visible_to(current_user).order_by(Territory.path))
    errors, form = {}, request.form
    if request.method == "POST":
        name = form.get("name", "").strip()
        phone = form.get("phone", "").strip()
        territory = next((t for t in territories if str(t.id) == form.get("territory")), None)
        if not name or len(name) > 40:
            errors["name"] = _("Enter the customer's name.")
        if phone and not PHONE.match(phone):
            errors["phone"] = _("A mobile number is 11 digits starting with 1.")
        if territory is None:
            errors["territory"] = _("Choose the village or group.")
        position = None
        try:
            lat, lng = _number("lat"), _number("lng")
        except ValueError:
            lat = lng = math.nan
        if lat is not None or lng is not None:
            if lat is not None and lng is not None and _in_china(lat, lng):
                position = (lat, lng)
            else:
                errors["position"] = _("The position is not a place in China.")
        if not errors:
            fields = {"kind": "household", "name": name, "phone": phone or None,
                      "village": _village_of(territory), "group_name": territory.name,
                      "consent": False}
            try:
                customer = Customer.add_archive(current_user, territory, fields)
            except Refused as refused:
                duplicate = refused.choices["customers"][0]
                errors["phone"] = _("A customer with this phone is already on file: %(name)s.",
                                    name=duplicate.name)
        if not errors:
            if position:
                # Where they were met, not necessarily their home: unconfirmed, like a first fix.
                Customer.update(lat=position[0], lng=position[1], position_source="fix",
                                position_confirmed=False).where(Customer.id == customer.id).execute()
            flash(_("%(name)s added: record the visit now.", name=name))
            return redirect(url_for("visits.check_in", customer_id=customer.id))
    response = render("visits/met.html", territories=territories, errors=errors, form=form)
    response.status_code = 400 if errors else 200
    return response


def _in_china(lat, lng):
    return geo.CHINA[0] <= lng <= geo.CHINA[2] and geo.CHINA[1] <= lat <= geo.CHINA[3]


def _village_of(territory):
    if territory.kind == "group" and territory.parent_id:
        return Territory.get_by_id(territory.parent_id).name
    return territory.name


# --- Positions to confirm ------------------------------------------------------------

@bp.route("/positions")
@roles_required("team_lead", "admin")
def positions():
    """Positions taken from a manager's first check-in, for a team lead to confirm: a team lead's
    are part of the review queue."""
    if current_user.role == "team_lead":
        return redirect(url_for("coverage.review") + "#positions")
    customers = (Customer.visible_to(current_user)
                 .where(~Customer.position_confirmed, Customer.lat.is_null(False))
                 .order_by(Customer.updated_at.desc()).limit(200))
    return render("visits/positions.html", customers=customers)


# --- The maintenance ledger (跟进待办) ----------------------------------------------

@bp.route("/ledger")
@roles_required("manager", "team_lead")
def ledger():
    """Open follow-ups: overdue, today, this week; done or moved with one tap."""
    groups = FollowUp.ledger(current_user)
    return render("visits/ledger.html", groups=groups, today=clock.today())


def _ledger_row(follow, message):
    if request.htmx:
        return render("visits/_follow_up_row.html", f=follow, today=clock.today(), message=message)
    flash(message)
    return redirect(url_for("visits.ledger"))


@bp.route("/follow-ups/<int:follow_up_id>/done", methods=["POST"])
@roles_required("manager", "team_lead")
def follow_up_done(follow_up_id):
    follow = get_visible_or_404(FollowUp, follow_up_id)
    if follow.done_at is None:
        follow.mark_done()
    return _ledger_row(follow, _("Done: %(name)s.", name=follow.customer.name))


@bp.route("/follow-ups/<int:follow_up_id>/reschedule", methods=["POST"])
@roles_required("manager", "team_lead")
def follow_up_reschedule(follow_up_id):
    follow = get_visible_or_404(FollowUp, follow_up_id)
    text = request.form.get("due_on", "").strip()
    days = request.form.get("days", "").strip()
    try:
        due = clock.today() + dt.timedelta(days=int(days)) if days else dt.date.fromisoformat(text)
    except ValueError:
        return _bad_request(_("Enter a date as YYYY-MM-DD."))
    try:
        follow.reschedule(due)
    except Refused as refused:
        return _bad_request(refused.message)
    return _ledger_row(follow, _("Moved to %(day)s: %(name)s.", day=due.isoformat(),
                                 name=follow.customer.name))


def _bad_request(message):
    if not request.htmx:
        flash(message)
        return redirect(url_for("visits.ledger"))
    response = make_response(render("visits/_message.html", message=message))
    response.status_code = 400
    response.headers["HX-Reswap"] = "none"
    return response

