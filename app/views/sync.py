"""The offline batch (/sync): what a phone kept while it had no signal (check-ins with their
visit form and photo, leads), sent in order when it is back.

Each item goes through the same write path as its form (Visit.check_in, Lead.capture), in
its own transaction, and gets its own answer: "saved" (also for a UUID already saved: a
replay), "refused" with the reasons (nothing written; the phone shows them), or "waiting"
(a lead whose visit is not on the server, e.g. refused: it waits with it). The batch as a
whole is refused (nothing written) when it cannot be read, is too large, or lacks the
session's CSRF token. A phone only sends the items of the user signed in; an item made by
someone else is refused, never written as this user.
"""
import base64
import datetime as dt
import binascii
import json

from flask import Blueprint, jsonify, request
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from app.models import Lead, Visit
from app.models.refused import CONFLICT, NOT_FOUND, Refused
from app.models.visit import PHOTO_MAX_BYTES, VisitFix
from app.views.visits import check_in_values
from app.web import csrf, roles_required

bp = Blueprint("sync", __name__)

MAX_ITEMS = 200                   # a day's work is a few dozen; the phone sends 20 at a time
MAX_BYTES = 20 * 1024 * 1024      # 200 KB photos as base64: ~75 of them
KINDS = ("check_in", "lead")
LEAD_FIELDS = ("customer", "name", "phone", "id_number", "product", "amount", "source", "note", "confirmed")


def _whole(status, reason):
    """The batch refused as a whole: nothing was written."""
    response = jsonify({"ok": False, "reason": reason, "results": []})
    response.status_code = status
    return response


@bp.route("/sync", methods=["POST"])
@csrf.exempt  # checked below, so that a missing token is answered in JSON like every refusal
@roles_required("manager")
def batch():
    """Apply a phone's outbox: {"items": [{uuid, kind, user, made_at, fields, photo?, visit_uuid?}]}."""
    try:
        csrf.protect()
    except CSRFError:
        return _whole(400, _("The page's security token is missing or out of date: open a page to renew it."))
    if (request.content_length or 0) > MAX_BYTES:
        return _whole(413, _("Too much at once (more than %(mb)s MB): the phone sends it in smaller parts.",
                             mb=MAX_BYTES // (1024 * 1024)))
    body = request.stream.read(MAX_BYTES + 1)
    if len(body) > MAX_BYTES:
        return _whole(413, _("Too much at once (more than %(mb)s MB): the phone sends it in smaller parts.",
                             mb=MAX_BYTES // (1024 * 1024)))
    try:
        items = json.loads(body)["items"]
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise TypeError
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
        return _whole(400, _("The phone sent something unreadable: nothing was saved."))
    if len(items) > MAX_ITEMS:
        return _whole(413, _("Too many items at once (more than %(n)s): the phone sends them in smaller parts.",
                             n=MAX_ITEMS))
    results, seen = [], set()
    for item in items:
        uuid = str(item.get("uuid") or "")
        if uuid in seen:
            results.append(_refused(uuid, _("This item is in the batch twice: the first copy was taken.")))
            continue
        seen.add(uuid)
        results.append(_apply(item))
    return jsonify({"ok": True, "user": current_user.id, "results": results})


# Refusals that no edit on the phone can mend (the phone offers only to discard them).
FINAL = ("too_late", "future", "uuid")


def _refused(uuid, *reasons, fixable=True):
    return {"uuid": uuid, "status": "refused", "reasons": [str(r) for r in reasons], "fixable": fixable}


def _texts(fields):
    """An item's fields as the texts a form posts; None when they are not a flat mapping."""
    if not isinstance(fields, dict):
        return None
    out = {}
    for key, value in fields.items():
        if isinstance(value, bool):
            value = "1" if value else ""
        elif value is None:
            value = ""
        elif isinstance(value, (int, float, str)):
            value = str(value)
        else:
            return None
        if "\x00" in key or "\x00" in value:
            return None
        out[str(key)] = value
    return out


def _apply(item):
    uuid = str(item.get("uuid") or "")
    kind = item.get("kind")
    if item.get("user") != current_user.id:
        return _refused(uuid, _("Made by another user on this phone: only they can send it, once signed in."),
                        fixable=False)
    fields = _texts(item.get("fields"))
    if kind not in KINDS or fields is None or not uuid:
        return _refused(uuid, _("The phone sent something unreadable: nothing was saved."))
    try:
        if kind == "check_in":
            return _check_in(uuid, item, fields)
        return _lead(uuid, item, fields)
    except Refused as refused:
        if refused.code == NOT_FOUND:
            return _refused(uuid, _("This customer is no longer in your territories, or their archive was "
                                    "merged into another: nothing was saved."), fixable=kind == "lead")
        if refused.code == CONFLICT and refused.choices:
            return _refused(uuid, _("This may already be known: an open lead or a customer with the same "
                                    "product, phone or ID number. Check it, then send it again as someone "
                                    "else or discard it."))
        return _refused(uuid, *refused.messages, fixable=refused.code not in FINAL)


def _check_in(uuid, item, fields):
    photo = None
    if item.get("photo"):
        try:
            photo = base64.b64decode(str(item["photo"]), validate=True)
        except (binascii.Error, ValueError):
            return _refused(uuid, _("The photo could not be read: nothing was saved."))
        photo = photo[:PHOTO_MAX_BYTES + 1]
    try:
        customer_id = int(item.get("customer"))
    except (TypeError, ValueError):
        raise Refused.not_found() from None
    values = check_in_values({**fields, "client_uuid": uuid, "made_at": str(item.get("made_at") or "")}, photo)
    if not item.get("made_at"):
        return _refused(uuid, _("The phone sent an unreadable time."))
    result = Visit.check_in(current_user, customer_id, **values)
    return {"uuid": uuid, "status": "saved", "visit": result.visit.id, "replayed": result.status == "replayed"}


def _lead(uuid, item, fields):
    data = {key: fields[key] for key in LEAD_FIELDS if key in fields}
    visit_uuid = item.get("visit_uuid")
    if visit_uuid:
        # Every check-in leaves a fix with its UUID, also one merged into an earlier visit.
        visit_id = VisitFix.select(VisitFix.visit).where(VisitFix.client_uuid == str(visit_uuid)).scalar()
        visit = visit_id and Visit.select(Visit.id).where(Visit.id == visit_id, Visit.user == current_user.id).first()
        if not visit:
            # Its visit is refused, or not sent yet: the lead waits with it.
            return {"uuid": uuid, "status": "waiting",
                    "reasons": [_("Waits for its visit, which is not saved yet.")]}
        data["visit"] = visit.id
    # kept as made on the phone (Lead.capture checks it against the bank's late window)
    lead, created = Lead.capture(current_user, data, client_uuid=uuid, made_at=_phone_time(item.get("made_at")))
    return {"uuid": uuid, "status": "saved", "lead": lead.id, "replayed": not created}


def _phone_time(text):
    """The phone's ISO time as naive UTC; the text itself when unreadable (the model refuses
    it with the reason); None when the phone sent none."""
    if not text:
        return None
    try:
        value = dt.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
        if value.tzinfo is None:
            return str(text)
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    except (ValueError, OverflowError):
        return str(text)
