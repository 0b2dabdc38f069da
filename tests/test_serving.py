"""`make serve` as a bank runs it: gunicorn's workers (and the job worker) started by
`python -m app.serve` on the hand-made county, reached over real HTTP. Pages and static files
leave compressed (brotli when asked, else gzip), static files under versioned URLs cached for a
year, one log line per request without personal data; no start without the bank's own keys."""
import gzip
import http.client
import json
import re
import subprocess
from types import SimpleNamespace

import brotli
import pytest
from bs4 import BeautifulSoup

from app import clock, serve
from app.db import database
from tests.conftest import make_app, reset_database
from tests.county import PASSWORD, build_county
from tests.http_session import Session
from tests.served import ROOT, serve_env, start, stop
from tests.workers import wait_for

SEARCHED_PHONE = "13912345678"


@pytest.fixture(scope="module")
def county_url(tmp_path_factory):
    """A SQLite file holding the hand-made county, written before the server opens it."""
    url = f"sqlite:///{tmp_path_factory.mktemp('serve')}/z.db"
    previous = database.obj
    clock.reset()
    application = make_app(url)
    reset_database(database.obj)
    with application.app_context(), database.obj.connection_context():
        build_county()
    database.obj.close()
    if previous is not None:
        database.initialize(previous)
    return url


@pytest.fixture(scope="module")
def server(county_url, tmp_path_factory):
    served = start(serve_env(county_url, JOB_WORKERS=1), tmp_path_factory.mktemp("log") / "serve.log")
    yield served
    stop(served)


@pytest.fixture(scope="module")
def manager(server):
    session = Session(server.base)
    assert session.path(session.sign_in("mgr1", PASSWORD)) == "/today"
    return session


def fetch(server, path, encoding=None, session=None, headers=None):
    """(response, raw body bytes) for GET path, asking for encoding; the session's cookies go along."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=20)
    headers = dict(headers or {})
    if encoding:
        headers["Accept-Encoding"] = encoding
    if session is not None:
        headers["Cookie"] = _cookie(session)
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    return response, body


def _cookie(session):
    jar = next(h.cookiejar for h in session.opener.handlers if hasattr(h, "cookiejar"))
    return "; ".join(f"{c.name}={c.value}" for c in jar)


DECODE = {"br": brotli.decompress, "gzip": gzip.decompress, None: lambda body: body}


@pytest.mark.parametrize("path", ["/today", "/customers/"])
def test_pages_leave_compressed_as_the_phone_asks(server, manager, path):
    plain, plain_body = fetch(server, path, session=manager)
    assert plain.status == 200 and plain.getheader("Content-Encoding") is None
    html = plain_body.decode()
    assert BeautifulSoup(html, "html.parser").select_one("nav.tabbar")
    for asked, chosen in [("gzip", "gzip"), ("br", "br"), ("gzip, deflate, br", "br"),
                          ("br;q=0.5, gzip", "gzip"), ("identity", None)]:
        response, body = fetch(server, path, encoding=asked, session=manager)
        assert response.status == 200
        assert response.getheader("Content-Encoding") == chosen, asked
        assert "Accept-Encoding" in response.getheader("Vary")
        assert int(response.getheader("Content-Length")) == len(body)
        # The same page (bar the CSRF token and request id, new each time), in a fraction of the bytes.
        same = re.sub(r'value="[^"]{40,}"|"X-CSRFToken": "[^"]+"', "", DECODE[chosen](body).decode())
        assert same == re.sub(r'value="[^"]{40,}"|"X-CSRFToken": "[^"]+"', "", html)
        if chosen:
            assert len(body) < len(plain_body) / 2, (asked, len(body), len(plain_body))


def test_a_static_file_has_a_versioned_url_cached_for_a_year(server, manager):
    page = BeautifulSoup(fetch(server, "/today", session=manager)[1].decode(), "html.parser")
    css = page.select_one("link[rel=stylesheet]")["href"]
    assert re.fullmatch(r"/static/css/app\.css\?v=[0-9a-f]{12}", css)
    response, body = fetch(server, css, encoding="gzip, deflate, br")
    assert response.status == 200 and response.getheader("Content-Encoding") == "br"
    assert response.getheader("Cache-Control") == "public, max-age=31536000, immutable"
    assert brotli.decompress(body) == (ROOT / "static/css/app.css").read_bytes()
    # Without its version (or with an old one) the file is revalidated each time, never kept a year.
    for stale in ["/static/css/app.css", "/static/css/app.css?v=000000000000"]:
        response, _ = fetch(server, stale, encoding="gzip")
        assert response.status == 200 and response.getheader("Content-Encoding") == "gzip"
        assert "immutable" not in (response.getheader("Cache-Control") or "")
    # A phone asking again with its copy's ETag gets 304 and no body.
    etag = fetch(server, css, encoding="br")[0].getheader("ETag")
    again, body = fetch(server, css, encoding="br", headers={"If-None-Match": etag})
    assert again.status == 304 and body == b""


def test_each_request_is_one_log_line_with_its_id_and_user_and_no_personal_data(server, manager):
    response, _ = fetch(server, f"/customers/?q={SEARCHED_PHONE}", session=manager)
    request_id = response.getheader("X-Request-Id")
    assert re.fullmatch(r"[0-9a-f]{16}", request_id)
    lines = [line for line in server.log().splitlines() if f"rid={request_id}" in line]
    assert len(lines) == 1
    assert re.search(r" GET /customers/ 200 \d+B - [\d.]+ms user=\d+$", lines[0]), lines[0]
    assert SEARCHED_PHONE not in server.log() and "q=" not in lines[0]


def test_the_health_check_sees_the_job_worker_make_serve_started(server):
    def worker():
        response, body = fetch(server, "/healthz")
        assert response.status == 200 and response.getheader("Cache-Control") == "no-store"
        state = json.loads(body)
        assert state["status"] == "ok" and state["database"] == "ok" and state["jobs"] == "ok"
        return state["worker"] if state["worker"]["state"] == "ok" else None
    beat = wait_for(worker, timeout=30, every=0.3, what="the job worker's first heartbeat")
    assert 0 <= beat["age_seconds"] < 30 and beat["last_heartbeat"].endswith("Z")
    # `make serve` started it: one `flask worker` process beside gunicorn's.
    assert "flask" in subprocess.run(["ps", "-o", "args=", "--ppid", str(server.process.pid)],
                                     capture_output=True, text=True).stdout


def serve_once(env, capsys):
    """`make serve`'s launcher on env, in this process: it must refuse before starting anything."""
    status = serve.main(env)
    return SimpleNamespace(returncode=status, stderr=capsys.readouterr().err)


@pytest.mark.parametrize("missing", ["SECRET_KEY", "ID_NUMBER_KEY"])
def test_make_serve_refuses_to_start_without_the_banks_keys(county_url, missing, capsys):
    env = serve_env(county_url, PORT=1)
    del env[missing]
    result = serve_once(env, capsys)
    assert result.returncode == 2
    assert f"{missing} must be set in the environment" in result.stderr
    assert "keys made on the fly are for the demo only" in result.stderr


def test_make_serve_refuses_a_key_that_is_no_key(county_url, capsys):
    result = serve_once(serve_env(county_url, PORT=1, ID_NUMBER_KEY="not-a-key"), capsys)
    assert result.returncode == 2 and "ID_NUMBER_KEY is not a Fernet key" in result.stderr


def test_make_serve_refuses_a_database_without_a_bank(tmp_path, capsys):
    result = serve_once(serve_env(f"sqlite:///{tmp_path}/none.db", PORT=1), capsys)
    assert result.returncode == 2
    assert "There is no database" in result.stderr and "flask create-bank" in result.stderr


def test_the_demo_prints_the_address_make_run_serves(sqlite_app):
    with sqlite_app.app_context(), database.obj.connection_context():
        build_county()
        result = sqlite_app.test_cli_runner().invoke(args=["demo", "--if-empty", "--url", "http://127.0.0.1:8123"])
    assert result.exit_code == 0, result.output
    assert "Sign in at http://127.0.0.1:8123 as:" in result.output and "5000" not in result.output


@pytest.mark.parametrize("proxies, kept", [(0, False), (1, True)])
def test_a_request_id_from_outside_is_kept_only_from_a_trusted_proxy(sqlite_app, proxies, kept):
    sqlite_app.config["TRUSTED_PROXIES"] = proxies
    response = sqlite_app.test_client().get("/login", headers={"X-Request-Id": "proxy-0123456789"})
    assert (response.headers["X-Request-Id"] == "proxy-0123456789") is kept
    assert re.fullmatch(r"proxy-0123456789|[0-9a-f]{16}", response.headers["X-Request-Id"])
