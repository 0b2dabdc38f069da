"""The coverage page's per-customer figures, kept between requests (issue 18's budget).

Counting which of a branch's ~70,000 counted customers had a visit that counts in a period,
in the period before and in the gold rhythm's days costs SQLite about 200 ms whatever the
query's shape: two or three index seeks a customer. A team lead opens the page many times a
day, for a handful of periods, while check-ins arrive one at a time. So each worker process
keeps, per viewer and period, every counted customer's territory, branch and figure bits
(numpy arrays: about 1 MB for 70,000 customers) and, on each request, only
- reads a signature of the viewer's counted customers (their count and sums of their ids
  times territory, branch and tier: one pass over a covering index, ~15 ms); when it
  differs (a customer added, moved, merged, re-tiered, withdrawn), every customer is read
  again;
- recounts the customers of the visits received or reviewed since the last look (less
  OVERLAP, for a transaction that committed after a later one), from the database, as the
  first count did: a recount is never an increment, so counting a customer twice is harmless.
Everything else (settings, the branch tree) is in the key, or waits at most FRESH_FOR.

The figures are the same as without the kept copy: tests/test_team.py writes visits,
reviews and moves between two looks and checks the hand-written figures each time.
"""
import datetime as dt
import threading
import time

import numpy as np
from peewee import Case, fn

from app import clock
from app.db import KeptPerDatabase, database
from app.models.customer import Customer
from app.models.visit import Visit

KEPT = 16                         # (viewer, period) copies per database and process
FRESH_FOR = 600                   # seconds: every customer is read again at least this often
OVERLAP = dt.timedelta(seconds=60)  # a check-in's transaction is never longer than this
RECOUNT_AT_MOST = 5000            # more customers touched than this: read them all again

_kept = KeptPerDatabase(KEPT)
_lock = threading.Lock()  # a copy's arrays change in place when customers are recounted


class _Copy:
    __slots__ = ("ids", "places", "place", "bits", "signature", "checked_at", "made")

    def __init__(self, query, signature, checked_at):
        rows = database.obj.execute(query).fetchall()  # plain tuples: 70,000 rows, no peewee row objects
        index = {}
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        place = np.fromiter((index.setdefault((r[1], r[2]), len(index)) for r in rows), dtype=np.int32,
                            count=len(rows))
        bits = np.fromiter((r[3] for r in rows), dtype=np.int16, count=len(rows))
        order = np.argsort(ids, kind="stable")
        self.ids, self.place, self.bits = ids[order], place[order], bits[order]
        self.places = list(index)
        self.signature = signature
        self.checked_at = checked_at
        self.made = time.monotonic()

    def recount(self, rows):
        """New bits for customers already kept; False when one is not (it joined the scope)."""
        for customer_id, territory_id, branch_id, bits in rows:
            i = int(np.searchsorted(self.ids, customer_id))
            if i >= len(self.ids) or self.ids[i] != customer_id or self.places[self.place[i]] != (territory_id,
                                                                                                branch_id):
                return False
            self.bits[i] = int(bits)
        return True

    def counts(self):
        """{((territory id, branch id), bits): customers}."""
        width = int(self.bits.max(initial=0)) + 1
        tally = np.bincount(self.place.astype(np.int64) * width + self.bits, minlength=len(self.places) * width)
        return {(self.places[k // width], k % width): int(tally[k]) for k in np.flatnonzero(tally)}


def signature(customers):
    """(count, Σ id·territory, Σ id·branch, Σ id of gold): changes when a customer joins or
    leaves the query, moves, or changes tier."""
    big = Customer.id.cast("BIGINT")
    row = customers.select(fn.COUNT(Customer.id), fn.SUM(big * fn.COALESCE(Customer.territory, 0)),
                           fn.SUM(big * Customer.branch),
                           fn.SUM(Case(None, [(Customer.tier == "gold", big)], 0))).order_by().tuples().first()
    return tuple(int(x or 0) for x in row)


def touched_customers(since, at_most):
    """Ids of customers with a visit received or reviewed at or after since; None when more
    than at_most (a big offline batch, an import: cheaper to count everyone again)."""
    received = Visit.select(Visit.customer).where(Visit.received_at >= since)
    reviewed = Visit.select(Visit.customer).where(Visit.reviewed_at >= since)
    ids = {c for (c,) in (received | reviewed).limit(at_most + 1).tuples()}
    return None if len(ids) > at_most else ids


def counted_bits(key, customers, bits_of):
    """{((territory id, branch id), bits): customers} of the query customers (the viewer's
    counted customers), each customer's bits from bits_of(customers, ids), a query of
    (id, territory, branch, bits) for all of them (ids None) or for those ids; kept under key
    (the viewer, the period and whatever else decides the bits) for the next request."""
    now = clock.now()
    mark = signature(customers)
    copy = _kept.get(key)
    if copy is not None and copy.signature == mark and time.monotonic() - copy.made < FRESH_FOR:
        touched = touched_customers(copy.checked_at - OVERLAP, RECOUNT_AT_MOST)
        if touched is not None:
            touched = [c for c in touched if _holds(copy, c)]
            rows = list(bits_of(customers, touched).tuples()) if touched else []
            with _lock:  # two requests may recount the same customers: the same answer twice
                if copy.recount(rows):
                    copy.checked_at = max(copy.checked_at, now)
                    return copy.counts()
    copy = _Copy(bits_of(customers, None), mark, now)
    _kept.put(key, copy)
    return copy.counts()


def _holds(copy, customer_id):
    i = int(np.searchsorted(copy.ids, customer_id))
    return i < len(copy.ids) and copy.ids[i] == customer_id


def forget():
    """Drop every kept copy of this process (a restored database, a test's own check)."""
    _kept.clear()
