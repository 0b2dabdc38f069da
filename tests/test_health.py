"""/healthz: 200 with the database's answer (and the job worker's heartbeat), 503 when the
database does not answer; no sign-in, nothing cached, on SQLite and PostgreSQL."""
import datetime as dt

import pytest

from app import clock, jobs
from app.db import database
from tests.conftest import make_app


def test_a_healthy_server_says_so_without_sign_in(app, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["jobs"] == "ok"
    assert response.headers["Cache-Control"] == "no-store"


@pytest.fixture
def unreachable_url(backend, tmp_path, request):
    """A database that does not answer: a SQLite file that is no database, a PostgreSQL port nobody listens on."""
    if backend == "sqlite":
        (tmp_path / "broken.db").write_bytes(b"not a database " * 100)
        return f"sqlite:///{tmp_path}/broken.db"
    request.getfixturevalue("postgres_url")  # skipped like every PostgreSQL test without a cluster
    return "postgresql://zrt@127.0.0.1:1/nothing"


def test_a_database_that_does_not_answer_is_a_503(backend, unreachable_url):
    previous = database.obj
    try:
        application = make_app(unreachable_url)
        response = application.test_client().get("/healthz")
        assert response.status_code == 503
        body = response.get_json()
        assert body["status"] == "unavailable" and body["database"].startswith("error: ")
    finally:
        database.obj.close()
        database.initialize(previous)


def test_the_job_workers_heartbeat_is_given_with_its_age_and_a_stale_one_is_no_failure(app, client, tmp_path):
    app.config.update(HUEY_URL=f"sqlite:///{tmp_path}/huey.db", HUEY_IMMEDIATE=False)  # a queue of its own
    jobs.configure(app)
    response = client.get("/healthz")
    assert response.get_json()["worker"] == {"state": "never", "last_heartbeat": None, "age_seconds": None}
    for age, state in [(4, "ok"), (600, "stale")]:
        # What a consumer's scheduler writes every WORKER_HEARTBEAT_SECONDS (app/jobs.py).
        jobs.huey.put(jobs.HEARTBEAT_KEY, (clock.now() - dt.timedelta(seconds=age)).isoformat())
        response = client.get("/healthz")
        assert response.status_code == 200
        worker = response.get_json()["worker"]
        assert worker["state"] == state and age <= worker["age_seconds"] < age + 5


def test_job_storage_that_does_not_answer_is_a_503(app):
    previous = database.obj
    try:
        application = make_app(app.config["DATABASE_URL"], HUEY_URL="redis://127.0.0.1:1/0",
                               HUEY_IMMEDIATE=False)  # immediate mode keeps its queue in memory
        body = application.test_client().get("/healthz")
        assert body.status_code == 503
        assert body.get_json()["database"] == "ok" and body.get_json()["jobs"] == "error"
    finally:
        database.obj.close()
        database.initialize(previous)
        jobs.configure(app)
