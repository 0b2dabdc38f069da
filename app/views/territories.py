"""Territories (网格: 片区 / 村 / 社区 …): the 地图 tab, GeoJSON import, customers to fix."""
import datetime
import os
import uuid
from pathlib import Path

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from peewee import fn

from app.db import chinese_order, tree_order
from app import clock, geo, maps
from app.files import private_folder, private_open
from app.models import Assignment, AuditLog, Branch, Customer, Territory, User, Visit
from app.models.org import BUSINESS_LINES
from app.models.refused import Refused
from app.models.scope import branch_scope, user_scope
from app.imports.geojson import MAX_IMPORT_BYTES, import_territories
from app.models.handover import reassign
from app.models.placement import move_territory, retire_territory, save_drawn
from app.models.team import default_period, parse_period
from app.models.territory import EDITORS, KIND_NAMES, TERRITORY_KIND_LABELS, TERRITORY_KINDS
from app.web import abort_refused, get_visible_or_404, render, roles_required

bp = Blueprint("territories", __name__)
DRAWERS = EDITORS  # who may draw and edit boundaries


@bp.route("/map")
def map():
    """The 地图 tab: territories and customers on Leaflet; the list is one tap away."""
    can_draw = current_user.role in DRAWERS
    parents = list(_live_territories()) if can_draw else []
    provider = maps.tile_provider()
    datum = maps.display_datum()
    centre = (Territory.visible_to(current_user)
              .select(fn.AVG(Territory.centroid_lng), fn.AVG(Territory.centroid_lat))
              .where(Territory.live()).tuples().first())
    centre = centre if centre and centre[0] is not None else maps.CHINA_CENTRE
    if datum == "gcj02":
        centre = geo.wgs84_to_gcj02(*centre)
    green, amber = maps.coverage_thresholds(current_user)
    period = _map_period()
    return render("territories/map.html", provider=provider, can_draw=can_draw, parents=parents,
                  kinds=[(k, KIND_NAMES[k]) for k in TERRITORY_KINDS], datum=datum, centre=list(centre),
                  green=green, amber=amber, period=period)


def _map_period():
    """The period the map colours (?period=… as on the coverage page), else the bank's judging period."""
    try:
        return parse_period(current_user, request.args.get("period"), request.args.get("start"),
                            request.args.get("end"))
    except Refused:
        return default_period(current_user)


@bp.route("/map/data")
def map_data():
    """The map's territories and customers as compact JSON, scoped to the user, display datum."""
    response = jsonify(maps.map_data(current_user, maps.display_datum(), _map_period()))
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/territories")
def index():
    """The territories as a list with customer counts of each subtree: the map for slow phones."""
    territories = list(_live_territories())
    counts = Customer.counts_by_territory([t.id for t in territories], Customer.visible_to(current_user))
    # Indent from the shallowest row the user sees: a manager's village is their top level.
    top = min((t.path.count("/") for t in territories), default=2)
    return render("territories/index.html", territories=territories, counts=counts, kind_names=KIND_NAMES,
                  top=top)


def _live_territories():
    return tree_order(Territory.visible_to(current_user).where(Territory.live()).order_by(Territory.path))


@bp.route("/map/territories/<int:territory_id>")
def territory_card(territory_id):
    """A territory's card on the map: name, kind, parent, managers, customers, coverage."""
    territory = get_visible_or_404(Territory, territory_id)
    customer_count = Customer.counts_by_territory([territory.id], Customer.visible_to(current_user))
    managers = list(Assignment.current().where(Assignment.territory == territory)
                    .join(User).order_by(chinese_order(User.name)))
    visited, total, ratio = Visit.coverage(current_user, by="territory", among=[territory.id])[territory.id]
    return render("territories/card.html", "partials/_territory_card.html", territory=territory,
                  kind_names=KIND_NAMES, customer_count=customer_count.get(territory.id, 0), managers=managers,
                  coverage=(visited, total, ratio), can_draw=current_user.role in DRAWERS)


@bp.route("/map/customers/<int:customer_id>")
def customer_card(customer_id):
    """A customer's card on the map: who, tier, masked phone, last visit, a link to the full page."""
    customer = get_visible_or_404(Customer, customer_id)
    last = Visit.select(Visit.made_at).where(Visit.customer == customer).order_by(Visit.made_at.desc()).first()
    last = last.made_at if last else None
    this_week = (Visit.this_week_customer_ids(verified_only=True).where(Visit.customer == customer).exists())
    return render("territories/card.html", "partials/_customer_card.html", customer=customer,
                  last_visit=clock.to_local(last).date() if last else None, this_week=this_week)


def _drawn_reply(save, status_ok, action):
    datum = maps.display_datum()
    try:
        result = save()
    except Refused as refused:
        abort_refused(refused)
        features = [{"type": "Feature", "properties": {"kind": kind, "name": name},
                     "geometry": maps.display_shape(part, datum)}
                    for kind, name, part in getattr(refused, "highlights", [])]
        return jsonify({"ok": False, "messages": [str(m) for m in refused.messages],
                        "highlight": {"type": "FeatureCollection", "features": features}}), 422
    territory = result.territory
    # Who moved a boundary, and what it does to the customers, is kept: 责任田 decide who visits whom.
    AuditLog.record(current_user, action, "territory", territory.id, ip=request.remote_addr,
                    name=territory.name, area_m2=territory.area_m2, placed=result.placed, inside=result.inside)
    message = _l("Saved %(name)s: %(inside)s customers in it; %(placed)s customers placed again.",
                 name=territory.name, inside=result.inside, placed=result.placed)
    return jsonify({"ok": True, "id": territory.id, "placed": result.placed, "inside": result.inside,
                    "message": str(message)}), status_ok


def _drawn_geometry(body):
    geometry = body.get("geometry")
    if isinstance(geometry, dict) and geometry.get("type") == "Feature":
        geometry = geometry.get("geometry")
    return geometry


class _Unfit(Exception):
    """A drawing's body that is refused with a message (422) before any check of its shape."""

    def __init__(self, problem):
        super().__init__(problem.code)
        self.reply = jsonify({"ok": False, "messages": [str(problem)]}), 422


def _drawn_body():
    """The drawing's JSON object: 400 when it is none, _Unfit when nested too deep to read."""
    if not request.is_json:
        abort(400)
    try:
        body = geo.load_json(request.get_data())
    except geo.TooDeep:
        raise _Unfit(geo.Problem("too_deep", {"limit": geo.MAX_JSON_DEPTH})) from None
    except ValueError:
        abort(400)
    if not isinstance(body, dict):
        abort(400)
    return body


def _drawn_text(body, name):
    value = body.get(name)
    if value is not None and not isinstance(value, str):
        raise _Unfit(geo.Problem("bad_property", {"property": name}))
    return value or ""


@bp.route("/map/territories", methods=["POST"])
@roles_required(*DRAWERS)
def draw():
    """Save a territory drawn on the map (JSON), after the same checks as an import."""
    try:
        body = _drawn_body()
        name, kind = _drawn_text(body, "name"), _drawn_text(body, "kind")
    except _Unfit as unfit:
        return unfit.reply
    parent = _int_or_404(body["parent"]) if body.get("parent") not in (None, "") else None
    return _drawn_reply(lambda: save_drawn(
        current_user, _drawn_geometry(body), maps.display_datum(), parent=parent, name=name, kind=kind),
        201, "draw")


@bp.route("/map/territories/<int:territory_id>/shape", methods=["POST"])
@roles_required(*DRAWERS)
def reshape(territory_id):
    """Save a territory's edited boundary (JSON), checked against its parent, siblings and children."""
    get_visible_or_404(Territory, territory_id)  # outside the scope says nothing more, as ever
    try:
        body = _drawn_body()
    except _Unfit as unfit:
        return unfit.reply
    return _drawn_reply(lambda: save_drawn(current_user, _drawn_geometry(body), maps.display_datum(),
                                           territory=territory_id), 200, "reshape")


def _int_or_404(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        abort(404)


PREVIEW_KEPT = datetime.timedelta(days=1)


def _upload_dir():
    # IMPORT_FOLDER lets a test keep its previews to itself.
    folder = Path(current_app.config.get("IMPORT_FOLDER") or Path(current_app.instance_path) / "imports")
    return private_folder(folder)


def _forget_old_previews():
    """Delete files previewed more than a day ago and never confirmed.

    Called whenever a preview is kept or confirmed, so abandoned uploads (which may
    hold a whole county's boundaries) do not pile up in instance/imports.
    """
    oldest = (clock.now() - PREVIEW_KEPT).replace(tzinfo=datetime.UTC).timestamp()
    for path in _upload_dir().glob("*.json"):
        try:
            if path.stat().st_mtime < oldest:
                path.unlink()
        except FileNotFoundError:
            pass  # another request removed it first


def _held_file(token):
    """The uploaded file kept between the preview and the confirmation, by its token."""
    try:
        name = uuid.UUID(token).hex
    except (TypeError, ValueError):
        abort(400)
    path = _upload_dir() / f"{name}.json"
    if not path.exists():
        abort(400)
    return path


@bp.route("/territories/import", methods=["GET", "POST"])
@roles_required("admin", "team_lead")
def import_file():
    """Upload a GeoJSON file of territories: a dry-run preview, then a confirmation writes it."""
    branches = tree_order(Branch.select().where(branch_scope(current_user)).order_by(Branch.path))
    form = {"branch": str(current_user.branch_id), "datum": ""}
    result, token, status = None, None, 200
    if request.method == "POST":
        form = {"branch": request.form.get("branch", ""), "datum": request.form.get("datum", "")}
        branch = next((b for b in branches if str(b.id) == form["branch"]), None)
        if branch is None:
            abort(404)
        if request.form.get("token"):
            path = _held_file(request.form["token"])
            data = path.read_bytes()
        else:
            upload = request.files.get("file")
            # Read one byte past the limit: enough to refuse a 20 MB file without holding it.
            data = upload.stream.read(MAX_IMPORT_BYTES + 1) if upload else b""
            if not data:
                flash(_l("Choose a GeoJSON file first."))
                return render("territories/import.html", branches=branches, form=form), 422
            path = None
        confirm = request.form.get("confirm") == "1" and path is not None
        result = import_territories(data, branch, datum=form["datum"] or None, dry_run=not confirm)
        if result.written:
            path.unlink(missing_ok=True)
            _forget_old_previews()
            flash(_l("%(n)s territories imported; %(placed)s customers placed again.",
                     n=len(result.rows), placed=result.placed))
            return redirect(url_for("territories.map"))
        if result.ok:
            token = uuid.uuid4().hex if path is None else path.stem
            if path is None:
                _forget_old_previews()
                held = _upload_dir() / f"{token}.json"
                with private_open(held, "wb") as out:
                    out.write(data)
                # Stamped by the app's clock, which the age check reads too.
                stamp = clock.now().replace(tzinfo=datetime.UTC).timestamp()
                os.utime(held, (stamp, stamp))
        else:
            status = 422
    return render("territories/import.html", branches=branches, form=form, result=result,
                  token=token, KIND_LABELS=TERRITORY_KIND_LABELS), status


@bp.route("/territories/unplaced")
@roles_required("admin", "team_lead")
def unplaced():
    """Customers outside every territory or without a position, for a team lead to fix."""
    customers = (Customer.visible_to(current_user)
                 .where(Customer.territory.is_null() | Customer.lat.is_null() | Customer.lng.is_null())
                 .where(Customer.status == "active")
                 .order_by(chinese_order(Customer.name)).limit(500))
    return render("territories/unplaced.html", customers=customers)


@bp.route("/territories/<int:territory_id>/assign", methods=["GET", "POST"])
@roles_required("admin", "team_lead")
def assign(territory_id):
    """Assign managers to a territory for a business line from a date; history stays."""
    territory = get_visible_or_404(Territory, territory_id)
    managers = list(User.select().where(user_scope(current_user), User.role == "manager", User.active)
                    .order_by(chinese_order(User.name)))
    form = {"business_line": "retail", "starts_on": clock.today().isoformat(), "users": [], "hand_over": False}
    errors, status = [], 200
    if request.method == "POST":
        form = {"business_line": request.form.get("business_line", ""),
                "starts_on": request.form.get("starts_on", ""),
                "users": request.form.getlist("users"),
                "hand_over": request.form.get("hand_over") == "1"}
        try:
            starts_on = datetime.date.fromisoformat(form["starts_on"])
        except ValueError:
            starts_on = None
        chosen = [_int_or_zero(u) for u in form["users"]]  # 0 is nobody: refused as not of the team
        try:
            moved = reassign(current_user, territory, chosen, form["business_line"], starts_on,
                             hand_over_work=form["hand_over"])
        except Refused as refused:
            abort_refused(refused)
            errors, status = refused.messages, 422
        else:
            flash(_l("Assigned from %(day)s; %(f)s follow-ups and %(l)s leads handed over.",
                     day=starts_on.isoformat(), f=moved[0], l=moved[1]))
            return redirect(url_for("territories.assign", territory_id=territory.id))
    history = list(Assignment.history(territory))
    return render("territories/assign.html", territory=territory, managers=managers, form=form,
                  history=history, errors=errors, business_lines=BUSINESS_LINES), status


def _int_or_zero(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


@bp.route("/territories/<int:territory_id>/edit", methods=["GET", "POST"])
@roles_required("admin", "team_lead")
def edit(territory_id):
    """Rename a territory, move it under another parent (checked again), or retire it."""
    territory = get_visible_or_404(Territory, territory_id)
    parents = [t for t in tree_order(Territory.visible_to(current_user).where(Territory.live(),
                                                                   Territory.branch == territory.branch)
               .order_by(Territory.path)) if not t.path.startswith(territory.path)]
    problems, status = [], 200
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "rename" and request.form.get("name", "").strip():
                territory.rename(current_user, request.form["name"])
            elif action == "move":
                parent_id = request.form.get("parent", "")
                parent = next((t for t in parents if str(t.id) == parent_id), None)
                if parent_id and parent is None:
                    abort(404)
                move_territory(current_user, territory, parent)
            elif action == "retire" and territory.retired_on is None:
                retire_territory(current_user, territory)
            else:
                abort(400)
        except Refused as refused:
            abort_refused(refused)
            problems, status = refused.messages, 422
        else:
            flash(_l("Saved."))
            return redirect(url_for("territories.edit", territory_id=territory.id))
    return render("territories/edit.html", territory=territory, parents=parents, problems=problems), status
