"""What bench_transfer, bench_map and bench_leads share: a demo county in a throwaway SQLite
file with signed-in test clients, sequential timed GETs, and gzip transfer sizes.

Every figure is taken in-process through Flask's test client (no HTTP server, no network).
"""
import gzip
import json
import shutil
import tempfile
import time
from urllib.parse import urlsplit

from bs4 import BeautifulSoup

from app import clock, demo
from app.db import database
from tests.conftest import login, make_app, reset_database

KB = 1000  # bytes; the larger figure of the two KB conventions
ASSETS = "link[rel~=stylesheet], script[src], link[rel~=manifest], link[rel~=icon]"


class DemoCounty:
    """The demo county, built on first use into a throwaway SQLite file, and its signed-in clients.

    `prepare`, if given, runs once after the build inside an app context and a connection
    (bench_map moves everything into one branch). `teardown()` closes the database and
    removes the file; the bench runner calls it once a module is done.
    """

    def __init__(self, prefix, customers=6000, prepare=None):
        self.prefix, self.customers, self.prepare = prefix, customers, prepare
        self.app = self.folder = self.prepared = None
        self.clients = {}

    def build(self):
        if self.app is None:
            self.folder = tempfile.mkdtemp(prefix=self.prefix)
            self.app = make_app(f"sqlite:///{self.folder}/zerentian.db")
            reset_database(database.obj)
            clock.reset()
            with self.app.app_context(), database.obj.connection_context():
                # A cheap hash: signing in is not what these benchmarks time.
                demo.build_demo(customers=self.customers, password_method="pbkdf2:sha256:1000")
                if self.prepare:
                    self.prepared = self.prepare()
        return self.app

    def client(self, username):
        """A test client signed in as `username` through the real form (one per user, kept)."""
        if username not in self.clients:
            client = self.build().test_client()
            expect(login(client, username, demo.PASSWORD), 302, "sign-in as " + username)
            self.clients[username] = client
        return self.clients[username]

    def signed_out(self, path):
        """The body a phone that has not signed in gets for `path`."""
        return expect(self.build().test_client().get(path), 200, path).get_data()

    def teardown(self):
        if self.app is not None:
            database.obj.close()
            shutil.rmtree(self.folder, ignore_errors=True)
        self.app = self.folder = self.prepared = None
        self.clients = {}


def expect(response, status, what):
    if response.status_code != status:
        raise AssertionError(f"{what}: HTTP {response.status_code}, expected {status}")
    return response


def time_gets(client, path, requests, warmups=3):
    """Milliseconds of `requests` sequential GETs of `path`, body read, after `warmups` untimed ones
    (which warm the templates, translations and SQLite page cache)."""
    for _ in range(warmups):
        expect(client.get(path), 200, path)
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(path)
        response.get_data()
        samples.append((time.perf_counter() - started) * 1000)
        expect(response, 200, path)
    return samples


def gz(body):
    """Bytes of a body gzipped at level 6, as a front server would; headers are not counted."""
    return len(gzip.compress(body, compresslevel=6, mtime=0))


def _referenced(html):
    """Each distinct same-site URL of a stylesheet, script, manifest or icon."""
    soup = BeautifulSoup(html, "html.parser")
    urls = []
    for tag in soup.select(ASSETS):
        url = tag.get("href") or tag.get("src")
        if url and url not in urls:
            urls.append(url)
    return urls


def transfers(client, html):
    """(total gzip bytes, [(path, gzip bytes)]) for the page and everything it references,
    the manifest's icons included."""
    parts = [("page", gz(html))]
    queue = _referenced(html)
    seen = set()
    while queue:
        url = queue.pop(0)
        parts_of = urlsplit(url)
        if parts_of.netloc:
            raise AssertionError(f"{url} is not served by the app; count it by hand")
        if url in seen:
            continue
        seen.add(url)
        response = expect(client.get(url), 200, url)
        body = response.get_data()
        response.close()
        parts.append((parts_of.path, gz(body)))
        if response.mimetype == "application/manifest+json":
            icons = [i.get("src") for i in json.loads(body).get("icons", [])]
            queue += [u for u in icons if u and u not in seen]
    return sum(size for _, size in parts), parts


def breakdown(parts):
    return ", ".join(f"{path.rsplit('/', 1)[-1] or path} {size / KB:.1f}" for path, size in parts)
