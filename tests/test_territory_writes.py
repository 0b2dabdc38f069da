"""The territory write paths called without their views (rename, move, retire, drawing,
assignment, hand-over): each checks the user's scope itself and raises one Refused with
every problem at once, having written nothing; and one name limit for every way in."""
import json

import pytest

from app import clock
from app.db import database
from app.imports.geojson import import_territories
from app.models import Assignment, AuditLog, Customer, FollowUp, Territory
from app.models.handover import hand_over
from app.models.placement import move_territory, retire_territory, save_drawn
from app.models.refused import Refused
from app.models.territory import MAX_NAME
from tests.conftest import csrf_token, soup, user

LONG = "长" * 5000


def territory(ctx, code):
    return Territory.get_by_id(ctx.territories[code].id)


def polygon(lng0, lat0, lng1, lat1):
    return {"type": "Polygon", "coordinates": [[[lng0, lat0], [lng1, lat0], [lng1, lat1], [lng0, lat1],
                                                [lng0, lat0]]]}


def snapshot():
    """Everything a territory write could change."""
    return ([tuple(t) for t in Territory.select(Territory.id, Territory.name, Territory.path, Territory.parent,
                                                Territory.geometry, Territory.retired_on)
             .order_by(Territory.id).tuples()],
            [tuple(a) for a in Assignment.select(Assignment.id, Assignment.user, Assignment.ends_on)
             .order_by(Assignment.id).tuples()],
            list(Customer.select(Customer.id, Customer.territory).order_by(Customer.id).tuples()),
            list(FollowUp.select(FollowUp.id, FollowUp.user).order_by(FollowUp.id).tuples()))


def refused(call):
    """The Refused a call raises, having checked that it wrote nothing."""
    before = snapshot()
    with pytest.raises(Refused) as caught:
        call()
    assert snapshot() == before
    return caught.value


# --- one name limit for every way in (issue 15) ------------------------------------------------
def test_an_import_refuses_a_name_of_10000_characters(ctx):
    feature = {"type": "Feature", "properties": {"name": "长" * 10000, "kind": "zone", "code": "Z9"},
               "geometry": polygon(107.64, 28.90, 107.66, 28.92)}
    before = Territory.select().count()
    result = import_territories(json.dumps({"type": "FeatureCollection", "datum": "wgs84", "features": [feature]})
                                .encode(), ctx.branches["A1"])
    assert not result.ok and not result.written
    assert [[p.code for p in row.problems] for row in result.rows] == [["name_too_long"]]
    assert Territory.select().count() == before


def test_a_rename_refuses_a_name_of_5000_characters(ctx):
    v1 = territory(ctx, "V1")
    problem = refused(lambda: v1.rename(user(ctx, "lead1"), LONG))
    assert problem.code == "name_too_long" and list(problem.errors) == ["name_too_long"]
    assert territory(ctx, "V1").name == "茶园村"
    # Exactly the limit is a name.
    v1.rename(user(ctx, "lead1"), "茶" * MAX_NAME)
    assert territory(ctx, "V1").name == "茶" * MAX_NAME


def test_the_edit_page_refuses_a_long_name_in_chinese(app, county, login_as):
    client = login_as("lead1")
    url = f"/territories/{county.territories['V1'].id}/edit"
    response = client.post(url, data={"csrf_token": csrf_token(client, url), "action": "rename", "name": LONG})
    assert response.status_code == 422
    assert "名称有 5000 个字，最多 60 个。" in soup(response).select_one("p.error").get_text()
    with app.app_context(), database.obj.connection_context():
        assert Territory.get_by_id(county.territories["V1"].id).name == "茶园村"


# --- every problem at once, nothing written, the scope checked by the write path ---------------
def test_a_drawing_lists_every_problem_with_its_highlights(ctx):
    z1 = territory(ctx, "Z1")
    # No name, no kind, and a shape over both villages that sticks out of the zone to the east.
    problem = refused(lambda: save_drawn(user(ctx, "lead1"), polygon(107.605, 28.905, 107.63, 28.915),
                                         parent=z1, name=" ", kind="farm"))
    assert list(problem.errors) == ["no_name", "bad_kind", "outside_parent", "overlap", "overlap#2"]
    assert problem.code == "no_name" and len(problem.messages) == 5
    assert sorted((kind, name) for kind, name, _ in problem.highlights) == [
        ("outside", "城关片区"), ("overlap", "石板村"), ("overlap", "茶园村")]


def test_a_drawing_outside_the_scope_is_not_found_and_a_manager_is_forbidden(ctx):
    inside_v3 = polygon(107.625, 28.905, 107.635, 28.915)
    assert refused(lambda: save_drawn(user(ctx, "lead1"), inside_v3, parent=territory(ctx, "Z2"),
                                      name="新村", kind="village")).code == "not_found"
    assert refused(lambda: save_drawn(user(ctx, "lead1"), inside_v3,
                                      territory=territory(ctx, "V3"))).code == "not_found"
    assert refused(lambda: save_drawn(user(ctx, "mgr1"), polygon(107.601, 28.911, 107.609, 28.919),
                                      parent=territory(ctx, "V1"), name="一组", kind="group")).code == "forbidden"
    assert refused(lambda: save_drawn(user(ctx, "mgr1"), polygon(107.601, 28.911, 107.609, 28.919),
                                      name="新片区", kind="zone")).code == "forbidden"


def test_a_drawing_under_a_retired_parent_is_not_found(ctx):
    retire_territory(user(ctx, "lead1"), territory(ctx, "V2"))
    assert refused(lambda: save_drawn(user(ctx, "lead1"), polygon(107.611, 28.901, 107.619, 28.909),
                                      parent=territory(ctx, "V2"), name="二组", kind="group")).code == "not_found"


def test_a_rename_checks_the_scope_and_the_role(ctx):
    assert refused(lambda: territory(ctx, "V1").rename(user(ctx, "lead2"), "新名")).code == "not_found"
    assert refused(lambda: territory(ctx, "V1").rename(user(ctx, "mgr1"), "新名")).code == "forbidden"
    assert refused(lambda: territory(ctx, "V1").rename(user(ctx, "lead1"), "  ")).code == "no_name"


def test_a_move_checks_the_scope_of_both_territories(ctx):
    lead1, lead2 = user(ctx, "lead1"), user(ctx, "lead2")
    assert refused(lambda: move_territory(lead2, territory(ctx, "G1"), territory(ctx, "V3"))).code == "not_found"
    # The parent must lie in the user's scope and the same branch, too.
    assert refused(lambda: move_territory(lead1, territory(ctx, "G1"), territory(ctx, "V3"))).code == "not_found"
    admin = user(ctx, "admin")
    assert refused(lambda: move_territory(admin, territory(ctx, "G1"), territory(ctx, "V3"))).code == "not_found"
    assert refused(lambda: move_territory(user(ctx, "mgr1"), territory(ctx, "G1"), None)).code == "forbidden"


def test_a_move_to_the_top_lists_every_overlap(ctx):
    # Z1 at the top with V1 beside it: V1 overlaps Z1; a zone drawn over both villages overlaps all three.
    lead1 = user(ctx, "lead1")
    big = save_drawn(lead1, polygon(107.60, 28.92, 107.62, 28.93), name="北片区", kind="zone").territory
    Territory.update(geometry=json.dumps(polygon(107.60, 28.90, 107.62, 28.93))).where(
        Territory.id == big.id).execute()
    problem = refused(lambda: move_territory(lead1, territory(ctx, "V1"), None))
    assert list(problem.errors) == ["overlap", "overlap#2"] and len(problem.messages) == 2


def test_a_retirement_checks_the_scope_the_role_and_retires_once(ctx):
    assert refused(lambda: retire_territory(user(ctx, "lead2"), territory(ctx, "V1"))).code == "not_found"
    assert refused(lambda: retire_territory(user(ctx, "mgr1"), territory(ctx, "V1"))).code == "forbidden"
    retire_territory(user(ctx, "lead1"), territory(ctx, "V1"))
    again = refused(lambda: retire_territory(user(ctx, "lead1"), territory(ctx, "V1")))
    assert again.code == "retired" and str(again.message)


def test_an_assignment_lists_every_problem_at_once(ctx):
    v1 = territory(ctx, "V1")
    problem = refused(lambda: Assignment.assign(user(ctx, "lead1"), v1, [user(ctx, "mgr_b")], "nothing", None))
    assert set(problem.errors) == {"business_line", "users"}
    # Nobody at all is refused too, and a manager of another team is not the user's to assign.
    assert "users" in refused(lambda: Assignment.assign(user(ctx, "lead1"), v1, [], "retail",
                                                        clock.today())).errors
    assert "users" in refused(lambda: Assignment.assign(user(ctx, "lead2"), territory(ctx, "V3"),
                                                        [user(ctx, "mgr1")], "retail", clock.today())).errors


def test_an_assignment_checks_the_scope_and_the_role(ctx):
    mgr2 = [user(ctx, "mgr2")]
    assert refused(lambda: Assignment.assign(user(ctx, "lead2"), territory(ctx, "V1"), mgr2, "retail",
                                             clock.today())).code == "not_found"
    assert refused(lambda: Assignment.assign(user(ctx, "mgr1"), territory(ctx, "V1"), mgr2, "retail",
                                             clock.today())).code == "forbidden"


def test_a_hand_over_checks_the_scope_and_the_new_owner(ctx):
    FollowUp.create(customer=ctx.customers["c_v1"], user=ctx.users["mgr1"], due_on=clock.today())
    mgr1 = user(ctx, "mgr1")
    assert refused(lambda: hand_over(user(ctx, "lead2"), territory(ctx, "V1"), [mgr1],
                                     user(ctx, "mgr2"))).code == "not_found"
    assert refused(lambda: hand_over(mgr1, territory(ctx, "V1"), [user(ctx, "mgr2")],
                                     mgr1)).code == "forbidden"
    # Another bank's manager cannot receive this bank's follow-ups.
    assert "users" in refused(lambda: hand_over(user(ctx, "lead1"), territory(ctx, "V1"), [mgr1],
                                                user(ctx, "mgr_b"))).errors


def test_the_draw_endpoint_still_answers_a_refusal_with_highlights(app, county, login_as):
    from tests.test_map import post_drawn

    client = login_as("lead1")
    response = post_drawn(client, polygon(107.605, 28.905, 107.63, 28.915), parent=county.territories["Z1"].id,
                          name="", kind="farm")
    assert response.status_code == 422
    body = response.get_json()
    assert body["ok"] is False and len(body["messages"]) == 5
    assert len(body["highlight"]["features"]) == 3
    with app.app_context(), database.obj.connection_context():
        assert AuditLog.select().where(AuditLog.action == "draw").count() == 0
