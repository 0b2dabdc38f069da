"""Users admin: list, search, create, edit, deactivate, reset; only inside the admin's subtree."""
import pytest

from app.db import database
from app.models import AuditLog, User
from tests.conftest import csrf_token, login, soup


def _user(username):
    with database.obj.connection_context():
        return User.get_or_none(User.username == username)


def _form(client, path, **data):
    data.setdefault("csrf_token", csrf_token(client, path))
    return client.post(path, data=data)


def _field_error(response, name):
    control = soup(response).select_one(f"[name={name}]")
    field = control.find_parent(class_="field")
    assert "invalid" in field["class"] and control["aria-invalid"] == "true"
    return field.select_one(".field-error").get_text(strip=True)


def test_the_list_shows_the_subtree_with_masked_phones(login_as, client, county):
    login_as("admin")
    with database.obj.connection_context():
        User.update(phone="13812345678").where(User.username == "mgr1").execute()
    page = soup(client.get("/admin/users"))
    rows = page.select("#user-rows a.row")
    names = {row.select_one(".row-main").contents[0].strip() for row in rows}
    assert names == {"张经理", "李经理", "王组长", "赵组长", "陈行长", "刘管理"}
    assert "138****5678" in {p.get_text() for p in page.select(".phone")}
    assert "13812345678" not in page.get_text()


def test_the_list_is_searched_on_the_server(login_as, client, county):
    login_as("admin")
    page = soup(client.get("/admin/users?q=经理"))
    assert len(page.select("#user-rows a.row")) == 2
    fragment = client.get("/admin/users?q=mgr2", headers={"HX-Request": "true"})
    rows = soup(fragment).select("a.row")
    assert len(rows) == 1 and "李经理" in rows[0].get_text()
    assert soup(fragment).select_one("html") is None


def test_the_list_is_paged(app, login_as, client, county):
    app.config["PAGE_SIZE"] = 4
    login_as("admin")
    first = soup(client.get("/admin/users"))
    assert len(first.select("#user-rows a.row")) == 5  # four people and the "more" link
    assert len(soup(client.get("/admin/users?page=2")).select("a.row")) == 2


def test_an_admin_creates_a_user_who_must_change_the_password(login_as, client, county):
    login_as("admin")
    response = _form(client, "/admin/users/new", username="mgr3", name="周经理", phone="13987654321",
                     role="manager", branch=str(county.branches["A2"].id), business_line="agri")
    assert response.status_code == 201
    temporary = soup(response).select_one(".temporary").get_text(strip=True)
    user = _user("mgr3")
    assert (user.name, user.phone, user.role, user.branch_id, user.business_line) == (
        "周经理", "13987654321", "manager", county.branches["A2"].id, "agri")
    assert user.must_change_password and user.check_password(temporary)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/me")})
    assert login(client, "mgr3", temporary).location == "/me/password"


@pytest.mark.parametrize("data,field,message", [
    ({"username": "mgr1"}, "username", "该用户名已被使用。"),
    ({"username": "MGR1"}, "username", "该用户名已被使用。"),
    ({"phone": "1380000"}, "phone", "请输入 11 位手机号码。"),
    ({"phone": "138000000001"}, "phone", "请输入 11 位手机号码。"),
    ({"name": ""}, "name", "请输入姓名。"),
    ({"username": "周 经理"}, "username", "只能使用字母、数字、点、短横线或下划线。"),
])
def test_bad_input_marks_the_field_and_creates_nobody(data, field, message, login_as, client, county):
    login_as("admin")
    with database.obj.connection_context():
        before = User.select().count()
    form = {"username": "mgr3", "name": "周经理", "phone": "13987654321", "role": "manager",
            "branch": str(county.branches["A1"].id), "business_line": "retail", **data}
    response = _form(client, "/admin/users/new", **form)
    assert response.status_code == 422
    assert _field_error(response, field) == message
    with database.obj.connection_context():
        assert User.select().count() == before
        assert AuditLog.select().where(AuditLog.action == "create").count() == 0


def test_a_user_cannot_be_placed_outside_the_admins_subtree(login_as, client, county):
    login_as("admin")
    response = _form(client, "/admin/users/new", username="spy", name="某人", role="manager",
                     branch=str(county.branches["B"].id))
    assert response.status_code == 422
    assert _field_error(response, "branch") == "请选择网点。"
    assert _user("spy") is None


def test_an_admin_edits_a_user(login_as, client, county):
    login_as("admin")
    path = f"/admin/users/{county.users['mgr1'].id}"
    page = soup(client.get(path))
    assert page.select_one("[name=name]")["value"] == "张经理"
    assert page.select_one("[name=branch] option[selected]")["value"] == str(county.branches["A1"].id)
    response = _form(client, path, name="张大经理", phone="13700001111", role="team_lead",
                     branch=str(county.branches["A2"].id), business_line="micro")
    assert response.status_code == 302
    user = _user("mgr1")
    assert (user.name, user.phone, user.role, user.branch_id, user.business_line) == (
        "张大经理", "13700001111", "team_lead", county.branches["A2"].id, "micro")
    with database.obj.connection_context():
        assert AuditLog.get(AuditLog.action == "update").entity_id == user.id


def test_a_wrong_phone_on_edit_changes_nothing(login_as, client, county):
    login_as("admin")
    path = f"/admin/users/{county.users['mgr1'].id}"
    response = _form(client, path, name="改了名", phone="12345", role="manager",
                     branch=str(county.branches["A1"].id), business_line="retail")
    assert response.status_code == 422
    assert _field_error(response, "phone") == "请输入 11 位手机号码。"
    assert _user("mgr1").name == "张经理"


def test_deactivate_and_reactivate(login_as, client, county):
    login_as("admin")
    path = f"/admin/users/{county.users['mgr1'].id}/active"
    assert client.post(path, data={"active": "0", "csrf_token": csrf_token(client, "/me")}).status_code == 302
    assert _user("mgr1").active is False
    other = client.application.test_client()
    assert login(other, "mgr1").status_code == 422
    assert client.post(path, data={"active": "1", "csrf_token": csrf_token(client, "/me")}).status_code == 302
    assert _user("mgr1").active is True
    assert login(other, "mgr1").status_code == 302
    with database.obj.connection_context():
        actions = [e.action for e in AuditLog.select().where(AuditLog.entity == "user")
                   .order_by(AuditLog.id)]
    assert "deactivate" in actions and "activate" in actions


def test_an_admin_cannot_deactivate_themself(login_as, client, county):
    login_as("admin")
    path = f"/admin/users/{county.users['admin'].id}/active"
    client.post(path, data={"active": "0", "csrf_token": csrf_token(client, "/me")})
    assert _user("admin").active is True


def test_a_reset_password_unlocks_and_must_be_changed(login_as, client, county):
    for _ in range(5):
        login(client.application.test_client(), "mgr1", "wrong password")
    login_as("admin")
    response = client.post(f"/admin/users/{county.users['mgr1'].id}/reset",
                           data={"csrf_token": csrf_token(client, "/me")})
    assert response.status_code == 200
    temporary = soup(response).select_one(".temporary").get_text(strip=True)
    user = _user("mgr1")
    assert user.must_change_password and not user.is_locked()
    other = client.application.test_client()
    assert login(other, "mgr1", temporary).location == "/me/password"


@pytest.mark.parametrize("admin,target,status", [
    ("admin", "mgr_b", 404),        # another bank
    ("admin", "union_admin", 404),  # above the admin
    ("admin_b", "mgr1", 404),
    ("union_admin", "mgr1", 200),   # the union sits above both banks
    ("union_admin", "mgr_b", 200),
])
def test_admins_manage_only_their_subtree(admin, target, status, login_as, client, county):
    login_as(admin)
    uid = county.users[target].id
    assert client.get(f"/admin/users/{uid}").status_code == status
    token = csrf_token(client, "/me")
    assert client.post(f"/admin/users/{uid}/reset", data={"csrf_token": token}).status_code == status
    response = client.post(f"/admin/users/{uid}/active", data={"active": "0", "csrf_token": token})
    assert response.status_code == (status if status == 404 else 302)
    assert _user(target).active is (status == 404)


def test_every_mistake_shows_at_once(login_as, client, county):
    login_as("admin")
    response = _form(client, "/admin/users/new", username="mgr1", name="周经理", phone="1380000",
                     role="manager", branch=str(county.branches["A1"].id), business_line="")
    assert response.status_code == 422
    assert _field_error(response, "username") == "该用户名已被使用。"
    assert _field_error(response, "phone") == "请输入 11 位手机号码。"
