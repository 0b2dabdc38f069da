"""Sign-in under attack: parallel guesses, timing that would tell usernames apart, old session
cookies replayed, HTTPS behind a proxy, redirects off-site."""
import base64
import hashlib
import json
import re
import threading

import pytest

from app.db import database
from app.models import AuditLog, User
from tests.conftest import csrf_token, login, soup
from tests.county import PASSWORD


def _user(username):
    with database.obj.connection_context():
        return User.get(User.username == username)


# Hashing slow enough (tens of ms, the GIL released) that parallel requests overlap as they
# do under gunicorn with scrypt: the county's quick test hash would let them run one by one.
SLOW_HASH = "pbkdf2:sha256:60000"


def _guess_in_parallel(app, username, passwords):
    """Each password posted at once from its own browser (thread, client, session)."""
    app.config["PASSWORD_HASH_METHOD"] = SLOW_HASH
    with app.app_context(), database.obj.connection_context():
        user = User.get(User.username == username)
        user.set_password(PASSWORD)
        user.save(only=[User.password_hash])
    clients = [app.test_client() for _ in passwords]
    tokens = [csrf_token(c) for c in clients]
    start = threading.Barrier(len(passwords))
    statuses = [None] * len(passwords)

    def guess(i):
        start.wait()
        statuses[i] = clients[i].post("/login", data={"username": username, "password": passwords[i],
                                                      "csrf_token": tokens[i]}).status_code

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(len(passwords))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_parallel_wrong_passwords_are_each_counted(app, county):
    assert _guess_in_parallel(app, "mgr1", ["wrong password"] * 4) == [422] * 4
    user = _user("mgr1")
    assert (user.failed_logins, user.locked_until) == (4, None)


def test_parallel_guesses_lock_the_account_exactly_once(app, county):
    statuses = _guess_in_parallel(app, "mgr1", ["wrong password"] * 24)
    assert statuses == [422] * 24
    assert _user("mgr1").is_locked()
    with database.obj.connection_context():
        assert AuditLog.select().where(AuditLog.action == "lock").count() == 1
    # the right password waits out the lock too
    assert login(app.test_client(), "mgr1").status_code == 422


class _HashWork:
    """What the password hashing in hashlib is asked to do: (function, its work parameters)."""

    def __init__(self, monkeypatch):
        self.calls = []
        pbkdf2, scrypt = hashlib.pbkdf2_hmac, hashlib.scrypt

        def counted_pbkdf2(name, password, salt, iterations, *args, **kwargs):
            self.calls.append(("pbkdf2", name, iterations))
            return pbkdf2(name, password, salt, iterations, *args, **kwargs)

        def counted_scrypt(password, *, salt, n, r, p, **kwargs):
            self.calls.append(("scrypt", n, r, p))
            return scrypt(password, salt=salt, n=n, r=r, p=p, **kwargs)

        monkeypatch.setattr(hashlib, "pbkdf2_hmac", counted_pbkdf2)
        monkeypatch.setattr(hashlib, "scrypt", counted_scrypt)

    def of(self, client, username, password):
        token = csrf_token(client)
        self.calls.clear()
        response = client.post("/login", data={"username": username, "password": password,
                                               "csrf_token": token})
        assert response.status_code == 422
        return list(self.calls)


def test_unknown_locked_and_inactive_users_cost_the_same_hash_as_a_wrong_password(app, client, county,
                                                                                  monkeypatch):
    with database.obj.connection_context():
        User.update(active=False).where(User.username == "mgr2").execute()
    for _ in range(5):
        login(client, "lead1", "wrong password")
    assert _user("lead1").is_locked()
    work = _HashWork(monkeypatch)
    wrong = work.of(client, "mgr1", "wrong password")
    assert wrong == [("pbkdf2", "sha256", 1000)]  # the county's users are hashed so
    assert work.of(client, "nobody", PASSWORD) == wrong
    assert work.of(client, "lead1", PASSWORD) == wrong  # locked
    assert work.of(client, "mgr2", PASSWORD) == wrong  # inactive


def test_an_unknown_user_costs_a_hash_of_the_configured_method(app, client, county, monkeypatch):
    # Production hashes with scrypt: a miss must cost one scrypt too, not a cheap pbkdf2.
    app.config["PASSWORD_HASH_METHOD"] = "scrypt"
    with app.app_context(), database.obj.connection_context():
        user = User.get(User.username == "mgr1")
        user.set_password(PASSWORD)
        user.save(only=[User.password_hash])
    work = _HashWork(monkeypatch)
    wrong = work.of(client, "mgr1", "wrong password")
    assert [call[0] for call in wrong] == ["scrypt"]
    assert work.of(client, "nobody", PASSWORD) == wrong


# --- Sessions end when they should -------------------------------------------------------

def _signed_in_cookie(client, username="mgr1", password=PASSWORD):
    assert login(client, username, password).status_code == 302
    assert client.get("/today").status_code == 200
    return client.get_cookie("session").value


def _replay(app, cookie):
    """Open Today with a copied session cookie, as a thief who kept it would."""
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    return thief.get("/today")


def test_an_old_cookie_is_dead_after_sign_out(app, client, county):
    cookie = _signed_in_cookie(client)
    assert _replay(app, cookie).status_code == 200
    client.post("/logout", data={"csrf_token": csrf_token(client, "/me")})
    response = _replay(app, cookie)
    assert response.status_code == 302 and response.location.startswith("/login")


def test_a_password_change_ends_older_sessions_but_not_the_one_that_made_it(app, client, county):
    other_phone = app.test_client()
    old = _signed_in_cookie(other_phone)
    _signed_in_cookie(client)
    response = client.post("/me/password", data={
        "current": PASSWORD, "new": "tea garden path 7", "confirm": "tea garden path 7",
        "csrf_token": csrf_token(client, "/me/password")})
    assert response.status_code == 302
    assert client.get("/today").status_code == 200
    assert _replay(app, old).location.startswith("/login")
    assert other_phone.get("/today").location.startswith("/login")


def _admin_post(app, path, **data):
    admin = app.test_client()
    login(admin, "admin")
    data["csrf_token"] = csrf_token(admin, "/admin/users")
    return admin.post(path, data=data)


def test_deactivation_ends_sessions_for_good_even_after_reactivation(app, client, county):
    cookie = _signed_in_cookie(client)
    user_id = _user("mgr1").id
    assert _admin_post(app, f"/admin/users/{user_id}/active", active="0").status_code == 302
    assert _replay(app, cookie).location.startswith("/login")
    assert _admin_post(app, f"/admin/users/{user_id}/active", active="1").status_code == 302
    assert _replay(app, cookie).location.startswith("/login")
    assert client.get("/today").location.startswith("/login")


def test_an_admin_reset_ends_every_session(app, client, county):
    cookie = _signed_in_cookie(client)
    user_id = _user("mgr1").id
    assert _admin_post(app, f"/admin/users/{user_id}/reset").status_code == 200
    response = _replay(app, cookie)
    assert response.status_code == 302 and response.location.startswith("/login")


def test_signing_in_again_after_sign_out_works(app, client, county):
    _signed_in_cookie(client)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/me")})
    assert _signed_in_cookie(client)


# --- HTTPS behind a proxy ----------------------------------------------------------------

# A browser posting over HTTPS sends its Referer, which Flask-WTF checks on secure requests.
HTTPS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7", "Referer": "https://localhost/login"}


def _cookie_header(response):
    return next(v for k, v in response.headers.items() if k == "Set-Cookie" and v.startswith("session="))


def test_proxy_headers_are_ignored_unless_configured(app, client, county):
    token = csrf_token(client)
    response = client.post("/login", headers=HTTPS, data={
        "username": "mgr1", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert "Secure" not in _cookie_header(response)
    assert "Strict-Transport-Security" not in client.get("/today", headers=HTTPS).headers
    with database.obj.connection_context():
        assert AuditLog.get(AuditLog.action == "login").ip != "203.0.113.7"  # a forged address


@pytest.fixture
def proxied(app, county):
    """A client of the same app and database, configured to sit behind one proxy."""
    from app import create_app

    keys = ("TESTING", "DATABASE_URL", "SECRET_KEY", "ID_NUMBER_KEY", "PASSWORD_HASH_METHOD")
    return create_app({**{k: app.config[k] for k in keys}, "TRUSTED_PROXIES": 1}).test_client()


def test_behind_a_configured_proxy_https_gets_secure_cookies_and_hsts(proxied):
    client = proxied
    token = csrf_token(client)
    response = client.post("/login", headers=HTTPS, data={
        "username": "mgr1", "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    assert "Secure" in _cookie_header(response).split("; ")
    today = client.get("/today", headers=HTTPS)
    assert today.status_code == 200
    assert today.headers["Strict-Transport-Security"].startswith("max-age=")
    with database.obj.connection_context():
        assert AuditLog.get(AuditLog.action == "login").ip == "203.0.113.7"


def test_behind_a_configured_proxy_plain_http_stays_plain(proxied):
    client = proxied
    plain = {"X-Forwarded-Proto": "http"}
    token = csrf_token(client)
    response = client.post("/login", headers=plain, data={
        "username": "mgr1", "password": PASSWORD, "csrf_token": token})
    assert "Secure" not in _cookie_header(response)
    assert "Strict-Transport-Security" not in client.get("/today", headers=plain).headers


# --- Redirects stay on the site ----------------------------------------------------------

OFF_SITE = ["https://evil.example/", "//evil.example/", "/\\evil.example/", "\\\\evil.example/",
            "/\t/evil.example/", "javascript:alert(1)", "http:/evil.example"]


@pytest.mark.parametrize("target", OFF_SITE)
def test_confirming_a_position_never_leaves_the_site(target, app, client, county):
    customer = county.customers["c_v1"]
    login(client, "lead1")
    response = client.post(f"/customers/{customer.id}/position/confirm",
                           data={"csrf_token": csrf_token(client, "/me"), "next": target})
    assert response.status_code == 302
    assert response.location == f"/customers/{customer.id}"


def test_confirming_a_position_follows_a_local_next(app, client, county):
    customer = county.customers["c_v1"]
    login(client, "lead1")
    response = client.post(f"/customers/{customer.id}/position/confirm",
                           data={"csrf_token": csrf_token(client, "/me"), "next": "/positions"})
    assert response.location == "/positions"


@pytest.mark.parametrize("target", OFF_SITE)
def test_after_sign_in_no_off_site_next_is_followed(target, client, county):
    token = csrf_token(client)
    response = client.post("/login", query_string={"next": target},
                           data={"username": "mgr1", "password": PASSWORD, "csrf_token": token})
    assert response.location == "/today"


def test_the_sign_in_page_still_works(client, county):
    assert soup(client.get("/login")).select_one("input[name=username]")


def test_a_password_hashed_under_an_older_method_is_hashed_again_at_sign_in(app, client, county):
    """A bank that raises its hashing (PASSWORD_HASH_METHOD) cannot rehash what it stores: only
    the password can. Each user's is hashed again at their next sign-in, their sessions going on."""
    elsewhere = app.test_client()
    assert login(elsewhere, "mgr1").status_code == 302
    old = _user("mgr1").password_hash
    app.config["PASSWORD_HASH_METHOD"] = "pbkdf2:sha256:2000"
    assert login(client, "mgr1", "wrong password").status_code == 422
    assert _user("mgr1").password_hash == old  # a wrong password rewrites nothing
    assert login(client, "mgr1").status_code == 302
    stored = _user("mgr1").password_hash
    assert stored.startswith("pbkdf2:sha256:2000$") and stored != old
    assert _user("mgr1").check_password(PASSWORD)
    assert elsewhere.get("/me").status_code == 200  # the other phone stays signed in
    client.post("/logout", data={"csrf_token": csrf_token(client, "/me")})
    assert login(client, "mgr1").status_code == 302
    assert _user("mgr1").password_hash == stored  # already the bank's method: left alone


def test_no_two_pages_carry_the_same_form_token(app, client, county):
    """BREACH: pages are compressed, and a secret that is the same in every page, beside text
    the requester chose (a search echoed back), can be read off the compressed sizes. Each copy
    of the session's token a page carries is masked anew; every copy is still accepted."""
    login(client, "mgr1")
    page = client.get("/customers/?q=csrf_token").get_data(as_text=True)
    copies = re.findall(r'name="csrf_token"[^>]*value="([^"]+)"', page) + re.findall(r'"X-CSRFToken": "([^"]+)"', page)
    copies += [csrf_token(client, "/me") for _ in range(2)]
    assert len(copies) >= 3 and len(set(copies)) == len(copies)
    secret = app.session_interface.get_signing_serializer(app).loads(client.get_cookie("session").value)["csrf_token"]
    signed_secret = base64.urlsafe_b64encode(json.dumps(secret).encode()).rstrip(b"=").decode()
    assert secret not in page and signed_secret not in page
    for copy in copies:
        assert client.post("/me/locale", data={"locale": "zh_CN", "csrf_token": copy}).status_code == 302
    assert client.post("/me/locale", headers={"X-CSRFToken": copies[0]}, data={"locale": "zh_CN"}).status_code == 302
    tampered = copies[0][:-6] + ("AAAAAA" if not copies[0].endswith("AAAAAA") else "BBBBBB")
    for refused in (tampered, "m.", "m.%%%", "m." + "A" * 7, copies[0][2:]):
        assert client.post("/me/locale", data={"locale": "zh_CN", "csrf_token": refused}).status_code == 400
