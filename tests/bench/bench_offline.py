"""Today on a cheap phone on slow 3G, with and without the service worker, and the precache's size.

Debian's Chromium (headless, through Playwright) opens /today signed in as a demo manager
(6,000 customers) served by a threaded werkzeug server in this process. DevTools emulates the
line and the phone: Network.emulateNetworkConditions at 400 kbit/s both ways and 400 ms
latency, Emulation.setCPUThrottlingRate 4. A sample is the time from the navigation's start
(the page's own Navigation Timing, so Playwright's round trips are not counted) until the load
event has ended and the first walk-list row is painted (the row is in the HTML: the later of
loadEventEnd and first-contentful-paint; the row is checked visible). Bodies are gzipped by
the app (app/web.py), as the phone asks.

- first visit, empty cache, service workers blocked (the page as it was before the worker);
- first visit, empty cache, the worker registering and installing (it registers after load);
- repeat visit from the worker (shell from the precache; Today from the phone's copy of the same
  user, stale-while-revalidate: the navigation preload refreshes it behind the page);
- repeat visit after a write (a check-in marks the copy stale): Today network first, through the
  navigation preload, the line's latency added in the server.

DevTools' emulation is set on the page's target; the worker's own fetches (the precache, the
network-first Today) run in the worker's target and are not slowed by it, so the repeat
visit's Today HTML arrives at loopback speed there; `repeat (HTML throttled)` adds, for the
worker's fetch of the Today page, the same 400 ms and 50 KB/s in the server (a WSGI
middleware), which is the honest figure.
"""
import gzip
import json
import threading
import time

from werkzeug.serving import make_server

from tests.bench._timing import KB, DemoCounty

MANAGER = "mgr01"
RUNS = 5
LINE = {"offline": False, "latency": 400, "downloadThroughput": 400_000 / 8, "uploadThroughput": 400_000 / 8}
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]

_county = DemoCounty("zrt-bench-offline-", 6000)
_state = {}


def _slow_sw_today(app):
    """A WSGI wrapper: while `throttle_sw` is set, Today's navigation (which the worker fetches)
    gets the line's latency and bandwidth in the server."""
    def wsgi(environ, start_response):
        if not (_state.get("throttle_sw") and environ["PATH_INFO"] == "/today"
                and environ.get("HTTP_SEC_FETCH_MODE") == "navigate"):
            return app(environ, start_response)
        body = b"".join(app(environ, start_response))
        time.sleep(LINE["latency"] / 1000 + len(body) / LINE["downloadThroughput"])
        return [body]
    return wsgi


def _serve():
    if "base" not in _state:
        app = _county.build()
        server = make_server("127.0.0.1", 0, _slow_sw_today(app), threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        _state.update(server=server, base=f"http://127.0.0.1:{server.server_port}")
    return _state["base"]


def _browser():
    if "browser" not in _state:
        from playwright.sync_api import sync_playwright

        playwright = sync_playwright().start()
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        _state.update(playwright=playwright, browser=browser)
    return _state["browser"]


def _cookies():
    if "cookies" not in _state:
        context = _browser().new_context()
        page = context.new_page()
        page.goto(_serve() + "/login")
        from app.demo import PASSWORD

        page.get_by_label("用户名", exact=True).fill(MANAGER)
        page.get_by_label("密码", exact=True).fill(PASSWORD)
        with page.expect_navigation():
            page.get_by_role("button", name="登录").click()
        _state["cookies"] = context.cookies()
        context.close()
    return _state["cookies"]


def _slow(page):
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", LINE)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
    return cdp


# Read in the page, from the navigation's start: the load event's end, and when the first
# walk-list row was painted (its first paint after it is in the DOM: first contentful paint,
# or the frame after the row appears when that came first).
TIMES = """() => new Promise(done => {
  const nav = performance.getEntriesByType('navigation')[0];
  const fcp = performance.getEntriesByName('first-contentful-paint')[0];
  done({load: nav.loadEventEnd, painted: fcp ? fcp.startTime : 0});
})"""


def _visit(page):
    page.goto(_serve() + "/today", wait_until="load", timeout=60000)
    page.locator(".walk-row").first.wait_for(state="visible", timeout=60000)
    times = page.evaluate(TIMES)
    return max(times["load"], times["painted"])


def _context(workers):
    context = _browser().new_context(viewport={"width": 390, "height": 844}, locale="zh-CN",
                                     service_workers="allow" if workers else "block")
    context.add_cookies(_cookies())
    return context


def first_visits():
    without, installing, repeat, repeat_slow, after_write = [], [], [], [], []
    for _ in range(RUNS):
        context = _context(False)
        page = context.new_page()
        _slow(page)
        without.append(_visit(page))
        context.close()

        context = _context(True)
        page = context.new_page()
        _slow(page)
        installing.append(_visit(page))
        # the worker installs and takes the page; app.js then keeps what a manager needs
        page.evaluate("navigator.serviceWorker.ready")
        if not page.evaluate("navigator.serviceWorker.controller !== null"):
            page.reload()
        page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=120000)
        for _ in range(600):  # evaluate awaits the promise (wait_for_function would not)
            if page.evaluate("""async () => (await (await caches.open('zrt-data')).keys())
                                .some(r => new URL(r.url).pathname === '/today')"""):
                break
            page.wait_for_timeout(200)
        repeat.append(_visit(page))
        _state["throttle_sw"] = True
        repeat_slow.append(_visit(page))
        # a write since the copy was kept (what the worker notes on any POST): network first
        page.wait_for_function("() => window.zrtOutbox")
        page.evaluate("zrtOutbox.setMeta('wrote_at', Date.now())")
        after_write.append(_visit(page))
        _state["throttle_sw"] = False
        context.close()
    note = (f"{RUNS} runs; Chromium headless, Network.emulateNetworkConditions 400 kbit/s both ways, "
            "400 ms latency, CPU throttling 4×; from navigating to /today (signed in as mgr01, 6,000 "
            "customers, bodies gzipped by the app as the phone asks) until the load event and the first "
            "walk-list row painted, read from the page's Navigation Timing and first-contentful-paint.")
    return [
        {"name": "Today on slow 3G, first visit, no service worker", "unit": "ms", "samples": without,
         "budget": 3000, "budget_stat": "median", "note": note},
        {"name": "Today on slow 3G, first visit, service worker installing", "unit": "ms", "samples": installing,
         "budget": 3000, "budget_stat": "median",
         "note": "Must not be slower than without the worker: it registers after the load event. " + note},
        {"name": "Today on slow 3G, repeat visit from the service worker", "unit": "ms", "samples": repeat,
         "budget": 1000, "budget_stat": "median",
         "note": "The shell from the precache and Today from the phone's copy of the same user (kept < 30 "
                 "min ago, nothing written since), refreshed behind through the navigation preload and "
                 "swapped in when it arrives (stale-while-revalidate); the worker's fetches are not slowed "
                 "by DevTools' page emulation. " + note},
        {"name": "Today on slow 3G, repeat visit, the worker's Today fetch throttled too", "unit": "ms",
         "samples": repeat_slow, "budget": 1000, "budget_stat": "median",
         "note": "As above, with the line's 400 ms and 50 KB/s added in the server to the worker's "
                 "fetch of Today (the refresh behind the page). " + note},
        {"name": "Today on slow 3G, repeat visit after a write (network first)", "unit": "ms",
         "samples": after_write, "budget": None,
         "note": "A write since the copy was kept (meta wrote_at set as the worker does on any POST): "
                 "Today from the network through the navigation preload (the line's 400 ms and 50 KB/s "
                 "added in the server), the shell from the precache; the copy with its age after 4 s. "
                 + note},
    ]


def precache_size():
    client = _county.build().test_client()
    config = json.loads(client.get("/sw.js").get_data(as_text=True).split("\n", 1)[0][len("self.ZRT = "):-1])
    urls = [e["url"] for e in config["precache"]] + config["workbox"]
    total, raw = 0, 0
    for url in urls:
        response = client.get(url)
        body = response.get_data()
        response.close()
        raw += len(body)
        total += len(gzip.compress(body, compresslevel=6, mtime=0))
    return {"name": "service worker precache (shell), gzip", "unit": "KB", "samples": [total / KB],
            "budget": None,
            "note": f"{len(urls)} files (Workbox's 4 modules loaded by the worker included), "
                    f"{raw / KB:.0f} KB uncompressed; gzip -6 bodies, KB = 1,000 bytes."}


def teardown():
    if "browser" in _state:
        _state["browser"].close()
        _state["playwright"].stop()
    if "server" in _state:
        _state["server"].shutdown()
        _state["server"].server_close()
    _state.clear()
    _county.teardown()


BENCHMARKS = [precache_size, first_visits]
