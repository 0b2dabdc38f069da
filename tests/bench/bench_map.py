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
from pathlib import Path

from app.models import Branch, Customer, Territory
from tests.bench._timing import KB, DemoCounty, breakdown, expect, gz, time_gets, transfers

CUSTOMERS = 6000
LEAD = "lead1"
TIMED_REQUESTS = 10
STATIC = Path(__file__).resolve().parents[2] / "static"


def _into_one_branch():
    """Every customer and territory into 城关支行: its team lead sees them all. Returns how many territories."""
    branch = Branch.get(Branch.code == "QB01")
    Customer.update(branch=branch).execute()
    Territory.update(branch=branch).execute()  # and every territory: more than the budget's 40
    return Territory.select().where(Territory.branch == branch).count()


_county = DemoCounty("zrt-bench-map-", CUSTOMERS, prepare=_into_one_branch)
teardown = _county.teardown


def map_transfer_sizes():
    client = _county.client(LEAD)
    body = expect(client.get("/map/data"), 200, "/map/data").get_data()
    points = len(json.loads(body)["c"]["i"])
    page = expect(client.get("/map"), 200, "/map").get_data()
    page_total, parts = transfers(client, page)
    geoman = sum(gz((STATIC / "vendor" / name).read_bytes())
                 for name in ("leaflet-geoman-free-2.20.2.min.js", "leaflet-geoman-free-2.20.2.css"))
    note = "KB = 1,000 bytes of gzip -6 bodies, headers not counted. "
    return [
        {"name": "map data (team lead, 6,000 customers), gzip", "unit": "KB",
         "samples": [gz(body) / KB], "budget": 150,
         "note": note + f"{_county.prepared} territories with their polygons (the whole demo bank), "
                        f"{points:,} customer points; raw {len(body) / KB:.0f} KB."},
        {"name": "map page first load with Leaflet (team lead), all transfers gzip, map data included", "unit": "KB",
         "samples": [(page_total + gz(body)) / KB], "budget": 150,
         "note": note + "Parts in KB: " + breakdown(parts) + f", map data {gz(body) / KB:.1f}. "
                 f"The drawing plugin (Geoman, loaded on the first tap on 画片区) adds {geoman / KB:.1f} KB."},
    ]


def map_data_server_time():
    samples = time_gets(_county.client(LEAD), "/map/data", TIMED_REQUESTS, warmups=2)
    return {"name": "map data (team lead, 6,000 customers) server time", "unit": "ms", "samples": samples,
            "budget": None,
            "note": f"{TIMED_REQUESTS} sequential GETs through Flask's test client after 2 warm-ups; SQLite file."}


BENCHMARKS = [map_transfer_sizes, map_data_server_time]
