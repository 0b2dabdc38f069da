"""Background jobs (Huey tasks) as the app sees them: who asked, for which branch, how far.

The `job` table is our own record of each task, written by the task itself (Huey does not
acknowledge tasks): queued → running → done / failed, progress and a heartbeat while it
runs, the result or a Chinese reason at the end. A partial unique index keeps at most one
live (queued or running) job per `key`, so the same work asked twice runs once. The queue
itself lives in app/jobs.py, which hands this module its way to enqueue (`use_queue`), so
the models never import the job layer above them.
"""
import datetime as dt
import json

from peewee import DateTimeField, ForeignKeyField, IntegerField, IntegrityError, TextField

from app import clock
from app.db import database
from app.models.base import BaseModel, created_at_field, default, one_of
from app.models.org import Branch, User
from app.models.scope import records

JOB_STATES = ("queued", "running", "done", "failed")
LIVE = ("queued", "running")

# Set by app/jobs.py: enqueue(job) puts the job's task on the queue; side is a small store
# (Huey's key-value storage) for a job's progress while its own transaction hides the row.
_queue = {"enqueue": None, "side": None}


def use_queue(enqueue, side=None):
    _queue["enqueue"], _queue["side"] = enqueue, side


class JobFailed(Exception):
    """A task met a reason to stop that the user can read (already translated, Chinese)."""

    def __init__(self, reason):
        super().__init__(reason)
        self.reason = str(reason)


class Job(BaseModel):
    """One piece of background work, from the moment it is asked for until it ends."""

    kind = TextField()
    params = TextField(default="{}", constraints=[default("'{}'")])
    key = TextField(null=True)
    branch = ForeignKeyField(Branch, backref="jobs", on_delete="CASCADE")
    user = ForeignKeyField(User, null=True, backref="jobs", on_delete="SET NULL")
    state = TextField(default="queued", constraints=[one_of("state", JOB_STATES), default("'queued'")])
    done = IntegerField(default=0, constraints=[default("0")])
    total = IntegerField(null=True)
    message = TextField(null=True)
    worker = TextField(null=True)  # host:pid of the process running it, for the logs
    heartbeat_at = DateTimeField(null=True)
    started_at = DateTimeField(null=True)
    finished_at = DateTimeField(null=True)
    created_at = created_at_field()
    result = TextField(null=True)
    error = TextField(null=True)
    attempts = IntegerField(default=0, constraints=[default("0")])

    class Meta:
        indexes = ((("state", "heartbeat_at"), False),)

    # -- asking for work -----------------------------------------------------------------
    @classmethod
    def submit(cls, kind, params, user, branch, key=None):
        """Record the job and queue its task; with a key that a live job holds, that job instead."""
        branch_id = branch.id if isinstance(branch, Branch) else branch
        user_id = user.id if user is not None else None
        if key is not None:
            live = cls.live_with_key(key)
            if live is not None:
                return live
        try:
            with database.atomic():
                job = cls.create(kind=kind, params=json.dumps(params, ensure_ascii=False, sort_keys=True),
                                 key=key, branch=branch_id, user=user_id, created_at=clock.now())
        except IntegrityError:
            live = cls.live_with_key(key) if key is not None else None
            if live is None:
                raise
            return live  # asked twice at once: the other request's job
        cls.enqueue(job)
        return job

    @classmethod
    def enqueue(cls, job):
        if _queue["enqueue"] is None:
            raise RuntimeError("no job queue configured (app.jobs.init_app)")
        _queue["enqueue"](job)

    @classmethod
    def live_with_key(cls, key):
        return cls.get_or_none(cls.key == key, cls.state.in_(LIVE))

    @classmethod
    def visible_to(cls, user):
        """Jobs of the user's branch subtree; a manager sees the jobs they asked for."""
        return cls.select().where(records(user, cls.branch, owners=(cls.user,)))

    @classmethod
    def latest(cls, kind, key):
        """The most recent job of this kind and key (live or ended), or None."""
        return cls.select().where(cls.kind == kind, cls.key == key).order_by(cls.id.desc()).first()

    # -- the task's own writes -----------------------------------------------------------
    def progress(self, done, total=None, message=None):
        """How far the task is (and a heartbeat: it is alive). Inside a transaction the row's
        update would be hidden until the end, so the side store gets it then."""
        now = clock.now()
        self.done, self.heartbeat_at = int(done), now
        if total is not None:
            self.total = int(total)
        if message is not None:
            self.message = str(message)
        if database.in_transaction() and _queue["side"] is not None:
            _queue["side"].put(self.id, {"done": self.done, "total": self.total, "message": self.message,
                                         "at": now.isoformat()})
            return
        values = {"done": self.done, "heartbeat_at": now}
        if total is not None:
            values["total"] = self.total
        if message is not None:
            values["message"] = self.message
        Job.update(values).where(Job.id == self.id).execute()

    def beat(self):
        """A heartbeat without news."""
        self.progress(self.done, message=None)

    # -- reading -------------------------------------------------------------------------
    def data(self, name):
        return json.loads(getattr(self, name) or "null")

    def live_view(self):
        """The row, with the side store's newer progress when a transaction hides the row's."""
        side = _queue["side"].get(self.id) if _queue["side"] is not None and self.state == "running" else None
        if side:
            at = dt.datetime.fromisoformat(side["at"]) if side.get("at") else None  # naive UTC
            if at is not None and (self.heartbeat_at is None or at > self.heartbeat_at):
                self.done, self.total, self.heartbeat_at = side["done"], side["total"], at
                self.message = side.get("message") or self.message
        return self

    @property
    def live(self):
        return self.state in LIVE

    @property
    def finished(self):
        return self.state in ("done", "failed")

    @property
    def percent(self):
        if not self.total:
            return None
        return min(100, round(100 * self.done / self.total))


Job.add_index(Job.index(Job.key, unique=True, name="job_one_live_per_key").where(Job.state.in_(LIVE)))


class PeriodicRun(BaseModel):
    """One run of a periodic task for one slot (its Asia/Shanghai minute): claimed once, by
    whichever consumer gets there first, so several consumers never run it twice."""

    name = TextField()
    slot = DateTimeField()  # the business minute it is due, stored UTC
    claimed_by = TextField()
    claimed_at = DateTimeField(default=clock.now, constraints=[default("CURRENT_TIMESTAMP")])
    finished_at = DateTimeField(null=True)
    outcome = TextField(null=True)

    class Meta:
        indexes = ((("name", "slot"), True),)

    @classmethod
    def claim(cls, name, slot, by):
        """True when this caller is the first to claim the slot."""
        try:
            with database.atomic():
                cls.create(name=name, slot=slot, claimed_by=by, claimed_at=clock.now())
            return True
        except IntegrityError:
            return False
