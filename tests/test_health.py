"""/healthz: 200 with the database's answer (and the job worker's heartbeat), 503 when the
database does not answer; no sign-in, nothing cached, on SQLite and PostgreSQL."""
import pytest

from app.db import database
from tests.conftest import make_app


def test_a_healthy_server_says_so_without_sign_in(app, client):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok" and body["database"] == "ok"
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
