"""The territory tree: rename, move (checked again), retire (history stays)."""
import pytest

from app import clock
from app.db import database
from app.models import Assignment, Customer, Territory, User
from app.models.placement import move_territory, retire_territory
from app.models.refused import Refused
from tests.county import square


def lead(county):
    return User.get_by_id(county.users["lead1"].id)


def test_rename_keeps_the_row(app, county):
    with app.app_context(), database.obj.connection_context():
        v1 = county.territories["V1"]
        v1.rename(lead(county), " 新茶园村 ")
        assert Territory.get_by_id(v1.id).name == "新茶园村"


def test_a_move_is_checked_against_the_new_parent(app, county):
    with app.app_context(), database.obj.connection_context():
        g1, v1, v2 = (county.territories[k] for k in ("G1", "V1", "V2"))
        # G1 lies in V1's half: under V2 it would stick out entirely.
        with pytest.raises(Refused) as problems:
            move_territory(lead(county), g1, v2)
        assert list(problems.value.errors) == ["outside_parent"]
        assert Territory.get_by_id(g1.id).parent_id == v1.id
        # Its own subtree is no place for V1 either.
        with pytest.raises(Refused) as cycle:
            move_territory(lead(county), v1, g1)
        assert list(cycle.value.errors) == ["parent_cycle"]


def test_a_valid_move_rewrites_the_paths_below(app, county):
    with app.app_context(), database.obj.connection_context():
        v1, g1 = county.territories["V1"], county.territories["G1"]
        # V1 to the top: it overlaps Z1 (its old parent, now a sibling), so that is refused…
        with pytest.raises(Refused) as overlap:
            move_territory(lead(county), v1, None)
        assert list(overlap.value.errors) == ["overlap"]
        # …but a group filed under the wrong village moves to the one it lies in, path and all.
        v2 = county.territories["V2"]
        group = Territory.add("石板村一组", "group", v1.branch, v1, code="G2",
                              geometry=square(107.612, 28.902, 107.618, 28.912))
        assert move_territory(lead(county), group, v2).id == group.id
        moved = Territory.get_by_id(group.id)
        assert moved.parent_id == v2.id and moved.path == f"{v2.path}{group.id}/"
        # The customer inside it is placed in it, the deepest territory now.
        assert Customer.get_by_id(county.customers["c_v2"].id).territory_id == group.id
        assert Customer.get_by_id(county.customers["c_g1"].id).territory_id == g1.id


def test_retiring_a_village_retires_its_groups_and_ends_assignments(app, county):
    with app.app_context(), database.obj.connection_context():
        v1, z1 = county.territories["V1"], county.territories["Z1"]
        today = clock.today()
        retire_territory(lead(county), v1, today)
        assert {t.code for t in Territory.select().where(Territory.retired_on == today)} == {"V1", "G1"}
        assert Assignment.get(Assignment.territory == v1).ends_on == today
        # Its customers fall back to the zone; the rows and the history stay.
        assert Customer.get_by_id(county.customers["c_v1"].id).territory_id == z1.id
        assert Territory.get_by_id(v1.id).name == "茶园村"


def test_the_edit_page_refuses_a_bad_move_and_names_the_problem(app, county, login_as):
    from tests.conftest import csrf_token, soup

    client = login_as("lead1")
    g1, v2 = county.territories["G1"], county.territories["V2"]
    url = f"/territories/{g1.id}/edit"
    response = client.post(url, data={"csrf_token": csrf_token(client, url), "action": "move",
                                      "parent": str(v2.id)})
    assert response.status_code == 422
    assert "超出上级网格“石板村”" in soup(response).select_one("p.error").get_text()
    renamed = client.post(url, data={"csrf_token": csrf_token(client, url), "action": "rename", "name": "一组"})
    assert renamed.status_code == 302
    with app.app_context(), database.obj.connection_context():
        assert Territory.get_by_id(g1.id).name == "一组"
