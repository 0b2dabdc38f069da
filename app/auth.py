"""Signing in and out, and the user's own page (我的)."""
from urllib.parse import urlparse

from flask import Blueprint, flash, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from peewee import JOIN, fn
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from app import clock
from app.models import AuditLog, Customer, Territory, User
from app.web import home_url, render

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[
        DataRequired(message=_l("Enter your username.")), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[
        DataRequired(message=_l("Enter your password.")), Length(max=256)])


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
        if user and user.active and user.check_password(form.password.data):
            user.last_login_at = clock.now()
            user.failed_logins = 0
            user.save(only=[User.last_login_at, User.failed_logins])
            login_user(user)
            AuditLog.record(user, "login", "user", user.id, ip=request.remote_addr)
            return redirect(_safe_next(request.args.get("next")) or home_url(user))
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
        territories = (Territory.visible_to(current_user)
                       .select(Territory, fn.COUNT(Customer.id).alias("customer_count"))
                       .join(Customer, JOIN.LEFT_OUTER, on=(Customer.territory == Territory.id))
                       .where(Territory.retired_on.is_null())
                       .group_by(Territory.id).order_by(Territory.path))
    return render("auth/me.html", territories=territories)
