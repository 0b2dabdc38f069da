"""One database object for the whole app, chosen at run time from DATABASE_URL.

SQLite and PostgreSQL run the same code; schema.sql is the source of truth for
the tables and is written in the subset both accept, with SERIAL standing for
SQLite's INTEGER PRIMARY KEY.
"""
import os
import re
import sqlite3
import threading
import weakref
from collections import OrderedDict
from pathlib import Path

import functools

import click
from flask import current_app
from peewee import DatabaseProxy, PostgresqlDatabase, SqliteDatabase
from playhouse.pool import PooledDatabase, PooledPostgresqlDatabase, PooledSqliteDatabase
from playhouse.db_url import parse
from pypinyin import lazy_pinyin

database = DatabaseProxy()

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schema.sql"

# Declared SQLite types are made to read exactly as PostgreSQL's, so one
# schema.sql serves both and the schema test compares like with like.
SQLITE_FIELD_TYPES = {
    "DATETIME": "TIMESTAMP",
    "BOOL": "BOOLEAN",
    "DOUBLE": "DOUBLE PRECISION",
    "BIGINT": "BIGINT",
}
SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "foreign_keys": 1,
    "busy_timeout": 5000,
    "synchronous": "normal",
}


# SQLite's WAL is copied into the database file by a thread every CHECKPOINT_SECONDS
# rather than by whichever request's commit crosses SQLite's 1,000-page mark: that copy
# ends in an fsync, which took up to 600 ms here, and the request (and the manager
# waiting behind it) waited for it. A request still checkpoints past BACKSTOP_PAGES,
# should the thread fall that far behind.
CHECKPOINT_SECONDS = 1.0
BACKSTOP_PAGES = 10_000

# PostgreSQL may drop a connection idle for long; a pooled one older than this is
# replaced rather than trusted.
POOL_STALE_SECONDS = 300


# Chinese readers expect lists in pinyin order (阿 付 世 中), not by code point (世 中 付 阿).
PINYIN = "pinyin"                 # registered on every SQLite connection
POSTGRES_CHINESE = '"zh-x-icu"'   # ICU's Chinese collation, in Debian's PostgreSQL


@functools.lru_cache(maxsize=200_000)
def _pinyin_key(text):
    # Names repeat across a bank's lists: each is turned into pinyin once.
    return (" ".join(lazy_pinyin(text)), text)


def pinyin_key(text):
    """A Python sort key that reads text in pinyin order, as chinese_order does in SQL."""
    return _pinyin_key(text or "")


def _pinyin_compare(a, b):
    key_a, key_b = _pinyin_key(a), _pinyin_key(b)
    return (key_a > key_b) - (key_a < key_b)


def tree_order(rows):
    """Rows of a tree (each with .id, .path "/1/9/" and .name) depth first, siblings in pinyin order.

    A path sorts by the ids' digits ("/1/10/" before "/1/9/"): a tree's siblings read by
    name instead, as a Chinese reader expects. An ancestor outside rows sorts by its id.
    """
    rows = list(rows)
    names = {row.id: row.name for row in rows}

    def key(row):
        ids = [int(part) for part in row.path.strip("/").split("/") if part]
        return tuple((_pinyin_key(names[i]) if i in names else ("", ""), i) for i in ids)
    return sorted(rows, key=key)


def chinese_order(field):
    """field, ordered as a Chinese reader expects (pinyin), on the bound database."""
    return field.collate(POSTGRES_CHINESE if isinstance(database.obj, PostgresqlDatabase) else PINYIN)


def open_database(url, checkpoint_every=None):
    """Return an unconnected peewee database for a DATABASE_URL.

    Each request still takes a connection and hands it back at its end, but the hand-back
    keeps it open in a pool (one per thread). Really closing it cost more than the rest of
    a check-in: closing SQLite's last connection checkpoints and deletes the WAL every time,
    and a new PostgreSQL connection is a server process. An in-memory SQLite database is
    its connection, so it is never pooled. With checkpoint_every (seconds), a SQLite
    file gets a WalCheckpointer.
    """
    if url.startswith("sqlite:///"):
        path = url[len("sqlite:///"):]
        if path == ":memory:":
            db = SqliteDatabase(path, pragmas=SQLITE_PRAGMAS, field_types=SQLITE_FIELD_TYPES)
            db.register_collation(_pinyin_compare, PINYIN)
            return db
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        pragmas = dict(SQLITE_PRAGMAS, **({"wal_autocheckpoint": BACKSTOP_PAGES} if checkpoint_every else {}))
        # A pooled connection may be taken next by another thread than the one that opened
        # it (never by two at once), so the sqlite3 module's same-thread check is off.
        db = PooledSqliteDatabase(path, pragmas=pragmas, field_types=SQLITE_FIELD_TYPES,
                                  max_connections=None, check_same_thread=False)
        db.register_collation(_pinyin_compare, PINYIN)
        if checkpoint_every:
            db.checkpointer = WalCheckpointer(path, checkpoint_every)
            db.checkpointer.start()
        return db
    if url.startswith(("postgres:", "postgresql:")):
        params = parse(url)
        return PooledPostgresqlDatabase(params.pop("database"), max_connections=None,
                                        stale_timeout=POOL_STALE_SECONDS, **params)
    raise ValueError(f"unsupported DATABASE_URL: {url}")


class WalCheckpointer(threading.Thread):
    """Copies a SQLite database's WAL into its file every `every` seconds, on its own
    connection. PASSIVE: it never waits for, nor blocks, a request."""

    def __init__(self, path, every):
        super().__init__(name=f"wal-checkpoint {path}", daemon=True)
        self.path, self.every = path, every
        self.stopped = threading.Event()

    def run(self):
        # A connection each round: one kept from before the file was in WAL mode keeps
        # seeing a rollback journal and checkpoints nothing. mode=rw: never create a file.
        uri = Path(self.path).resolve().as_uri() + "?mode=rw"
        while not self.stopped.wait(self.every):
            try:
                connection = sqlite3.connect(uri, uri=True)
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                finally:
                    connection.close()
            except sqlite3.Error:
                pass  # a busy or vanished file: the next round, or the backstop, will do

    def stop(self):
        self.stopped.set()


def close_all(db=None):
    """Really close every connection of db (the bound one by default), pooled or not,
    and stop its checkpointer: before its file is copied or moved, or another database
    takes its place."""
    db = db or database.obj
    checkpointer = getattr(db, "checkpointer", None)
    if checkpointer is not None:
        checkpointer.stop()
    if isinstance(db, PooledDatabase):
        db.close_all()
    elif db is not None and not db.is_closed():
        db.close()


def bind(url, checkpoint_every=None):
    """Point the proxy at the database named by url and return it."""
    if database.obj is not None:
        close_all(database.obj)
    db = open_database(url, checkpoint_every)
    database.initialize(db)
    return db


def schema_statements(db):
    """schema.sql split into statements, in the dialect of db."""
    sql = SCHEMA.read_text(encoding="utf-8")
    sql = re.sub(r"--[^\n]*", "", sql)
    if isinstance(db, SqliteDatabase):
        sql = sql.replace("SERIAL", "INTEGER")
    return [s.strip() for s in sql.split(";") if s.strip()]


def schema_tables():
    """The tables schema.sql creates, in the order it creates them (referenced ones first)."""
    return re.findall(r'^CREATE TABLE "?(\w+)"?', SCHEMA.read_text(encoding="utf-8"), flags=re.MULTILINE)


def drop_schema_tables(db):
    """Drop every table of schema.sql from db, those referring to others first."""
    sqlite = isinstance(db, SqliteDatabase)
    cascade = "" if sqlite else " CASCADE"
    with db.atomic():
        if sqlite:  # a table may refer to one created after it: check the keys once all are gone
            db.execute_sql("PRAGMA defer_foreign_keys = ON")
        for table in reversed(schema_tables()):
            db.execute_sql(f'DROP TABLE IF EXISTS "{table}"{cascade}')


def apply_schema(db):
    """Create every table, constraint and index of schema.sql in db."""
    with db.atomic():
        for statement in schema_statements(db):
            db.execute_sql(statement)


def is_initialised(db):
    return "branch" in db.get_tables()


# Endpoints that need no connection taken up front: a static file needs none, and the health
# check opens its own so that a database that does not answer is its 503, not a 500.
CONNECT_LAZILY = {"static", "health.healthz"}


def _connect():
    from flask import request

    if request.endpoint in CONNECT_LAZILY:
        return
    if database.is_closed():
        database.connect(reuse_if_open=True)


def _close(exc):
    if not database.is_closed():
        database.close()


@click.command("init-db")
@click.option("--force", is_flag=True, help="Drop every table first.")
def init_db_command(force):
    """Create the tables from schema.sql (an existing database is left alone)."""
    db = database.obj
    with db.connection_context():
        if is_initialised(db):
            if not force:
                click.echo("Database already initialised; use --force to rebuild it.")
                return
            drop_schema_tables(db)
        apply_schema(db)
    click.echo(f"Initialised {current_app.config['DATABASE_URL']}")


def init_app(app):
    bind(app.config["DATABASE_URL"], app.config.get("SQLITE_CHECKPOINT_SECONDS", CHECKPOINT_SECONDS))
    app.before_request(_connect)
    app.teardown_appcontext(_close)
    app.cli.add_command(init_db_command)


def default_url(instance_path):
    return os.environ.get("DATABASE_URL") or f"sqlite:///{instance_path}/zerentian.db"


class KeptPerDatabase:
    """What a process keeps between requests for the database in use (the coverage page's
    figures, Today's last contacts): one least-recently-used table per database object, so a
    test's databases, or a database opened again, never read each other's copies."""

    def __init__(self, size):
        self.size = size
        self._tables = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            table = self._tables.get(database.obj)
            if table is None or key not in table:
                return None
            table.move_to_end(key)
            return table[key]

    def put(self, key, value):
        with self._lock:
            table = self._tables.setdefault(database.obj, OrderedDict())
            table[key] = value
            table.move_to_end(key)
            while len(table) > self.size:
                table.popitem(last=False)

    def clear(self):
        with self._lock:
            self._tables.clear()
