"""Lead pages' server time on the demo county (6,000 customers, ~200 leads written by Lead.capture).

In-process through Flask's test client after warm-up requests, SQLite file database,
as bench_transfer does for Today; no budget in DESIGN, so none is checked.
"""
import statistics

from app.db import database
from app.models import Lead, User
from peewee import fn as peewee_fn
from tests.bench._timing import DemoCounty, time_gets

CUSTOMERS = 6000
TIMED_REQUESTS = 30

_county = DemoCounty("zrt-bench-leads-", CUSTOMERS)
teardown = _county.teardown


def _time(client, path, name, note):
    return {"name": name, "unit": "ms", "samples": time_gets(client, path, TIMED_REQUESTS), "budget": None,
            "note": f"{TIMED_REQUESTS} sequential GETs of {path} in-process after 3 warm-ups; {note}"}


def lead_pages():
    mgr, lead = _county.client("mgr01"), _county.client("lead1")
    with _county.app.app_context(), database.obj.connection_context():
        lead1 = User.get(User.username == "lead1")
        team = Lead.visible_to(lead1).count()
        # the funnel's busiest manager row: its "won" figure opens the leads credited to them
        top = (Lead.visible_to(lead1).select(Lead.owner).group_by(Lead.owner)
               .order_by(peewee_fn.COUNT(Lead.id).desc()).scalar())
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
