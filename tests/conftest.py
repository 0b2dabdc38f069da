"""Fixtures: an app on each database, the hand-made county, signed-in clients.

Model, query and access tests take `app` and run on SQLite and PostgreSQL;
browser tests use their own live server on SQLite (tests/browser/conftest.py).
"""
import os
import re

import psycopg2
import pytest
from bs4 import BeautifulSoup
from hypothesis import HealthCheck, settings
from peewee import PostgresqlDatabase

from app import clock, create_app
from app.db import apply_schema, database
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
    """An empty database with schema.sql applied."""
    with db.connection_context():
        if isinstance(db, PostgresqlDatabase):
            db.execute_sql("DROP SCHEMA public CASCADE")
            db.execute_sql("CREATE SCHEMA public")
        apply_schema(db)


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
