"""Background work on Huey (DESIGN.md, *Background work*): the queue, how a task keeps its
`job` row, periodic tasks at Asia/Shanghai times, and the consumer `flask worker` runs.

- `huey`: one instance, configured from `HUEY_URL` when the app is made: Huey's SQLite
  storage in the instance folder by default (no server), `redis://…` for RedisHuey when
  several machines share the work. `HUEY_IMMEDIATE` runs each task inside the call that
  queues it (for tests that do not start a consumer).
- `@job_task("kind")`: a task whose function receives `(job, **params)`; it claims the job
  (queued → running, once: a second copy of the message does nothing), and ends it done,
  or failed with a Chinese reason (`JobFailed`, `Refused`) or a generic one (anything
  else, logged with its traceback). `Job.submit` queues it.
- `@bank_periodic(minute=…, hour=…, day_of_week=…)`: a crontab in business time
  (Asia/Shanghai, app/clock.py). Each consumer's scheduler looks every
  `WORKER_PERIODIC_SECONDS`; a run is claimed in `periodic_run` (one row per task and
  minute), so with several consumers each periodic task still runs once in its minute.
- `storage_ok()`, `last_worker_heartbeat()`: for /healthz. Each consumer's scheduler
  writes a heartbeat into Huey's storage every `WORKER_HEARTBEAT_SECONDS`.
The tasks themselves are declared in app/tasks.py.
"""
import contextlib
import datetime as dt
import json
import logging
import os
import socket
import time

import click
from flask import current_app, has_app_context
from flask.cli import with_appcontext
from flask_babel import gettext as _
from huey import Huey, crontab
from huey.consumer import Consumer, Scheduler
from huey.storage import MemoryStorage, RedisStorage, SqliteStorage

from app import clock
from app.db import close_all, database
from app.models.job import Job, JobFailed, PeriodicRun, use_queue
from app.models.refused import Refused

log = logging.getLogger("zerentian.jobs")

# Configured for real by init_app; until then a queue in memory.
huey = Huey("zerentian", results=False, storage_class=MemoryStorage)
TASKS = {}      # job kind → Huey task
PERIODIC = {}   # name → (crontab check, Huey task)
HEARTBEAT_KEY = "zrt:worker-heartbeat"
_state = {"app": None}

DEFAULTS = {
    "HUEY_URL": None,               # None: sqlite:///<instance>/huey.db
    "HUEY_IMMEDIATE": False,
    "JOB_STALE_SECONDS": 120,       # a running job silent this long is re-queued (once), then failed
    "WORKER_PERIODIC_SECONDS": 60,  # how often a consumer looks for periodic tasks due
    "WORKER_HEARTBEAT_SECONDS": 5,
    "WORKER_POLL_SECONDS": 0.25,    # longest wait between two looks at an empty queue (SQLite storage)
}


def worker_name():
    return f"{socket.gethostname()}:{os.getpid()}"


# --- configuration -----------------------------------------------------------------------------
def configure(app):
    """Point the one Huey instance at the storage HUEY_URL names."""
    url = app.config.get("HUEY_URL") or f"sqlite:///{app.instance_path}/huey.db"
    if url.startswith(("redis://", "rediss://", "unix://")):
        storage_class, kwargs = RedisStorage, {"url": url}
    elif url.startswith("sqlite:///"):
        storage_class, kwargs = SqliteStorage, {"filename": url[len("sqlite:///"):]}
    else:
        raise ValueError(f"unsupported HUEY_URL: {url}")
    with contextlib.suppress(Exception):
        huey.storage.close()
    huey.storage_class, huey.storage_kwargs = storage_class, kwargs
    huey._immediate = bool(app.config.get("HUEY_IMMEDIATE"))
    huey.storage = huey.create_storage()
    _state["app"] = app


def init_app(app):
    for key, value in DEFAULTS.items():
        app.config.setdefault(key, value)
    if not app.config["HUEY_URL"]:
        app.config["HUEY_URL"] = os.environ.get("HUEY_URL") or None
    configure(app)
    use_queue(_enqueue, _Side())
    app.cli.add_command(worker_command)


def _enqueue(job):
    TASKS[job.kind](job.id)


class _Side:
    """A job's progress while its own transaction hides the row (Huey's key-value storage)."""

    def put(self, job_id, value):
        with contextlib.suppress(Exception):
            huey.put(f"zrt:job:{job_id}", json.dumps(value))

    def get(self, job_id):
        try:
            raw = huey.get(f"zrt:job:{job_id}", peek=True)
        except Exception:
            return None
        return json.loads(raw) if raw else None

    def drop(self, job_id):
        with contextlib.suppress(Exception):
            huey.delete(f"zrt:job:{job_id}")


@contextlib.contextmanager
def _context():
    """The app and a database connection, for a task run in a worker; in immediate mode, inside
    a request or a command, the caller's context and connection as they are."""
    app = _state["app"]
    if has_app_context():
        opened = database.is_closed()
        if opened:
            database.connect()
        try:
            yield current_app
        finally:
            if opened and not database.is_closed():
                database.close()
        return
    with app.app_context(), database.connection_context():
        yield app


# --- tasks that keep a job row ---------------------------------------------------------------
def job_task(kind, **options):
    """Declare the task run for jobs of `kind`: fn(job, **params) returns the result (JSON-able)."""
    def decorator(fn):
        @huey.task(name=f"job.{kind}", **options)
        def task(job_id):
            run_job(fn, job_id)
        TASKS[kind] = task
        fn.task = task
        return fn
    return decorator


def run_job(fn, job_id):
    with _context() as app:
        now = clock.now()
        claimed = (Job.update(state="running", attempts=Job.attempts + 1, started_at=now, heartbeat_at=now,
                              worker=worker_name(), error=None, finished_at=None)
                   .where(Job.id == job_id, Job.state == "queued").execute())
        if not claimed:
            return  # a second copy of the message, or the job ended or was taken meanwhile
        job = Job.get_by_id(job_id)
        try:
            result = fn(job, **(job.data("params") or {}))
        except JobFailed as failure:
            _end(job, "failed", error=failure.reason)
        except Refused as refused:
            _end(job, "failed", error="；".join(str(m) for m in refused.messages) or str(refused))
        except Exception:
            app.logger.exception("job %s (%s) failed", job.id, job.kind)
            if database.in_transaction():
                database.rollback()
            _end(job, "failed", error=_("The job stopped on an unexpected error; it was logged for the "
                                        "administrator."))
        else:
            _end(job, "done", result=result)


def _end(job, state, result=None, error=None):
    now = clock.now()
    Job.update(state=state, finished_at=now, heartbeat_at=now, error=error,
               result=json.dumps(result, ensure_ascii=False) if result is not None else None,
               done=job.done, total=job.total, message=job.message,  # the last progress (a transaction
               ).where(Job.id == job.id, Job.state == "running",  # may have kept it in the side store)
                       Job.attempts == job.attempts).execute()
    _Side().drop(job.id)


# --- the stale-job check -------------------------------------------------------------------------
def requeue_stale(now=None):
    """Running jobs whose heartbeat stopped: queued again once; a second death ends them failed.
    Returns (requeued ids, failed ids)."""
    now = now or clock.now()
    limit = dt.timedelta(seconds=float(current_app.config.get("JOB_STALE_SECONDS") or 120))
    requeued, failed = [], []
    for job in Job.select().where(Job.state == "running").order_by(Job.id):
        job.live_view()
        beat = job.heartbeat_at or job.started_at or job.created_at
        if now - beat <= limit:
            continue
        still = (Job.state == "running") & (Job.id == job.id) & (Job.attempts == job.attempts)
        if job.attempts < 2:
            if Job.update(state="queued", worker=None).where(still).execute():
                log.warning("job %s (%s): no heartbeat since %s, queued again", job.id, job.kind, beat)
                Job.enqueue(job)
                requeued.append(job.id)
        else:
            error = _("The worker running this job stopped twice before it finished (killed or restarted); "
                      "it was not tried a third time.")
            if Job.update(state="failed", finished_at=now, error=error).where(still).execute():
                log.error("job %s (%s): stopped twice, marked failed", job.id, job.kind)
                failed.append(job.id)
    return requeued, failed


# --- periodic tasks ------------------------------------------------------------------------------
def bank_periodic(minute="*", hour="*", day="*", month="*", day_of_week="*", name=None):
    """Declare a periodic task due at these crontab fields in Asia/Shanghai time."""
    check = crontab(minute, hour, day, month, day_of_week, strict=True)

    def decorator(fn):
        task_name = name or fn.__name__

        @huey.task(name=f"periodic.{task_name}")
        def task(slot):
            with _context():
                try:
                    outcome = fn()
                except Exception:
                    current_app.logger.exception("periodic task %s failed", task_name)
                    outcome = "error"
                PeriodicRun.update(finished_at=clock.now(), outcome=json.dumps(outcome, ensure_ascii=False)[:2000]
                                   ).where(PeriodicRun.name == task_name,
                                           PeriodicRun.slot == clock.parse_moment(slot)).execute()
        PERIODIC[task_name] = (check, task)
        fn.task = task
        return fn
    return decorator


def enqueue_due(by=None):
    """Queue the periodic tasks due this business minute (or the one before, missed by a late
    look), each claimed once in periodic_run. Returns the names queued."""
    local = clock.local_now().replace(second=0, microsecond=0)
    queued = []
    for slot in (local - dt.timedelta(minutes=1), local):
        for name, (check, task) in PERIODIC.items():
            if not check(slot.replace(tzinfo=None)):
                continue
            slot_utc = slot.astimezone(dt.UTC).replace(tzinfo=None)
            if PeriodicRun.claim(name, slot_utc, by or worker_name()):
                task(slot.isoformat())
                queued.append(name)
    return queued


def storage_ok():
    """Whether Huey's storage answers."""
    try:
        huey.storage.queue_size()
        return True
    except Exception:
        return False


def last_worker_heartbeat():
    """When a consumer last said it was alive (naive UTC, business clock), or None."""
    try:
        raw = huey.get(HEARTBEAT_KEY, peek=True)
    except Exception:
        return None
    return dt.datetime.fromisoformat(raw) if raw else None  # written naive UTC


# --- the consumer --------------------------------------------------------------------------------
class BankScheduler(Scheduler):
    """Huey's scheduler, with periodic tasks in business time claimed once, and a heartbeat."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        config = _state["app"].config
        self.periodic_task_seconds = float(config.get("WORKER_PERIODIC_SECONDS") or 60)
        self.beat_every = float(config.get("WORKER_HEARTBEAT_SECONDS") or 5)
        self._next_beat = 0.0

    def loop(self, now=None):
        if time.monotonic() >= self._next_beat:
            self._next_beat = time.monotonic() + self.beat_every
            try:
                huey.put(HEARTBEAT_KEY, clock.now().isoformat())
            except Exception:
                self._logger.exception("could not write the worker heartbeat")
        super().loop(now)

    def enqueue_periodic_tasks(self, now):
        try:
            with _context():
                for name in enqueue_due():
                    self._logger.info("periodic task %s queued", name)
        except Exception:
            self._logger.exception("could not queue the periodic tasks")


class BankConsumer(Consumer):
    scheduler_class = BankScheduler


def make_consumer(workers=1, periodic=True, worker_type="process", max_delay=None, delay=0.05, backoff=1.5):
    app = _state["app"]
    if max_delay is None:
        max_delay = float(app.config.get("WORKER_POLL_SECONDS") or 0.25)
    return BankConsumer(huey, workers=workers, periodic=periodic, worker_type=worker_type,
                        initial_delay=min(delay, max_delay), backoff=backoff, max_delay=max_delay,
                        scheduler_interval=1, health_check_interval=1)


@click.command("worker")
@click.option("--workers", "-w", default=2, show_default=True, help="Worker processes.")
@click.option("--no-periodic", is_flag=True, help="Leave periodic tasks to another consumer.")
@click.option("--delay", "-d", type=float, default=0.05, show_default=True,
              help="First wait (s) after finding the queue empty (SQLite storage).")
@click.option("--max-delay", "-m", type=float, default=None,
              help="Longest wait (s) between looks at an empty queue [WORKER_POLL_SECONDS].")
@click.option("--backoff", "-b", type=float, default=1.5, show_default=True, help="Growth of that wait.")
@with_appcontext
def worker_command(workers, no_periodic, delay, max_delay, backoff):
    """Run a consumer: worker processes for the queued jobs, and (unless --no-periodic) the periodic tasks."""
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] %(levelname)s %(name)s: %(message)s")
    if huey.immediate:
        raise click.ClickException("HUEY_IMMEDIATE is set: tasks run where they are queued, no worker is needed.")
    close_all()  # the worker processes are forked: none may share a connection with this one
    consumer = make_consumer(workers, not no_periodic, delay=delay, max_delay=max_delay, backoff=backoff)
    consumer.run()
