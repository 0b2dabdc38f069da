"""What a phone downloads for the sign-in and Today pages, and Today's server time.

A demo county of 6,000 customers is built into a throwaway SQLite database; a
manager signs in through the real form with Flask's test client. Every body is
gzipped at level 6, as a front server would; HTTP headers are not counted.

served_transfer_sizes: the same county under `make serve` (python -m app.serve: gunicorn, 2
workers, no job worker), reached over HTTP; what the app itself sends for Today and the
customer list when the phone asks for nothing, for gzip, and for brotli (Accept-Encoding).
"""
import http.client
import tempfile
from pathlib import Path

from tests.bench import _clock
from tests.bench._timing import KB, DemoCounty, _referenced, breakdown, expect, time_gets, transfers

CUSTOMERS = 6000
MANAGER = "mgr01"
TIMED_REQUESTS = 30

_county = DemoCounty("zrt-bench-", CUSTOMERS)
teardown = _county.teardown


def transfer_sizes():
    sign_in = _county.signed_out("/login")  # the page a signed-out phone gets, before signing in
    client = _county.client(MANAGER)
    sign_in_total, sign_in_parts = transfers(client, sign_in)
    today = expect(client.get("/today"), 200, "/today").get_data()
    today_total, today_parts = transfers(client, today)
    note = ("KB = 1,000 bytes of gzip -6 bodies, headers not counted; each distinct URL once "
            "(manifest icons included). Parts in KB: ")
    return [
        {"name": "sign-in page, all transfers gzip", "unit": "KB",
         "samples": [sign_in_total / KB], "budget": None,
         "note": "DESIGN's 60 KB budget only applies to Today. " + note
                 + breakdown(sign_in_parts) + "."},
        {"name": "Today page (manager), all transfers gzip, map excluded", "unit": "KB",
         "samples": [today_total / KB], "budget": 60,
         "note": note + breakdown(today_parts)
                 + f". {CUSTOMERS:,} customers, signed in as {MANAGER}."},
    ]


def today_server_time():
    samples = time_gets(_county.client(MANAGER), "/today", TIMED_REQUESTS)
    return {
        "name": "Today page (manager) server time", "unit": "ms", "samples": samples, "budget": 50,
        "note": (f"at 6,000 customers; DESIGN's budget is at 100k customers and 1M visits, "
                 f"measured by a later issue. {TIMED_REQUESTS} sequential GETs through Flask's "
                 f"test client in-process (no HTTP server, no network), after 3 warm-up requests; "
                 f"SQLite file database; the demo has no visits yet."),
    }


ENCODINGS = [("identity", "uncompressed"), ("gzip", "gzip"), ("br", "brotli"),
             ("gzip, deflate, br, zstd", "Chromium's Accept-Encoding")]
SERVED_PAGES = [("/today", "Today page (manager)", MANAGER), ("/customers/", "customer list, first page (manager)",
                                                             MANAGER),
                ("/customers/", "customer list, first page (team lead)", "lead1")]


def _get(port, path, accept, cookie=None):
    """(bytes on the wire for the body, Content-Encoding) of one GET; headers are not counted."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Accept-Encoding": accept}
    if cookie:
        headers["Cookie"] = cookie
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    body = response.read()
    connection.close()
    if response.status != 200:
        raise AssertionError(f"{path}: HTTP {response.status} under make serve")
    return len(body), response.getheader("Content-Encoding") or "identity", body


def served_transfer_sizes():
    from tests.http_session import Session
    from tests.served import serve_env, start, stop

    from app import demo

    _county.build()
    url = f"sqlite:///{_county.folder}/zerentian.db"
    env = serve_env(url, JOB_WORKERS=0, **_clock.env())
    server = start(env, Path(tempfile.mkdtemp(prefix="zrt-bench-serve-")) / "serve.log")
    rows = []
    try:
        sessions = {}
        for username in {user for _, _, user in SERVED_PAGES}:
            session = Session(server.base)
            session.sign_in(username, demo.PASSWORD)
            sessions[username] = "; ".join(f"{c.name}={c.value}" for h in session.opener.handlers
                                           if hasattr(h, "cookiejar") for c in h.cookiejar)
        for path, what, username in SERVED_PAGES:
            cookie = sessions[username]
            sizes, assets = {}, {}
            for accept, label in ENCODINGS:
                size, chosen, body = _get(server.port, path, accept, cookie)
                sizes[label] = (size, chosen)
                if accept == "identity":
                    html = body
                total = size
                for asset in _referenced(html.decode()):
                    total += _get(server.port, asset, accept)[0]
                assets[label] = total
            plain = sizes["uncompressed"][0]
            for label, (size, chosen) in sizes.items():
                rows.append({
                    "name": f"{what} under make serve, HTML, {label}", "unit": "KB", "samples": [size / KB],
                    "budget": None,
                    "note": (f"GET {path} as {username}, Accept-Encoding as named, answered {chosen}; "
                             f"{size / plain:.0%} of uncompressed. With its stylesheet, scripts, manifest and "
                             f"icon (each asked the same way, empty cache, map excluded): "
                             f"{assets[label] / KB:.1f} KB. Bytes of the body on the wire, headers not counted; "
                             f"gzip level 6, brotli quality 5 (app/delivery.py); demo county, "
                             f"{CUSTOMERS:,} customers."),
                })
    finally:
        stop(server)
    return rows


BENCHMARKS = [transfer_sizes, today_server_time, served_transfer_sizes]
