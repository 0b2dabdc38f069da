"""Zerentian (责任田): a field CRM for county rural commercial banks."""
import os
import secrets
from pathlib import Path

from flask import Flask

from app.files import make_private, private_folder, private_open

ROOT = Path(__file__).resolve().parent.parent


def _instance_secret(instance_path, name, make):
    """A secret from the environment, else one made once and kept in instance/ (never in git)."""
    if os.environ.get(name):
        return os.environ[name]
    path = Path(instance_path) / name.lower()
    if not path.exists():
        with private_open(path, "w") as out:
            out.write(make())
    elif path.stat().st_mode & 0o077:
        make_private(path)  # one written before the keys were kept private
    return path.read_text().strip()


def _secret_key(instance_path):
    return _instance_secret(instance_path, "SECRET_KEY", lambda: secrets.token_hex(32))


def _id_number_key(instance_path):
    from cryptography.fernet import Fernet

    return _instance_secret(instance_path, "ID_NUMBER_KEY", lambda: Fernet.generate_key().decode())


class KeysMissing(RuntimeError):
    """A server for a real bank started without its keys (KEYS_REQUIRED)."""


def key_problem(config):
    """Why the configured keys cannot serve a real bank, or None.

    A key made on the fly (and kept in instance/) is the demo's: lose that folder and every
    session ends and every ID number becomes unreadable, with no copy anywhere else.
    """
    missing = [name for name in ("SECRET_KEY", "ID_NUMBER_KEY") if not config.get(name)]
    if missing:
        return (f"{' and '.join(missing)} must be set in the environment (or instance/config.py) to serve a "
                "bank: keys made on the fly are for the demo only. Make each once and keep a copy "
                "safe (see the README, \"Serving the bank's phones\"):\n"
                "  SECRET_KEY:    python3 -c 'import secrets; print(secrets.token_hex(32))'\n"
                "  ID_NUMBER_KEY: .venv/bin/python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'")
    from cryptography.fernet import Fernet

    try:
        Fernet(config["ID_NUMBER_KEY"])
    except (ValueError, TypeError):
        return "ID_NUMBER_KEY is not a Fernet key (32 bytes, url-safe base64: 44 characters ending in '=')."
    if len(str(config["SECRET_KEY"])) < 32:
        return "SECRET_KEY is too short: use at least 32 random characters."
    return None


def _private_sqlite_file(url):
    """Create the SQLite file 0600 before SQLite does (its journal and WAL files take the same mode)."""
    if not url.startswith("sqlite:///") or ":memory:" in url:
        return
    path = Path(url[len("sqlite:///"):].split("?", 1)[0])
    if path.parent.is_dir():
        make_private(path)


def create_app(test_config=None):
    """Build the app: config, database, sign-in, CSRF, i18n, blueprints."""
    app = Flask(
        __name__,
        instance_path=str(ROOT / "instance"),
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_relative_config=True,
    )
    private_folder(app.instance_path)  # the database, its ID-number key, uploads and photos: ours alone
    app.config.from_mapping(
        DATABASE_URL=os.environ.get("DATABASE_URL") or f"sqlite:///{app.instance_path}/zerentian.db",
        PASSWORD_HASH_METHOD="scrypt",
        BABEL_DEFAULT_LOCALE="zh_CN",
        BABEL_DEFAULT_TIMEZONE="Asia/Shanghai",
        BABEL_TRANSLATION_DIRECTORIES=str(ROOT / "app" / "translations"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        WTF_CSRF_TIME_LIMIT=None,  # a page left open all day in a village must still post
        PAGE_SIZE=30,
        IMPORT_MAX_BYTES=64 * 1024 * 1024,  # customer imports: a 200,000-row list is ~25 MB as CSV
        IMPORT_MAX_ROWS=250_000,  # one customer import: rows, columns, and rows × columns of its sheet
        IMPORT_MAX_COLUMNS=200,
        IMPORT_MAX_CELLS=5_000_000,  # the .xlsx reader holds the whole rectangle, ~42 bytes a cell
        IMPORT_DIR=None,  # where uploads wait for confirmation; None: instance/imports/customers
        # How many proxies in front of the app set X-Forwarded-For/-Proto; 0: believe none.
        TRUSTED_PROXIES=int(os.environ.get("TRUSTED_PROXIES") or 0),
        REPORTS_DIR=None,  # the weekly PDFs, one folder a week; None: instance/reports
        REPORT_FONT_DIR=None,  # the prepared CJK font subset; None: instance/fonts
        REPORT_FONTS=True,  # False: no prepared font, fontconfig's fonts only (the glyph test's control)
    )
    from app import delivery
    from app.maps import config_defaults

    app.config.from_mapping(config_defaults())  # MAP_TILES and friends, from the environment
    app.config.from_mapping(delivery.config_defaults(os.environ))  # compression, the request log
    # Set by `make serve`: the keys must be given, never made on the fly (that is for the demo).
    app.config["KEYS_REQUIRED"] = os.environ.get("KEYS_REQUIRED", "") not in ("", "0", "false", "no")
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        # A second file named by ZRT_CONFIG (a worker started by a test or a service manager).
        app.config.from_envvar("ZRT_CONFIG", silent=True)
    else:
        app.config.from_mapping(test_config)
    for name in ("SECRET_KEY", "ID_NUMBER_KEY"):
        if not app.config.get(name) and os.environ.get(name):
            app.config[name] = os.environ[name]
    if app.config["KEYS_REQUIRED"]:
        problem = key_problem(app.config)
        if problem:
            raise KeysMissing(problem)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(app.instance_path)
    if not app.config.get("ID_NUMBER_KEY"):
        app.config["ID_NUMBER_KEY"] = _id_number_key(app.instance_path)

    from app import db, delivery, web

    _private_sqlite_file(app.config["DATABASE_URL"])
    delivery.init_app(app)  # first: its request id and timing cover every other hook
    db.init_app(app)
    web.init_app(app)

    from app.views import BLUEPRINTS

    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)

    from app import cli, tasks

    tasks.init_app(app)  # the Huey queue (HUEY_URL) and `flask worker`
    cli.init_app(app)
    return app
