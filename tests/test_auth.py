"""Signing in and out: hashed passwords, CSRF, one message for every failure."""
import pytest

from app.db import database
from app.models import AuditLog, User
from tests.conftest import csrf_token, login, soup
from tests.county import PASSWORD

HOMES = {"mgr1": "/today", "lead1": "/team", "mgmt": "/overview", "admin": "/admin/"}


@pytest.mark.parametrize("username", sorted(HOMES))
def test_each_role_lands_on_its_home(username, client, county):
    response = login(client, username)
    assert response.status_code == 302
    assert response.location == HOMES[username]
    assert client.get("/").location == HOMES[username]
    assert client.get(HOMES[username]).status_code == 200


def test_sign_in_is_recorded_in_the_audit_log(client, county):
    login(client, "mgr1")
    with database.obj.connection_context():
        entry = AuditLog.get(AuditLog.action == "login")
        assert entry.user.username == "mgr1"


def test_passwords_are_stored_hashed(app, county):
    with database.obj.connection_context():
        stored = User.get(User.username == "mgr1").password_hash
    assert PASSWORD not in stored
    assert stored.startswith("pbkdf2:sha256")


@pytest.mark.parametrize("username,password", [("mgr1", "wrong password"), ("nobody", PASSWORD)])
def test_a_failed_sign_in_never_says_whether_the_user_exists(username, password, client, county):
    response = login(client, username, password)
    assert response.status_code == 422
    assert soup(response).select_one("[role=alert]").get_text(strip=True) == "用户名或密码不正确。"
    assert client.get("/me").status_code == 302


def test_a_deactivated_user_cannot_sign_in(client, county):
    with database.obj.connection_context():
        User.update(active=False).where(User.username == "mgr1").execute()
    assert login(client, "mgr1").status_code == 422


def test_a_missing_field_is_marked_in_chinese_and_nothing_is_written(client, county):
    response = client.post("/login", data={"username": "mgr1", "password": "",
                                           "csrf_token": csrf_token(client)})
    assert response.status_code == 422
    page = soup(response)
    field = page.select_one(".field.invalid")
    assert field.select_one("input")["name"] == "password"
    assert field.select_one("input")["aria-invalid"] == "true"
    assert field.select_one(".field-error").get_text(strip=True) == "请输入密码。"
    with database.obj.connection_context():
        assert AuditLog.select().count() == 0


def test_a_post_without_csrf_token_is_refused(client, county):
    response = client.post("/login", data={"username": "mgr1", "password": PASSWORD})
    assert response.status_code == 400
    assert "表单已失效" in response.get_data(as_text=True)
    assert client.get("/me").status_code == 302


def test_sign_out_needs_a_post_with_a_token(client, county):
    login(client, "mgr1")
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    assert client.get("/me").status_code == 200
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/me")})
    assert response.location == "/login"
    assert client.get("/me").status_code == 302


@pytest.mark.parametrize("target,expected", [
    ("/customers/", "/customers/"),
    ("https://evil.example/", "/today"),
    ("//evil.example/", "/today"),
])
def test_after_sign_in_only_local_pages_are_followed(target, expected, client, county):
    token = csrf_token(client)
    response = client.post(f"/login?next={target}",
                           data={"username": "mgr1", "password": PASSWORD, "csrf_token": token})
    assert response.location == expected
