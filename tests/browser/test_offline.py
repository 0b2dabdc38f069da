"""A village without signal, on a phone (390×844) that installed the app: really offline
(the server process's port closed, so the service worker's own fetches fail too), check-ins
and a lead kept in the outbox, Today read from what the phone kept, and everything sent
once, as its maker, when the server is back.

One browser profile (launch_persistent_context: Chromium's installability check answers
`in-incognito` in a normal context) carries the whole story, to keep the suite short.
"""
import datetime as dt
import threading
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import expect
from werkzeug.serving import WSGIRequestHandler, make_server

from app import clock
from app.models import Customer, Lead, User, Visit
from app.models.merge import merge_customers
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, PHONE, pin_page_clock, sign_in
from tests.county import build_county

pytestmark = pytest.mark.browser
M_LAT = 1 / 110_836
SHOTS = Path("/tmp/shots/offline17")
NAMES = ("甲一", "乙二", "丙三", "丁四", "戊五", "己六", "庚七")
FAR = 32


@pytest.fixture(scope="module")
def live_data():
    def build():
        county = build_county()
        v1 = county.territories["V1"]
        common = dict(kind="household", branch=v1.branch_id, territory=v1.id, consent=True, village="茶园村",
                      position_source="surveyed", position_confirmed=True)
        county.walk = {name: Customer.create(name=name, lat=28.906 + n * 0.001, lng=107.604, tier="mass",
                                             group_name="三组", phone="13912345678", **common)
                       for n, name in enumerate(NAMES)}
        # more than a page of the walk list (SHOWN, 30), farther up the valley
        for n in range(FAR):
            Customer.create(name=f"雪山户{n + 1:02d}", lat=28.918 + n * 0.0002, lng=107.606, tier="potential",
                            **{**common, "village": "雪山村"})
        return county
    return build


class _OneRequestPerConnection(WSGIRequestHandler):
    """No keep-alive: a stopped server leaves no open connection still answering."""
    protocol_version = "HTTP/1.0"


class Server:
    """The app on a fixed port, stopped and started again like a server process; `cut_next_sync`
    makes the next /sync commit and then lose the connection before its answer arrives."""

    def __init__(self, app):
        self.app, self.port, self.server, self.cut_next_sync = app, 0, None, False

    def wsgi(self, environ, start_response):
        if environ["PATH_INFO"] != "/sync" or not self.cut_next_sync:
            return self.app(environ, start_response)
        self.cut_next_sync = False
        body = b"".join(self.app(environ, start_response))  # written and committed

        def cut():
            yield body[:10]
            raise ConnectionAbortedError("the server died before its answer arrived")
        return cut()

    def start(self):
        self.server = make_server("127.0.0.1", self.port, self.wsgi, threaded=True,
                                  request_handler=_OneRequestPerConnection)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.port}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def server(live):
    s = Server(live.app)
    s.start()
    yield s
    s.stop()


def rows(live):
    with live.db.connection_context():
        return Visit.select().count(), Lead.select().count()


def tiny_photo(path):
    Image.new("RGB", (800, 600), (90, 140, 60)).save(path, "JPEG", quality=90)
    return str(path)


def check_in(page, base, customer, note, photo=None):
    """Check in from Today's row, as a manager taps it."""
    page.context.set_geolocation({"latitude": customer.lat + 15 * M_LAT, "longitude": customer.lng, "accuracy": 8})
    page.locator(".walk-row", has_text=customer.name).get_by_role("link", name="签到").click()
    expect(page.locator("main h2").first).to_have_text(customer.name)
    page.locator("input[name=outcome][value=interested]").check()
    page.locator("#note").fill(note)
    if photo:
        page.locator("#photo").set_input_files(photo)
        expect(page.locator("#photo-status")).to_contain_text("KB")
    expect(page.locator("#gps-status")).to_contain_text("米")  # a good fix: the check-in goes at once
    page.locator("#check-in-submit").click()
    expect(page.locator("#saved-notice")).to_be_visible()
    expect(page.locator("#saved-notice")).to_contain_text("已保存，待同步")


def outbox_items(page):
    page.wait_for_function("() => window.zrtOutbox")
    return page.evaluate("""async () => (await zrtOutbox.list(Number(document.body.dataset.user)))
        .map(i => ({uuid: i.uuid, kind: i.kind, state: i.state, made_at: i.made_at, reasons: i.reasons,
                    photo: !!i.photo}))""")


WAITING_IN_IDB = """() => new Promise(done => { const open = indexedDB.open('zrt-outbox');
  open.onsuccess = () => { const all = open.result.transaction('outbox').objectStore('outbox').getAll();
    all.onsuccess = () => { done(all.result.filter(i => i.state === 'waiting').length); open.result.close(); }; }; })"""


def send_until_empty(page, tries=40):
    """Send what waits (the page's own tries may be under way: the lock makes them take turns)."""
    page.wait_for_function("() => window.zrtOutbox")
    for _ in range(tries):
        page.evaluate("zrtOutbox.sync()")
        if page.evaluate("async () => (await zrtOutbox.counts(Number(document.body.dataset.user))).waiting") == 0:
            return
        page.wait_for_timeout(250)
    raise AssertionError("the outbox did not empty")


def wait_until(page, script, timeout=30):
    """Poll an (async) script in the page until it answers true: evaluate awaits its promise."""
    for _ in range(int(timeout / 0.2)):
        if page.evaluate(script):
            return
        page.wait_for_timeout(200)
    raise AssertionError(f"still false after {timeout} s: {script}")


def test_a_morning_without_signal(browser, live, server, tmp_path):
    base = f"http://127.0.0.1:{server.port}"
    live.app.config["PHOTO_DIR"] = str(tmp_path / "photos")
    walk = {name: live.county.walk[name] for name in NAMES}
    a, b, c, d, e, f, g = (walk[n] for n in NAMES)
    context = browser.browser_type.launch_persistent_context(
        str(tmp_path / "profile"), executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True,
        viewport=PHONE, device_scale_factor=1, locale="zh-CN", timezone_id="Asia/Shanghai",
        permissions=["geolocation"], geolocation={"latitude": a.lat, "longitude": a.lng, "accuracy": 8})
    pin_page_clock(context)
    page = context.pages[0] if context.pages else context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        # --- installed, the service worker in control, what a manager needs kept ----------
        sign_in(page, base, "mgr1")
        page.evaluate("navigator.serviceWorker.ready")
        if not page.evaluate("navigator.serviceWorker.controller !== null"):
            page.reload()  # the worker activated while this page was on its way: the next one is its
        wait_until(page, "() => navigator.serviceWorker.controller !== null")
        installability = context.new_cdp_session(page).send("Page.getInstallabilityErrors")
        assert installability["installabilityErrors"] == []
        wait_until(page, """async () => {
            const keys = (await (await caches.open('zrt-data')).keys()).map(r => new URL(r.url).pathname);
            return ['/today', '/offline/data', '/offline/check-in', '/offline/card', '/outbox', '/leads/new']
                .every(p => keys.includes(p)); }""")
        page.goto(f"{base}/today")
        before = rows(live)

        # --- no signal: the server is gone ---------------------------------------------------
        server.stop()
        page.reload()
        expect(page.locator("#offline-notice")).to_be_visible()
        expect(page.locator("#kept-age")).to_contain_text("离线数据，更新于")
        expect(page.locator(".walk-row", has_text=a.name)).to_be_visible()
        # the whole walk list, not only the kept page's first 30: "more" shows what the phone kept
        walk_rows = page.locator("#walk ul.to-visit > li.walk-row")
        expect(walk_rows).to_have_count(30)
        page.locator("#walk ul.to-visit li.more a").click()
        expect(walk_rows).to_have_count(len(NAMES) + 1 + FAR)  # and 吴小梅; 周大福 was visited this week
        expect(page.locator("#walk ul.to-visit li.more")).to_have_count(0)
        last = walk_rows.filter(has_text=f"雪山户{FAR}")
        expect(last.locator(".walk-reason")).to_have_text("从未走访")
        expect(last.locator(".place")).to_have_text("雪山村")
        assert last.locator("a.check-in").get_attribute("href").startswith("/visits/check-in/")
        Path("/tmp/shots/walk17").mkdir(parents=True, exist_ok=True)
        last.scroll_into_view_if_needed()
        page.screenshot(path="/tmp/shots/walk17/today-offline-all.png")
        # a customer's card, as the phone kept it (masked)
        page.locator(".walk-row", has_text=b.name).locator("a.row").click()
        expect(page.locator("#card-name")).to_have_text(b.name)
        expect(page.locator("#card-phone")).to_have_text("139****5678")
        page.screenshot(path=SHOTS / "card-offline.png")
        page.goto(f"{base}/today")
        check_in(page, base, a, "离线一：门头照", photo=tiny_photo(tmp_path / "door.jpg"))
        page.goto(f"{base}/today")
        check_in(page, base, b, "离线二")
        page.goto(f"{base}/today")
        check_in(page, base, c, "离线三：想存钱")
        # a lead from this last visit
        page.locator("#lead-from-visit").click()
        expect(page.locator("form.lead-form .lead-who")).to_have_text(c.name)
        page.locator("#product").select_option(label="节节高")
        page.locator("#note").fill("五万，下月到期")
        page.locator("form.lead-form button[type=submit]").last.click()
        expect(page.locator("#saved-notice")).to_contain_text("已保存，待同步")
        page.goto(f"{base}/today")
        expect(page.locator("#offline-notice")).to_be_visible()
        expect(page.locator("#outbox-badge .count")).to_have_text("4")
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SHOTS / "today-offline-badge.png")
        kept = {i["uuid"]: i for i in outbox_items(page)}
        assert sorted(i["kind"] for i in kept.values()) == ["check_in"] * 3 + ["lead"]
        assert sum(i["photo"] for i in kept.values()) == 1
        assert rows(live) == before  # nothing reached the server

        # --- back at the branch two hours later: signed out by the idle limit --------------
        clock.travel(dt.timedelta(minutes=61))
        server.start()
        page.wait_for_function("() => window.zrtOutbox")
        result = page.evaluate("zrtOutbox.sync()")
        assert result["status"] == "signed-out"
        assert {i["state"] for i in outbox_items(page)} == {"waiting"} and rows(live) == before
        # signing in sends it; the first answer is lost with the server dying mid-sync
        server.cut_next_sync = True
        sign_in(page, base, "mgr1")
        send_until_empty(page)
        assert not server.cut_next_sync  # the first answer was lost: sent again, taken once
        assert rows(live) == (before[0] + 3, before[1] + 1)  # each once
        with live.db.connection_context():
            for uuid, item in kept.items():
                if item["kind"] == "check_in":
                    visit = Visit.get(Visit.client_uuid == uuid)
                    made = dt.datetime.fromisoformat(item["made_at"].replace("Z", "+00:00"))
                    assert visit.made_at == made.astimezone(dt.UTC).replace(tzinfo=None)
                    assert bool(visit.photo_path) == item["photo"] and visit.outcome == "interested"
                else:
                    captured = Lead.get(Lead.client_uuid == uuid)
                    assert captured.customer_id == c.id and captured.visit.customer_id == c.id
                    made = dt.datetime.fromisoformat(item["made_at"].replace("Z", "+00:00"))
                    assert captured.created_at == made.astimezone(dt.UTC).replace(tzinfo=None)
        page.evaluate("window.zrtSend()")
        expect(page.locator("#outbox-badge")).to_be_hidden()

        # --- offline again: one customer is merged away before the phone is back ------------
        page.goto(f"{base}/today")
        server.stop()
        page.goto(f"{base}/today")
        check_in(page, base, d, "这户已合并")
        page.goto(f"{base}/today")
        check_in(page, base, e, "这户正常")
        page.screenshot(path=SHOTS / "saved-offline.png")
        # a lead for someone met on the road, whose phone is a customer's: the server asks to confirm
        page.goto(f"{base}/leads/new")
        page.locator("#name").fill("路上遇到的")
        page.locator("#phone").fill(live.county.customers["c_v1"].phone)
        page.locator("#product").select_option(label="节节高")
        page.locator("#source").select_option(value="referral")
        page.locator("form.lead-form button[type=submit]").last.click()
        expect(page.locator("#saved-notice")).to_contain_text("已保存，待同步")
        with live.app.app_context(), live.db.connection_context():
            admin = User.get_by_id(live.county.users["admin"].id)
            merge_customers(admin, Customer.get_by_id(g.id), Customer.get_by_id(d.id))
        server.start()
        page.goto(f"{base}/outbox")
        send_until_empty(page)
        page.reload()
        refused = page.locator(".outbox-item.state-refused")
        expect(refused).to_have_count(2)
        merged = refused.filter(has_text=d.name)
        expect(merged.locator(".reason")).to_contain_text("已并入另一份档案")
        expect(merged.get_by_role("button", name="修改后重发")).to_have_count(0)  # only discarding helps
        assert rows(live) == (before[0] + 4, before[1] + 1)  # the rest arrived
        page.screenshot(path=SHOTS / "outbox-refused.png", full_page=True)
        page.once("dialog", lambda dialog: dialog.accept())
        merged.get_by_role("button", name="放弃").click()
        expect(page.locator(".outbox-item.state-refused")).to_have_count(1)
        # the lead: fixed (it is someone else) and sent again
        lead_item = page.locator(".outbox-item.state-refused", has_text="路上遇到的")
        expect(lead_item.locator(".reason")).to_contain_text("可能已有记录")
        lead_item.get_by_role("button", name="修改后重发").click()
        lead_item.locator("input[name=confirmed]").check()
        lead_item.get_by_role("button", name="重新发送").click()
        expect(page.locator(".outbox-item.state-refused")).to_have_count(0)
        send_until_empty(page)
        assert rows(live) == (before[0] + 4, before[1] + 2)

        # --- a shared phone: mgr1 signed out with an item unsent; mgr2 neither sees nor sends it
        page.goto(f"{base}/today")
        server.stop()
        page.goto(f"{base}/today")
        check_in(page, base, f, "留给本人发送")
        with live.db.connection_context():
            User.end_sessions(live.county.users["mgr1"].id)
        server.start()
        page.goto(f"{base}/login")
        sign_in(page, base, "mgr2")
        page.goto(f"{base}/outbox")
        expect(page.locator("#outbox-empty")).to_be_visible()
        expect(page.locator("#outbox-badge")).to_be_hidden()
        kept_data = page.evaluate("""async () => {
            const r = await (await caches.open('zrt-data')).match('/offline/data');
            return r ? (await r.json()).user : null; }""")
        assert kept_data in (None, live.county.users["mgr2"].id)  # mgr1's customers are gone
        page.evaluate("window.zrtSend()")
        with live.db.connection_context():
            assert not Visit.select().where(Visit.customer == f.id).exists()
        # signing out clears the cached customer data, never the outbox
        page.goto(f"{base}/me")
        page.get_by_role("button", name="退出登录").click()
        expect(page).to_have_url(f"{base}/login")
        assert page.evaluate("caches.has('zrt-data')") is False
        assert page.evaluate(WAITING_IN_IDB) == 1  # mgr1's item is still on the phone
        sign_in(page, base, "mgr1")
        send_until_empty(page)
        with live.db.connection_context():
            assert Visit.select().where(Visit.customer == f.id).count() == 1

        # --- a new deploy replaces the cached shell whole -------------------------------------
        old = page.evaluate("async () => (await caches.keys()).filter(k => k.includes('precache'))")
        live.app.config["SHELL_VERSION_SALT"] = "the next deploy"
        page.evaluate("navigator.serviceWorker.getRegistration().then(r => r.update())")
        wait_until(page, """async () => {
            const now = (await caches.keys()).filter(k => k.includes('precache'));
            return now.length === 1 && !now.includes(OLD); }""".replace("OLD", repr(old[0])))
        # the new shell is whole: every file of it is in the new precache
        assert page.evaluate("""async () => {
            const name = (await caches.keys()).filter(k => k.includes('precache'))[0];
            return (await (await caches.open(name)).keys()).length; }""") == 26 - 4
        assert errors == []
    finally:
        context.close()
