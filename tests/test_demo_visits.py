"""The demo's 8 weeks of visits: written through Visit.check_in, with a field team's rhythm."""
import datetime as dt
from collections import Counter

import pytest

from app import clock
from app.models import FollowUp, User, Visit, VisitFix
from tests.test_demo import built_demo, demo_database


@pytest.fixture(scope="module")
def history():
    path, result, _ = built_demo(customers=1500)  # the county_size of test_demo.py, built once
    with demo_database(copy_of=path):
        managers = {u.id for u in User.select().where(User.role == "manager")}
        visits = list(Visit.select(Visit.id, Visit.user, Visit.made_at, Visit.verified, Visit.late,
                                   Visit.client_uuid).tuples())
        return dict(result=result, managers=managers, visits=visits,
                    fixes=VisitFix.select().count(),
                    follow_ups=list(FollowUp.select(FollowUp.due_on, FollowUp.done_at).tuples()))


def test_about_36_households_a_manager_a_week_on_weekdays_in_daylight(history):
    visits = history["visits"]
    assert history["result"]["visits"] == len(visits) == history["fixes"]
    monday, _ = clock.week_bounds()
    full_weeks = [v for v in visits if clock.to_local(v[2]).date() < monday]
    per_week = len(full_weeks) / len(history["managers"]) / 8
    assert 30 <= per_week <= 40
    for _, _, made_at, _, late, _ in visits:
        local = clock.to_local(made_at)
        assert local.weekday() < 5 and 8 <= local.hour < 18
        assert made_at <= clock.now() and not late


def test_most_visits_are_verified_and_follow_ups_are_kept(history):
    verified = Counter(v[3] for v in history["visits"])
    assert 0.8 < verified[True] / len(history["visits"]) < 0.95
    today = clock.today()
    open_past = [f for f in history["follow_ups"] if f[1] is None and f[0] < today]
    coming = [f for f in history["follow_ups"] if f[1] is None and f[0] >= today]
    assert coming and open_past  # the ledger has something overdue and something ahead
    assert len(open_past) < 0.15 * len([f for f in history["follow_ups"] if f[0] < today])
    assert all(f[0] <= today + dt.timedelta(days=21) for f in history["follow_ups"])
