"""/healthz: whether this server can do its work, for a load balancer or a monitor.

200 when the database and the job storage answer, 503 when either does not. The job
worker's last heartbeat is reported with its age; a stale or missing worker is said, not
failed (the pages still work; reports and imports wait). No sign-in, no personal data.
"""
import time

from flask import Blueprint, current_app, jsonify

from app import clock, jobs
from app.db import database

bp = Blueprint("health", __name__)


def stale_after_seconds():
    """A worker beats every WORKER_HEARTBEAT_SECONDS (5); six beats missed, and at least 30 s, is stale."""
    return max(30.0, 6 * float(current_app.config.get("WORKER_HEARTBEAT_SECONDS") or 5))


def worker_state():
    """The job worker's last heartbeat, its age in seconds, and ok / stale / never."""
    beat = jobs.last_worker_heartbeat()
    if beat is None:
        return {"state": "never", "last_heartbeat": None, "age_seconds": None}
    age = max(0.0, (clock.now() - beat).total_seconds())
    return {"state": "ok" if age <= stale_after_seconds() else "stale",
            "last_heartbeat": beat.isoformat(timespec="seconds") + "Z", "age_seconds": round(age, 1)}


def database_answers():
    """(True, None), or (False, the error's kind): one round trip on a connection of its own."""
    try:
        with database.obj.connection_context():
            database.obj.execute_sql("SELECT 1").fetchone()
    except Exception as error:  # any failure to answer is the answer
        return False, type(error).__name__
    return True, None


@bp.route("/healthz")
def healthz():
    """The database, the job storage and the job worker's heartbeat, as JSON."""
    started = time.perf_counter()
    ok, error = database_answers()
    body = {"database": "ok" if ok else f"error: {error}"}
    storage = jobs.storage_ok()
    body["jobs"] = "ok" if storage else "error"
    # The worker is reported, never failed on: the pages work without it (reports and imports wait).
    body["worker"] = worker_state() if storage else {"state": "unknown", "last_heartbeat": None,
                                                     "age_seconds": None}
    healthy = ok and storage
    body["status"] = "ok" if healthy else "unavailable"
    body["checked_in_ms"] = round((time.perf_counter() - started) * 1000, 1)
    response = jsonify(body)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response
