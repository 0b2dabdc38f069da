"""The bank's people (用户): accounts, roles, branches, territories of work, passwords."""
from flask import abort, current_app, flash, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from peewee import IntegrityError, fn
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError

from flask_wtf import FlaskForm

from app.db import chinese_order, database, tree_order
from app.models import AuditLog, Branch, User
from app.models.customer import mask_phone
from app.models.org import BUSINESS_LINES, ROLES
from app.models.scope import branch_scope, user_scope
from app.web import ROLE_NAMES, end_sessions, render, roles_required
from app.views.admin.common import bp, depth, page_number, post_guard


LINE_NAMES = {"retail": _l("Retail"), "micro": _l("Micro business"), "agri": _l("Agriculture"),
              "corporate": _l("Corporate")}
# A mainland mobile number: 11 digits starting with 1.
PHONE = Regexp(r"^1\d{10}$", message=_l("Enter an 11-digit mobile number."))


def _branch_choices():
    return [SelectChoice(str(b.id), ("· " * depth(b)) + b.name)
            for b in tree_order(Branch.select().where(branch_scope(current_user) & Branch.closed_on.is_null())
                                .order_by(Branch.path))]


class UserForm(FlaskForm):
    username = StringField(_l("Username"), validators=[
        DataRequired(message=_l("Enter a username.")),
        Length(max=32, message=_l("At most %(max)d characters.")),
        Regexp(r"^[A-Za-z0-9_.-]+$", message=_l("Use letters, digits, dot, dash or underscore."))])
    name = StringField(_l("Name"), validators=[
        DataRequired(message=_l("Enter the name.")), Length(max=40, message=_l("At most %(max)d characters."))])
    phone = StringField(_l("Phone"), validators=[Optional(), PHONE])
    role = SelectField(_l("Role"), choices=[SelectChoice(r, ROLE_NAMES[r]) for r in ROLES],
                       validate_choice=False)
    branch = SelectField(_l("Branch"), validate_choice=False)
    business_line = SelectField(_l("Business line"), choices=[SelectChoice("", "—")] + [
        SelectChoice(line, LINE_NAMES[line]) for line in BUSINESS_LINES], validate_choice=False)

    def validate_username(self, field):
        # Checked here, beside the other fields, so every mistake shows at once.
        if User.select().where(fn.LOWER(User.username) == field.data.strip().lower()).exists():
            raise ValidationError(_l("This username is taken."))

    def validate_role(self, field):
        if field.data not in ROLES:
            raise ValidationError(_l("Choose a role."))

    def validate_branch(self, field):
        if field.data not in {c.value for c in self.branch.choices}:
            raise ValidationError(_l("Choose a branch."))

    def validate_business_line(self, field):
        if field.data and field.data not in BUSINESS_LINES:
            raise ValidationError(_l("Choose a business line."))


class EditUserForm(UserForm):
    username = None  # a username is for life: audit entries and habits hang on it


def _user_in_scope(user_id):
    """The user if they sit in this admin's subtree; 404 otherwise."""
    user = User.select().where(user_scope(current_user) & (User.id == user_id)).first()
    if user is None:
        abort(404)
    return user


@bp.route("/users")
@roles_required("admin")
def users():
    """The users of this admin's subtree, searched and paged on the server."""
    q = request.args.get("q", "").strip()[:40]
    page = page_number()
    size = current_app.config["PAGE_SIZE"]
    query = User.select(User, Branch).join(Branch).where(user_scope(current_user))
    if q:
        like = f"%{q}%"
        query = query.where(User.name.ilike(like) | User.username.ilike(like) | User.phone.endswith(q))
    query = query.order_by(Branch.path, chinese_order(User.name), User.id)
    rows = list(query.limit(size + 1).offset((page - 1) * size))
    return render("admin/users.html", "partials/_user_rows.html", users=rows[:size], q=q, page=page,
                  more=len(rows) > size, mask_phone=mask_phone)


def _apply(form, user):
    user.name = form.name.data.strip()
    user.phone = form.phone.data or None
    user.role = form.role.data
    user.branch = int(form.branch.data)
    user.business_line = form.business_line.data or None


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required("admin")
def user_new():
    """Add a person; they sign in first with a temporary password they must change."""
    form = UserForm()
    form.branch.choices = _branch_choices()
    if form.validate_on_submit():
        username = form.username.data.strip()
        user = User(username=username, must_change_password=True)
        _apply(form, user)
        temporary = _temporary_password()
        user.set_password(temporary)
        try:
            with database.obj.atomic():
                user.save()
                AuditLog.record(current_user, "create", "user", user.id, ip=request.remote_addr,
                                username=username, role=user.role, branch=user.branch_id)
        except IntegrityError:
            # The form checked the name is free; the unique index settles a race with another admin.
            form.username.errors = [_l("This username is taken.")]
        else:
            return render("admin/user_password.html", user=user, temporary=temporary), 201
    status = 422 if form.errors else 200
    return render("admin/user_form.html", form=form, user=None), status


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@roles_required("admin")
def user_edit(user_id):
    """Change a person's name, phone, role, branch and business line."""
    user = _user_in_scope(user_id)
    form = EditUserForm(data=None if request.method == "POST" else {
        "name": user.name, "phone": user.phone or "", "role": user.role,
        "branch": str(user.branch_id), "business_line": user.business_line or ""})
    form.branch.choices = _branch_choices()
    if form.validate_on_submit():
        before = {"name": user.name, "phone": user.phone, "role": user.role,
                  "branch": user.branch_id, "business_line": user.business_line}
        _apply(form, user)
        after = {"name": user.name, "phone": user.phone, "role": user.role,
                 "branch": user.branch_id, "business_line": user.business_line}
        changes = {k: [before[k], after[k]] for k in before if before[k] != after[k]}
        with database.obj.atomic():
            user.save()
            AuditLog.record(current_user, "update", "user", user.id, ip=request.remote_addr, **changes)
        flash(_l("Saved."))
        return redirect(url_for("admin.users"))
    status = 422 if form.errors else 200
    return render("admin/user_form.html", form=form, user=user), status


def _temporary_password():
    import secrets

    # Ten characters a person can read out over the phone: no 0/O or 1/l confusions.
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(10))


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@roles_required("admin")
def user_active(user_id):
    """Deactivate a person who left (they can no longer sign in), or reactivate them."""
    post_guard()
    user = _user_in_scope(user_id)
    if user.id == current_user.id:
        flash(_l("You cannot deactivate yourself."))
        return redirect(url_for("admin.user_edit", user_id=user.id))
    user.active = request.form.get("active") == "1"
    with database.obj.atomic():
        # Their sessions end now, and stay ended should they be reactivated.
        end_sessions(user.id, active=user.active)
        AuditLog.record(current_user, "activate" if user.active else "deactivate", "user", user.id,
                        ip=request.remote_addr)
    flash(_l("Reactivated.") if user.active else _l("Deactivated."))
    return redirect(url_for("admin.user_edit", user_id=user.id))


@bp.route("/users/<int:user_id>/reset", methods=["POST"])
@roles_required("admin")
def user_reset(user_id):
    """Give a person a temporary password they must change at their next sign-in."""
    post_guard()
    user = _user_in_scope(user_id)
    temporary = _temporary_password()
    user.set_password(temporary)
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None  # the admin has checked who is asking: let them in now
    with database.obj.atomic():
        # Whoever holds a session of theirs (a lost phone, a shared PC) is signed out.
        end_sessions(user.id, password_hash=user.password_hash, must_change_password=True,
                     failed_logins=0, locked_until=None)
        AuditLog.record(current_user, "reset_password", "user", user.id, ip=request.remote_addr)
    return render("admin/user_password.html", user=user, temporary=temporary)
