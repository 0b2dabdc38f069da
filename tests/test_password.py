"""Safe sign-in: lockout after repeated failures, own password changes, forced change, idle timeout."""
import datetime as dt

import pytest

from app import clock
from app.db import database
from app.models import AuditLog, Setting, User
from tests.conftest import csrf_token, login, soup
from tests.county import PASSWORD

FAILED = "用户名或密码不正确。"


def _alert(response):
    return soup(response).select_one("[role=alert]").get_text(strip=True)


def _user(username):
    with database.obj.connection_context():
        return User.get(User.username == username)


def test_five_failures_lock_the_account_for_fifteen_minutes(client, county):
    # Time stands still but for the travels below: a slow machine's seconds of hashing must
    # not carry the lock past its end.
    clock.pin(clock.now(), frozen=True)
    for _ in range(5):
        assert login(client, "mgr1", "wrong password").status_code == 422
    assert _user("mgr1").locked_until is not None
    # The right password is refused while locked, with the same message as any failure.
    response = login(client, "mgr1")
    assert response.status_code == 422
    assert _alert(response) == FAILED
    assert client.get("/me").status_code == 302
    clock.travel(dt.timedelta(minutes=14, seconds=59))
    assert login(client, "mgr1").status_code == 422
    clock.travel(dt.timedelta(seconds=2))
    assert login(client, "mgr1").status_code == 302
    assert client.get("/me").status_code == 200
    with database.obj.connection_context():
        assert AuditLog.select().where(AuditLog.action == "lock").count() == 1


def test_four_failures_do_not_lock_and_a_success_resets_the_count(client, county):
    for _ in range(4):
        login(client, "mgr1", "wrong password")
    assert login(client, "mgr1").status_code == 302
    user = _user("mgr1")
    assert user.failed_logins == 0 and user.locked_until is None


def test_a_lock_says_nothing_an_unknown_user_would_not(client, county):
    for _ in range(5):
        login(client, "mgr1", "wrong password")
    locked = login(client, "mgr1")
    unknown = login(client, "nobody", "whatever pass")
    assert _alert(locked) == _alert(unknown) == FAILED
    assert locked.status_code == unknown.status_code == 422


def test_locking_one_account_leaves_the_others_alone(client, county):
    for _ in range(5):
        login(client, "mgr1", "wrong password")
    assert login(client, "mgr2").status_code == 302


def _change(client, current, new, confirm=None):
    return client.post("/me/password", data={
        "current": current, "new": new, "confirm": new if confirm is None else confirm,
        "csrf_token": csrf_token(client, "/me/password")})


def _field_error(response, name):
    field = soup(response).select_one(f"input[name={name}]").find_parent(class_="field")
    assert "invalid" in field["class"]
    return field.select_one(".field-error").get_text(strip=True)


def test_a_user_changes_their_password(client, county):
    login(client, "mgr1")
    response = _change(client, PASSWORD, "tea garden path 7")
    assert response.status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client, "/me")})
    assert login(client, "mgr1", PASSWORD).status_code == 422
    assert login(client, "mgr1", "tea garden path 7").status_code == 302
    with database.obj.connection_context():
        assert AuditLog.select().where(AuditLog.action == "change_password").count() == 1


@pytest.mark.parametrize("current,new,confirm,field,message", [
    (PASSWORD, "short7", None, "new", "至少使用 8 个字符。"),
    (PASSWORD, "12345678", None, "new", "这个密码太常见，请换一个更难猜到的。"),
    (PASSWORD, "woaini1314", None, "new", "这个密码太常见，请换一个更难猜到的。"),
    (PASSWORD, "Password", None, "new", "这个密码太常见，请换一个更难猜到的。"),
    (PASSWORD, "zrt-demo-2026", None, "new", "这是演示系统公开的密码，请设置你自己的密码。"),
    (PASSWORD, "mgr12024", None, "new", "这个密码太常见，请换一个更难猜到的。"),
    (PASSWORD, "MGR1_2026!", None, "new", "这个密码太常见，请换一个更难猜到的。"),
    (PASSWORD, "qwertyui", None, "new", "键盘上连续的键和重复的字符很容易被猜到，请换一个密码。"),
    (PASSWORD, "aaaaaaaa", None, "new", "键盘上连续的键和重复的字符很容易被猜到，请换一个密码。"),
    (PASSWORD, "ABCabcabc", None, "new", "键盘上连续的键和重复的字符很容易被猜到，请换一个密码。"),
    (PASSWORD, "3edc4rfv5tgb", None, "new", "键盘上连续的键和重复的字符很容易被猜到，请换一个密码。"),
    (PASSWORD, "poiuytrewq", None, "new", "键盘上连续的键和重复的字符很容易被猜到，请换一个密码。"),
    (PASSWORD, "asdfghjkl2026", None, "new", "键盘上连续的键和重复的字符很容易被猜到，请换一个密码。"),
    (PASSWORD, "tea garden path 7", "tea garden path 8", "confirm", "两次输入的新密码不一致。"),
    ("wrong current", "tea garden path 7", None, "current", "当前密码不正确。"),
])
def test_a_weak_or_mistyped_password_is_refused(current, new, confirm, field, message, client, county):
    login(client, "mgr1")
    before = _user("mgr1").password_hash
    response = _change(client, current, new, confirm)
    assert response.status_code == 422
    assert _field_error(response, field) == message
    assert _user("mgr1").password_hash == before


def test_no_special_characters_are_required(client, county):
    login(client, "mgr1")
    assert _change(client, PASSWORD, "greenteafield").status_code == 302


@pytest.mark.parametrize("new", ["mgr1 tea garden", "qwe tea garden", "zrt-demo-2027 x", "aaab ccd effg"])
def test_a_password_that_only_contains_a_run_or_the_username_is_fine(new, client, county):
    login(client, "mgr1")
    assert _change(client, PASSWORD, new).status_code == 302



def test_a_reset_password_must_be_changed_before_anything_else(client, county):
    with database.obj.connection_context():
        User.update(must_change_password=True).where(User.username == "mgr1").execute()
    response = login(client, "mgr1")
    assert response.location == "/me/password"
    assert client.get("/today").location == "/me/password"
    assert client.get("/customers/").location == "/me/password"
    htmx = client.get("/customers/", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"] == "/me/password"
    assert client.get("/me/password").status_code == 200
    assert _change(client, PASSWORD, "tea garden path 7").location == "/today"
    assert _user("mgr1").must_change_password is False
    assert client.get("/today").status_code == 200


def test_an_idle_session_ends_after_the_banks_setting(client, county):
    with database.obj.connection_context():
        Setting.put(county.branches["A"], "session_idle_minutes", 30)
    login(client, "mgr1")
    clock.travel(dt.timedelta(minutes=29))
    assert client.get("/me").status_code == 200  # activity restarts the idle time
    clock.travel(dt.timedelta(minutes=29))
    assert client.get("/me").status_code == 200
    clock.travel(dt.timedelta(minutes=31))
    response = client.get("/me")
    assert response.status_code == 302 and response.location.startswith("/login")
    assert client.get("/me").status_code == 302


def test_pages_the_phone_fetches_on_its_own_do_not_keep_an_idle_session_open(client, county):
    """Only the manager's own use counts: the pages the phone keeps for offline use, fetched in
    the background, do not."""
    login(client, "mgr1")
    for _ in range(2):
        clock.travel(dt.timedelta(minutes=25))
        assert client.get("/today", headers={"Sec-Fetch-Dest": "empty"}).status_code == 200
    clock.travel(dt.timedelta(minutes=15))  # an hour and five minutes since the manager's last page
    response = client.get("/me")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_the_default_idle_time_is_an_hour(client, county):
    login(client, "mgr1")
    clock.travel(dt.timedelta(minutes=59))
    assert client.get("/me").status_code == 200
    clock.travel(dt.timedelta(minutes=61))
    assert client.get("/me").status_code == 302


def test_a_user_chooses_english_on_me(client, county):
    login(client, "mgr1")
    token = csrf_token(client, "/me")
    assert client.post("/me/locale", data={"locale": "en", "csrf_token": token}).status_code == 302
    assert _user("mgr1").locale == "en"
    page = soup(client.get("/me"))
    assert page.html["lang"] == "en"
    assert page.select_one("nav.tabbar").get_text(" ", strip=True).startswith("Today")


def test_an_unknown_language_is_refused(client, county):
    login(client, "mgr1")
    token = csrf_token(client, "/me")
    client.post("/me/locale", data={"locale": "fr", "csrf_token": token})
    assert _user("mgr1").locale == "zh_CN"


@pytest.mark.parametrize("password", ["zrt-demo-2026", "qwertyui", "aaaaaaaa", "newadmin2026", "short"])
def test_create_user_refuses_a_guessable_password(password, runner, county):
    result = runner.invoke(args=["create-user", "newadmin", "--name", "新管理员", "--role", "admin",
                                 "--branch", county.branches["A"].code, "--password", password])
    assert result.exit_code != 0
    with database.obj.connection_context():
        assert not User.select().where(User.username == "newadmin").exists()


def test_create_user_takes_a_good_password(runner, county):
    result = runner.invoke(args=["create-user", "newadmin", "--name", "新管理员", "--role", "admin",
                                 "--branch", county.branches["A"].code, "--password", "tea garden path 7"])
    assert result.exit_code == 0, result.output
    with database.obj.connection_context():
        assert User.get(User.username == "newadmin").role == "admin"
