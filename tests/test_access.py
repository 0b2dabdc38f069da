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
    "health.healthz": ("GET", "/healthz", {role: 200 for role in ALL}, None),
    "auth.login": ("GET", "/login", {role: 302 for role in ALL}, None),
    "auth.logout": ("POST", "/logout", {role: 302 for role in ALL}, None),
    "auth.me": ("GET", "/me", {role: 200 for role in ALL}, None),
    "auth.password": ("GET", "/me/password", {role: 200 for role in ALL}, None),
    "auth.locale": ("POST", "/me/locale", {role: 302 for role in ALL}, None),
    "visits.today": ("GET", "/today", {"manager": 200}, 403),
    "coverage.team": ("GET", "/team", {"team_lead": 200, "management": 200}, 403),
    "coverage.team_xlsx": ("GET", "/team.xlsx", {"team_lead": 200, "management": 200}, 403),
    "coverage.customers": ("GET", "/team/customers?territory={t_V1}&show=unvisited",
                           {"team_lead": 200, "management": 200}, 403),
    "coverage.customers_xlsx": ("GET", "/team/customers.xlsx?manager={u_mgr1}&show=counted",
                                {"team_lead": 200, "management": 200}, 403),
    # an empty list is refused with the reason (flashed) and nothing handed; management never hands work
    "coverage.hand": ("POST", "/team/hand", {"team_lead": 303}, 403),
    "coverage.manager": ("GET", "/team/managers/{u_mgr1}", {"team_lead": 200, "management": 200}, 403),
    "coverage.ledger": ("GET", "/team/ledger", {"team_lead": 200, "management": 200}, 403),
    "coverage.ledger_xlsx": ("GET", "/team/ledger.xlsx", {"team_lead": 200, "management": 200}, 403),
    "coverage.reassign_follow_up": ("POST", "/follow-ups/999999/reassign", {"team_lead": 404}, 403),
    "coverage.review": ("GET", "/team/review", {"team_lead": 200, "management": 200}, 403),
    "coverage.review_xlsx": ("GET", "/team/review.xlsx", {"team_lead": 200, "management": 200}, 403),
    # no decision chosen: refused with the reason, the visit unchanged
    "coverage.review_visit": ("POST", "/visits/{v_mgr1}/review", {"team_lead": 303}, 403),
    # the county's positions are all confirmed: nothing waits to be rejected
    "coverage.reject_position": ("POST", "/customers/{c_v1}/position/reject", {"team_lead": 404, "admin": 404}, 403),
    "reports.overview": ("GET", "/overview", {"management": 200}, 403),
    # weekly reports: management, team leads and admins, territories in their scope
    "reports.weekly": ("GET", "/reports/weekly", {"management": 200, "team_lead": 200, "admin": 200}, 403),
    # without a week the form is refused (400) and nothing is queued
    "reports.generate": ("POST", "/reports/weekly/{t_V1}/generate",
                         {"management": 400, "team_lead": 400, "admin": 400}, 403),
    "reports.generate_bank": ("POST", "/reports/weekly/bank/{b_A}/generate", {"management": 400, "admin": 400}, 403),
    "reports.status": ("GET", "/reports/weekly/{t_V1}/status", {"management": 200, "team_lead": 200, "admin": 200},
                       403),
    "reports.download": ("GET", "/reports/files/999999", {"management": 404, "team_lead": 404, "admin": 404}, 403),
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
    "customers.call": ("GET", "/customers/{c_v1}/call", {"manager": 302}, 403),
    "customers.edit": ("GET", "/customers/{c_v1}/edit", {"manager": 200, "team_lead": 200, "admin": 200}, 403),
    "customers.new": ("GET", "/customers/new", {"manager": 200, "team_lead": 200, "admin": 200}, 403),
    "customers.merge": ("GET", "/customers/{c_v1}/merge", {"admin": 200}, 403),
    # an empty form is refused (400); a missing member is 404; management never edits (403)
    "customers.add_member": ("POST", "/customers/{c_v1}/members",
                             {"manager": 400, "team_lead": 400, "admin": 400}, 403),
    # an empty date clears a maturity: the holding is missing (404); management never edits (403)
    "customers.set_maturity": ("POST", "/customers/{c_v1}/holdings/999999/maturity",
                               {"manager": 404, "team_lead": 404, "admin": 404}, 403),
    "customers.remove_member": ("POST", "/customers/{c_v1}/members/999999/delete",
                                {"manager": 404, "team_lead": 404, "admin": 404}, 403),
    "tiers.index": ("GET", "/admin/tiers/", {"admin": 200}, 403),
    # imports: team leads and admins only; a job outside the scope (or missing) is 404
    "imports.index": ("GET", "/imports/", {"admin": 200, "team_lead": 200}, 403),
    "imports.mapping": ("GET", "/imports/999999/mapping", {"admin": 404, "team_lead": 404}, 403),
    "imports.job": ("GET", "/imports/999999", {"admin": 404, "team_lead": 404}, 403),
    "imports.confirm": ("POST", "/imports/999999/confirm", {"admin": 404, "team_lead": 404}, 403),
    # a background job: any signed-in user, within their scope (404 otherwise)
    "jobs.job": ("GET", "/jobs/999999", {role: 404 for role in ALL}, None),
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
    "leads.call": ("GET", "/leads/{l_l_mgr1}/call", {"manager": 302}, 403),
    "leads.funnel": ("GET", "/leads/funnel", {"team_lead": 200, "management": 200}, 403),
    "lost_reasons.index": ("GET", "/admin/lost-reasons/", {"admin": 200}, 403),
    "lost_reasons.toggle": ("POST", "/admin/lost-reasons/999999/active", {"admin": 404}, 403),
    "visits.check_in": ("GET", "/visits/check-in/{c_v1}", {"manager": 200}, 403),
    "visits.detail": ("GET", "/visits/{v_mgr1}", {role: 200 for role in ALL}, None),
    # the county's visit has no photo: 404 to everyone who may see the visit
    "visits.photo": ("GET", "/visits/{v_mgr1}/photo", {role: 404 for role in ALL}, None),
    "visits.met": ("GET", "/visits/met", {"manager": 200}, 403),
    # a team lead's positions are in the review queue (/team/review#positions)
    "visits.positions": ("GET", "/positions", {"team_lead": 302, "admin": 200}, 403),
    "visits.confirm_position": ("POST", "/customers/{c_v1}/position/confirm",
                                {"team_lead": 302, "admin": 302}, 403),
    "visits.ledger": ("GET", "/ledger", {"manager": 200, "team_lead": 200}, 403),
    "visits.follow_up_done": ("POST", "/follow-ups/999999/done", {"manager": 404, "team_lead": 404}, 403),
    "visits.follow_up_reschedule": ("POST", "/follow-ups/999999/reschedule",
                                    {"manager": 404, "team_lead": 404}, 403),
}
PUBLIC = {"auth.login", "static", "manifest", "health.healthz", "offline.service_worker", "offline.page"}

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


# --- issue 18: a team lead of one branch sees nothing of another -----------------------------

def _xlsx_text(response):
    import io

    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(response.data))
    return " ".join(str(c.value) for sheet in book.worksheets for r in sheet.iter_rows() for c in r
                    if c.value is not None)


def test_a_team_lead_of_one_branch_sees_nothing_of_another(app, client, county):
    """lead2 (河坝支行) against 城关支行's territories, managers, customers and visits: the
    pages, every link on them, the map data and each Excel file."""
    from bs4 import BeautifulSoup

    from app.db import database
    from app.models import FollowUp

    with app.app_context(), database.obj.connection_context():
        follow = FollowUp.create(customer=county.customers["c_v1"], user=county.users["mgr1"],
                                 due_on=county.visits["v_mgr1"].made_at.date())
    other = ["茶园村", "石板村", "茶园村一组", "张经理", "李经理", "周大福", "吴小梅", "郑家杂货店", "城关支行"]
    login(client, "lead2")
    pages = ["/team", "/team?period=this_quarter", "/team/ledger", "/team/review?period=this_month",
             "/team/customers?show=counted"]
    seen = set()
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        html = response.get_data(as_text=True)
        assert not [n for n in other if n in html], path
        for a in BeautifulSoup(html, "html.parser").select("main a[href^='/team'], main a[href^='/map']"):
            seen.add(a["href"])
    assert seen  # the page links its figures
    for href in sorted(seen):
        response = client.get(href)
        assert response.status_code == 200, href
        text = _xlsx_text(response) if href.split("?")[0].endswith(".xlsx") else response.get_data(as_text=True)
        assert not [n for n in other if n in text], href
    data = client.get("/map/data?period=this_month").get_data(as_text=True)
    assert not [n for n in other if n in data]
    for path in ("/team.xlsx?period=this_month", "/team/ledger.xlsx", "/team/review.xlsx",
                 "/team/customers.xlsx?show=counted"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert not [n for n in other if n in _xlsx_text(response)], path
    # another branch's ids in the links: 404, never its data
    v1, mgr1, a1 = county.territories["V1"].id, county.users["mgr1"].id, county.branches["A1"].id
    for path in (f"/team/customers?territory={v1}&show=counted", f"/team/customers?manager={mgr1}&show=counted",
                 f"/team/customers.xlsx?territory={v1}&show=counted", f"/team?branch={a1}",
                 f"/team/customers?branch={a1}&show=counted", f"/team/managers/{mgr1}", f"/team/ledger?branch={a1}",
                 f"/team/review?branch={a1}", f"/team.xlsx?branch={a1}"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert not [n for n in other if n in response.get_data(as_text=True)], path
    token = csrf_token(client, "/me")
    for path, data in ((f"/visits/{county.visits['v_mgr1'].id}/review", {"decision": "rejected", "note": "x"}),
                       (f"/follow-ups/{follow.id}/reassign", {"manager": str(mgr1)}),
                       ("/team/hand", {"customer": str(county.customers["c_v1"].id), "manager": str(mgr1)}),
                       (f"/customers/{county.customers['c_v1'].id}/position/reject", {"note": "x"})):
        assert client.post(path, data={"csrf_token": token, **data}).status_code == 404, path
    with app.app_context(), database.obj.connection_context():
        from app.models import HandedCustomer, Visit
        assert Visit.get_by_id(county.visits["v_mgr1"].id).review is None
        assert FollowUp.get_by_id(follow.id).user_id == mgr1
        assert HandedCustomer.select().count() == 0


def test_management_sees_the_same_page_for_each_branch_of_its_scope(client, county):
    from bs4 import BeautifulSoup

    login(client, "mgmt")
    page = BeautifulSoup(client.get("/team?period=this_week").get_data(as_text=True), "html.parser")
    branches = [tr.select_one("td").get_text(strip=True) for tr in page.select("#by-branch tbody tr[data-key]")]
    assert branches == ["城关支行", "河坝支行"]
    a2 = county.branches["A2"].id
    page = BeautifulSoup(client.get(f"/team?branch={a2}").get_data(as_text=True), "html.parser")
    assert [tr.select_one("td").get_text(" ", strip=True) for tr in page.select("#by-territory tbody tr[data-key]")] \
        == ["河坝村 · 河坝片区"]
    assert page.select_one("form.hand-form") is None
    assert client.get(f"/team?branch={county.branches['B'].id}").status_code == 404


def test_managements_branch_rows_open_that_branchs_customers(client, county):
    from bs4 import BeautifulSoup

    login(client, "mgmt")
    page = BeautifulSoup(client.get("/team?period=this_week").get_data(as_text=True), "html.parser")
    a2 = county.branches["A2"].id
    link = page.select_one(f"#by-branch tr[data-key='{a2}'] td.counted a")["href"]
    listed = BeautifulSoup(client.get(link).get_data(as_text=True), "html.parser")
    assert [a.select_one(".row-main").get_text(" ", strip=True).split()[0]
            for a in listed.select("ul.figure-customers a.row")] == ["孙大山"]
    page = BeautifulSoup(client.get(f"/team?period=this_week&branch={a2}").get_data(as_text=True), "html.parser")
    link = page.select_one("#by-territory td.counted a")["href"]
    assert f"branch={a2}" in link and client.get(link).status_code == 200
