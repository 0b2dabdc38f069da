"""The team lead's home: each manager's coverage over the period, in a fixed number of queries."""
import datetime as dt

from app import clock
from app.db import database
from app.models import Assignment, User, Visit, team_figures
from tests.conftest import soup
from tests.county import _user


def team_rows(client, period="this_week"):
    """(manager and territories, coverage, visited, counted) of each row of the table by manager."""
    page = soup(client.get(f"/team?period={period}"))
    return [(" ".join(tr.select_one("td.name").get_text().split()), tr.select_one("td.coverage").get_text(strip=True),
             tr.select_one("td.visited").get_text(strip=True), tr.select_one("td.counted").get_text(strip=True))
            for tr in page.select("#by-manager tbody tr[data-key]")]


def test_the_team_page_shows_each_managers_figures_on_the_county(app, county, login_as):
    client = login_as("lead1")
    # mgr1 keeps 茶园村 (c_v1 visited, c_g1 in its group not yet); mgr2 keeps 石板村 (c_v2 visited);
    # 河坝村 ended for mgr2 yesterday, so 孙大山 is no longer counted.
    assert team_rows(client) == [  # in pinyin order (issue 21): Li before Zhang
        ("李经理 · 石板村", "100%", "1", "1"),
        ("张经理 · 茶园村", "50%", "1", "2"),
    ]


def test_grouped_coverage_equals_the_per_manager_figures(app, county):
    """Overlapping assignments (two business lines, a village and its own group) count a
    customer once, as the manager's scope does."""
    with app.app_context(), database.obj.connection_context():
        users = county.users
        since = clock.today() - dt.timedelta(days=3)
        Assignment.create(territory=county.territories["V1"], user=users["mgr1"], business_line="agri",
                          starts_on=since)
        Assignment.create(territory=county.territories["G1"], user=users["mgr1"], business_line="micro",
                          starts_on=since)
        Assignment.create(territory=county.territories["V1"], user=users["mgr2"], business_line="micro",
                          starts_on=since)
        idle = _user("mgr9", "manager", county.branches["A1"], "闲经理")
        managers = [User.get_by_id(u.id) for u in (users["mgr1"], users["mgr2"], idle)]
        grouped = Visit.coverage(User.get_by_id(users["lead1"].id), by="manager", among=managers)
        for manager in managers:
            assert grouped[manager.id] == Visit.coverage(manager), manager.username
        assert grouped[users["mgr2"].id] == (2, 3, 2 / 3)
        assert grouped[idle.id] == (0, 0, None)


def test_the_team_page_costs_the_same_queries_for_a_bigger_team(app, county, login_as, monkeypatch):
    """A fixed number of queries whatever the team's size: on a first look at a period (every
    customer counted) and on the next one (only the customers whose visits changed)."""
    client = login_as("lead1")
    counted = []
    real = database.obj.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        counted.append(sql)
        return real(sql, params, *args, **kwargs)

    monkeypatch.setattr(database.obj, "execute_sql", counting)

    def queries():
        team_figures.forget()
        counted.clear()
        assert team_rows(client)
        first = len(counted)
        counted.clear()
        assert team_rows(client)
        return first, len(counted)

    small = queries()
    with app.app_context(), database.obj.connection_context():
        for n in range(5):
            extra = _user(f"mgr{n + 10}", "manager", county.branches["A1"], f"新经理{n}")
            Assignment.create(territory=county.territories["V2"], user=extra, business_line="agri",
                              starts_on=clock.today())
    assert len(team_rows(client)) == 7
    assert queries() == small
