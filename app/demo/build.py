"""build_demo: the whole county, part after part, each from its own stream of the seed."""
import datetime as dt
import random

from app import clock
from app.db import database
from app.demo import history, people, places
from app.demo.archive import Archive
from app.demo.layout import Layout


def build_demo(customers=6000, seed=20261129, password_method=None):
    """Build the demo county into the bound database; return counts and the logins.

    Each part draws from its own stream of the seed, so the map stays the same
    whatever the number of customers, and more staff would not move a customer.
    """
    layout = Layout(random.Random(f"{seed}:map"))
    today = clock.today()
    with database.atomic():
        bank, branches = places.bank_and_branches()
        units, territories = places.territories(layout, branches)
        products = people.products(bank)
        users, logins = people.users(bank, branches, random.Random(f"{seed}:staff"), password_method)
        people.assignments(units, users, today - dt.timedelta(days=120))
        people.tier_rules(bank)
        archive = Archive(units, products, random.Random(f"{seed}:people"), today)
        count = archive.write(users["admin"], customers, random.Random(f"{seed}:ids"))
    with database.atomic():
        visits = history.visit_history(users, products, random.Random(f"{seed}:visits"))
    with database.atomic():  # each lead's writes are savepoints inside: one commit, not hundreds
        leads = history.leads(users, products, random.Random(f"{seed}:leads"))
    return {"visits": visits["visits"], "follow_ups": visits["follow_ups"], "leads": leads,
            "logins": logins, "branches": 1 + len(branches), "territories": territories,
            "customers": count, "users": len(users)}
