"""Branches admin: the tree, add, rename, move (with its refusals), close, delete only when unused."""
import pytest

from app.db import database
from app.models import AuditLog, Branch
from tests.conftest import csrf_token, soup


def _branch(code):
    with database.obj.connection_context():
        return Branch.get(Branch.code == code)


def _post(client, path, **data):
    data["csrf_token"] = csrf_token(client, "/me")
    return client.post(path, data=data)


def _error(response, name):
    box = soup(response).select_one(f"[name={name}]").find_parent(class_="field")
    assert "invalid" in box["class"]
    return box.select_one(".field-error").get_text(strip=True)


def test_the_tree_shows_the_scope_nested(login_as, client, county):
    login_as("admin")
    rows = soup(client.get("/admin/branches")).select("#branch-tree > li")
    tree = [(row["class"][0], row.select_one(".row-main").contents[0].strip()) for row in rows]
    assert tree == [("depth-0", "甲县农商行"), ("depth-1", "城关支行"), ("depth-1", "河坝支行")]


def test_an_admin_adds_an_outlet(login_as, client, county):
    login_as("admin")
    response = _post(client, "/admin/branches/new", name="茶园分理处", code="A1-1", kind="outlet",
                     parent=str(county.branches["A1"].id))
    assert response.status_code == 302
    outlet = _branch("A1-1")
    assert outlet.parent_id == county.branches["A1"].id
    assert outlet.path == f"{county.branches['A1'].path}{outlet.id}/"


@pytest.mark.parametrize("data,field,message", [
    ({"code": "A2"}, "code", "该编码已被使用。"),
    ({"kind": "bank"}, "parent", "法人行只能挂在省联社之下，不能挂在另一家法人行之下。"),
    ({"name": ""}, "name", "请输入网点名称。"),
])
def test_adding_refuses_bad_input(data, field, message, login_as, client, county):
    login_as("admin")
    with database.obj.connection_context():
        before = Branch.select().count()
    form = {"name": "新网点", "code": "A9", "kind": "branch", "parent": str(county.branches["A"].id), **data}
    response = _post(client, "/admin/branches/new", **form)
    assert response.status_code == 422
    assert _error(response, field) == message
    with database.obj.connection_context():
        assert Branch.select().count() == before


def test_rename(login_as, client, county):
    login_as("admin")
    a1 = county.branches["A1"]
    assert _post(client, f"/admin/branches/{a1.id}", name="城关营业部", parent=str(a1.parent_id)).status_code == 302
    assert _branch("A1").name == "城关营业部"


def test_move_rewrites_the_whole_subtree(login_as, client, county):
    login_as("admin")
    a1, a2 = county.branches["A1"], county.branches["A2"]
    _post(client, "/admin/branches/new", name="茶园分理处", code="A1-1", kind="outlet", parent=str(a1.id))
    response = _post(client, f"/admin/branches/{a1.id}", name=a1.name, parent=str(a2.id))
    assert response.status_code == 302
    moved, outlet = _branch("A1"), _branch("A1-1")
    assert moved.parent_id == a2.id
    assert moved.path == f"{a2.path}{a1.id}/"
    assert outlet.path == f"{a2.path}{a1.id}/{outlet.id}/"
    with database.obj.connection_context():
        assert AuditLog.get(AuditLog.entity == "branch", AuditLog.action == "update").entity_id == a1.id


def test_moving_under_its_own_child_is_refused(login_as, client, county):
    login_as("admin")
    a1 = county.branches["A1"]
    _post(client, "/admin/branches/new", name="茶园分理处", code="A1-1", kind="outlet", parent=str(a1.id))
    child = _branch("A1-1")
    response = _post(client, f"/admin/branches/{a1.id}", name="改名", parent=str(child.id))
    assert response.status_code == 422
    assert _error(response, "parent") == "网点不能移到它自己或它的下级网点之下。"
    after = _branch("A1")
    assert (after.name, after.parent_id, after.path) == (a1.name, a1.parent_id, a1.path)


def test_a_bank_cannot_move_under_another_bank(login_as, client, county):
    login_as("union_admin")
    b = county.branches["B"]
    response = _post(client, f"/admin/branches/{b.id}", name=b.name, parent=str(county.branches["A"].id))
    assert response.status_code == 422
    assert _error(response, "parent") == "法人行只能挂在省联社之下，不能挂在另一家法人行之下。"
    assert _branch("B").parent_id == county.branches["U"].id


def test_a_branch_with_people_can_be_closed_not_deleted(login_as, client, county):
    login_as("admin")
    a1 = county.branches["A1"]
    page = soup(client.get(f"/admin/branches/{a1.id}"))
    assert page.select_one(f"form[action='/admin/branches/{a1.id}/delete']") is None
    assert _post(client, f"/admin/branches/{a1.id}/delete").status_code == 302
    assert _branch("A1").id == a1.id
    assert _post(client, f"/admin/branches/{a1.id}/close", closed="1").status_code == 302
    assert _branch("A1").closed_on is not None
    # A closed branch takes no new people.
    options = {o["value"] for o in soup(client.get("/admin/users/new")).select("[name=branch] option")}
    assert str(a1.id) not in options
    _post(client, f"/admin/branches/{a1.id}/close", closed="0")
    assert _branch("A1").closed_on is None


def test_an_unused_branch_can_be_deleted(login_as, client, county):
    login_as("admin")
    _post(client, "/admin/branches/new", name="临时网点", code="TMP", kind="outlet",
          parent=str(county.branches["A1"].id))
    tmp = _branch("TMP")
    assert _post(client, f"/admin/branches/{tmp.id}/delete").status_code == 302
    with database.obj.connection_context():
        assert Branch.get_or_none(Branch.code == "TMP") is None


def test_branches_outside_the_scope_are_404(login_as, client, county):
    login_as("admin")
    b = county.branches["B"]
    assert client.get(f"/admin/branches/{b.id}").status_code == 404
    assert _post(client, f"/admin/branches/{b.id}/close", closed="1").status_code == 404
    assert _branch("B").closed_on is None
