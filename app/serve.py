"""`make serve` (`python -m app.serve`): the bank's server. gunicorn with several web workers,
plus one job worker (`flask worker`), configured from the environment; it refuses to start
without the bank's own keys or on a database with no bank.

    HOST, PORT           where gunicorn listens (0.0.0.0:8000: phones on the office network reach it)
    WEB_CONCURRENCY      web worker processes (2 × cores + 1, at most 8)
    JOB_WORKERS          the job worker's processes (2); 0: no job worker here (another machine runs it)
    TLS_CERTFILE, TLS_KEYFILE   serve HTTPS with gunicorn's own TLS (README, "HTTPS for phones")
    GUNICORN_CMD_ARGS    any other gunicorn setting, read by gunicorn itself

Both children share this process's fate: a signal stops both, and when one ends the other is
stopped and `make serve` exits with its status, so a supervisor (systemd) restarts the pair.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from flask import Config

from app import ROOT, key_problem

KEYS = ("SECRET_KEY", "ID_NUMBER_KEY")


def web_workers(environ):
    if environ.get("WEB_CONCURRENCY"):
        return int(environ["WEB_CONCURRENCY"])
    return min(2 * (os.cpu_count() or 1) + 1, 8)


def configured(environ):
    """What create_app will read for the keys and the database: instance/config.py, then the environment."""
    config = Config(str(ROOT / "instance"))
    config.from_pyfile("config.py", silent=True)
    config.from_envvar("ZRT_CONFIG", silent=True)
    for name in (*KEYS, "DATABASE_URL"):
        if not config.get(name) and environ.get(name):
            config[name] = environ[name]
    config.setdefault("DATABASE_URL", f"sqlite:///{ROOT / 'instance' / 'zerentian.db'}")
    return config


def database_problem(url):
    """Why the database cannot serve a bank yet, or None."""
    from app.db import close_all, is_initialised, open_database

    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):].split("?")[0]).exists():
        return f"There is no database at {url}."
    db = open_database(url)
    try:
        with db.connection_context():
            if not is_initialised(db):
                return f"The database {url} has no tables."
            if not db.execute_sql("SELECT 1 FROM branch LIMIT 1").fetchone():
                return f"The database {url} holds no bank yet."
    except Exception as error:  # the database's own words are the reason
        return f"The database {url} does not answer: {error}".strip()
    finally:
        close_all(db)
    return None


FIRST_DAY = ("Start a bank first (README, \"A bank's first day\"): flask init-db, "
             "flask create-bank --code CODE --name NAME, flask create-user ... --role admin --branch CODE.")


def commands(environ):
    """The gunicorn command and the job worker's (None when JOB_WORKERS is 0)."""
    python = sys.executable
    bind = f"{environ.get('HOST') or '0.0.0.0'}:{environ.get('PORT') or 8000}"
    web = [python, "-m", "gunicorn", "--workers", str(web_workers(environ)), "--bind", bind,
           # X-Forwarded-* are the app's to believe, by TRUSTED_PROXIES (werkzeug's ProxyFix), never gunicorn's
           "--forwarded-allow-ips", "",
           # The app logs each request in one line without the query string; gunicorn's access log would repeat it with.
           "--error-logfile", "-", "--timeout", "60", "--graceful-timeout", "20",
           "--no-control-socket"]  # gunicorn 27's management socket: unused, and one path per machine
    if environ.get("TLS_CERTFILE") or environ.get("TLS_KEYFILE"):
        web += ["--certfile", environ.get("TLS_CERTFILE", ""), "--keyfile", environ.get("TLS_KEYFILE", "")]
    web.append("app:create_app()")
    jobs = int(environ.get("JOB_WORKERS") or 2)
    worker = [python, "-m", "flask", "--app", "app", "worker", "--workers", str(jobs)] if jobs > 0 else None
    return web, worker


def refusal(environ):
    """Why this server must not start, or None."""
    config = configured(environ)
    problem = key_problem(config)
    if problem:
        return problem
    if environ.get("TLS_CERTFILE") or environ.get("TLS_KEYFILE"):
        for name in ("TLS_CERTFILE", "TLS_KEYFILE"):
            if not environ.get(name) or not Path(environ[name]).is_file():
                return f"{name} must name a readable file when serving HTTPS (both TLS_CERTFILE and TLS_KEYFILE)."
    problem = database_problem(config["DATABASE_URL"])
    if problem:
        return f"{problem} {FIRST_DAY}"
    return None


def main(environ=None):
    environ = dict(os.environ if environ is None else environ)
    problem = refusal(environ)
    if problem:
        print(f"make serve: not started. {problem}", file=sys.stderr)
        return 2
    environ["KEYS_REQUIRED"] = "1"  # the workers check again, in case instance/config.py changes meanwhile
    environ.setdefault("REQUEST_LOG", "1")
    environ.setdefault("PYTHONUNBUFFERED", "1")  # log lines reach stdout as they are written
    web, worker = commands(environ)
    children = [subprocess.Popen(web, env=environ, cwd=ROOT)]
    if worker:
        children.append(subprocess.Popen(worker, env=environ, cwd=ROOT))

    def stop(signum, frame):
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while all(child.poll() is None for child in children):
            time.sleep(0.5)
    finally:
        stop(None, None)
        deadline = time.monotonic() + 30
        for child in children:
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
    return next((child.returncode for child in children if child.returncode), 0)


if __name__ == "__main__":
    sys.exit(main())
