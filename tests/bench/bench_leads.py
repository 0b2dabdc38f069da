"""Lead pages' server time on the demo county (6,000 customers, ~200 leads written by Lead.capture).

In-process through Flask's test client after warm-up requests, SQLite file database,
as bench_transfer does for Today; no budget in DESIGN, so none is checked.
"""
import shutil
import statistics
import tempfile
import time

from app import clock, demo
from app.db import database
from app.models import Lead, User
from peewee import fn as peewee_fn
from tests.conftest import login, make_app, reset_database

CUSTOMERS = 6000
TIMED_REQUESTS = 30
_state = {}


def _county():
    if not _state:
        folder = tempfile.mkdtemp(prefix="zrt-bench-leads-")
        app = make_app(f"sqlite:///{folder}/zerentian.db")
        reset_database(database.obj)
        clock.reset()
        with app.app_context(), database.obj.connection_context():
            demo.build_demo(customers=CUSTOMERS, password_method="pbkdf2:sha256:1000")
        clients = {}
        for username in ("mgr01", "lead1"):
            clients[username] = app.test_client()
            assert login(clients[username], username, demo.PASSWORD).status_code == 302
        _state.update(folder=folder, app=app, clients=clients)
    return _state


def teardown():
    if _state:
        database.obj.close()
        shutil.rmtree(_state["folder"], ignore_errors=True)
        _state.clear()


def _time(client, path, name, note):
    for _ in range(3):
        assert client.get(path).status_code == 200, path
    samples = []
    for _ in range(TIMED_REQUESTS):
        started = time.perf_counter()
        response = client.get(path)
        response.get_data()
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, path
    return {"name": name, "unit": "ms", "samples": samples, "budget": None,
            "note": f"{TIMED_REQUESTS} sequential GETs of {path} in-process after 3 warm-ups; {note}"}


def lead_pages():
    state = _county()
    with state["app"].app_context(), database.obj.connection_context():
        lead1 = User.get(User.username == "lead1")
        team = Lead.visible_to(lead1).count()
        # the funnel's busiest manager row: its "won" figure opens the leads credited to them
        top = (Lead.visible_to(lead1).select(Lead.owner).group_by(Lead.owner)
               .order_by(peewee_fn.COUNT(Lead.id).desc()).scalar())
    mgr, lead = state["clients"]["mgr01"], state["clients"]["lead1"]
    return [
        _time(mgr, "/today", "Today page (manager) with its leads panel", "signed in as mgr01."),
        _time(mgr, "/leads/", "Leads list and board (manager)", "signed in as mgr01."),
        _time(lead, "/leads/", "Leads board (team lead)", f"lead1's team holds {team} leads."),
        _time(lead, "/leads/funnel", "Lead funnel (team lead), 30 days", f"lead1's team holds {team} leads."),
        _time(lead, f"/leads/?status=won&by={top}", "Funnel link: a manager's credited won leads (team lead)",
              "the list filtered by the stage credits read from lead_event."),
    ]


BENCHMARKS = [lead_pages]


if __name__ == "__main__":  # python -m tests.bench.bench_leads: print without recording
    try:
        for row in lead_pages():
            s = sorted(row["samples"])
            print(f"{row['name']}: median {statistics.median(s):.1f} ms, p95 {s[int(len(s) * .95) - 1]:.1f} ms")
    finally:
        teardown()
