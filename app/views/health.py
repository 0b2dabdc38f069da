"""/healthz: whether this server can do its work, for a load balancer or a monitor.

200 when the database and the job storage answer, 503 when either does not. The job
worker's last heartbeat is reported with its age; a stale or missing worker is said, not
failed (the pages still work; reports and imports wait). No sign-in, no personal data.
"""
import time

from flask import Blueprint, jsonify

from app.db import database

bp = Blueprint("health", __name__)
# A worker beats every few seconds; one silent this long is reported stale.
STALE_AFTER_SECONDS = 120


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
    healthy = ok
    body["status"] = "ok" if healthy else "unavailable"
    body["checked_in_ms"] = round((time.perf_counter() - started) * 1000, 1)
    response = jsonify(body)
    response.status_code = 200 if healthy else 503
    response.headers["Cache-Control"] = "no-store"
    return response
