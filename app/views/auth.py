"""Signing in and out, and the user's own page (我的): password and language."""
from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, logout_user
from flask_wtf import FlaskForm
from werkzeug.security import check_password_hash
from wtforms import PasswordField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from app.db import database, tree_order
from app.models import AuditLog, Customer, Territory, User
from app.passwords import password_problem
from app.web import end_sessions, home_url, local_path, render, sign_in

bp = Blueprint("auth", __name__)

LOCALES = (("zh_CN", "中文"), ("en", "English"))


def _dummy_hash(method):
    """A stored-hash string of the configured method, checked when there is no password to
    check (unknown, locked or inactive user), so every failure costs the same work as a wrong
    password. Checking never matches, so it needs no real digest (and no hashing to make)."""
    return f"{method}${'0' * 16}${'0' * 64}"


def _spend_one_hash(password):
    check_password_hash(_dummy_hash(current_app.config.get("PASSWORD_HASH_METHOD") or "scrypt"), password)


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[
        DataRequired(message=_l("Enter your username.")), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[
        DataRequired(message=_l("Enter your password.")), Length(max=256)])


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
    """Count a failed sign-in (in one statement: parallel guesses each count); the fifth in a
    row locks the account for LOCKOUT, with one audit entry however many guesses ran at once."""
    with database.obj.atomic():
        until = user.count_failed_sign_in()
        if until is not None:
            AuditLog.record(user, "lock", "user", user.id, ip=request.remote_addr, until=until)


@bp.route("/login", methods=["GET", "POST"])
def login():
    """The sign-in page."""
    if current_user.is_authenticated:
        return redirect(home_url(current_user))
    form = LoginForm()
    error = None
    if form.validate_on_submit():
        user = User.get_or_none(User.username == form.username.data.strip())
        if user is None or not user.active or user.is_locked():
            # Even the right password waits out a lock, or guessing could go on; and each of
            # these costs one hash of the configured method, as a wrong password does, so
            # the time taken never tells them apart.
            _spend_one_hash(form.password.data)
        elif user.check_password(form.password.data) and user.record_sign_in():
            user.rehash_password(form.password.data)
            sign_in(user)
            AuditLog.record(user, "login", "user", user.id, ip=request.remote_addr)
            if user.must_change_password:
                return redirect(url_for("auth.password"))
            return redirect(local_path(request.args.get("next")) or home_url(user))
        else:
            _record_failure(user)
        # One message whatever went wrong, so it never tells whether the username exists.
        error = _l("Wrong username or password.")
    status = 200 if request.method == "GET" or not (form.errors or error) else 422
    return render("auth/login.html", form=form, error=error), status


@bp.route("/logout", methods=["POST"])
@login_required
def logout():
    """Sign out and go back to the sign-in page; every session of this user ends, so a
    copied cookie (or the same phone's, kept) opens nothing any more."""
    end_sessions(current_user.id)
    logout_user()
    flash(_l("You have signed out."))
    return redirect(url_for("auth.login"))


@bp.route("/me")
def me():
    """The user's own page: who they are, their branch and their 责任田."""
    territories = None
    if current_user.role == "manager":
        territories = tree_order(Territory.visible_to(current_user).where(Territory.live()).order_by(Territory.path))
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
        # Whoever knew the old password may hold a session: end them all but this one.
        end_sessions(current_user.id, keep_current=True, password_hash=current_user.password_hash,
                     must_change_password=False)
        current_user.must_change_password = False
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
