"""What every view shares: page-or-fragment rendering, role checks, scoped look-ups,
security headers, sign-in and i18n wiring."""
import datetime as dt
import functools
from functools import wraps
from urllib.parse import urlsplit

from babel import Locale
from werkzeug.routing import IntegerConverter
from flask import (abort, current_app, flash, g, get_flashed_messages, make_response, redirect, render_template,
                   request, session, url_for)
from flask_babel import Babel, get_locale, lazy_gettext as _l
from flask_login import LoginManager, current_user, login_user, logout_user
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFError, generate_csrf
from htmx_flask import Htmx
from werkzeug.middleware.proxy_fix import ProxyFix

from app import clock
from app.csrf import MaskedCSRFProtect
from app.maps import tile_origins
from app.models import User
from app.models.prepared import Prepared
from app.models.refused import FORBIDDEN, NOT_FOUND
from app.models.setting import for_branch

login_manager = LoginManager()
csrf = MaskedCSRFProtect()
babel = Babel()
htmx = Htmx()

CONTENT_SECURITY_POLICY = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "connect-src 'self'",
    "font-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "manifest-src 'self'",
    "worker-src 'self'",
])

# Where each role starts, and the tabs it may use (endpoint, label, icon).
HOME = {
    "manager": "visits.today",
    "team_lead": "coverage.team",
    "management": "reports.overview",
    "admin": "admin.index",
}
TABS = {
    "manager": ["visits.today", "territories.map", "customers.index", "leads.index", "auth.me"],
    "team_lead": ["coverage.team", "territories.map", "customers.index", "leads.index", "auth.me"],
    "management": ["reports.overview", "territories.map", "customers.index", "leads.index", "auth.me"],
    "admin": ["admin.index", "territories.map", "customers.index", "auth.me"],
}
TAB_LABELS = {
    "visits.today": (_l("Today"), "sun"),
    "coverage.team": (_l("Today"), "sun"),
    "reports.overview": (_l("Overview"), "chart"),
    "admin.index": (_l("Admin"), "gear"),
    "territories.map": (_l("Map"), "map"),
    "customers.index": (_l("Customers"), "people"),
    "leads.index": (_l("Leads"), "flag"),
    "auth.me": (_l("Me"), "person"),
}
# The tab a page belongs to when it is not a tab itself, by blueprint: the first of these
# tabs the user has (an import is reached from a team lead's 今日 and from the admin's 管理).
SECTION_TABS = {
    "territories": ("territories.map",),  # /territories is the map as a list
    "customers": ("customers.index",),
    "leads": ("leads.index",),
    "auth": ("auth.me",),
    "visits": ("visits.today",),
    "coverage": ("coverage.team",),
    "reports": ("reports.overview",),
    "admin": ("admin.index",),
    "tiers": ("admin.index",),
    "lost_reasons": ("admin.index",),
    "imports": ("coverage.team", "admin.index"),
    "offline": ("visits.today",),
}
PUBLIC_ENDPOINTS = {"auth.login", "static", "manifest", "health.healthz", "offline.service_worker", "offline.page"}
# What a user who must replace a reset password may still reach.
PASSWORD_CHANGE_ENDPOINTS = {"auth.password", "auth.logout"}


def current_tab_of(endpoint, blueprint, tabs):
    """The tab to highlight: the page's own, else the first of its section's tabs the user has."""
    if endpoint in tabs:
        return endpoint
    return next((tab for tab in SECTION_TABS.get(blueprint, ()) if tab in tabs), None)


def wants_fragment():
    """Whether an htmx request asks for a page's fragment (a history restore wants the whole page)."""
    return bool(request.htmx and not request.htmx.history_restore_request)


def render(template, partial=None, **context):
    """Render the full page, or only its fragment for an htmx request.

    A history restore wants the whole page back, so it gets one.
    """
    fragment = partial and wants_fragment()
    response = make_response(render_template(partial if fragment else template, **context))
    response.vary.add("HX-Request")
    return response


def roles_required(*roles):
    """Let only these roles through; the others get 403."""
    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)
        wrapped.roles = roles
        return wrapped
    return decorator


def get_visible_or_404(model, record_id):
    """The record if the current user's scope holds it; 404 otherwise, never the data."""
    try:
        record_id = arg_id(record_id)
    except (TypeError, ValueError):
        abort(404)  # no id, or one past any table's (MAX_ID)
    record = model.visible_to(current_user).where(model.id == record_id).first()
    if record is None:
        abort(404)
    return record


def abort_refused(refused):
    """The answer to a Refused that says nothing more: 404 for one outside the user's scope
    (not_found), 403 for what they may see but not do (forbidden). Any other refusal returns,
    and the view shows its reasons (DEVELOPERS.md, "Write paths and Refused")."""
    if refused.code == NOT_FOUND:
        abort(404)
    if refused.code == FORBIDDEN:
        abort(403)


def flash_refused(refused):
    """A form that posts and goes back: abort_refused, else every reason flashed for the page
    the view redirects to."""
    abort_refused(refused)
    for message in refused.messages:
        flash(message)


def home_url(user):
    return url_for(HOME[user.role])


def local_path(target):
    """target if it is a path on this site, else None: for every `next` a request brings.

    Browsers read a backslash as a slash and drop tabs and newlines, so a slash followed by
    a backslash, or by a tab and a slash, would lead off-site as "//evil.example" does.
    """
    if not target or not target.startswith("/"):
        return None
    if any(c == "\\" or ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("//"):
        return None
    return target


def sign_in(user):
    """Start a fresh session for user (an old cookie cannot be fixed on), of their current
    session generation: raising it later ends this session."""
    session.clear()
    login_user(user)
    session["generation"] = user.session_generation
    session["seen_at"] = clock.now().isoformat()
    # A new CSRF token now, not on the first form after: the pages the phone fetches in the
    # background as the manager lands would each make their own, and whichever response came
    # last would leave the visible page's forms refused.
    g.pop("csrf_token", None)
    generate_csrf()


def end_sessions(user_id, keep_current=False, **changes):
    """End every session of this user made so far (with changes to the user in the same
    statement); keep_current moves this request's own session to the new generation."""
    generation = User.end_sessions(user_id, **changes)
    if keep_current and generation is not None:
        session["generation"] = generation
    return generation


def _require_login():
    if request.endpoint in PUBLIC_ENDPOINTS or request.endpoint is None:
        return None
    if not current_user.is_authenticated:
        return login_manager.unauthorized()
    if _idle_too_long():
        logout_user()
        session.clear()
        flash(_l("You were signed out after a period without activity."))
        return login_manager.unauthorized()
    _note_activity()
    if current_user.must_change_password and request.endpoint not in PASSWORD_CHANGE_ENDPOINTS:
        if request.htmx:
            response = make_response("", 204)
            response.headers["HX-Redirect"] = url_for("auth.password")
            return response
        return redirect(url_for("auth.password"))
    return None


# The session is a signed cookie: a response that writes it hands the browser the whole session
# as its request began. A background fetch that started before a notice was shown, and ended
# after, gave the notice back ("线索已保存。" again on the next page). So a background fetch never
# writes the session on its own account, and a page writes the time it was seen only once
# SEEN_AT_STEP has passed; the idle sign-out is counted in minutes.
SEEN_AT_STEP = dt.timedelta(seconds=30)


def _note_activity():
    if _background_fetch():
        return
    now = clock.now()
    try:
        seen_at = dt.datetime.fromisoformat(session.get("seen_at", ""))
    except ValueError:
        seen_at = None
    if seen_at is None or not dt.timedelta(0) <= now - seen_at < SEEN_AT_STEP:
        session["seen_at"] = now.isoformat()


def _background_fetch():
    """True for a page the phone fetches on its own (keepForOffline, the service worker's
    precache, the outbox's /sync): the browser's Sec-Fetch-Dest: empty, and not htmx."""
    return request.headers.get("Sec-Fetch-Dest") == "empty" and not request.headers.get("HX-Request")


def _idle_too_long():
    """True when the session has been idle longer than the bank's session_idle_minutes."""
    seen = session.get("seen_at")
    if not seen:
        return False
    try:
        seen_at = dt.datetime.fromisoformat(seen)
    except ValueError:
        return True
    minutes = for_branch(current_user.branch_id, ("session_idle_minutes",))["session_idle_minutes"]
    return clock.now() - seen_at > dt.timedelta(minutes=minutes)


def content_security_policy():
    """The policy, with the configured map tile hosts allowed as image sources (and nothing else)."""
    origins = tile_origins(current_app.config)
    if not origins:
        return CONTENT_SECURITY_POLICY
    return CONTENT_SECURITY_POLICY.replace("img-src 'self' data: blob:",
                                           "img-src 'self' data: blob: " + " ".join(origins))


# The phone fetches pages in the background while the manager goes on working: the pages it
# keeps for offline use (static/js/app.js keepForOffline) and the service worker's precache. Such
# a copy (the browser's Sec-Fetch-Dest: empty, not htmx) must neither take the notice meant for
# the page the manager opens next ("线索已保存。") nor keep it to show offline later.
def _notices():
    """The flashed notices for this page: none for a background copy (left for the next page)."""
    return [] if _background_fetch() else get_flashed_messages()


def _security_headers(response):
    if request.is_secure:
        # Only over HTTPS (directly, or from a proxy trusted by TRUSTED_PROXIES): over plain
        # HTTP browsers ignore it, and a forged X-Forwarded-Proto must not turn it on.
        response.headers["Strict-Transport-Security"] = "max-age=31536000"
    response.headers["Content-Security-Policy"] = content_security_policy()
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    if current_user and current_user.is_authenticated and request.endpoint != "static":
        response.headers.setdefault("Cache-Control", "private, no-store")
    return response


def _select_locale():
    if current_user and current_user.is_authenticated:
        return _locale(current_user.locale)
    return _locale("zh_CN")


@functools.cache
def _locale(code):
    # Parsed once: babel's Locale.parse took ~0.4 ms a request, a twentieth of a check-in.
    return Locale.parse(code)


@login_manager.user_loader
def _load_user(user_id):
    generation = session.get("generation")
    try:
        user_id = int(user_id)
    except ValueError:
        return None
    if type(generation) is not int:  # a session from before generations, or forged
        return None
    return _SIGNED_IN_USER.instance(user_id=user_id, generation=generation)


# Every signed-in request loads its user: the SQL is built once. A session of an older
# generation (signed out, password changed, deactivated, reset) finds nobody.
_SIGNED_IN_USER = Prepared("signed_in_user", lambda p: User.select().where(
    (User.id == p.user_id) & User.active & (User.session_generation == p.generation)))


class _SessionInterface(SecureCookieSessionInterface):
    """The signed cookie, marked Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app):
        return bool(app.config["SESSION_COOKIE_SECURE"] or request.is_secure)


def trust_proxies(app):
    """Believe X-Forwarded-For and X-Forwarded-Proto from TRUSTED_PROXIES proxies in front
    of the app, and only then: without a proxy anyone could send them."""
    hops = int(app.config.get("TRUSTED_PROXIES") or 0)
    if hops > 0 and not isinstance(app.wsgi_app, ProxyFix):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)


@login_manager.unauthorized_handler
def _unauthorized():
    if request.blueprint == "sync":
        # The phone's outbox: it keeps every item and asks the manager to sign in again.
        return {"ok": False, "signed_out": True, "results": []}, 401
    if request.htmx:
        response = make_response(render_template("errors/401.html"), 401)
        response.headers["HX-Redirect"] = url_for("auth.login")
        return response
    return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))


def _error_page(status):
    def handler(error):
        template = f"errors/{status}.html"
        return render_template(template, error=error), status
    return handler


# The largest id any table may hold: PostgreSQL's SERIAL is a 4-byte integer, and SQLite
# cannot even bind a Python int past 8 bytes. A larger id in a URL or a query string
# names no record: a 404 (or the filter ignored), never a database error.
MAX_ID = 2**31 - 1
MAX_PAGE = 100_000  # a page number past any list, yet an OFFSET every database takes


class BoundedIntConverter(IntegerConverter):
    """`<int:...>` of every route: a whole number from 0 to MAX_ID, else the URL matches nothing."""

    def __init__(self, map, fixed_digits=0, min=None, max=None, signed=False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=MAX_ID if max is None else max,
                         signed=signed)


def arg_id(text):
    """An id from a query string or form (for MultiDict.get(type=arg_id)): ValueError when it
    is not a whole number from 1 to MAX_ID, so the value is dropped like any unreadable one."""
    value = int(str(text).strip())
    if not 1 <= value <= MAX_ID:
        raise ValueError(text)
    return value


def page_arg(args):
    """The ?page= of a paged list: 1 when missing or unreadable, at most MAX_PAGE."""
    try:
        return min(max(1, int(args.get("page", 1))), MAX_PAGE)
    except ValueError:
        return 1


def _refuse_nul():
    """A NUL character in a form or query string: refused before any view (PostgreSQL cannot
    store it in a text column, so it gave a 500; no keyboard types it)."""
    if any("\x00" in key or "\x00" in value for values in (request.args, request.form)
           for key, value in values.items(multi=True)) or "\x00" in request.path:
        return render_template("errors/400.html", unreadable=True), 400
    return None


def register_converters(app):
    """Before any blueprint is registered: its rules take the converters at registration."""
    app.url_map.converters["int"] = BoundedIntConverter


def init_app(app):
    app.session_interface = _SessionInterface()
    trust_proxies(app)
    register_converters(app)
    login_manager.init_app(app)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=_select_locale)
    htmx.init_app(app)
    app.before_request(_refuse_nul)
    app.before_request(_require_login)
    app.after_request(_security_headers)
    for status in (403, 404):
        app.register_error_handler(status, _error_page(status))
    app.register_error_handler(CSRFError, lambda e: (render_template("errors/400.html", error=e), 400))

    @app.context_processor
    def shell_context():
        tabs, current_tab = [], None
        if current_user.is_authenticated:
            own = TABS[current_user.role]
            tabs = [(endpoint, *TAB_LABELS[endpoint]) for endpoint in own]
            current_tab = current_tab_of(request.endpoint, request.blueprint, own)
        return {"tabs": tabs, "current_tab": current_tab, "ROLE_NAMES": ROLE_NAMES, "get_locale": get_locale,
                "notices": _notices}

    @app.route("/manifest.webmanifest")
    def manifest():
        """The web app manifest, so the app can be added to a phone's home screen."""
        response = make_response(render_template("manifest.webmanifest"))
        response.mimetype = "application/manifest+json"
        return response

    @app.route("/")
    def index():
        """Send each user to their role's home."""
        return redirect(home_url(current_user))


ROLE_NAMES = {
    "manager": _l("Account manager"),
    "team_lead": _l("Team lead"),
    "management": _l("Management"),
    "admin": _l("Administrator"),
}
