"""Background Sync: a lead kept while the server is unreachable is sent by the service worker's
`sync` event alone, with no page of the app open to send it.

Headless Chromium registers the worker's sync tag but fires it only when it sees the network
come back (it never went: only our server did), and a failed try is retried minutes later.
DevTools fires it on demand (`ServiceWorker.dispatchSyncEvent`), as the browser would.

Today opened again comes from the phone's copy at once, says how old it is, and is replaced by
the fresh page when the worker has it (stale-while-revalidate, static/js/sw.js); when the server
answers that the session has ended, the copy goes and the page goes to sign-in.
"""
import contextlib

import pytest
from playwright.sync_api import expect

from app.models import Customer, Lead, User
from tests.browser.conftest import PHONE, sign_in
from tests.browser.test_offline import WAITING_IN_IDB, Server, wait_until

pytestmark = pytest.mark.browser


@contextlib.contextmanager
def kept_phone(browser, live, visit, kept, init_script=None):
    """mgr1 signed in on a phone, on visit, once its service worker controls the page and has
    kept the page kept: (server, base URL, context, page); both closed afterwards."""
    server = Server(live.app)
    base = server.start()
    context = browser.new_context(viewport=PHONE, locale="zh-CN", timezone_id="Asia/Shanghai")
    if init_script:
        context.add_init_script(init_script)
    page = context.new_page()
    try:
        sign_in(page, base, "mgr1")
        page.evaluate("navigator.serviceWorker.ready")
        page.goto(f"{base}{visit}")
        wait_until(page, "() => navigator.serviceWorker.controller !== null")
        wait_until(page, f"async () => !!(await (await caches.open('zrt-data')).match('{kept}'))")
        yield server, base, context, page
    finally:
        context.close()
        server.stop()


def leads_named(live, name):
    with live.db.connection_context():
        return Lead.select().where(Lead.name == name).count()


def test_the_sync_event_alone_sends_what_waits(browser, live):
    with kept_phone(browser, live, "/leads/new", "/outbox") as (server, base, context, page):
        server.stop()  # no server: the post fails in the worker, which keeps it and registers a sync
        page.locator("#name").fill("后台同步")
        page.locator("#phone").fill("13700001234")
        page.locator("#product").select_option(label="节节高")
        page.locator("#source").select_option(value="referral")
        page.locator("form.lead-form button[type=submit]").last.click()
        page.wait_for_url("**/outbox?saved=*")
        assert page.evaluate(WAITING_IN_IDB) == 1
        wait_until(page, "async () => (await (await navigator.serviceWorker.ready).sync.getTags())"
                         ".includes('zrt-outbox')")

        # No page of the app is left to send it: only the worker can.
        page.goto("about:blank")
        server.start()
        cdp = context.new_cdp_session(page)
        registrations = []
        cdp.on("ServiceWorker.workerRegistrationUpdated", lambda event: registrations.extend(event["registrations"]))
        cdp.send("ServiceWorker.enable")
        for _ in range(50):
            if registrations:
                break
            page.wait_for_timeout(100)
        registration = next(r for r in registrations if r["scopeURL"] == base + "/" and not r["isDeleted"])
        assert leads_named(live, "后台同步") == 0
        for _ in range(2):  # twice: the second finds nothing waiting and sends nothing again
            cdp.send("ServiceWorker.dispatchSyncEvent", {
                "origin": base, "registrationId": registration["registrationId"], "tag": "zrt-outbox",
                "lastChance": False})
            for _ in range(100):
                if leads_named(live, "后台同步"):
                    break
                page.wait_for_timeout(100)
        assert leads_named(live, "后台同步") == 1

        page.goto(f"{base}/outbox")
        expect(page.locator("#outbox-badge")).to_be_hidden()
        assert page.evaluate(WAITING_IN_IDB) == 0


# What the page was when it was first parsed: the kept copy's age, before any swap.
FIRST_PARSE = """document.addEventListener('DOMContentLoaded', () => {
  window.zrtFirst = {keptAt: document.body.dataset.keptAt || '',
                     age: document.getElementById('kept-age').textContent,
                     names: [...document.querySelectorAll('.walk-row .row-main')].map(e => e.textContent)};
});"""


def test_today_from_the_phone_says_its_age_then_shows_the_fresh_one(browser, live):
    with kept_phone(browser, live, "/today", "/today", FIRST_PARSE) as (_, base, _context, page):
        row = page.locator(".walk-row[data-customer]").first
        customer_id = int(row.get_attribute("data-customer"))
        with live.db.connection_context():
            old = Customer.get_by_id(customer_id).name
            Customer.update(name="新改的名字").where(Customer.id == customer_id).execute()
        try:
            page.goto(f"{base}/today")
            first = page.evaluate("window.zrtFirst")
            assert first["keptAt"] and any(old in n for n in first["names"])  # the phone's copy, at once
            assert first["age"].startswith("离线数据，更新于 ")  # and how old it is
            # then the fresh page, once the worker has it (on an overloaded machine, past expect's 5 s)
            expect(page.locator(".walk-row", has_text="新改的名字")).to_be_visible(timeout=20_000)
            expect(page.locator("#kept-age")).to_be_hidden()
            assert page.evaluate("document.body.dataset.keptAt") is None
        finally:
            with live.db.connection_context():
                Customer.update(name=old).where(Customer.id == customer_id).execute()


def test_today_from_the_phone_goes_to_sign_in_when_the_session_has_ended(browser, live):
    with kept_phone(browser, live, "/today", "/today") as (_, base, _context, page):
        with live.db.connection_context():
            User.end_sessions(live.county.users["mgr1"].id)
        page.goto(f"{base}/today")
        page.wait_for_url(f"{base}/login")
        assert page.evaluate("caches.has('zrt-data')") is False  # nobody signed in: nothing kept
