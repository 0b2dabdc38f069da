"""Working without signal: the service worker at /sw.js, the offline page, what a manager's
phone keeps for reading offline (the walk list, their customers' cards, the products and
outcomes, the check-in form), and the outbox page.

The service worker's source is static/js/sw.js; this route serves it at the site's root
(so it controls every page) with the shell's version and the precache list in front of it.
The version is a hash of every precached file: a deploy that changes one changes the
version, and the new worker replaces the cached shell whole.
"""
import datetime as dt
import functools
import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

from flask import Blueprint, current_app, make_response, render_template, url_for
from flask_login import current_user

from app import clock
from app.crypto import mask_phone
from app.models import Product
from app.views.visits import OUTCOME_LABELS, RESULT_LABELS, _walk_formats
from app.walk import reasons, walk_list
from app.web import render, roles_required

bp = Blueprint("offline", __name__)

# The shell: what every page needs, kept on the phone under one version. Leaflet-Geoman
# (290 KB, drawing only, for team leads at a desk) is left out.
SHELL = (
    "css/app.css", "js/app.js", "js/outbox-core.js", "js/outbox.js", "js/today.js", "js/checkin.js",
    "js/map.js", "vendor/htmx-2.0.11.min.js", "vendor/idb-8.0.4.umd.js",
    "vendor/leaflet-1.9.4.min.js", "vendor/leaflet-1.9.4.css",
    "vendor/leaflet.markercluster-1.5.3.min.js", "vendor/leaflet.markercluster-1.5.3.css",
    "icon.svg", "icon-192.png", "icon-512.png", "icon-maskable-512.png",
)
WORKBOX = ("workbox-core", "workbox-routing", "workbox-strategies", "workbox-precaching")
WORKBOX_DIR = "vendor/workbox-7.4.1"
OFFLINE_ROWS = 200  # walk-list rows a phone keeps: a long day's walk


@functools.cache
def _shell(static_folder, salt):
    """(version, [{url, revision}]) of the shell; computed once a process (a deploy restarts it)."""
    root = Path(static_folder)
    files = [*SHELL, *(f"{WORKBOX_DIR}/{name}.prod.js" for name in WORKBOX), "js/sw.js"]
    entries, whole = [], hashlib.sha256(salt.encode())
    for name in files:
        digest = hashlib.sha256((root / name).read_bytes()).hexdigest()[:16]
        whole.update(name.encode() + digest.encode())
        if name != "js/sw.js":
            entries.append({"url": f"/static/{name}", "revision": digest})
    return whole.hexdigest()[:12], entries


def shell_version():
    app = current_app
    return _shell(app.static_folder, str(app.config.get("SHELL_VERSION_SALT", "")))


@bp.route("/sw.js")
def service_worker():
    """The service worker, served from the root so that its scope is the whole site."""
    version, entries = shell_version()
    entries = entries + [{"url": url_for("offline.page"), "revision": version}]
    config = {"version": version, "precache": entries,
              "workbox": [f"/static/{WORKBOX_DIR}/{name}.prod.js" for name in WORKBOX],
              "scripts": ["/static/vendor/idb-8.0.4.umd.js", "/static/js/outbox-core.js"]}
    source = (Path(current_app.static_folder) / "js" / "sw.js").read_text()
    response = make_response(f"self.ZRT = {json.dumps(config)};\n{source}")
    response.mimetype = "text/javascript"
    # Always asked again, so a deploy reaches phones at their next visit.
    response.headers["Cache-Control"] = "no-cache"
    response.headers["Service-Worker-Allowed"] = "/"
    return response


@bp.route("/offline")
def page():
    """What the phone shows for a page it has not kept, with no connection."""
    response = make_response(render_template("offline/offline.html"))
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.route("/offline/data")
@roles_required("manager")
def data():
    """What a manager's phone keeps for reading offline: Today's walk list in the server's
    order (each row with its section, group, position and reason: the phone only sorts by
    distance inside a group), the cards of those customers (masked as on the customer page), the products
    and the outcomes. The service worker keeps it in the manager's data cache, which signing
    out clears."""
    # The whole list in one call: the first groups whole, then up to OFFLINE_ROWS walk rows.
    walk = walk_list(current_user, limit=OFFLINE_ROWS)
    why = reasons()
    rows, cards = [], {}

    def add(section, row, customer_id, **extra):
        rows.append({"id": customer_id, "section": section, "group": row.group, "position": row.position,
                     "reason": why[row.group], **extra})

    for follow in walk.follow_ups:
        c = follow.customer
        add("follow_ups", follow, c.id, lat=c.lat, lng=c.lng, follow_up=follow.due_on.isoformat())
        cards[c.id] = {"id": c.id, "name": c.name, "tier": c.tier}
    for h in walk.handed:
        add("handed", h, h.customer_id, lat=None, lng=None)
        cards.setdefault(h.customer_id, {"id": h.customer_id, "name": h.name, "tier": h.tier,
                                         "village": h.village, "group_name": h.group_name})
    for a in walk.alerts:
        add("alerts", a, a.customer_id, lat=None, lng=None, matures_on=a.holdings[0].matures_on.isoformat())
        cards.setdefault(a.customer_id, {"id": a.customer_id, "name": a.name, "tier": a.tier})
    for c in walk.customers:
        add("walk", c, c.id, lat=c.lat, lng=c.lng)
        cards.setdefault(c.id, {"id": c.id, "name": c.name, "tier": c.tier, "village": c.village,
                                "group_name": c.group_name, "street": c.street, "house_no": c.house_no,
                                "last_visit": c.last_visit_day and c.last_visit_day.isoformat()})
    _masked_phones(cards)
    bank = current_user.branch.bank
    products = [{"id": p.id, "name": p.name} for p in (Product.offered_by(bank.id) if bank else [])]
    body = {"user": current_user.id, "day": walk.day.isoformat(), "made_at": clock.now().isoformat() + "Z",
            "rows": rows, "cards": list(cards.values()), "products": products,
            "outcomes": {code: str(label) for code, label in OUTCOME_LABELS.items()},
            "results": {code: str(label) for code, label in RESULT_LABELS.items()}}
    response = make_response(json.dumps(body, ensure_ascii=False))
    response.mimetype = "application/json"
    return response


def _masked_phones(cards):
    """Each card's phone as the customer page shows it: masked."""
    from app.models import Customer

    ids = list(cards)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        for cid, phone in Customer.select(Customer.id, Customer.phone).where(Customer.id.in_(chunk)).tuples():
            cards[cid]["phone"] = mask_phone(phone) if phone else None


@bp.route("/offline/check-in")
@roles_required("manager")
def check_in_form():
    """The check-in form with no customer in it, kept by the phone: offline, a check-in page
    it has not kept is this form, and the page's script fills the customer in from the
    kept cards. Its submission, failing, goes to the outbox (static/js/sw.js)."""
    bank = current_user.branch.bank
    products = list(Product.offered_by(bank.id)) if bank else []
    customer = SimpleNamespace(id=0, name="", tier="potential", village="", group_name="", street="",
                               house_no="", lat=None, lng=None, position_confirmed=True, masked_phone="")
    return render("visits/check_in.html", customer=customer, products=products,
                  OUTCOME_LABELS=OUTCOME_LABELS, RESULT_LABELS=RESULT_LABELS, errors=[],
                  client_uuid="", form={}, tomorrow=clock.today() + dt.timedelta(days=1), offline_form=True,
                  formats=_walk_formats())


@bp.route("/offline/card")
@roles_required("manager")
def card():
    """A customer's card with nothing in it, kept by the phone: offline, a customer page it has
    not kept is this card, filled in from the kept cards (masked as the customer page)."""
    return render("offline/card.html")


@bp.route("/outbox")
@roles_required("manager")
def outbox():
    """What waits on this phone to be sent, read from the phone's own store by outbox.js."""
    return render("offline/outbox.html")
