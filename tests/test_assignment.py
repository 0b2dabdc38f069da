"""Assignment (分片 分线): history kept, the 责任田 page, and the hand-over on reassigning."""
import datetime as dt

from app import clock
from app.db import database
from app.models import Assignment, FollowUp, Lead
from app.models.handover import hand_over
from tests.conftest import csrf_token, soup


def test_reassigning_ends_the_previous_assignment_and_keeps_history(app, county):
    with app.app_context(), database.obj.connection_context():
        v1, users = county.territories["V1"], county.users
        today = clock.today()
        ended = Assignment.assign(users["lead1"], v1, [users["mgr2"]], "retail", today)
        assert [u.username for u in ended] == ["mgr1"]
        history = [(a.user.username, a.starts_on, a.ends_on) for a in Assignment.history(v1)]
        assert history == [("mgr2", today, None),
                           ("mgr1", today - dt.timedelta(days=30), today - dt.timedelta(days=1))]
        # Assigning the same manager again changes nothing; another line is separate.
        assert Assignment.assign(users["lead1"], v1, [users["mgr2"]], "retail", today) == []
        assert Assignment.assign(users["lead1"], v1, [users["mgr1"]], "agri", today) == []
        assert Assignment.current().where(Assignment.territory == v1).count() == 2


def test_the_hand_over_moves_open_follow_ups_and_leads_only(app, county):
    with app.app_context(), database.obj.connection_context():
        v1, users, c_v1 = county.territories["V1"], county.users, county.customers["c_v1"]
        c_g1 = county.customers["c_g1"]
        today = clock.today()
        open_fu = FollowUp.create(customer=c_g1, user=users["mgr1"], due_on=today)  # G1 lies under V1
        done_fu = FollowUp.create(customer=c_v1, user=users["mgr1"], due_on=today, done_at=clock.now())
        won = Lead.create(client_uuid="20000000-0000-4000-8000-000000000001", branch=c_v1.branch,
                          customer=c_v1, name="周大福", product=county.products["a"], source="visit",
                          status="won", owner=users["mgr1"], created_by=users["mgr1"])
        ended = Assignment.assign(users["lead1"], v1, [users["mgr2"]], "retail", today)
        assert hand_over(users["lead1"], v1, ended, users["mgr2"]) == (1, 1)
        assert FollowUp.get_by_id(open_fu.id).user_id == users["mgr2"].id
        assert FollowUp.get_by_id(done_fu.id).user_id == users["mgr1"].id
        assert Lead.get_by_id(county.leads["l_mgr1"].id).owner_id == users["mgr2"].id
        assert Lead.get_by_id(won.id).owner_id == users["mgr1"].id


def test_a_team_lead_reassigns_through_the_page_with_the_hand_over(app, county, login_as):
    client = login_as("lead1")
    v1 = county.territories["V1"]
    page = soup(client.get(f"/territories/{v1.id}/assign"))
    assert [r.get_text(strip=True) for r in page.select("#history td:first-child")] == ["张经理"]
    response = client.post(f"/territories/{v1.id}/assign", data={
        "csrf_token": csrf_token(client, f"/territories/{v1.id}/assign"), "users": [str(county.users["mgr2"].id)],
        "business_line": "retail", "starts_on": clock.today().isoformat(), "hand_over": "1"})
    assert response.status_code == 302
    with app.app_context(), database.obj.connection_context():
        assert Lead.get_by_id(county.leads["l_mgr1"].id).owner_id == county.users["mgr2"].id
    names = [r.get_text(strip=True) for r in soup(client.get(response.location)).select("#history td:first-child")]
    assert names == ["李经理", "张经理"]


def test_a_team_lead_cannot_assign_another_teams_territory_or_manager(app, county, login_as):
    client = login_as("lead2")
    assert client.get(f"/territories/{county.territories['V1'].id}/assign").status_code == 404
    v3 = county.territories["V3"]
    response = client.post(f"/territories/{v3.id}/assign", data={
        "csrf_token": csrf_token(client, f"/territories/{v3.id}/assign"), "users": [str(county.users["mgr1"].id)],
        "business_line": "retail", "starts_on": clock.today().isoformat()})
    assert response.status_code == 422


def test_the_managers_page_lists_territories_with_customer_counts(app, county, login_as):
    client = login_as("mgr1")
    items = [li.get_text(" ", strip=True) for li in soup(client.get("/me")).select("ul.plain li")]
    # A territory's customers are those of its subtree, as on the list, the map and /team.
    assert items == ["茶园村 · 2 户", "茶园村一组 · 1 户"]


def test_a_closed_branch_takes_no_new_assignment_for_its_territories_or_its_people(app, county, login_as):
    """The admin closes 河坝支行: its village cannot be given to anyone, and its manager
    cannot be given another branch's village; both are refused in Chinese, nothing written."""
    from app.models import Branch, User
    from tests.county import _user

    with app.app_context(), database.obj.connection_context():
        mgr3 = _user("mgr3", "manager", county.branches["A2"], "孙经理")
    client = login_as("admin")
    a2 = county.branches["A2"]
    closed = client.post(f"/admin/branches/{a2.id}/close", data={
        "csrf_token": csrf_token(client, f"/admin/branches/{a2.id}"), "closed": "1"})
    assert closed.status_code == 302
    with app.app_context(), database.obj.connection_context():
        before = Assignment.select().count()

    def assign(territory, user):
        path = f"/territories/{territory.id}/assign"
        return client.post(path, data={"csrf_token": csrf_token(client, path), "users": [str(user.id)],
                                       "business_line": "retail", "starts_on": clock.today().isoformat()})

    refused = assign(county.territories["V3"], county.users["mgr1"])
    assert refused.status_code == 422
    assert "河坝支行已关闭，其网格不再接受新的分配" in soup(refused).select_one("p.error").get_text()
    refused = assign(county.territories["V1"], mgr3)
    assert refused.status_code == 422
    assert "孙经理所在的河坝支行已关闭" in soup(refused).select_one("p.error").get_text()
    with app.app_context(), database.obj.connection_context():
        assert Assignment.select().count() == before
        # The model refuses too, whatever calls it.
        try:
            Assignment.assign(User.get(User.username == "admin"), county.territories["V1"], [User.get_by_id(mgr3.id)],
                              "retail", clock.today())
        except ValueError:
            pass
        else:
            raise AssertionError("a manager of a closed branch was assigned")
        assert Assignment.select().count() == before
    # Reopened, the same assignment goes through.
    client.post(f"/admin/branches/{a2.id}/close", data={
        "csrf_token": csrf_token(client, f"/admin/branches/{a2.id}"), "closed": "0"})
    assert assign(county.territories["V1"], mgr3).status_code == 302
    with app.app_context(), database.obj.connection_context():
        assert Branch.get_by_id(a2.id).closed_on is None
