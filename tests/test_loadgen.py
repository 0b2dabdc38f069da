"""The sustained bench's load generator tells the truth about a server's latency.

It is run as the bench runs it (`python -m tests.bench.loadgen`, its own process)
against tiny servers of known speed: one that answers at once, and one that can
only answer one request every 50 ms. An open-loop generator must charge the slow
one for the queue it builds (latency from each request's DUE time); a closed-loop
or coordinated-omission generator would report ~50 ms for it.
"""
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _server(service_seconds, status=b"200 OK", extra=b""):
    """A one-at-a-time HTTP server on a free port: each answer takes service_seconds."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1024)
    stop = threading.Event()

    def serve():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                time.sleep(service_seconds)
                conn.sendall(b"HTTP/1.1 " + status + b"\r\n" + extra + b"Content-Length: 2\r\n"
                             b"Connection: close\r\n\r\nok")
        listener.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return listener.getsockname()[1], stop


def _load(port, rate, seconds, kind="floor", **requests):
    spec = {"port": port, "rate": rate, "seconds": seconds, "timeout": 10,
            "requests": {"kind": kind, **requests}}
    out = subprocess.run([sys.executable, "-m", "tests.bench.loadgen"], input=json.dumps(spec),
                         capture_output=True, text=True, cwd=ROOT, timeout=60, check=True)
    return json.loads(out.stdout)


def test_a_quick_server_is_measured_quick_and_every_request_is_sent():
    port, stop = _server(0)
    try:
        result = _load(port, 100, 1)
    finally:
        stop.set()
    assert result["sent"] == result["ok"] == 100
    assert result["errors"] == {}
    assert result["p50"] < 25  # generous: the machine is shared
    assert result["cpu_s"] > 0


def test_a_server_falling_behind_is_charged_for_its_queue():
    # 40 requests due over 1 s, the server answers one per 50 ms: the last waits ~1 s.
    port, stop = _server(0.05)
    try:
        result = _load(port, 40, 1)
    finally:
        stop.set()
    assert result["ok"] == 40
    assert result["max"] > 800
    assert result["p50"] > 300


@pytest.mark.parametrize("location, ok, errors", [
    # a check-in sent back to sign-in is an error, not a saved visit
    (b"/login?next=/visits/check-in/7", 0, {"HTTP 302 to an unexpected place": 10}),
    (b"/visits/123", 10, {}),  # a saved check-in goes to its visit
])
def test_a_check_in_counts_only_when_it_lands_on_its_visit(location, ok, errors):
    port, stop = _server(0, b"302 FOUND", b"Location: " + location + b"\r\n")
    try:
        result = _load(port, 20, 0.5, kind="check-in", cookie="session=x", token="t",
                       customers=[[7, 28.9, 107.6]])
    finally:
        stop.set()
    assert result["ok"] == ok
    assert result["errors"] == errors
