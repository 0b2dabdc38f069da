"""What a phone downloads for the sign-in and Today pages, and Today's server time.

A demo county of 6,000 customers is built into a throwaway SQLite database; a
manager signs in through the real form with Flask's test client. Every body is
gzipped at level 6, as a front server would; HTTP headers are not counted.
"""
from tests.bench._timing import KB, DemoCounty, breakdown, expect, time_gets, transfers

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


BENCHMARKS = [transfer_sizes, today_server_time]
