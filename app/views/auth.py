"""Signing in and out, and the user's own page (我的): password and language."""
import re
from pathlib import Path

from flask import Blueprint, current_app, flash, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required, logout_user
from flask_wtf import FlaskForm
from werkzeug.security import check_password_hash
from wtforms import PasswordField, RadioField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, Length, ValidationError

from app.db import database
from app.demo.common import PASSWORD as DEMO_PASSWORD
from app.models import AuditLog, Customer, Territory, User
from app.models.org import LOCKOUT, MAX_FAILED_LOGINS  # noqa: F401 (the rule's numbers, named here too)
from app.web import end_sessions, home_url, local_path, render, sign_in

bp = Blueprint("auth", __name__)

MIN_PASSWORD_LENGTH = 8
COMMON_PASSWORDS = frozenset(
    line.strip().lower()
    for line in (Path(__file__).parent.parent / "common_passwords.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#"))
# Lines a finger runs along (keyboard rows and columns, the alphabet, digits), each read
# either way: a password made only of runs along them, or of one character repeated, is
# among the first an attacker tries.
RUNS = ("`1234567890-=", "qwertyuiop[]\\", "asdfghjkl;'", "zxcvbnm,./", "abcdefghijklmnopqrstuvwxyz",
        "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik,9ol.0p;/", "qazwsxedcrfvtgbyhnujmikolp")
_NEXT = {}
for _line in RUNS + tuple(r[::-1] for r in RUNS):
    for _a, _b in zip(_line, _line[1:]):
        _NEXT.setdefault(_a, set()).add(_b)
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


def _pieces(text):
    """text cut greedily into runs: each the longest stretch that repeats one character or
    steps along one of RUNS."""
    pieces, start = [], 0
    while start < len(text):
        end = start + 1
        if end < len(text) and text[end] == text[start]:
            while end < len(text) and text[end] == text[start]:
                end += 1
        else:
            while end < len(text) and text[end] in _NEXT.get(text[end - 1], ()):
                end += 1
        pieces.append(text[start:end])
        start = end
    return pieces


def _predictable(password):
    """Only runs of 3 or more (digits may trail, as in "qwerty1"): keyboard runs, repeats."""
    text = password.lower()
    stem = text.rstrip("0123456789")
    return all(len(piece) >= 3 for piece in _pieces(stem or text))


def _built_on_username(password, username):
    """The username with only digits and punctuation around it ("mgr01", "Mgr01_2026!")."""
    username = (username or "").strip().lower()
    if not username:
        return False
    lowered = password.lower()
    return username in lowered and not re.search(r"[^\W\d_]", lowered.replace(username, ""))


def password_problem(password, username=""):
    """Why a new password is refused, or None. Length and guessability only: no forced symbols."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return _l("Use at least %(n)s characters.", n=MIN_PASSWORD_LENGTH)
    if password == DEMO_PASSWORD:  # published in the README: the demo's users may keep it, nobody else
        return _l("This is the demo's published password; choose your own.")
    if password.lower() in COMMON_PASSWORDS or _built_on_username(password, username):
        return _l("This password is too common; choose one that is harder to guess.")
    if _predictable(password):
        return _l("Keyboard runs and repeated characters are easy to guess; choose another password.")
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
