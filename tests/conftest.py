"""Fixtures: an app on each database, the hand-made county, signed-in clients.

Model, query and access tests take `app` and run on SQLite and PostgreSQL;
browser tests use their own live server on SQLite (tests/browser/conftest.py).
"""
import atexit
import os
import re
import shutil
import sqlite3
import tempfile

import psycopg2
import pytest
from bs4 import BeautifulSoup
from hypothesis import HealthCheck, settings
from peewee import DatabaseError, PostgresqlDatabase

from app import clock, create_app
from app.db import apply_schema, close_all, database, open_database
from app.models import User
from tests.county import HASH, PASSWORD, build_county

BACKENDS = ["sqlite", "postgres"]
# Where the business clock stands when every test starts (STYLE 19): a Wednesday afternoon
# in Asia/Shanghai, so "today", "this week", "overdue" and the demo's history never depend
# on the day or hour the suite runs, nor on TZ. A test that needs another moment calls
# clock.pin(...) or clock.travel(...); the `business_clock` fixture puts the clock back after it.
BUSINESS_MOMENT = "2026-11-25T15:00+08:00"

# Property-based tests (Hypothesis, tests/test_properties.py): a small profile for `make test`
# (seconds), a larger one by hand: HYPOTHESIS_PROFILE=thorough. The fixtures' app and county
# serve every example of a test (their rules are checked after each one); no example database
# is kept on disk, so each run draws afresh from its seed.
_HYPOTHESIS = dict(deadline=None, database=None, derandomize=False,
                   suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
settings.register_profile("default", max_examples=15, **_HYPOTHESIS)
settings.register_profile("thorough", max_examples=400, **_HYPOTHESIS)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
TEST_ID_NUMBER_KEY = "dGVzdC1vbmx5LWtleS1mb3ItaWQtbnVtYmVycy0wMDA="  # Fernet key for tests only


def pytest_configure(config):
    # Warnings are errors, so deprecations surface here first.
    config.addinivalue_line("filterwarnings", "error")
    # nbclient/jupyter warn about platformdirs on import; not ours to fix.
    config.addinivalue_line("filterwarnings", "ignore::DeprecationWarning:jupyter_client.*")
    config.addinivalue_line("markers", "browser: drives headless Chromium")


@pytest.fixture(scope="session", autouse=True)
def _pinned_clock():
    """The session's clock, pinned at BUSINESS_MOMENT before any fixture builds data.

    It runs on from there at real speed, so rows written one after another keep their order;
    session- and module-scoped fixtures (the live server, the demo) see the same clock.
    """
    clock.pin(BUSINESS_MOMENT)
    yield
    clock.unpin()


@pytest.fixture(autouse=True)
def business_clock(_pinned_clock):
    """The business clock (app.clock), as the session pinned it; whatever a test does to it
    (pin, travel, reset) is undone after the test."""
    saved = clock.state()
    yield clock
    clock.restore(saved)


def _postgres_base_url():
    url = os.environ.get("TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI"):
            pytest.fail("TEST_POSTGRES_URL is not set: run the suite with `make test`.")
        pytest.skip("no PostgreSQL: run the suite with `make test`")
    return url


@pytest.fixture(scope="session")
def postgres_url(worker_id):
    """A database of this test worker's own in the throwaway cluster."""
    base = _postgres_base_url()
    name = f"zrt_{worker_id}_{os.getpid()}"  # two runs on one cluster never drop each other's database
    admin = psycopg2.connect(base)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {name}")
        cur.execute(f"CREATE DATABASE {name}")
    admin.close()
    return re.sub(r"/[^/]*$", f"/{name}", base)


def _memoize_url_builders():
    """Each test makes its own app, and werkzeug compiles two URL builders (Python source through
    ast and compile()) for each of its ~100 rules: 32 ms of the 37 ms (CPU) create_app took. The
    builder is a pure function of the rule's text, its parts, its defaults and converters (it
    reaches the rule's converters through the rule it is bound to), so the first app's are kept
    for the others. Only for the werkzeug whose builder this was read from (3.1)."""
    from importlib.metadata import version

    from werkzeug.routing.rules import Rule

    if not version("werkzeug").startswith("3.1.") or getattr(Rule, "_zrt_memoized", False):
        return
    compile_builder, builders = Rule._compile_builder, {}

    def memoized(self, append_unknown=True):
        defaults = self.defaults or {}
        key = (self.rule, tuple(self._trace), append_unknown,
               # what the builder holds of a default: its text as the rule's converter writes it
               tuple(sorted((k, self._converters[k].to_url(v) if k in self._converters else repr(v))
                            for k, v in defaults.items())))
        if key not in builders:
            builders[key] = compile_builder(self, append_unknown)
        return builders[key]

    Rule._compile_builder, Rule._zrt_memoized = memoized, True


_memoize_url_builders()


def make_app(url, **config):
    """The app on url; tasks run where they are queued (HUEY_IMMEDIATE) unless config says
    otherwise: tests/test_jobs.py starts real consumers."""
    return create_app({
        "TESTING": True,
        "DATABASE_URL": url,
        "SECRET_KEY": "test",
        "ID_NUMBER_KEY": TEST_ID_NUMBER_KEY,
        "PASSWORD_HASH_METHOD": HASH,
        "HUEY_IMMEDIATE": True,
        **config,
    })


def reset_database(db):
    """An empty database with schema.sql applied.

    Applying schema.sql is most of a small test's setup, so it is done once per process and
    engine and then reused: a new SQLite file gets a copy of a file made from it (SQLite's
    backup), and a PostgreSQL database whose tables no DDL has touched since they were made is
    emptied (DELETE, sequences back to 1) rather than dropped and made again. Either way the
    test finds what a fresh schema.sql gives, row for row and id for id.
    """
    with db.connection_context():
        if isinstance(db, PostgresqlDatabase):
            if not _empty_postgres(db):
                db.execute_sql("DROP SCHEMA public CASCADE")
                db.execute_sql("CREATE SCHEMA public")
                apply_schema(db)
                _note_fresh_postgres(db)
        elif not _copy_sqlite_template(db):
            apply_schema(db)


_SQLITE_TEMPLATE = {}  # "path": a SQLite file with schema.sql applied, made once per process


def _copy_sqlite_template(db):
    """Copy a fresh schema.sql database into db, if db is still empty; False if it is not."""
    if db.get_tables():
        return False  # not a new file: apply_schema says what is wrong with it
    if "path" not in _SQLITE_TEMPLATE:
        folder = tempfile.mkdtemp(prefix="zrt-schema-")
        atexit.register(shutil.rmtree, folder, ignore_errors=True)
        path = os.path.join(folder, "schema.db")
        template = open_database(f"sqlite:///{path}")
        with template.connection_context():
            apply_schema(template)
        close_all(template)
        _SQLITE_TEMPLATE["path"] = path
    source = sqlite3.connect(_SQLITE_TEMPLATE["path"])
    try:
        source.backup(db.connection())
    finally:
        source.close()
    return True


# PostgreSQL: an event trigger counts every DDL statement run in the database (zrt_test.ddl), so
# a database is known to hold schema.sql's tables exactly as made when the count has not moved
# since; any test that alters, drops or creates anything sends the next reset the long way.
_DDL_COUNTER = """
CREATE SCHEMA IF NOT EXISTS zrt_test;
CREATE SEQUENCE IF NOT EXISTS zrt_test.ddl;
CREATE OR REPLACE FUNCTION zrt_test.count_ddl() RETURNS event_trigger LANGUAGE plpgsql
    AS $$ BEGIN PERFORM nextval('zrt_test.ddl'); END $$;
DO $$ BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'zrt_test_ddl') THEN
        CREATE EVENT TRIGGER zrt_test_ddl ON ddl_command_end EXECUTE FUNCTION zrt_test.count_ddl();
    END IF;
END $$;
"""
_FRESH_POSTGRES = {}  # (host, port, database) → (DDL count, tables, sequences) just after schema.sql
_EMPTY_BY_DELETE_BYTES = 16 * 2**20  # more than this in the tables: dropping them is quicker


def _postgres_key(db):
    return (db.connect_params.get("host"), db.connect_params.get("port"), db.database)


def _ddl_count(db):
    return tuple(db.execute_sql("SELECT last_value, is_called FROM zrt_test.ddl").fetchone())


def _note_fresh_postgres(db):
    """Remember the tables and sequences schema.sql just made, and the DDL count after it."""
    try:
        with db.atomic():
            db.execute_sql(_DDL_COUNTER)
    except DatabaseError:
        return  # no event trigger (not a superuser): every reset drops and makes the tables
    tables = [t for (t,) in db.execute_sql(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")]
    sequences = [s for (s,) in db.execute_sql(
        "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' ORDER BY sequencename")]
    _FRESH_POSTGRES[_postgres_key(db)] = (_ddl_count(db), tables, sequences)


def _empty_postgres(db):
    """Empty schema.sql's tables in place when no DDL ran since they were made; False otherwise."""
    fresh = _FRESH_POSTGRES.pop(_postgres_key(db), None)
    if fresh is None:
        return False
    count, tables, sequences = fresh
    if _ddl_count(db) != count:
        return False
    size = db.execute_sql("SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
                          "JOIN pg_namespace n ON n.oid = c.relnamespace "
                          "WHERE n.nspname = 'public' AND c.relkind = 'r'").fetchone()[0]
    if size > _EMPTY_BY_DELETE_BYTES:
        return False
    with db.atomic():
        # Foreign keys are not checked while emptying (every row goes), so the order is free.
        db.execute_sql("SET LOCAL session_replication_role = replica")
        db.execute_sql("".join(f'DELETE FROM public."{table}";' for table in tables))
        if sequences:
            db.execute_sql("SELECT " + ", ".join(f"setval('public.\"{s}\"', 1, false)" for s in sequences))
    _FRESH_POSTGRES[_postgres_key(db)] = fresh
    return True


def database_url(backend, request, tmp_path):
    if backend == "postgres":
        return request.getfixturevalue("postgres_url")
    return f"sqlite:///{tmp_path}/zerentian.db"


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


@pytest.fixture
def app(backend, request, tmp_path):
    """The app on an empty database of the current backend."""
    application = make_app(database_url(backend, request, tmp_path))
    reset_database(database.obj)
    clock.reset()
    yield application
    clock.reset()
    database.obj.close()


@pytest.fixture
def sqlite_app(tmp_path):
    application = make_app(f"sqlite:///{tmp_path}/zerentian.db")
    reset_database(database.obj)
    yield application
    database.obj.close()


@pytest.fixture
def county(app):
    """The hand-made county in the app's database."""
    with app.app_context(), database.obj.connection_context():
        return build_county()


@pytest.fixture
def ctx(app, county):
    """The hand-made county, inside the app and a connection: for tests that call models directly."""
    with app.app_context(), database.obj.connection_context():
        yield county


def user(ctx, name):
    """A county user read afresh (write paths take the signed-in User)."""
    return User.get_by_id(ctx.users[name].id)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def csrf_token(client, path="/login"):
    """The CSRF token a page hands out, as a browser would read it."""
    html = client.get(path).get_data(as_text=True)
    field = BeautifulSoup(html, "html.parser").select_one("input[name=csrf_token]")
    if field:
        return field["value"]
    return re.search(r'"X-CSRFToken": "([^"]+)"', html).group(1)


def login(client, username, password=PASSWORD):
    """Sign in through the real form; return the response."""
    token = csrf_token(client, "/login")
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": token})


@pytest.fixture
def login_as(client, county):
    """login_as('mgr1') signs the test client in as that county user."""
    def sign_in(username):
        response = login(client, username)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client
    return sign_in


def soup(response):
    return BeautifulSoup(response.get_data(as_text=True), "html.parser")
