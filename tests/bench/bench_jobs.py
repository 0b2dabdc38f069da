"""How long a queued job waits before a worker takes it (job.started_at - job.created_at).

A real consumer (`flask worker --workers 1`, on the wall clock) on Huey's SQLite storage,
once with Huey's own polling (-d 0.1 -m 10 -b 1.15: an idle worker's wait between looks
grows to 10 s) and once with ours (WORKER_POLL_SECONDS 0.25, -d 0.05 -b 1.5), then on
Redis when redis-server is installed (a blocking read: the worker wakes at once). Each
sample queues one job after an idle pause of 0.5-2.5 s (random, seeded), so the worker
has backed off as it would between a user's clicks. The job is an import check of an
import that no longer exists: it ends at once, and only its wait is measured.

    python -m tests.bench jobs
"""
import random
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

SAMPLES = 20
KEY = "dGVzdC1vbmx5LWtleS1mb3ItaWQtbnVtYmVycy0wMDA="


def _waits(folder, huey_url, worker_args):
    from app import clock, create_app
    from app.db import apply_schema, database
    from app.models import Branch, Job
    from tests.workers import Consumers, wait_for

    clock.unpin()
    folder.mkdir(parents=True, exist_ok=True)
    setting = {"DATABASE_URL": f"sqlite:///{folder}/z.db", "HUEY_URL": huey_url, "SECRET_KEY": "bench",
               "ID_NUMBER_KEY": KEY, "HUEY_IMMEDIATE": False}
    app = create_app(dict(setting))
    with database.obj.connection_context():
        apply_schema(database.obj)
        bank = Branch.add("甲县农商行", "A", "bank")
    group = Consumers(folder / "workers", setting)
    group.app = app
    worker = group.start(*worker_args, at=False)
    rng = random.Random(16)
    waits = []
    try:
        wait_for(lambda: "The following commands are available" in group.log(worker), timeout=30)
        time.sleep(1)
        for _ in range(SAMPLES):
            time.sleep(rng.uniform(0.5, 2.5))
            with app.app_context(), database.obj.connection_context():
                job_id = Job.submit("import_check", {"import_job": 0}, None, bank).id
                job = wait_for(lambda i=job_id: (j := Job.get_by_id(i)).started_at and j, timeout=30, every=0.01)
                waits.append((job.started_at - job.created_at).total_seconds())
    finally:
        group.stop_all()
    return waits


def _redis(folder):
    binary = shutil.which("redis-server")
    if binary is None:
        return None, None
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                               "--save", "", "--appendonly", "no"], stdout=subprocess.DEVNULL)
    time.sleep(0.5)
    return server, f"redis://127.0.0.1:{port}/0"


def queue_wait():
    rows = []
    with tempfile.TemporaryDirectory(prefix="zrt-bench-jobs-") as tmp:
        tmp = Path(tmp)
        cases = [("Huey's default polling (-d 0.1 -m 10 -b 1.15), SQLite storage", "sqlite",
                  ["--workers", "1", "--no-periodic", "-d", "0.1", "-m", "10", "-b", "1.15"]),
                 ("our defaults (WORKER_POLL_SECONDS 0.25, -d 0.05 -b 1.5), SQLite storage", "sqlite",
                  ["--workers", "1", "--no-periodic"])]
        server, url = _redis(tmp)
        if url:
            cases.append(("Redis storage (blocking read)", url, ["--workers", "1", "--no-periodic"]))
        try:
            for i, (label, storage, args) in enumerate(cases):
                folder = tmp / f"case{i}"
                huey_url = f"sqlite:///{folder}/huey.db" if storage == "sqlite" else storage
                waits = _waits(folder, huey_url, args)
                rows.append({"name": f"a queued job's wait for a worker: {label}", "unit": "s",
                             "samples": waits, "budget": 0.5, "budget_stat": "median",
                             "note": f"{SAMPLES} jobs, each after an idle pause of 0.5-2.5 s; one worker process"})
        finally:
            if server is not None:
                server.terminate()
                server.wait(5)
    return rows


BENCHMARKS = [queue_wait]
