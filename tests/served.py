"""`make serve` for tests: `python -m app.serve` (gunicorn and the job worker) in its own process,
on a free port, on a database prepared by the test, its output kept in a file to read back."""
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

from cryptography.fernet import Fernet

from tests.conftest import BUSINESS_MOMENT

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_env(database_url, **extra):
    """The environment of a bank's server: its own keys, its database (and the job queue's beside
    a SQLite one), the pinned business clock."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("SECRET_KEY", "ID_NUMBER_KEY", "DATABASE_URL", "HUEY_URL", "ZRT_CONFIG")}
    folder = Path(database_url.split("sqlite:///", 1)[-1]).parent if database_url.startswith("sqlite") else None
    huey = f"sqlite:///{folder}/huey.db" if folder else f"sqlite:///{ROOT}/instance/huey-test-{os.getpid()}.db"
    env.update(SECRET_KEY=secrets.token_hex(32), ID_NUMBER_KEY=Fernet.generate_key().decode(),
               DATABASE_URL=database_url, HUEY_URL=huey, HOST="127.0.0.1", WEB_CONCURRENCY="2",
               ZRT_CLOCK_AT=BUSINESS_MOMENT)  # the workers' "today" is the tests' (DEVELOPERS.md)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def start(env, log_path, scheme="http", cafile=None):
    """Start the server and wait until /healthz answers; .base, .process, .log() (its output so far)."""
    port = free_port()
    env = dict(env, PORT=str(port))
    with open(log_path, "wb") as out:  # the child holds its own copy of the file
        process = subprocess.Popen([sys.executable, "-m", "app.serve"], env=env, cwd=ROOT, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    base = f"{scheme}://127.0.0.1:{port}"
    context = ssl.create_default_context(cafile=cafile) if cafile else None
    if context:
        context.check_hostname = False  # the certificate names the bank's host; here we only wait for it
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=2, context=context):
                break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                stop(SimpleNamespace(process=process))
                raise RuntimeError(f"make serve did not start:\n{Path(log_path).read_text()}") from None
            time.sleep(0.2)
    return SimpleNamespace(base=base, port=port, process=process,
                           log=lambda: Path(log_path).read_text(errors="replace"))


def stop(server):
    """SIGTERM, as systemd or Ctrl-C would: app.serve stops gunicorn and the job worker."""
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()
