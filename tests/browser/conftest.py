"""Fixtures for driving the app in headless Chromium: a live server, a browser, a phone-sized page.

The live server is module-scoped: `app.db.database` is one global proxy, and
while the server runs no other fixture may re-bind it. pytest finishes a module
before starting the next, so the binding holds for the server's whole life;
the previous binding is put back when it stops. A module may override
`live_database_url` (the PostgreSQL smoke test does) and `live_data` (the demo
map test serves the demo county instead of the hand-made one).

The live server runs in a thread of this process, so it reads the business clock the
session pinned (tests/conftest.py). Every browser context gets the same clock for its
pages (Playwright's clock), and emulated fixes are stamped with it: a check-in's
made-at and fix time then agree with the server's pinned now.
"""
import datetime as dt
import os
import threading
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlsplit

import pytest
from werkzeug.serving import make_server

from app import clock
from app.db import database
from tests.conftest import make_app, reset_database
from tests.county import PASSWORD, build_county

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
# Chromium stamps an emulated fix with the wall clock; re-stamp it with the page's (pinned) clock.
RESTAMP_FIXES_JS = """(() => {
  const geo = navigator.geolocation;
  if (!geo) { return; }
  const restamp = (ok) => (ok ? (pos) => ok({coords: pos.coords, timestamp: Date.now()}) : ok);
  const watch = geo.watchPosition.bind(geo);
  const current = geo.getCurrentPosition.bind(geo);
  geo.watchPosition = (ok, err, options) => watch(restamp(ok), err, options);
  geo.getCurrentPosition = (ok, err, options) => current(restamp(ok), err, options);
})();"""
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}
SCREENSHOTS = Path(__file__).parent / "screenshots"


@pytest.fixture(scope="module")
def live_database_url(tmp_path_factory):
    """The live server's database: a fresh SQLite file per module."""
    return f"sqlite:///{tmp_path_factory.mktemp('live')}/z.db"


@pytest.fixture(scope="module")
def live_data():
    """What fills the live server's empty database; its result becomes `live.county`.

    Called inside an app context and a connection. Override it in a module to serve other data.
    """
    return build_county


@pytest.fixture(scope="module")
def live(live_database_url, live_data):
    """The app on an empty database filled by `live_data` (the hand-made county): .app, .db, .county."""
    previous = database.obj
    clock.reset()
    application = make_app(live_database_url)
    db = database.obj
    reset_database(db)
    with application.app_context(), db.connection_context():
        county = live_data()
    yield SimpleNamespace(app=application, db=db, county=county)
    db.close()
    if previous is not None:
        database.initialize(previous)


@pytest.fixture(scope="module")
def live_server(live):
    """The base URL of the app served on a free port by a thread of this process."""
    server = make_server("127.0.0.1", 0, live.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(autouse=True)
def _bound_to_live_database(live):
    """Guard: every browser test talks to the live server's database."""
    if database.obj is not live.db:
        database.initialize(live.db)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, launched once per session (never `playwright install`)."""
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: run `make setup`.")
        pytest.skip(f"no {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        new_context = chromium.new_context

        def new_pinned_context(**options):
            context = new_context(**options)
            pin_page_clock(context)
            return context

        chromium.new_context = new_pinned_context  # every context a test makes has the business clock
        yield chromium
        chromium.close()
    finally:
        playwright.stop()


def pin_page_clock(context):
    """The context's pages read the server's business clock (app.clock) and run on from it."""
    context.clock.install(time=clock.now().replace(tzinfo=dt.UTC))
    context.add_init_script(RESTAMP_FIXES_JS)


def _is_csp_violation(text):
    return "Content Security Policy" in text or "Content-Security-Policy" in text


def open_page(browser, viewport=PHONE):
    """A page in a fresh context whose `errors` list collects console errors,
    uncaught exceptions and CSP violations."""
    context = browser.new_context(viewport=viewport, device_scale_factor=1, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.errors = []

    def on_console(message):
        if message.type == "error" or _is_csp_violation(message.text):
            page.errors.append(f"console {message.type}: {message.text} ({message.location})")

    page.on("console", on_console)
    page.on("pageerror", lambda error: page.errors.append(f"page error: {error}"))
    return page


@pytest.fixture
def page(browser):
    """A phone-sized page (390×844, zh-CN, Asia/Shanghai) in its own context."""
    page = open_page(browser)
    yield page
    page.context.close()


def sign_in(page, base, username, password=PASSWORD):
    """Sign in through the real form, as a person would; return the response of the landing page."""
    page.goto(f"{base}/login")
    page.get_by_label("用户名", exact=True).fill(username)
    page.get_by_label("密码", exact=True).fill(password)
    with page.expect_navigation() as navigation:
        page.get_by_role("button", name="登录").click()
    return navigation.value


@pytest.fixture(scope="module")
def signed_in(live_server):
    """signed_in(page, 'mgr1'): that user's session on the page, at their home.

    The first time in a module it signs in through the form; afterwards it reuses
    the session cookie, which saves a form round trip per test.
    """
    cookies = {}

    def open_session(page, username):
        if username in cookies:
            page.context.add_cookies(cookies[username])
            response = page.goto(f"{live_server}/")
        else:
            response = sign_in(page, live_server, username)
            cookies[username] = page.context.cookies()
        assert response.ok and urlsplit(page.url).path != "/login", username
        return response

    return open_session


def screenshot(page, name):
    """A full-page screenshot for the eye, in tests/browser/screenshots/ (gitignored)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
