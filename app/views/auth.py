"""Signing in and out, and the user's own page (我的): password and language."""
import datetime as dt
from pathlib import Path
from urllib.parse import urlparse

from flask import Blueprint, flash, redirect, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import PasswordField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from app import clock
from app.models import AuditLog, Customer, Territory, User
from app.web import home_url, render

bp = Blueprint("auth", __name__)

MAX_FAILED_LOGINS = 5
LOCKOUT = dt.timedelta(minutes=15)
MIN_PASSWORD_LENGTH = 8
COMMON_PASSWORDS = frozenset(
    line.strip().lower()
    for line in (Path(__file__).parent.parent / "common_passwords.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#"))
# Checked against when the username is unknown, so a miss costs as long as a wrong password.
_DUMMY_HASH = generate_password_hash("not a real password", method="pbkdf2:sha256:1000")
LOCALES = (("zh_CN", "中文"), ("en", "English"))


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[
        DataRequired(message=_l("Enter your username.")), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[
        DataRequired(message=_l("Enter your password.")), Length(max=256)])


def password_problem(password, username=""):
    """Why a new password is refused, or None. Length and commonness only: no forced symbols."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return _l("Use at least %(n)s characters.", n=MIN_PASSWORD_LENGTH)
    if password.lower() in COMMON_PASSWORDS or password.lower() == (username or "").lower():
        return _l("This password is too common; choose one that is harder to guess.")
    return None


class PasswordForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[
        DataRequired(message=_l("Enter your current password.")), Length(max=256)])
    new = PasswordField(_l("New password"), validators=[
        DataRequired(message=_l("Enter a new password.")), Length(max=256)])
    confirm = PasswordField(_l("New password again"), validators=[
        DataRequired(message=_l("Enter the new password again.")),
        EqualTo("new", message=_l("The two new passwords differ."))])

    def validate_current(self, field):
        if not current_user.check_password(field.data):
            raise ValidationError(_l("The current password is wrong."))

    def validate_new(self, field):
        problem = password_problem(field.data, current_user.username)
        if problem:
            raise ValidationError(problem)
        if field.data == self.current.data:
            raise ValidationError(_l("Choose a password different from the current one."))


class LocaleForm(FlaskForm):
    locale = RadioField(_l("Language"), choices=[SelectChoice(v, label) for v, label in LOCALES],
                        validators=[DataRequired(message=_l("Choose a language."))])


def _record_failure(user):
    """Count a failed sign-in; the fifth in a row locks the account for LOCKOUT."""
    user.failed_logins += 1
    if user.failed_logins >= MAX_FAILED_LOGINS:
        user.locked_until = clock.now() + LOCKOUT
        user.failed_logins = 0
        AuditLog.record(user, "lock", "user", user.id, ip=request.remote_addr, until=user.locked_until)
    user.save(only=[User.failed_logins, User.locked_until])


def _safe_next(target):
    """Only follow a relative path on this site after sign-in."""
    if not target:
        return None
    parts = urlparse(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in page."""
    if current_user.is_authenticated:
        return redirect(home_url(current_user))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        user = User.get_or_none(User.username == form.username.data.strip())
        if user is None:
            check_password_hash(_DUMMY_HASH, form.password.data)
        elif user.is_locked():
            # Even the right password waits out the lock, or guessing could go on.
            pass
        elif user.active and user.check_password(form.password.data):
            user.last_login_at = clock.now()
            user.failed_logins = 0
            user.locked_until = None
            user.save(only=[User.last_login_at, User.failed_logins, User.locked_until])
            session.clear()  # a fresh session at sign-in, so an old cookie cannot be fixed on
            login_user(user)
            session["seen_at"] = clock.now().isoformat()
            AuditLog.record(user, "login", "user", user.id, ip=request.remote_addr)
            if user.must_change_password:
                return redirect(url_for("auth.password"))
            return redirect(_safe_next(request.args.get("next")) or home_url(user))
        elif user.active:
            _record_failure(user)
        # One message whatever went wrong, so it never tells whether the username exists.
        error = _l("Wrong username or password.")
    status = 200 if request.method == "GET" or not (form.errors or error) else 422
    return render("auth/login.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Sign out and go back to the sign-in page."""
    logout_user()
    flash(_l("You have signed out."))
    return redirect(url_for("auth.login"))


@bp.route("/me")
def me():
    """The user's own page: who they are, their branch and their 责任田."""
    territories = None
    if current_user.role == "manager":
        territories = list(Territory.visible_to(current_user).where(Territory.live()).order_by(Territory.path))
        counts = Customer.counts_by_territory([t.id for t in territories], Customer.visible_to(current_user))
        for territory in territories:
            territory.customer_count = counts.get(territory.id, 0)
    locale_form = LocaleForm(locale=current_user.locale)
    return render("auth/me.html", territories=territories, locale_form=locale_form)


@bp.route("/me/password", methods=["GET", "POST"])
def password():
    """Change one's own password; also where a reset password must be replaced."""
    form = PasswordForm()
    if form.validate_on_submit():
        current_user.set_password(form.new.data)
        current_user.must_change_password = False
        current_user.save(only=[User.password_hash, User.must_change_password])
        AuditLog.record(current_user, "change_password", "user", current_user.id, ip=request.remote_addr)
        flash(_l("Your password has been changed."))
        return redirect(home_url(current_user))
    status = 422 if form.errors else 200
    return render("auth/password.html", form=form), status


@bp.route("/me/locale", methods=["POST"])
def locale():
    """Choose the language the app speaks to this user."""
    form = LocaleForm()
    if form.validate_on_submit():
        old = current_user.locale
        current_user.locale = form.locale.data
        current_user.save(only=[User.locale])
        AuditLog.record(current_user, "change_locale", "user", current_user.id, old=old, new=form.locale.data)
        flash(_l("Language changed."))
    return redirect(url_for("auth.me"))
