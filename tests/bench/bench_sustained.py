"""Sustained check-in rate: the highest fixed rate at which p95 stays ≤ 30 ms, no errors.

Servers: ours (tests/bench/serve_app.py) and the bare floor (../shared/bench-floor/
floor_app.py, on a private copy of its database: tests/bench/serve_floor.py), each
under gunicorn with 3 sync workers by default, as the floor's README runs it. 2 and 4
were tried once on the shared 2 cores (load average 8-10) and told nothing apart from
noise; ZRT_BENCH_WORKERS=2,3,4 runs each (3× as long) to compare on a quiet machine.
ZRT_BENCH_RATES=25,50 and ZRT_BENCH_STEP_SECONDS=3 shorten a trial run.

Load: tests/bench/loadgen.py, a single-threaded asyncio open-loop generator in its
OWN process (one per step): requests are due at a constant pacing whatever the
server does, and each latency runs from the request's due time, so a server falling
behind is charged for its queue (no coordinated omission). It reports its own CPU
seconds and how late it sent (send lag), so a step it could not pace shows as such.
It still shares the 2 cores with the server; its CPU is in each step's figures.

Steps of STEP_SECONDS at RATES, up until two steps in a row fail, then one step halfway
between the best passing rate and the first failure above it; the figure is the highest
passing rate. Between steps the server is left to drain what it still holds (a failed
step leaves a backlog of abandoned connections in the listen queue that would otherwise
be charged to the next step). wrk (Debian package `wrk`), when installed, measures each
server's closed-loop capacity at 4 connections as a cross-check of the generator (the
sustained rate must come out under it); when it is absent the rows' notes say so.

Data: ours runs on a copy of bench_field_loop's SQLite fixture (99,264 customers, 1M
visits), and on PostgreSQL on the same fixture built in a throwaway cluster kept in
PG_DIR (database zrt_bench_<hash of schema.sql and app/demo/>, built the first time:
a few minutes), signed in as one manager checking in at his customers in turn (20 m
away, verified). Each run writes into a copy, never into the fixture. The cluster is
stopped after the run if the run started it, and kept: `.ci/postgres.sh stop /tmp/pg-bench`
removes it and its cached fixture. ZRT_BENCH_POSTGRES_URL, when set, names a database
holding the fixture to use instead (no cluster of its own).
"""
import datetime as dt
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

from bs4 import BeautifulSoup

from tests.bench import _clock
from tests.bench import bench_field_loop as field_loop
from tests.bench.serve_floor import FLOOR, load_floor

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
OURS_PORT, FLOOR_PORT = 5311, 5312
TARGET_P95 = 30.0
STEP_SECONDS = float(os.environ.get("ZRT_BENCH_STEP_SECONDS", 7))
RATES = [int(r) for r in os.environ.get(
    "ZRT_BENCH_RATES", "10,25,50,100,150,200,250,300,400,500,600,800,1000,1200,1500").split(",")]
WORKERS = [int(w) for w in os.environ.get("ZRT_BENCH_WORKERS", "3").split(",")]
FLOOR_FIXTURE = "/tmp/zrt-bench-floor.db"
PG_DIR = "/tmp/pg-bench"
PG_OPTIONS = ("-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
              "-c full_page_writes=off -c max_connections=200")
HASH = hashlib.sha256((ROOT / "schema.sql").read_bytes()
                      + b"".join(p.read_bytes() for p in sorted((ROOT / "app" / "demo").glob("*.py")))
                      + _clock.MOMENT.encode()).hexdigest()[:10]
PG_FIXTURE = f"zrt_bench_{HASH}"
_state = {}


# ------------------------------------------------------------------ servers

def _wait_up(port, path):
    for _ in range(300):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path)
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"server on {port} did not come up")


def _serve(app, port, workers, env, probe):
    command = [PYTHON, "-m", "gunicorn", "-w", str(workers), "--log-level", "warning",
               "-b", f"127.0.0.1:{port}", app]
    # The server's business clock reads what ours reads (tests/bench/_clock.py).
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **_clock.env(), **env},
                               start_new_session=True)
    _wait_up(port, probe)
    return process


def _stop(process):
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)


def _cpu_seconds(pgid):
    """CPU seconds used so far by the processes of a process group (gunicorn and its workers)."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:  # fields after the command: state, ppid, pgrp, ...
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _backlog(port):
    """Connections waiting in the server's listen queue, not yet taken by a worker
    (/proc/net/tcp shows a listening socket's accept queue as its rx_queue)."""
    waiting = 0
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
            waiting += int(fields[4].split(":")[1], 16)
    return waiting


def _drain(port, probe, limit=120):
    """Wait until the server has worked off what an earlier step left queued (a failed step
    leaves abandoned connections in the listen queue, which the workers still serve): its
    listen queue empty for 0.3 s, then one probe answered. Returns the seconds it took."""
    started, empty = time.perf_counter(), 0
    while time.perf_counter() - started < limit and empty < 6:
        empty = empty + 1 if _backlog(port) == 0 else 0
        time.sleep(0.05)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=limit)
        conn.request("GET", probe)
        conn.getresponse().read()
        conn.close()
    except OSError:
        pass
    return time.perf_counter() - started


# ------------------------------------------------------------------ load

def _step(port, rate, requests, seconds, pgid):
    """One open-loop step by tests/bench/loadgen.py in its own process; its JSON report,
    with the server's CPU seconds over the step added."""
    spec = json.dumps({"port": port, "rate": rate, "seconds": seconds, "timeout": 10,
                       "requests": requests})
    server_cpu = _cpu_seconds(pgid)
    out = subprocess.run([PYTHON, "-m", "tests.bench.loadgen"], input=spec, capture_output=True,
                         text=True, cwd=ROOT, timeout=seconds + 120)
    if out.returncode != 0:
        raise RuntimeError(f"load generator failed: {out.stderr.strip()[-2000:]}")
    result = json.loads(out.stdout)
    result["server_cpu_s"] = _cpu_seconds(pgid) - server_cpu
    return result


def _passed(result):
    return not result["errors"] and result["p95"] is not None and result["p95"] <= TARGET_P95


def _describe(result):
    errors = ", ".join(f"{n}× {what}" for what, n in sorted(result["errors"].items()))
    p = {k: ("—" if result[k] is None else f"{result[k]:.1f}") for k in ("p50", "p95", "lag_p95")}
    return (f"{result['rate']:.0f}/s: p50 {p['p50']} ms, p95 {p['p95']} ms"
            + (f", FAILED {errors}" if errors else "")
            + f" (gen CPU {result['cpu_s']:.2f} s, send lag p95 {p['lag_p95']} ms; "
              f"gunicorn CPU {result['server_cpu_s']:.1f} s)")


def _highest_rate(port, requests, probe, pgid):
    """Step the rate up until two steps in a row fail; the best passing step below them."""
    _step(port, 20, requests, 2, pgid)  # warm the workers
    _drain(port, probe)
    best, steps, misses, failed_below = None, [], 0, []
    for rate in RATES:
        result = _step(port, rate, requests, STEP_SECONDS, pgid)
        print(f"    {_describe(result)}", file=sys.stderr, flush=True)
        steps.append(_describe(result))
        if _passed(result):
            best, misses = rate, 0
        else:
            misses += 1
            failed_below.append(rate)
            if misses == 2:
                break
        drained = _drain(port, probe)
        if drained > 1:
            steps[-1] += f" [drained {drained:.0f} s]"
    above = [r for r in failed_below if best is not None and r > best]
    if above and (above[0] - best) >= 20:
        # One more step halfway between the best and the first failure above it: a finer figure.
        rate = (best + above[0]) // 20 * 10
        _drain(port, probe)
        result = _step(port, rate, requests, STEP_SECONDS, pgid)
        print(f"    {_describe(result)} (halfway)", file=sys.stderr, flush=True)
        steps.append(_describe(result) + " (halfway)")
        if _passed(result):
            best = rate
    failed_below = [r for r in failed_below if best is not None and r < best]
    lead = []
    if best is None:
        lead.append(f"NO tested rate kept p95 ≤ {TARGET_P95:.0f} ms without errors (0 means none)")
    if failed_below:
        lead.append(f"steps failed below the figure: {', '.join(map(str, failed_below))}/s (noise?)")
    return best, lead + steps


def _wrk(port, script, path):
    """Closed-loop capacity by wrk (4 connections, as the floor's README): (req/s, note)."""
    wrk = shutil.which("wrk")
    if not wrk:
        return None, "wrk not installed (apt-get install wrk): no closed-loop cross-check"
    out = subprocess.run([wrk, "-t1", "-c4", "-d5s", "--latency", "-s", str(script),
                          f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, timeout=60)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out.stdout)
    p50 = re.search(r"50%\s+(\S+)", out.stdout)
    p99 = re.search(r"99%\s+(\S+)", out.stdout)
    errors = re.findall(r"Non-2xx or 3xx responses: \d+|Socket errors: .*", out.stdout)
    note = (f"wrk -t1 -c4 -d5s, closed loop (each connection sends its next request when answered): "
            f"p50 {p50.group(1) if p50 else '?'}, p99 {p99.group(1) if p99 else '?'}"
            + (f"; {'; '.join(errors)}" if errors else "")
            + f"; load average {_load()} after. A cross-check of the generator: the open-loop rate "
              "at p95 ≤ 30 ms should be under this capacity, and not far under it on a quiet machine")
    return (float(rate.group(1)) if rate else 0.0), note


def _wrk_check_in_script(folder, cookie, token, mine):
    """A wrk script posting check-ins as loadgen's do: the manager at his customers in turn."""
    customers = ", ".join(f"{{{cid}, {lat!r}, {lng!r}}}" for cid, lat, lng in mine[:500])
    script = Path(folder) / "check_in.lua"
    script.write_text(f"""
wrk.method = "POST"
wrk.headers["Cookie"] = {json.dumps(cookie)}
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
local token = {json.dumps(urllib.parse.quote(token, safe=""))}
local customers = {{{customers}}}
local n = 0
math.randomseed(os.time())
local function hex(k)
  local t = {{}}
  for i = 1, k do t[i] = string.format("%x", math.random(0, 15)) end
  return table.concat(t)
end
request = function()
  n = n + 1
  local c = customers[(n * 7919) % #customers + 1]
  local id = hex(8) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-a" .. hex(3) .. "-" .. hex(12)
  local at = os.date("!%Y-%m-%dT%H%%3A%M%%3A%S%%2B00%%3A00", os.time() + {round(_clock.shift_seconds())})
  local body = "csrf_token=" .. token .. "&client_uuid=" .. id .. "&made_at=" .. at .. "&fix_at=" .. at
    .. "&lat=" .. string.format("%.7f", c[2] + 20 / 110836) .. "&lng=" .. string.format("%.7f", c[3])
    .. "&accuracy=12&outcome=met"
  return wrk.format(nil, "/visits/check-in/" .. c[1], nil, body)
end
""")
    return script


def _load():
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


# ------------------------------------------------------------------ ours

def _sign_in(port):
    """A manager's session cookie and CSRF token, got as a browser gets them."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}"

    def token(path):
        html = opener.open(base + path).read().decode()
        return BeautifulSoup(html, "html.parser").select_one("input[name=csrf_token]")["value"]

    body = urllib.parse.urlencode({"csrf_token": token("/login"), "username": field_loop.MANAGER,
                                   "password": field_loop.demo.PASSWORD}).encode()
    opener.open(base + "/login", body).read()
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    return cookie, token("/me")


def _ours(label, url, mine, where):
    """Rows for ours on the database at url, one pair per worker count: the sustained rate,
    and wrk's closed-loop capacity as its cross-check."""
    rows = []
    for workers in WORKERS:
        load = _load()
        server = _serve("tests.bench.serve_app:app", OURS_PORT, workers,
                        {"ZRT_BENCH_DATABASE_URL": url}, "/login")
        try:
            cookie, token = _sign_in(OURS_PORT)
            requests = {"kind": "check-in", "cookie": cookie, "token": token,
                        "customers": [list(c) for c in mine], "clock_shift_s": _clock.shift_seconds()}
            best, steps = _highest_rate(OURS_PORT, requests, "/login", server.pid)
            after = _load()
            _drain(OURS_PORT, "/login")
            with tempfile.TemporaryDirectory() as folder:
                capacity, wrk_note = _wrk(OURS_PORT, _wrk_check_in_script(folder, cookie, token, mine), "/")
        finally:
            _stop(server)
        rows.append({"name": f"sustained check-in rate at p95 ≤ 30 ms, ours ({label}, {workers} workers)",
                     "unit": "/s", "samples": [best or 0], "budget": None,
                     "note": _note(workers, load, after, steps, where)})
        if capacity is None:
            rows[-1]["note"] += f". {wrk_note}"
        else:
            rows.append({"name": f"ours closed-loop capacity ({label}; wrk, 4 connections, {workers} workers)",
                         "unit": "/s", "samples": [capacity], "budget": None, "note": wrk_note})
    return rows


def _note(workers, load, load_after, steps, where):
    return (f"gunicorn {workers} sync workers, {where}; open-loop generator tests/bench/loadgen.py "
            f"(single-threaded asyncio, its OWN process, constant pacing, latency from each request's "
            f"due time) on the SAME 2 cores as the server; {STEP_SECONDS:g} s a step, up to two failing "
            f"steps; load average (1/5/15 min) {load} at start, {load_after} at end. Each step: p50/p95 "
            f"from due time, the generator's CPU seconds and send lag, gunicorn's CPU seconds (master "
            f"and workers; not PostgreSQL's). Steps: "
            + "; ".join(steps))


def sustained_sqlite():
    s = field_loop._session()  # a copy of the fixture, with today's indexes
    return _ours(f"SQLite, {s['counts'][0]:,} customers, {s['counts'][1]:,} visits",
                 f"sqlite:///{s['folder']}/z.db", s["mine"], "SQLite (WAL) copy of the field-loop fixture")


def _floor_database(folder):
    """A private copy of the floor's database (100,000 customers), built once."""
    if not os.path.exists(FLOOR_FIXTURE):
        import random
        work = FLOOR_FIXTURE + ".building"
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(work + suffix):
                os.remove(work + suffix)
        module = load_floor(work)
        db = module.db
        db.connect()
        db.create_tables([module.Customer, module.Visit])
        with db.atomic():
            for i in range(0, 100000, 500):
                module.Customer.insert_many([{"name": f"客户{j}", "lat": 28.8 + random.random() * 0.2,
                                              "lng": 107.5 + random.random() * 0.2}
                                             for j in range(i, i + 500)]).execute()
        db.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        db.close()
        os.replace(work, FLOOR_FIXTURE)
    path = f"{folder}/floor.db"
    shutil.copy(FLOOR_FIXTURE, path)
    return path


def sustained_floor():
    s = field_loop._session()
    path = _floor_database(s["folder"])
    rows = []
    for workers in WORKERS:
        load = _load()
        server = _serve("tests.bench.serve_floor:app", FLOOR_PORT, workers,
                        {"ZRT_BENCH_FLOOR_DB": path}, "/")
        try:
            best, steps = _highest_rate(FLOOR_PORT, {"kind": "floor"}, "/", server.pid)
            after = _load()
            _drain(FLOOR_PORT, "/")
            capacity, wrk_note = _wrk(FLOOR_PORT, Path(FLOOR).parent / "post.lua", "/checkin")
        finally:
            _stop(server)
        rows.append({"name": f"sustained check-in rate at p95 ≤ 30 ms, bare floor (SQLite, {workers} workers)",
                     "unit": "/s", "samples": [best or 0], "budget": None,
                     "note": _note(workers, load, after, steps, "floor_app.py on a private copy of its "
                                   "100,000-customer database")})
        if capacity is not None:
            rows.append({"name": f"bare floor closed-loop capacity (wrk, 4 connections, {workers} workers)",
                         "unit": "/s", "samples": [capacity], "budget": None,
                         "note": wrk_note})
        else:
            rows[-1]["note"] += f". {wrk_note}"
    return rows


# ------------------------------------------------------------------ PostgreSQL

def _as_postgres():
    return ["runuser", "-u", "postgres", "--"] if os.getuid() == 0 else []


def _pg_bin():
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name))
    if not found:
        raise RuntimeError("PostgreSQL server binaries not found; run make setup")
    return found[-1]


def _pg_cluster():
    """The admin URL of the bench's own cluster in PG_DIR, started (or made) when not running:
    (url, whether this run started it)."""
    import psycopg2
    pid_file = Path(PG_DIR) / "data" / "postmaster.pid"
    if pid_file.exists():
        port = pid_file.read_text().splitlines()[3].strip()
        url = f"postgresql://zrt@127.0.0.1:{port}/zrt_test"
        try:
            psycopg2.connect(url).close()
            return url, False
        except psycopg2.OperationalError:
            pass
    if (Path(PG_DIR) / "data" / "PG_VERSION").exists():
        # The cluster (and its cached fixture) is there but stopped: start it on a free port.
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        subprocess.run(_as_postgres() + [str(_pg_bin() / "pg_ctl"), "-D", f"{PG_DIR}/data", "-l",
                                         f"{PG_DIR}/server.log", "-w", "-t", "60", "-o",
                                         f"-p {port} -k {PG_DIR} {PG_OPTIONS}", "start"],
                       check=True, stdout=subprocess.DEVNULL)
        return f"postgresql://zrt@127.0.0.1:{port}/zrt_test", True
    out = subprocess.run([str(ROOT / ".ci" / "postgres.sh"), "start", PG_DIR], capture_output=True,
                         text=True, check=True)
    return out.stdout.strip(), True


def _pg_admin(url, *statements):
    import psycopg2
    conn = psycopg2.connect(url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for statement in statements:
                cur.execute(statement)
            return cur.fetchall() if cur.description else None
    finally:
        conn.close()


def _with_database(url, name):
    return re.sub(r"/[^/]*$", f"/{name}", url)


def _build_postgres(admin):
    """bench_field_loop's fixture on PostgreSQL: the demo county (6,000 customers) grown in
    bulk SQL to ~100,000 customers and 1,000,000 visits; then renamed PG_FIXTURE."""
    from app import clock, demo
    from app.db import close_all, database
    from tests.conftest import make_app, reset_database
    work = f"{PG_FIXTURE}_building"
    _pg_admin(admin, f"DROP DATABASE IF EXISTS {work}", f"CREATE DATABASE {work}")
    app = make_app(_with_database(admin, work))
    reset_database(database.obj)
    clock.reset()
    db = database.obj
    with app.app_context(), db.connection_context():
        demo.build_demo(customers=6000, password_method="pbkdf2:sha256:1000")
        cols = [r[0] for r in db.execute_sql(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'customer' "
            "AND column_name <> 'id' ORDER BY ordinal_position").fetchall()]
        with db.atomic():
            db.execute_sql(field_loop.copy_customers_sql(
                cols, f"generate_series(1, {field_loop.COPIES}) AS n(k)"))
        (have,) = db.execute_sql("SELECT COUNT(*) FROM visit").fetchone()
        # Visits over the two years before this week, at random customers, by random managers.
        # The visit table's indexes are dropped for the bulk insert and made again after: a
        # sorted build is minutes faster than a million random inserts into each of them.
        indexes = db.execute_sql(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'visit' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)").fetchall()
        with db.atomic():
            for name, _ in indexes:
                db.execute_sql(f'DROP INDEX "{name}"')
            # Random picks are drawn first (a CTE with random() is materialised, not inlined), then
            # joined to numbered customers and managers: ids need not be contiguous.
            db.execute_sql(
                "WITH pick AS (SELECT k, 1 + floor(random() * (SELECT COUNT(*) FROM customer))::int AS c, "
                "1 + floor(random() * (SELECT COUNT(*) FROM \"user\" WHERE role = 'manager'))::int AS m, "
                "floor(random() * 730)::int AS days, floor(random() * 36000)::int AS secs "
                "FROM generate_series(1, %s) AS k), "
                "c AS (SELECT row_number() OVER (ORDER BY id) AS n, id FROM customer), "
                "m AS (SELECT row_number() OVER (ORDER BY id) AS n, id FROM \"user\" WHERE role = 'manager') "
                "INSERT INTO visit (client_uuid, customer_id, user_id, made_at, received_at, lat, lng, "
                "accuracy_m, distance_m, verified, late, position_unconfirmed, outcome, note) "
                "SELECT md5(random()::text || k::text), c.id, m.id, "
                "%s::timestamp - days * interval '1 day' + secs * interval '1 second', "
                "%s::timestamp, 28.9, 107.6, 10, 20, TRUE, FALSE, FALSE, 'met', '' "
                "FROM pick JOIN c ON c.n = pick.c JOIN m ON m.n = pick.m",
                (field_loop.VISITS - have,
                 str(clock.local_day_start_utc(clock.week_bounds()[0] - dt.timedelta(days=1))),
                 str(clock.now())))
            for _, definition in indexes:
                db.execute_sql(definition)
    close_all()
    _pg_admin(_with_database(admin, work), "VACUUM ANALYZE")
    _pg_admin(admin, f"ALTER DATABASE {work} RENAME TO {PG_FIXTURE}")


def _postgres_session():
    """A throwaway copy of the PostgreSQL fixture (built when missing): its URL."""
    import psycopg2
    admin, started = _pg_cluster()
    _state["pg_admin"], _state["pg_started"] = admin, started
    names = [r[0] for r in _pg_admin(admin, "SELECT datname FROM pg_database WHERE datname LIKE 'zrt_bench_%'")]
    for stale in names:  # fixtures of an older schema or demo, and runs that crashed
        if stale != PG_FIXTURE:
            try:
                _pg_admin(admin, f"DROP DATABASE IF EXISTS {stale}")
            except psycopg2.Error as exc:  # in use by another run: left for a later one
                print(f"    kept {stale}: {str(exc).strip()}", file=sys.stderr, flush=True)
    if PG_FIXTURE not in names:
        started_at = time.perf_counter()
        print(f"    building {PG_FIXTURE} (once per schema and demo) …", file=sys.stderr, flush=True)
        _build_postgres(admin)
        print(f"    built in {time.perf_counter() - started_at:.0f} s", file=sys.stderr, flush=True)
    run = f"zrt_bench_run_{os.getpid()}"
    # FILE_COPY: a plain copy of the files, much faster than WAL-logging a 1M-row database.
    _pg_admin(admin, f"DROP DATABASE IF EXISTS {run}",
              f"CREATE DATABASE {run} TEMPLATE {PG_FIXTURE} STRATEGY FILE_COPY")
    _state["pg_run"] = run
    return _with_database(admin, run)


def sustained_postgres():
    """Ours on PostgreSQL: the bench's own cluster in PG_DIR and its fixture, built when absent;
    ZRT_BENCH_POSTGRES_URL, when set, names a database holding the fixture to use instead."""
    import psycopg2
    url = os.environ.get("ZRT_BENCH_POSTGRES_URL") or _postgres_session()
    with psycopg2.connect(url) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT c.id, c.lat, c.lng FROM customer c JOIN territory t ON t.id = c.territory_id "
            "JOIN territory a ON substr(t.path, 1, length(a.path)) = a.path "
            "JOIN assignment s ON s.territory_id = a.id JOIN \"user\" u ON u.id = s.user_id "
            "WHERE u.username = %s AND s.ends_on IS NULL AND c.lat IS NOT NULL ORDER BY c.id",
            (field_loop.MANAGER,))
        mine = cur.fetchall()
        cur.execute("SELECT (SELECT COUNT(*) FROM customer), (SELECT COUNT(*) FROM visit)")
        customers, visits = cur.fetchone()
    conn.close()
    return _ours(f"PostgreSQL, {customers:,} customers, {visits:,} visits", url, mine,
                 f"PostgreSQL {_pg_bin().parent.name} throwaway cluster (.ci/postgres.sh: fsync off) on "
                 "the same 2 cores, a copy of the fixture")


def teardown():
    admin = _state.pop("pg_admin", None)
    if admin:
        if _state.get("pg_run"):
            _pg_admin(admin, f"DROP DATABASE IF EXISTS {_state.pop('pg_run')}")
        if _state.pop("pg_started", False):
            # Stopped, not removed: the fixture stays cached in PG_DIR for the next run.
            subprocess.run(_as_postgres() + [str(_pg_bin() / "pg_ctl"), "-D", f"{PG_DIR}/data", "-m",
                                             "fast", "stop"], stdout=subprocess.DEVNULL, check=False)
    field_loop.teardown()


BENCHMARKS = [sustained_sqlite, sustained_floor, sustained_postgres]
