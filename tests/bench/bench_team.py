"""A team lead's coverage page (issue 18) at 100,000 customers and 1,000,000 visits, its Excel
file, and Today with a handed-over list.

The data is bench_field_loop's cached fixture (the demo county grown to ~100,000 customers and
1,000,000 visits over two years), copied to a folder of its own and prepared once: 40 villages,
streets and markets (the budget's 40) moved into 城关支行 (QB01) with their groups, zones,
customers and managers, so its team lead lead1 sees them all; mgr01 gets a handed list of 20
customers and 5 reassigned follow-ups for Today. Requests go through Flask's
test client in-process, sequentially; the periods rotate through this week, last week, this
month, last month, this quarter and a custom 92-day range, each sorted by a different column.
"""
import datetime as dt
import os
import shutil
import time

from app import clock, demo
from app.db import close_all, database
from tests.bench import bench_field_loop as field_loop
from tests.conftest import login, make_app

LEAD = "lead1"
TERRITORIES = 40  # DESIGN.md: "team lead's coverage page over 40 territories"
MANAGER = "mgr01"
TIMED = 60
XLSX_TIMED = 10
_state = {}


def _period_paths():
    end = clock.today()
    start = end - dt.timedelta(days=91)
    return ["/team?period=this_week&sort=coverage", "/team?period=last_week&sort=change",
            "/team?period=this_month&sort=gold&dir=desc", "/team?period=last_month&sort=overdue",
            "/team?period=this_quarter&sort=visited", f"/team?period=custom&start={start}&end={end}&sort=name"]


def _prepare():
    """40 villages, streets and markets into 城关支行 (QB01) with their groups, zones, customers and
    managers; a handed list and reassigned follow-ups for mgr01. Returns the territories lead1 sees."""
    from app.models import Assignment, Branch, Customer, FollowUp, HandedCustomer, Territory, User, Visit
    from app.models.team import FIELD_KINDS

    branch = Branch.get(Branch.code == "QB01")
    db = database.obj
    fields = list(Territory.select().where(Territory.kind.in_(FIELD_KINDS), Territory.retired_on.is_null())
                  .order_by(Territory.path))
    chosen, paths = [], []
    for t in fields:  # a market under a chosen street comes along with it
        if len(chosen) >= TERRITORIES:
            break
        if any(t.path.startswith(p) for p in paths):
            continue
        inside = [f for f in fields if f.path.startswith(t.path)]
        if len(chosen) + len(inside) > TERRITORIES:
            continue
        chosen += inside
        paths.append(t.path)
    moved = set()
    for path in paths:
        moved |= {i for (i,) in Territory.select(Territory.id).where(Territory.path.startswith(path)).tuples()}
        moved |= {int(part) for part in path.strip("/").split("/")}  # the zones above
    with db.atomic():
        Territory.update(branch=branch).where(Territory.id.in_(list(moved))).execute()
        Customer.update(branch=branch).where(Customer.territory.in_(list(moved))).execute()
        team = Assignment.select(Assignment.user).where(Assignment.territory.in_(list(moved)))
        User.update(branch=branch).where(User.role == "manager", User.id.in_(team)).execute()
    lead = User.get(User.username == LEAD)
    manager = User.get(User.username == MANAGER)
    mine = [c for (c,) in Customer.visible_to(manager).select(Customer.id).order_by(Customer.id).limit(20).tuples()]
    HandedCustomer.insert_many([dict(customer=c, user=manager.id, sent_by=lead.id, for_day=clock.today(),
                                     note="bench", created_at=clock.now()) for c in mine]).execute()
    others = (FollowUp.select(FollowUp.id).join(Customer)
              .where(Customer.id.in_(Customer.visible_to(manager).select(Customer.id)), FollowUp.done_at.is_null(),
                     FollowUp.user != manager.id).limit(5))
    FollowUp.update(user=manager.id, handed_by=lead.id, handed_at=clock.now()).where(
        FollowUp.id.in_([f for (f,) in others.tuples()])).execute()
    # The fixture's million visits were all "received" when it was built; a bank's arrive as they
    # are made (an offline one within the upload window): the coverage page recounts the
    # customers of the visits received in the last minute (team_figures).
    Visit.update(received_at=Visit.made_at).execute()
    db.execute_sql("ANALYZE")
    seen = Customer.select().where(Customer.branch == branch).count()
    managers = User.select().where(User.branch == branch, User.role == "manager").count()
    return len(chosen), seen, managers


def _session():
    if not _state:
        if not os.path.exists(field_loop.FIXTURE):
            field_loop._build(field_loop.FIXTURE)
        folder = f"/tmp/zrt-bench-team-run-{os.getpid()}"
        os.makedirs(folder, exist_ok=True)
        shutil.copy(field_loop.FIXTURE, f"{folder}/z.db")
        app = make_app(f"sqlite:///{folder}/z.db")
        clock.reset()
        with app.app_context(), database.obj.connection_context():
            fields, seen, managers = _prepare()
            counts = [database.obj.execute_sql(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                      for t in ("customer", "visit")]
        lead, manager = app.test_client(), app.test_client()
        login(lead, LEAD, demo.PASSWORD)
        login(manager, MANAGER, demo.PASSWORD)
        _state.update(app=app, folder=folder, fields=fields, seen=seen, managers=managers, counts=counts, lead=lead,
                      manager=manager)
    return _state


def teardown():
    if _state:
        close_all()
        shutil.rmtree(_state["folder"], ignore_errors=True)
        _state.clear()


def _get(client, path, kind=None):
    response = client.get(path)
    body = response.get_data()
    assert response.status_code == 200, (path, response.status_code)
    return body


def coverage_page():
    s = _session()
    paths = _period_paths()
    for path in paths:
        _get(s["lead"], path)
    cpu = []

    def get(i):
        started = time.process_time()
        _get(s["lead"], paths[i % len(paths)])
        cpu.append((time.process_time() - started) * 1000)

    samples = field_loop._timed(get, TIMED)
    note = (f"{s['counts'][0]:,} customers, {s['counts'][1]:,} visits (SQLite, WAL); lead1 sees "
            f"{s['fields']} villages, streets and markets moved into 城关支行 with their groups and zones, "
            f"{s['seen']:,} customers and {s['managers']} managers. {TIMED} sequential GETs through Flask's "
            f"test client, rotating over "
            f"{', '.join(p.split('?')[1] for p in paths)}; after one warm-up each; "
            f"load average {os.getloadavg()[0]:.1f} at the end.")
    return [{"name": "team lead's coverage page, any period up to a quarter, 100k customers, 1M visits",
             "unit": "ms", "samples": samples, "budget": 150, "note": note},
            {"name": "coverage page, CPU time of the serving process (same requests)", "unit": "ms",
             "samples": cpu, "budget": None,
             "note": "time.process_time() around each request (SQLite runs in-process): the page's cost "
                     "when the cores are shared with other work."}]


def coverage_page_while_checking_in():
    """The same rotation with a check-in of the lead's branch written before each request (a
    working day: the kept figures recount the customers whose visits arrived), and a first look
    (nothing kept: every customer counted, as after a restart or a change of a customer)."""
    import uuid

    from app.models import Customer, User, Visit, team_figures

    s = _session()
    paths = _period_paths()
    with s["app"].app_context(), database.obj.connection_context():
        branch_customers = [c for (c,) in Customer.select(Customer.id).where(
            Customer.branch == User.get(User.username == LEAD).branch_id).order_by(Customer.id).tuples()]
        manager = User.get(User.username == MANAGER).id

    def check_in(i):
        with s["app"].app_context(), database.obj.connection_context():
            Visit.create(client_uuid=str(uuid.uuid4()), customer=branch_customers[(i * 7919) % len(branch_customers)],
                         user=manager, made_at=clock.now(), outcome="met", verified=True, lat=28.9, lng=107.6)

    for path in paths:
        _get(s["lead"], path)
    samples = []
    for i in range(TIMED):
        check_in(i)
        started = time.perf_counter()
        _get(s["lead"], paths[i % len(paths)])
        samples.append((time.perf_counter() - started) * 1000)
    first = []
    for i in range(len(paths) * 2):
        team_figures.forget()
        started = time.perf_counter()
        _get(s["lead"], paths[i % len(paths)])
        first.append((time.perf_counter() - started) * 1000)
    return [{"name": "coverage page with a check-in arriving before each request, 100k/1M", "unit": "ms",
             "samples": samples, "budget": 150,
             "note": f"{TIMED} GETs as above, each after one more verified visit of a customer of 城关支行 written "
                     f"through the model (received now): the kept per-customer figures recount those customers; "
                     f"load average {os.getloadavg()[0]:.1f} at the end."},
            {"name": "coverage page, first look at a period (nothing kept), 100k/1M", "unit": "ms",
             "samples": first, "budget": None,
             "note": "each GET after team_figures.forget(): every counted customer of the scope counted, as after "
                     "a worker's start, a change of any customer in scope, or every 10 minutes."}]


def coverage_excel():
    s = _session()
    path = "/team.xlsx?period=this_quarter"
    _get(s["lead"], path)
    sizes = []

    def get(i):
        sizes.append(len(_get(s["lead"], path)))

    samples = field_loop._timed(get, XLSX_TIMED)
    return {"name": "its Excel file (this quarter), 100k customers, 1M visits", "unit": "ms", "samples": samples,
            "budget": 1000, "note": f"{XLSX_TIMED} sequential GETs of /team.xlsx?period=this_quarter after a "
                                    f"warm-up; {sizes[-1] / 1000:.0f} KB; the same queries as the page plus openpyxl's "
                                    f"write-only workbook."}


def today_with_a_handed_list():
    s = _session()
    with s["app"].app_context(), database.obj.connection_context():
        from app.models import Customer, User
        user = User.get(User.username == MANAGER)
        lat, lng = (Customer.visible_to(user).where(Customer.lat.is_null(False))
                    .select(Customer.lat, Customer.lng).order_by(Customer.id).tuples().first())

    def get(i):
        body = _get(s["manager"], f"/today?lat={lat:.6f}&lng={lng:.6f}" if i % 2 == 0 else "/today")
        assert b'id="handed"' in body

    field_loop._timed(get, 4)
    samples = field_loop._timed(get, TIMED)
    return {"name": "Today page (manager) with a handed list of 20 customers and 5 follow-ups, 100k/1M", "unit": "ms",
            "samples": samples, "budget": 50,
            "note": f"the same requests as the field-loop row on the coverage fixture (40 territories "
                    f"moved into one branch), mgr01's Today carrying the handed group; {TIMED} GETs after 4 warm-ups; "
                    f"load average {os.getloadavg()[0]:.1f} at the end."}


BENCHMARKS = [coverage_page, coverage_page_while_checking_in, coverage_excel, today_with_a_handed_list]
