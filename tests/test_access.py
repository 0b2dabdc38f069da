"""Who may reach what: every route of the app, every role, in and out of scope.

A new route that is missing from MATRIX fails test_every_route_is_in_the_matrix,
so nobody adds a page without deciding who may see it.
"""
import pytest

from tests.conftest import csrf_token, login

ROLES = {"manager": "mgr1", "team_lead": "lead1", "management": "mgmt", "admin": "admin"}
ALL = set(ROLES)

# endpoint → (method, path or path template, roles that get 200 (or the given status), status for others)
MATRIX = {
    "index": ("GET", "/", {role: 302 for role in ALL}, None),
    "manifest": ("GET", "/manifest.webmanifest", {role: 200 for role in ALL}, None),
    # working offline: the service worker and the offline page are public (no data in them)
    "offline.service_worker": ("GET", "/sw.js", {role: 200 for role in ALL}, None),
    "offline.page": ("GET", "/offline", {role: 200 for role in ALL}, None),
    "offline.data": ("GET", "/offline/data", {"manager": 200}, 403),
    "offline.check_in_form": ("GET", "/offline/check-in", {"manager": 200}, 403),
    "offline.card": ("GET", "/offline/card", {"manager": 200}, 403),
    "offline.outbox": ("GET", "/outbox", {"manager": 200}, 403),
    # an empty batch is unreadable (400, nothing written); only a manager has an outbox
    "sync.batch": ("POST", "/sync", {"manager": 400}, 403),
    "static": ("GET", "/static/css/app.css", {role: 200 for role in ALL}, None),
    "auth.login": ("GET", "/login", {role: 302 for role in ALL}, None),
    "auth.logout": ("POST", "/logout", {role: 302 for role in ALL}, None),
    "auth.me": ("GET", "/me", {role: 200 for role in ALL}, None),
    "auth.password": ("GET", "/me/password", {role: 200 for role in ALL}, None),
    "auth.locale": ("POST", "/me/locale", {role: 302 for role in ALL}, None),
    "visits.today": ("GET", "/today", {"manager": 200}, 403),
    "coverage.team": ("GET", "/team", {"team_lead": 200}, 403),
    "reports.overview": ("GET", "/overview", {"management": 200}, 403),
    "admin.index": ("GET", "/admin/", {"admin": 200}, 403),
    "admin.settings": ("GET", "/admin/settings", {"admin": 200}, 403),
    "admin.branches": ("GET", "/admin/branches", {"admin": 200}, 403),
    "admin.branch_new": ("GET", "/admin/branches/new", {"admin": 200}, 403),
    "admin.branch_edit": ("GET", "/admin/branches/{b_A1}", {"admin": 200}, 403),
    "admin.branch_close": ("POST", "/admin/branches/{b_A1}/close", {"admin": 302}, 403),
    "admin.branch_delete": ("POST", "/admin/branches/{b_A1}/delete", {"admin": 302}, 403),
    "admin.products": ("GET", "/admin/products", {"admin": 200}, 403),
    "admin.product_new": ("GET", "/admin/products/new", {"admin": 200}, 403),
    "admin.product_edit": ("GET", "/admin/products/{p_a}", {"admin": 200}, 403),
    "admin.users": ("GET", "/admin/users", {"admin": 200}, 403),
    "admin.user_new": ("GET", "/admin/users/new", {"admin": 200}, 403),
    "admin.user_edit": ("GET", "/admin/users/{u_mgr1}", {"admin": 200}, 403),
    "admin.user_active": ("POST", "/admin/users/{u_mgr1}/active", {"admin": 302}, 403),
    "admin.user_reset": ("POST", "/admin/users/{u_mgr1}/reset", {"admin": 200}, 403),
    "territories.map": ("GET", "/map", {role: 200 for role in ALL}, None),
    "territories.map_data": ("GET", "/map/data", {role: 200 for role in ALL}, None),
    "territories.index": ("GET", "/territories", {role: 200 for role in ALL}, None),
    "territories.territory_card": ("GET", "/map/territories/{t_V1}", {role: 200 for role in ALL}, None),
    "territories.customer_card": ("GET", "/map/customers/{c_v1}", {role: 200 for role in ALL}, None),
    # a form post instead of JSON is refused (400) for those who may draw; the others get 403
    "territories.draw": ("POST", "/map/territories", {"admin": 400, "team_lead": 400}, 403),
    "territories.reshape": ("POST", "/map/territories/{t_V1}/shape", {"admin": 400, "team_lead": 400}, 403),
    "territories.import_file": ("GET", "/territories/import", {"admin": 200, "team_lead": 200}, 403),
    "territories.assign": ("GET", "/territories/{t_V1}/assign", {"admin": 200, "team_lead": 200}, 403),
    "territories.edit": ("GET", "/territories/{t_V1}/edit", {"admin": 200, "team_lead": 200}, 403),
    "territories.unplaced": ("GET", "/territories/unplaced", {"admin": 200, "team_lead": 200}, 403),
    "customers.index": ("GET", "/customers/", {role: 200 for role in ALL}, None),
    "customers.detail": ("GET", "/customers/{c_v1}", {role: 200 for role in ALL}, None),
    "customers.full": ("POST", "/customers/{c_v1}/full", {role: 200 for role in ALL}, None),
    "customers.edit": ("GET", "/customers/{c_v1}/edit", {"manager": 200, "team_lead": 200, "admin": 200}, 403),
    "customers.new": ("GET", "/customers/new", {"manager": 200, "team_lead": 200, "admin": 200}, 403),
    "customers.merge": ("GET", "/customers/{c_v1}/merge", {"admin": 200}, 403),
    # an empty form is refused (400); a missing member is 404; management never edits (403)
    "customers.add_member": ("POST", "/customers/{c_v1}/members",
                             {"manager": 400, "team_lead": 400, "admin": 400}, 403),
    "customers.remove_member": ("POST", "/customers/{c_v1}/members/999999/delete",
                                {"manager": 404, "team_lead": 404, "admin": 404}, 403),
    "tiers.index": ("GET", "/admin/tiers/", {"admin": 200}, 403),
    # imports: team leads and admins only; a job outside the scope (or missing) is 404
    "imports.index": ("GET", "/imports/", {"admin": 200, "team_lead": 200}, 403),
    "imports.mapping": ("GET", "/imports/999999/mapping", {"admin": 404, "team_lead": 404}, 403),
    "imports.job": ("GET", "/imports/999999", {"admin": 404, "team_lead": 404}, 403),
    "imports.confirm": ("POST", "/imports/999999/confirm", {"admin": 404, "team_lead": 404}, 403),
    "imports.refused": ("GET", "/imports/999999/refused.xlsx", {"admin": 404, "team_lead": 404}, 403),
    "leads.index": ("GET", "/leads/", {"manager": 200, "team_lead": 200, "management": 200}, 403),
    "leads.new": ("GET", "/leads/new", {"manager": 200, "team_lead": 200}, 403),
    "leads.detail": ("GET", "/leads/{l_l_mgr1}", {"manager": 200, "team_lead": 200, "management": 200}, 403),
    # an empty form is refused (400) and changes nothing; management reads but never works leads
    "leads.move": ("POST", "/leads/{l_l_mgr1}/status", {"manager": 400, "team_lead": 400}, 403),
    "leads.reopen": ("POST", "/leads/{l_l_mgr1}/reopen", {"manager": 400, "team_lead": 400}, 403),
    "leads.note": ("POST", "/leads/{l_l_mgr1}/note", {"manager": 400, "team_lead": 400}, 403),
    "leads.reassign": ("POST", "/leads/{l_l_mgr1}/reassign", {"team_lead": 400}, 403),
    # phone and account number in clear: the owner or a team lead, audited
    "leads.full": ("POST", "/leads/{l_l_mgr1}/full", {"manager": 200, "team_lead": 200}, 403),
    "leads.funnel": ("GET", "/leads/funnel", {"team_lead": 200, "management": 200}, 403),
    "lost_reasons.index": ("GET", "/admin/lost-reasons/", {"admin": 200}, 403),
    "lost_reasons.toggle": ("POST", "/admin/lost-reasons/999999/active", {"admin": 404}, 403),
    "visits.check_in": ("GET", "/visits/check-in/{c_v1}", {"manager": 200}, 403),
    "visits.detail": ("GET", "/visits/{v_mgr1}", {role: 200 for role in ALL}, None),
    # the county's visit has no photo: 404 to everyone who may see the visit
    "visits.photo": ("GET", "/visits/{v_mgr1}/photo", {role: 404 for role in ALL}, None),
    "visits.met": ("GET", "/visits/met", {"manager": 200}, 403),
    "visits.positions": ("GET", "/positions", {"team_lead": 200, "admin": 200}, 403),
    "visits.confirm_position": ("POST", "/customers/{c_v1}/position/confirm",
                                {"team_lead": 302, "admin": 302}, 403),
    "visits.ledger": ("GET", "/ledger", {"manager": 200, "team_lead": 200}, 403),
    "visits.follow_up_done": ("POST", "/follow-ups/999999/done", {"manager": 404, "team_lead": 404}, 403),
    "visits.follow_up_reschedule": ("POST", "/follow-ups/999999/reschedule",
                                    {"manager": 404, "team_lead": 404}, 403),
}
PUBLIC = {"auth.login", "static", "manifest", "offline.service_worker", "offline.page"}

# Which customers of the county each user's scope holds (the rest must answer 404).
CUSTOMER_SCOPE = {
    "mgr1": {"c_v1", "c_g1"},                  # V1 and its group G1
    "mgr2": {"c_v2"},                          # V2 today; V3 ended yesterday
    "lead1": {"c_v1", "c_g1", "c_v2"},         # branch A1
    "lead2": {"c_v3"},                         # branch A2
    "mgmt": {"c_v1", "c_g1", "c_v2", "c_v3"},  # bank A
    "admin": {"c_v1", "c_g1", "c_v2", "c_v3"},
    "mgr_b": {"c_b"},                          # bank B
    "admin_b": {"c_b"},
    "union_admin": {"c_v1", "c_g1", "c_v2", "c_v3", "c_b"},  # the union sits above both banks
}


def _path(template, county):
    ids = {k: v.id for k, v in county.customers.items()}
    ids.update({f"u_{k}": v.id for k, v in county.users.items()})
    ids.update({f"b_{k}": v.id for k, v in county.branches.items()})
    ids.update({f"p_{k}": v.id for k, v in county.products.items()})
    ids.update({f"t_{k}": v.id for k, v in county.territories.items()})
    ids.update({f"l_{k}": v.id for k, v in county.leads.items()})
    ids.update({k: v.id for k, v in county.visits.items()})  # keys already read v_...
    return template.format(**ids)


def _request(client, method, path):
    if method == "POST":
        response = client.post(path, data={"csrf_token": csrf_token(client, "/me")})
    else:
        response = client.get(path)
    response.get_data()
    response.close()  # a static file stays open until its response is closed
    return response


def test_every_route_is_in_the_matrix(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - set(MATRIX) == set(), "add the new routes to MATRIX"
    assert set(MATRIX) - endpoints == set(), "MATRIX names routes that no longer exist"


@pytest.mark.parametrize("role", sorted(ALL))
@pytest.mark.parametrize("endpoint", sorted(MATRIX))
def test_role_reaches_route(endpoint, role, client, county):
    method, template, allowed, others = MATRIX[endpoint]
    login(client, ROLES[role])
    response = _request(client, method, _path(template, county))
    assert response.status_code == allowed.get(role, others)


@pytest.mark.parametrize("endpoint", sorted(set(MATRIX) - PUBLIC))
def test_signed_out_gets_the_sign_in_page(endpoint, client, county):
    method, template, _, _ = MATRIX[endpoint]
    path = _path(template, county)
    response = client.get(path) if method == "GET" else client.post(path)
    if endpoint == "sync.batch":
        assert response.status_code == 401  # the phone's outbox keeps its items and asks to sign in
        assert response.get_json()["signed_out"] is True
        return
    if method == "POST":
        assert response.status_code == 400  # no CSRF token without a session: refused before anything
        return
    assert response.status_code == 302
    assert response.location.startswith("/login")
    htmx = client.get(path, headers={"HX-Request": "true"})
    assert htmx.status_code == 401
    assert htmx.headers["HX-Redirect"] == "/login"


@pytest.mark.parametrize("username", sorted(CUSTOMER_SCOPE))
def test_customer_pages_follow_the_scope(username, client, county):
    """Changing the id in the URL never shows another team's or another bank's customer."""
    login(client, username)
    for key, customer in county.customers.items():
        response = client.get(f"/customers/{customer.id}")
        expected = 200 if key in CUSTOMER_SCOPE[username] else 404
        assert response.status_code == expected, (username, key)
        if expected == 404:
            assert customer.name not in response.get_data(as_text=True)


@pytest.mark.parametrize("username", sorted(CUSTOMER_SCOPE))
def test_customer_list_shows_only_the_scope(username, client, county):
    login(client, username)
    html = client.get("/customers/").get_data(as_text=True)
    for key, customer in county.customers.items():
        assert (customer.name in html) == (key in CUSTOMER_SCOPE[username]), (username, key)


def test_a_missing_customer_is_404(client, county):
    login(client, "admin")
    assert client.get("/customers/999999").status_code == 404


def test_an_inactive_user_is_signed_out(app, client, county):
    from app.db import database
    from app.models import User

    login(client, "mgr1")
    with database.obj.connection_context():
        User.update(active=False).where(User.username == "mgr1").execute()
    response = client.get("/customers/")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_a_sub_branch_admin_reads_the_bank_pages_the_home_links_to_but_changes_nothing(app, client, county):
    """A sub-branch's admin follows every link of the admin home without a 403; the bank's
    settings, products and tier rules read as they are, and any change is refused."""
    from bs4 import BeautifulSoup

    from app.db import database
    from app.models import Setting, TierRule
    from tests.county import _user

    with app.app_context(), database.obj.connection_context():
        _user("admin_a1", "admin", county.branches["A1"], "支行管理")
        radius_before = Setting.get(county.branches["A"], "check_in_radius_m")
        rules_before = TierRule.select().count()
    login(client, "admin_a1")
    home = BeautifulSoup(client.get("/admin/").get_data(as_text=True), "html.parser")
    links = [a["href"] for a in home.select("nav a.row")]
    assert "/admin/settings" in links and "/admin/products" in links and "/admin/tiers/" in links
    assert "/admin/lost-reasons/" in links
    for href in links:
        assert client.get(href).status_code == 200, href
    for path in ("/admin/settings", "/admin/products", "/admin/tiers/", "/admin/lost-reasons/"):
        page = BeautifulSoup(client.get(path).get_data(as_text=True), "html.parser")
        assert page.select_one("#read-only") is not None, path
        assert page.select_one("main form[method=post]") is None, path
    products = BeautifulSoup(client.get("/admin/products").get_data(as_text=True), "html.parser")
    assert county.products["a"].name in products.get_text()
    assert not products.select("a[href^='/admin/products/']")  # no way into an edit form
    token = csrf_token(client, "/me")
    assert client.post("/admin/settings", data={"csrf_token": token, "check_in_radius_m": "999",
                                                "check_in_radius_cap_m": "999"}).status_code == 403
    assert client.get("/admin/products/new").status_code == 403
    assert client.get(f"/admin/products/{county.products['a'].id}").status_code == 403
    assert client.post("/admin/tiers/", data={"csrf_token": token}).status_code == 403
    assert client.post("/admin/lost-reasons/", data={"csrf_token": token, "label": "x"}).status_code == 403
    with app.app_context(), database.obj.connection_context():
        assert Setting.get(county.branches["A"], "check_in_radius_m") == radius_before
        assert TierRule.select().count() == rules_before
