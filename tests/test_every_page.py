"""Must show (issue 21): every page a user reaches reads Beijing time and lists names in pinyin order.

A small county of its own on top of tests/county.py: four customers, villages, managers and
products named 阿, 付, 世, 中 (a, fu, shi, zhong; by code point 世 中 付 阿), written in an order
that is neither (中 阿 世 付), with the same tier, timestamps and houses, so nothing but the
name orders them. Each role signs in and walks every GET page of tests/test_access.py's
MATRIX, then (on SQLite) every page those link to (customers, leads, visits, territories, imports …):
no page says `UTC`, and wherever two or more of these names are listed they read 阿 付 世 中.
"""
import datetime as dt
import json
import re
from collections import deque
from urllib.parse import parse_qs, urlsplit

import pytest

from app import clock
from app.db import database
from app.models import Assignment, FollowUp, Lead, Product, Territory, Visit
from app.models.importing import ImportJob
from tests.conftest import soup
from tests.county import _customer, _user, square
from tests.test_access import MATRIX, ROLES, _path

PINYIN = ["阿", "付", "世", "中"]
WRITTEN = ["中", "阿", "世", "付"]  # neither pinyin nor code point nor either reversed
# The four names of each kind, as a page prints them whole.
KINDS = {"customer": "{}家", "village": "{}村", "manager": "{}经理", "product": "{}存"}
NAME = re.compile("|".join(f"([阿付世中]){re.escape(pattern.format(''))}" for pattern in KINDS.values()))
SKIP = re.compile(r"^/(static/|logout|sw\.js)|\.(xlsx|csv|pdf|png|jpg)$|/photo$|/refused")
PAGES_PER_ROLE = 160
# On PostgreSQL each role walks the start pages only (every GET route of MATRIX and the planted
# customers): where the database orders a list, those pages show it; the pages their links open
# are made by the same Python on both engines, and the SQLite walk follows them all.
FOLLOW_LINKS = {"sqlite": True, "postgres": False}


def _plant(county):
    """The four of each kind; customer X家 lives in village X村, kept by mgr1, and holds nothing."""
    a1, z1, mgr1 = county.branches["A1"], county.territories["Z1"], county.users["mgr1"]
    since = clock.today() - dt.timedelta(days=30)
    at = clock.now() - dt.timedelta(hours=2)
    customers = {}
    for n, char in enumerate(WRITTEN):
        # villages to the north of Z1's square, one 0.005° strip each
        lat0 = 28.92 + 0.005 * n
        village = Territory.add(f"{char}村", "village", a1, z1, code=f"P{n}",
                                geometry=square(107.60, lat0, 107.62, lat0 + 0.005))
        Assignment.create(territory=village, user=mgr1, business_line="retail", starts_on=since)
        customers[char] = _customer(f"{char}家", village, lat0 + 0.0025, 107.61, tier="mass",
                                    deposit_balance_wan=5, house_no="1")
        _user(f"p{n}", "manager", a1, f"{char}经理")
        product = Product.create(bank=county.branches["A"], name=f"{char}存", kind="deposit")
        Visit.create(client_uuid=f"20000000-0000-4000-8000-00000000000{n}", customer=customers[char],
                     user=mgr1, made_at=at, outcome="met", verified=True)
        Lead.create(client_uuid=f"30000000-0000-4000-8000-00000000000{n}", branch=a1,
                    customer=customers[char], name=f"{char}家", product=product, source="visit",
                    owner=mgr1, created_by=mgr1, created_at=at, updated_at=at)
        FollowUp.create(customer=customers[char], user=mgr1, due_on=clock.today(), reason="回访",
                        created_at=at)
    ImportJob.create(token="every-page", branch=a1, user=county.users["lead1"], kind="archive",
                     filename="客户.xlsx", file_format="xlsx", status="done", total_rows=4,
                     processed_rows=4, counts=json.dumps({"new": 4}), created_at=at, updated_at=at,
                     written_at=at)
    return customers


# Lists that read in time order, not by name: the review queue takes the oldest check-in first.
TIME_ORDERED = {"/team/review"}


def _names_in_order(page):
    """The planted names of each kind, in the order the page prints them: [(kind, names)],
    the page's text as one list and each drop-down's options as a list of their own."""
    def read(texts):
        found = {kind: [] for kind in KINDS}
        kinds = list(KINDS)
        for text in texts:
            if text.parent.name in ("script", "style") or text.find_parent(("h1", "h2", "title")):
                continue  # a page's own name in its heading is no list
            for match in NAME.finditer(str(text)):
                group = next(i for i, g in enumerate(match.groups()) if g)
                found[kinds[group]].append(match.group(group + 1))
        return list(found.items())
    lists = read(t for t in page.find_all(string=True) if not t.find_parent("select"))
    for select in page.find_all("select"):
        lists += read(select.find_all(string=True))
    return lists


def _misordered(names):
    """Runs of a list that are out of pinyin order: a name seen again starts another list."""
    run = []
    for name in names:
        if name in run:
            run = []
        if run and PINYIN.index(name) < PINYIN.index(run[-1]):
            return run + [name]
        if not run or run[-1] != name:
            run.append(name)
    return None


def _links(page):
    for tag in page.select("a[href]"):
        href = tag["href"]
        parts = urlsplit(href)
        if parts.scheme or parts.netloc or not parts.path.startswith("/"):
            continue
        yield parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.mark.parametrize("role", sorted(ROLES))
def test_no_page_reads_utc_and_every_list_reads_in_pinyin_order(role, backend, app, client, county, login_as):
    with app.app_context(), database.obj.connection_context():
        planted = _plant(county)
    client = login_as(ROLES[role])
    start = [_path(template, county) for method, template, _, _ in MATRIX.values() if method == "GET"]
    start += [f"/customers/{c.id}" for c in planted.values()]
    queue, seen, walked, problems = deque(start), set(start), [], []
    while queue and len(walked) < PAGES_PER_ROLE:
        path = queue.popleft()
        if SKIP.search(urlsplit(path).path):
            continue
        response = client.get(path)
        if response.status_code != 200 or not response.mimetype == "text/html":
            continue
        walked.append(path)
        page = soup(response)
        text = page.get_text(" ", strip=True)
        if "UTC" in text:
            problems.append((path, "UTC", text[max(0, text.index("UTC") - 40):text.index("UTC") + 4]))
        query = parse_qs(urlsplit(path).query)
        if query.get("dir") == ["desc"] or query.get("sort", ["name"]) != ["name"] or \
                urlsplit(path).path in TIME_ORDERED:
            lists = []  # the user sorted by a figure, or a queue reads oldest first
        else:
            lists = _names_in_order(page)
        for kind, names in lists:
            wrong = _misordered(names)
            if wrong:
                problems.append((path, kind, "".join(wrong)))
        for link in _links(page) if FOLLOW_LINKS[backend] else ():
            if link not in seen:
                seen.add(link)
                queue.append(link)
    assert problems == [], "\n".join(map(str, problems))
    # the walk reached the planted names' own pages, so the lists above were really read
    assert any(p.startswith("/customers/") for p in walked)
