"""How responses leave the app, whatever stands in front of it: compressed (brotli when the
phone asks for it, else gzip), static files under versioned URLs cached for a year, and one
log line per request with a request id and the user's id, never personal data.

In the app rather than in a proxy, so a bank serving gunicorn directly (or behind a proxy
that does not compress) still sends a phone on 400 kbit/s a fifth of the bytes.
"""
import functools
import hashlib
import logging
import re
import secrets
import sys
import time
from pathlib import Path

from flask import current_app, g, request
from flask_compress import Compress

# Algorithms offered, best first when the phone accepts several equally: brotli's smaller
# pages, then gzip, which every browser takes. zstd and deflate are left out: brotli and
# gzip cover every phone the bank hands out, and each algorithm is one more variant to reason about.
ALGORITHMS = ["br", "gzip"]
# A year: the URL changes whenever the file does (?v=<content hash>), so the file never does.
IMMUTABLE = "public, max-age=31536000, immutable"
REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
log = logging.getLogger("zerentian.request")


def config_defaults(environ):
    """COMPRESS_* for Flask-Compress, and REQUEST_LOG (one line per request on stdout)."""
    return {
        "COMPRESS_ALGORITHM": ALGORITHMS,
        "COMPRESS_LEVEL": 6,  # gzip: what nginx's gzip_comp_level 6 gives, a few ms for the largest page
        "COMPRESS_BR_LEVEL": 5,  # brotli: smaller than gzip -6 at about its speed (10-11: for files made once)
        # Streamed responses (exports, a file in a range request) are left alone; static files
        # are read whole first (_whole_static_file), so they are compressed like pages.
        "COMPRESS_STREAMS": False,
        "COMPRESS_MIMETYPES": ["text/html", "text/css", "text/plain", "text/csv", "text/javascript",
                               "application/javascript", "application/json", "application/geo+json",
                               "application/manifest+json", "image/svg+xml"],
        "REQUEST_LOG": environ.get("REQUEST_LOG", "") not in ("", "0", "false", "no"),
    }


@functools.lru_cache(maxsize=512)
def _content_hash(path, mtime_ns, size):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def static_version(static_folder, filename):
    """A short hash of the static file's content (None when there is no such file)."""
    path = Path(static_folder, filename)
    try:
        stat = path.stat()
    except (OSError, ValueError):
        return None
    return _content_hash(str(path), stat.st_mtime_ns, stat.st_size)


def _start():
    g.request_started = time.perf_counter()
    # A trusted proxy's id ties its log line to ours; a phone's own X-Request-Id is not believed.
    incoming = request.headers.get("X-Request-Id", "") if current_app.config.get("TRUSTED_PROXIES") else ""
    g.request_id = incoming if REQUEST_ID.match(incoming) else secrets.token_hex(8)


def _log_line(response):
    """One line per request: id, method, path (never the query string: a search holds phone
    and ID numbers), status, bytes sent, milliseconds, and the signed-in user's id."""
    response.headers["X-Request-Id"] = g.get("request_id", "-")
    if log.isEnabledFor(logging.INFO):
        user = g.get("_login_user")  # read only when the request already loaded it: no query for a log
        user_id = user.get_id() if user is not None and user.is_authenticated else "-"
        ms = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
        size = response.content_length if response.content_length is not None else "-"
        encoding = response.headers.get("Content-Encoding", "-")
        log.info("rid=%s %s %s %s %sB %s %.1fms user=%s", g.get("request_id", "-"), request.method,
                 request.path, response.status_code, size, encoding, ms, user_id)
    return response


def _cache_static(response):
    """A static file asked for by its current version is cached for a year and never revalidated;
    any other URL of it (no version, an old one) is revalidated each time (Flask's no-cache)."""
    if request.endpoint != "static" or response.status_code not in (200, 304):
        return response
    version = static_version(current_app.static_folder, request.view_args.get("filename", ""))
    if version is not None and request.args.get("v") == version:
        response.headers["Cache-Control"] = IMMUTABLE
    return response


def _whole_static_file(response):
    """A whole static file is read into memory (a few hundred KB at most) so that it is
    compressed like a page; a range request's part stays as it is."""
    if request.endpoint == "static" and response.status_code == 200 and response.direct_passthrough:
        response.direct_passthrough = False
        file = response.response
        try:
            body = b"".join(file)
        finally:  # closed now, not when the server closes the response: a phone that hangs up
            if hasattr(file, "close"):  # mid-transfer otherwise leaves the file to the collector
                file.close()
        response.set_data(body)
    return response


def _versioned_static(endpoint, values):
    """url_for('static', filename=...) carries ?v=<content hash>: a changed file gets a new URL."""
    if endpoint == "static" and "filename" in values and "v" not in values:
        version = static_version(current_app.static_folder, values["filename"])
        if version is not None:
            values["v"] = version


def _stdout_handler():
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%SZ")
    formatter.converter = time.gmtime  # UTC, as every timestamp we store
    handler.setFormatter(formatter)
    return handler


def init_app(app):
    """Register in this order: after_request functions run last-registered first, so the log
    line sees the compressed size, and the static file is whole before Compress reads it."""
    app.url_defaults(_versioned_static)
    app.before_request(_start)
    app.after_request(_log_line)
    Compress(app)
    app.after_request(_whole_static_file)
    app.after_request(_cache_static)
    if app.config.get("REQUEST_LOG") and not log.handlers:
        log.addHandler(_stdout_handler())
        log.setLevel(logging.INFO)
        log.propagate = False
