"""Placing 100,000 customers into 500 territory polygons, writes included, one transaction.

DESIGN.md's budget: ≤ 3 s. Each sample starts from customers with no territory, so
every one of them is written; an irregular polygon per village keeps the STRtree honest.
"""
import math
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import Polygon

from app import geo
from app.db import apply_schema, bind
from app.models import Branch, Customer, Territory
from app.models.placement import place_customers

CUSTOMERS = 100_000
COLUMNS, ROWS = 25, 20          # 500 villages
CELL = 0.01                     # about 1 km
ORIGIN = (107.40, 28.80)
SAMPLES = 5


def _village(rng, i, j):
    """A wobbly 24-gon inside its grid cell, so shapes are not axis-aligned boxes."""
    cx, cy = ORIGIN[0] + (i + 0.5) * CELL, ORIGIN[1] + (j + 0.5) * CELL
    points = []
    for k in range(24):
        angle = 2 * math.pi * k / 24
        r = CELL * 0.5 * rng.uniform(0.75, 0.99)
        points.append((cx + r * math.cos(angle), cy + r * math.sin(angle)))
    return Polygon(points)


def _build(db):
    rng = random.Random(4)
    bank = Branch.add("基准农商行", "BENCH", "bank")
    with db.atomic():
        zone = Territory.add("基准片区", "zone", bank, code="Z", geometry=geo.dumps(shapely.box(
            ORIGIN[0], ORIGIN[1], ORIGIN[0] + COLUMNS * CELL, ORIGIN[1] + ROWS * CELL)))
        for i in range(COLUMNS):
            for j in range(ROWS):
                if (i, j) == (COLUMNS - 1, ROWS - 1):
                    continue  # 499 villages and the zone: 500 polygons
                Territory.add(f"村{i}-{j}", "village", bank, zone, code=f"V{i}-{j}",
                              geometry=geo.dumps(_village(rng, i, j)))
        lngs = np.random.default_rng(4).uniform(ORIGIN[0], ORIGIN[0] + COLUMNS * CELL, CUSTOMERS)
        lats = np.random.default_rng(5).uniform(ORIGIN[1], ORIGIN[1] + ROWS * CELL, CUSTOMERS)
        rows = [{"branch": bank.id, "kind": "household", "name": f"户{n}", "lng": float(x), "lat": float(y)}
                for n, (x, y) in enumerate(zip(lngs, lats))]
        for start in range(0, len(rows), 5000):
            Customer.insert_many(rows[start:start + 5000]).execute()
    return bank


def placing_100k_customers():
    folder = tempfile.mkdtemp(prefix="bench-placement-")
    db = bind(f"sqlite:///{Path(folder) / 'bench.db'}")
    with db.connection_context():
        apply_schema(db)
        bank = _build(db)
        polygons = Territory.select().count()
        samples, cpu, changed = [], [], 0
        for _ in range(SAMPLES):
            Customer.update(territory=None).execute()
            started, cpu_started = time.perf_counter(), time.process_time()
            with db.atomic():
                changed = place_customers(bank)
            samples.append(time.perf_counter() - started)
            cpu.append(time.process_time() - cpu_started)
    db.close()
    load = os.getloadavg()[0]
    return [{"name": "placing 100k customers into 500 territories (SQLite, writes, one transaction)",
            "unit": "s", "samples": samples, "budget": 3,
            "note": f"{polygons} polygons (499 24-gons in a zone), {changed:,} customers written per sample; "
                    "reads, STRtree query and UPDATEs included; load average at the run: "
                    f"{load:.1f}"},
            # The machine is shared: CPU time of this process tells cost from waiting for a core.
            {"name": "same placing, CPU time of the process", "unit": "s", "samples": cpu, "budget": None,
             "note": "time.process_time() around the same runs; wall time minus this is time spent "
                     "waiting for a core or the disk"}]


BENCHMARKS = [placing_100k_customers]


if __name__ == "__main__":
    print(placing_100k_customers())
