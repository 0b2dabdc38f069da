"""What the 地图 tab downloads: the map data for a team lead, and the map page's first load.

DESIGN.md's budgets: map data for a team lead's 40 territories and 6,000 customers
≤ 150 KB gzip; the map page's first load with Leaflet ≤ 150 KB gzip in all. The demo
county (6,000 customers) is built into a throwaway SQLite database, then every
customer and territory is moved into 城关支行 so its team lead lead1 sees all 6,000
customers and every territory at once: the budget's case, with more territories.
Bodies are gzipped at level 6; headers are not counted. Geoman (the drawing plugin)
is not part of a first load: the page fetches it on the first tap on 画片区, and its
size is reported on its own.
"""
import json
import shutil
import tempfile
import time
from pathlib import Path

from app import clock, demo
from app.db import database
from app.models import Branch, Customer, Territory
from tests.bench.bench_transfer import KB, _breakdown, _expect, _gz, _transfers
from tests.conftest import login, make_app, reset_database

CUSTOMERS = 6000
LEAD = "lead1"
TIMED_REQUESTS = 10
STATIC = Path(__file__).resolve().parents[2] / "static"

_state = {}


def _county():
    if not _state:
        folder = tempfile.mkdtemp(prefix="zrt-bench-map-")
        _state["folder"] = folder
        app = make_app(f"sqlite:///{folder}/zerentian.db")
        reset_database(database.obj)
        clock.reset()
        with app.app_context(), database.obj.connection_context():
            demo.build_demo(customers=CUSTOMERS, password_method="pbkdf2:sha256:1000")
            branch = Branch.get(Branch.code == "QB01")
            Customer.update(branch=branch).execute()
            Territory.update(branch=branch).execute()  # and every territory: more than the budget's 40
            _state["territories"] = Territory.select().where(Territory.branch == branch).count()
        client = app.test_client()
        _expect(login(client, LEAD, demo.PASSWORD), 302, "sign-in as " + LEAD)
        _state.update(app=app, client=client)
    return _state


def teardown():
    if _state:
        database.obj.close()
        shutil.rmtree(_state["folder"], ignore_errors=True)
        _state.clear()


def map_transfer_sizes():
    state = _county()
    client = state["client"]
    body = _expect(client.get("/map/data"), 200, "/map/data").get_data()
    points = len(json.loads(body)["c"]["i"])
    page = _expect(client.get("/map"), 200, "/map").get_data()
    page_total, parts = _transfers(client, page)
    geoman = sum(_gz((STATIC / "vendor" / name).read_bytes())
                 for name in ("leaflet-geoman-free-2.20.2.min.js", "leaflet-geoman-free-2.20.2.css"))
    note = "KB = 1,000 bytes of gzip -6 bodies, headers not counted. "
    return [
        {"name": "map data (team lead, 6,000 customers), gzip", "unit": "KB",
         "samples": [_gz(body) / KB], "budget": 150,
         "note": note + f"{state['territories']} territories with their polygons (the whole demo bank), "
                        f"{points:,} customer points; raw {len(body) / KB:.0f} KB."},
        {"name": "map page first load with Leaflet (team lead), all transfers gzip, map data included", "unit": "KB",
         "samples": [(page_total + _gz(body)) / KB], "budget": 150,
         "note": note + "Parts in KB: " + _breakdown(parts) + f", map data {_gz(body) / KB:.1f}. "
                 f"The drawing plugin (Geoman, loaded on the first tap on 画片区) adds {geoman / KB:.1f} KB."},
    ]


def map_data_server_time():
    client = _county()["client"]
    for _ in range(2):
        _expect(client.get("/map/data"), 200, "/map/data")
    samples = []
    for _ in range(TIMED_REQUESTS):
        started = time.perf_counter()
        response = client.get("/map/data")
        response.get_data()
        samples.append((time.perf_counter() - started) * 1000)
    return {"name": "map data (team lead, 6,000 customers) server time", "unit": "ms", "samples": samples,
            "budget": None,
            "note": f"{TIMED_REQUESTS} sequential GETs through Flask's test client after 2 warm-ups; SQLite file."}


BENCHMARKS = [map_transfer_sizes, map_data_server_time]
