"""An open-loop HTTP load generator, single-threaded asyncio, in a process of its own.

    python -m tests.bench.loadgen < spec.json      prints one JSON object on stdout

The spec: {"port": int, "rate": float, "seconds": float, "timeout": float,
"requests": {"kind": "floor"} | {"kind": "check-in", "cookie": str, "token": str,
"customers": [[id, lat, lng], ...]}}.

Request i is DUE at start + i / rate whatever the server does (open loop); its
latency runs from its due time to the last byte of the answer, so a server falling
behind is charged for the queue it builds (no coordinated omission). Each request
is a hand-written HTTP/1.1 request on a new connection (gunicorn's sync workers
close every connection anyway), sent by one task; nothing waits on a thread.

The generator reports on itself too, so a result it could not pace is not taken
for the server's: its CPU seconds during the step and how late it sent requests
(send lag: actual send minus due time). It imports nothing of the app, so it costs
the server only what it really uses.
"""
import asyncio
import datetime as dt
import json
import math
import os
import re
import resource
import sys
import time
import urllib.parse
import uuid

M_LAT = 1 / 110_836  # degrees of latitude in a metre
SAVED = re.compile(rb"\r\nlocation: [^\r]*/visits/\d+\r\n", re.IGNORECASE)


def _pct(ordered, q):
    if not ordered:
        return None
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def request_maker(spec):
    """A function i -> (request bytes, expected status), cheap enough to call when due."""
    port = spec["port"]
    if spec["kind"] == "floor":
        raw = (f"POST /checkin HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\n"
               "Connection: close\r\n\r\n").encode()
        return lambda i: (raw, 200, None)
    if spec["kind"] == "check-in":
        customers, token = spec["customers"], spec["token"]
        # The server's business clock is pinned (tests/bench/_clock.py): stamp check-ins by it.
        shift = dt.timedelta(seconds=spec.get("clock_shift_s", 0))
        head = (f"Host: 127.0.0.1:{port}\r\nCookie: {spec['cookie']}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\nConnection: close\r\n")

        def make(i):
            # A manager checking in at his customers in turn, 20 m from each (verified).
            cid, lat, lng = customers[(i * 7919) % len(customers)]
            at = (dt.datetime.now(dt.UTC) + shift).isoformat()
            body = urllib.parse.urlencode({
                "csrf_token": token, "client_uuid": str(uuid.uuid4()), "made_at": at, "fix_at": at,
                "lat": f"{lat + 20 * M_LAT:.7f}", "lng": f"{lng:.7f}", "accuracy": "12",
                "outcome": "met"}).encode()
            # Saved, it redirects to the new visit: a redirect to the sign-in page is a failure.
            return (f"POST /visits/check-in/{cid} HTTP/1.1\r\n{head}Content-Length: {len(body)}\r\n\r\n"
                    .encode() + body, 302, SAVED)
        return make
    raise ValueError(f"unknown request kind {spec['kind']!r}")


class _Exchange(asyncio.Protocol):
    """One request on a new connection: send it, gather the answer until the server closes.
    A bare protocol rather than asyncio streams: about half the generator's CPU a request."""

    def __init__(self, raw, answered):
        self.raw, self.answered, self.chunks = raw, answered, []

    def connection_made(self, transport):
        transport.write(self.raw)

    def data_received(self, data):
        self.chunks.append(data)

    def connection_lost(self, exc):
        if not self.answered.done():
            if exc is None:
                self.answered.set_result(b"".join(self.chunks))
            else:
                self.answered.set_exception(exc)


async def _one(port, raw, expected, location, due, timeout, clock, latencies, lags, errors):
    loop = asyncio.get_running_loop()
    lags.append(clock() - due)
    transport = None
    try:
        async with asyncio.timeout(timeout):
            answered = loop.create_future()
            transport, _ = await loop.create_connection(lambda: _Exchange(raw, answered), "127.0.0.1", port)
            answer = await answered
        finished = clock()
        head = answer.split(b"\r\n\r\n", 1)[0] + b"\r\n"
        parts = head.split(b" ", 2)
        status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None
        if status == expected and (location is None or location.search(head)):
            latencies.append((finished - due) * 1000)
        else:
            what = f"HTTP {status}" if status != expected else f"HTTP {status} to an unexpected place"
            errors[what] = errors.get(what, 0) + 1
    except TimeoutError:
        errors["timeout"] = errors.get("timeout", 0) + 1
    except OSError as exc:
        name = type(exc).__name__
        errors[name] = errors.get(name, 0) + 1
    finally:
        if transport is not None:
            transport.close()


async def run(spec):
    rate, seconds, port = float(spec["rate"]), float(spec["seconds"]), int(spec["port"])
    timeout = float(spec.get("timeout", 10))
    make = request_maker({**spec["requests"], "port": port})
    loop = asyncio.get_running_loop()
    clock = loop.time
    latencies, lags, errors, tasks = [], [], {}, set()
    n = int(rate * seconds)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    start = clock() + 0.05
    for i in range(n):
        due = start + i / rate
        pause = due - clock()
        if pause > 0:
            await asyncio.sleep(pause)
        raw, expected, location = make(i)
        task = loop.create_task(_one(port, raw, expected, location, due, timeout, clock, latencies, lags,
                                     errors))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(set(tasks))
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    ordered, lags = sorted(latencies), sorted(lags)
    return {
        "rate": rate, "seconds": seconds, "sent": n, "ok": len(latencies), "errors": errors,
        "p50": _pct(ordered, 50), "p95": _pct(ordered, 95), "p99": _pct(ordered, 99),
        "max": ordered[-1] if ordered else None,
        "lag_p95": _pct(lags, 95) * 1000 if lags else None, "lag_max": lags[-1] * 1000 if lags else None,
        "cpu_s": cpu, "wall_s": wall,
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "pid": os.getpid(),
    }


def main():
    # A server falling behind leaves many connections open at once: allow them.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    spec = json.load(sys.stdin)
    print(json.dumps(asyncio.run(run(spec))))


if __name__ == "__main__":
    main()
