"""Administration (管理): the bank's users, branches, products and settings."""
from flask import Blueprint, abort, current_app, flash, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from peewee import IntegrityError, Value, fn
from wtforms import BooleanField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from flask_wtf import FlaskForm

from app.db import database
from app.models import AuditLog, Branch, Product, Setting, Territory, User
from app.models.customer import mask_phone
from app import clock
from app.models.org import BRANCH_KINDS, BUSINESS_LINES, ROLES
from app.models.product import PRODUCT_KINDS
from app.models.scope import branch_scope, user_scope
from app.models.setting import COVERAGE_KINDS, DEFINITIONS
from app.web import ROLE_NAMES, render, roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")

KIND_NAMES = {"household": _l("Household"), "merchant": _l("Merchant"), "enterprise": _l("Enterprise")}
LINE_NAMES = {"retail": _l("Retail"), "micro": _l("Micro business"), "agri": _l("Agriculture"),
              "corporate": _l("Corporate")}
# A mainland mobile number: 11 digits starting with 1.
PHONE = Regexp(r"^1\d{10}$", message=_l("Enter an 11-digit mobile number."))


def _page():
    try:
        return max(1, int(request.args.get("page", 1)))
    except ValueError:
        return 1


@bp.route("/")
@roles_required("admin")
def index():
    """The administrator's home: what the deployment holds in their scope."""
    by_role = dict(User.select(User.role, fn.COUNT(User.id)).where(user_scope(current_user))
                   .group_by(User.role).tuples())
    branches = Branch.select().where(branch_scope(current_user)).count()
    territories = Territory.visible_to(current_user).count()
    bank = current_user.branch.bank
    products = Product.select().where(Product.bank == bank).count() if bank else 0
    return render("admin/index.html", by_role=by_role, branches=branches,
                  territories=territories, products=products)


# ---------------------------------------------------------------- settings

class SettingsForm(FlaskForm):
    check_in_radius_m = StringField(_l("Check-in radius (metres)"))
    check_in_radius_cap_m = StringField(_l("Largest accepted GPS inaccuracy (metres)"))
    coverage_kinds = SelectMultipleField(
        _l("Customer kinds counted for coverage"),
        choices=[SelectChoice(k, KIND_NAMES[k]) for k in COVERAGE_KINDS],
        widget=ListWidget(prefix_label=False), option_widget=CheckboxInput(),
        validate_choice=False)  # checked against the vocabulary below, with our message
    stale_lead_days = StringField(_l("Days before a lead is stale"))
    session_idle_minutes = StringField(_l("Idle minutes before sign-out"))
    coverage_green_pct = StringField(_l("Green from coverage (%)"))
    coverage_amber_pct = StringField(_l("Amber from coverage (%)"))

    def validate(self, extra_validators=None):
        """Parse every value with the setting's own rule; keep the typed values."""
        ok = super().validate(extra_validators)
        self.values = {}
        for key, (_, parse, _, _) in DEFINITIONS.items():
            field = getattr(self, key)
            raw = ",".join(field.data or []) if key == "coverage_kinds" else (field.data or "")
            try:
                self.values[key] = parse(raw)
            except ValueError as error:
                field.errors = list(field.errors) + [str(error.args[0])]
                ok = False
        if ok and self.values["check_in_radius_m"] > self.values["check_in_radius_cap_m"]:
            self.check_in_radius_m.errors = [_l("The radius cannot be larger than the accuracy limit.")]
            ok = False
        if ok and self.values["coverage_green_pct"] <= self.values["coverage_amber_pct"]:
            self.coverage_amber_pct.errors = [_l("Amber must start below green.")]
            ok = False
        return ok


def _admin_bank(change=False):
    """The bank whose settings or products this admin sees: their own, or one chosen below them.

    Returns (bank, banks to pick from, whether this admin may change them). A sub-branch's
    admin reads their bank's values (the home page links here) but bank-wide values belong
    to the bank's admin: change=True (a form that writes) is refused with 403.
    """
    banks = list(Branch.select().where(branch_scope(current_user) & (Branch.kind == "bank"))
                 .order_by(Branch.name))
    own = current_user.branch.bank
    if own is not None and current_user.branch.kind == "bank":
        return own, [own], True
    if not banks:
        if own is None or change:
            abort(403)
        return own, [own], False
    chosen = request.args.get("bank", type=int)
    bank = next((b for b in banks if b.id == chosen), banks[0])
    return bank, banks, True


@bp.route("/settings", methods=["GET", "POST"])
@roles_required("admin")
def settings():
    """The bank's configurable values, each with its meaning; every change is audited."""
    bank, banks, editable = _admin_bank(change=request.method == "POST")
    current = Setting.all_for(bank)
    form = SettingsForm(data={k: (v if k == "coverage_kinds" else str(v)) for k, v in current.items()})
    if form.validate_on_submit():
        changed = 0
        with database.obj.atomic():
            for key, value in form.values.items():
                if value == current[key]:
                    continue
                old, new = Setting.put(bank, key, value)
                AuditLog.record(current_user, "change_setting", "setting", bank.id,
                                ip=request.remote_addr, key=key, old=old, new=new)
                changed += 1
        flash(_l("Settings saved.") if changed else _l("Nothing was changed."))
        return redirect(url_for("admin.settings", bank=bank.id if len(banks) > 1 else None))
    status = 422 if form.errors else 200
    meanings = {key: meaning for key, (_, _, _, meaning) in DEFINITIONS.items()}
    return render("admin/settings.html", form=form, bank=bank, banks=banks, meanings=meanings,
                  editable=editable, current=current, kind_names=KIND_NAMES), status


# ---------------------------------------------------------------- users

def _branch_choices():
    return [SelectChoice(str(b.id), ("· " * _depth(b)) + b.name)
            for b in Branch.select().where(branch_scope(current_user) & Branch.closed_on.is_null())
            .order_by(Branch.path)]


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
    page = _page()
    size = current_app.config["PAGE_SIZE"]
    query = User.select(User, Branch).join(Branch).where(user_scope(current_user))
    if q:
        like = f"%{q}%"
        query = query.where(User.name.ilike(like) | User.username.ilike(like) | User.phone.endswith(q))
    rows = list(query.order_by(Branch.path, User.name, User.id).limit(size + 1).offset((page - 1) * size))
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


def _post_guard():
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)


@bp.route("/users/<int:user_id>/active", methods=["POST"])
@roles_required("admin")
def user_active(user_id):
    """Deactivate a person who left (they can no longer sign in), or reactivate them."""
    _post_guard()
    user = _user_in_scope(user_id)
    if user.id == current_user.id:
        flash(_l("You cannot deactivate yourself."))
        return redirect(url_for("admin.user_edit", user_id=user.id))
    user.active = request.form.get("active") == "1"
    with database.obj.atomic():
        user.save(only=[User.active])
        AuditLog.record(current_user, "activate" if user.active else "deactivate", "user", user.id,
                        ip=request.remote_addr)
    flash(_l("Reactivated.") if user.active else _l("Deactivated."))
    return redirect(url_for("admin.user_edit", user_id=user.id))


@bp.route("/users/<int:user_id>/reset", methods=["POST"])
@roles_required("admin")
def user_reset(user_id):
    """Give a person a temporary password they must change at their next sign-in."""
    _post_guard()
    user = _user_in_scope(user_id)
    temporary = _temporary_password()
    user.set_password(temporary)
    user.must_change_password = True
    user.failed_logins = 0
    user.locked_until = None  # the admin has checked who is asking: let them in now
    with database.obj.atomic():
        user.save(only=[User.password_hash, User.must_change_password, User.failed_logins,
                        User.locked_until])
        AuditLog.record(current_user, "reset_password", "user", user.id, ip=request.remote_addr)
    return render("admin/user_password.html", user=user, temporary=temporary)


# ---------------------------------------------------------------- products

PRODUCT_KIND_NAMES = {"deposit": _l("Deposit"), "loan": _l("Loan"), "ebanking": _l("E-banking"),
                      "payment": _l("Payment service")}


class ProductForm(FlaskForm):
    name = StringField(_l("Name"), validators=[
        DataRequired(message=_l("Enter the product name.")), Length(max=40, message=_l("At most %(max)d characters."))])
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k, PRODUCT_KIND_NAMES[k]) for k in PRODUCT_KINDS],
                       validate_choice=False)
    description = TextAreaField(_l("What to tell customers"), validators=[
        Length(max=300, message=_l("At most %(max)d characters."))])
    amount_limit_wan = StringField(_l("Amount limit (10,000 yuan)"))
    active = BooleanField(_l("Offered to customers"), default=True)

    def validate_kind(self, field):
        if field.data not in PRODUCT_KINDS:
            raise ValidationError(_l("Choose a kind."))

    def validate_amount_limit_wan(self, field):
        text = (field.data or "").strip()
        if not text:
            self.limit = None
            return
        try:
            self.limit = float(text)
        except ValueError:
            raise ValidationError(_l("Enter a number.")) from None
        if self.limit != self.limit or self.limit < 0:
            raise ValidationError(_l("The limit cannot be below zero."))


def _product_in_scope(product_id):
    banks = Branch.select(Branch.id).where(branch_scope(current_user) & (Branch.kind == "bank"))
    product = Product.select().where((Product.id == product_id) & Product.bank.in_(banks)).first()
    if product is None:
        own = current_user.branch.bank
        if own is not None and Product.select().where(
                (Product.id == product_id) & (Product.bank == own)).exists():
            abort(403)  # their own bank's product: readable in the list, changed by the bank's admin
        abort(404)
    return product


@bp.route("/products")
@roles_required("admin")
def products():
    """The bank's product catalogue, offered ones first; retired ones stay for old visits."""
    bank, banks, editable = _admin_bank()
    rows = (Product.select().where(Product.bank == bank)
            .order_by(Product.active.desc(), Product.kind, Product.name))
    return render("admin/products.html", products=rows, bank=bank, banks=banks,
                  kind_names=PRODUCT_KIND_NAMES, editable=editable)


def _save_product(form, product, action):
    product.name = form.name.data.strip()
    product.kind = form.kind.data
    product.description = (form.description.data or "").strip()
    product.amount_limit_wan = form.limit
    product.active = form.active.data
    clash = Product.select().where((Product.bank == product.bank) & (Product.name == product.name))
    if product.id:
        clash = clash.where(Product.id != product.id)
    if clash.exists():
        form.name.errors = [_l("A product with this name exists.")]
        return False
    try:
        with database.obj.atomic():
            product.save()
            AuditLog.record(current_user, action, "product", product.id, ip=request.remote_addr,
                            name=product.name, active=product.active, limit=product.amount_limit_wan)
    except IntegrityError:
        form.name.errors = [_l("A product with this name exists.")]
        return False
    return True


@bp.route("/products/new", methods=["GET", "POST"])
@roles_required("admin")
def product_new():
    """Add a product to the bank's catalogue."""
    bank, banks, _ = _admin_bank(change=True)
    form = ProductForm()
    if form.validate_on_submit() and _save_product(form, Product(bank=bank), "create"):
        flash(_l("Saved."))
        return redirect(url_for("admin.products", bank=bank.id if len(banks) > 1 else None))
    status = 422 if form.errors else 200
    return render("admin/product_form.html", form=form, product=None, bank=bank), status


@bp.route("/products/<int:product_id>", methods=["GET", "POST"])
@roles_required("admin")
def product_edit(product_id):
    """Change a product, or retire it: it stays on old visits and leads but is no longer offered."""
    product = _product_in_scope(product_id)
    form = ProductForm(data=None if request.method == "POST" else {
        "name": product.name, "kind": product.kind, "description": product.description,
        "amount_limit_wan": "" if product.amount_limit_wan is None else f"{product.amount_limit_wan:g}",
        "active": product.active})
    if form.validate_on_submit() and _save_product(form, product, "update"):
        flash(_l("Saved."))
        return redirect(url_for("admin.products", bank=product.bank_id))
    status = 422 if form.errors else 200
    return render("admin/product_form.html", form=form, product=product, bank=product.bank), status


# ---------------------------------------------------------------- branches

# "Sub-branch", not "Branch": that msgid is already 机构 (any unit), and the kind is 支行.
BRANCH_KIND_NAMES = {"union": _l("Provincial union"), "bank": _l("Bank"), "branch": _l("Sub-branch"),
                     "outlet": _l("Outlet")}


class BranchForm(FlaskForm):
    name = StringField(_l("Name"), validators=[
        DataRequired(message=_l("Enter the branch name.")), Length(max=40, message=_l("At most %(max)d characters."))])
    code = StringField(_l("Code"), validators=[
        DataRequired(message=_l("Enter a code.")), Length(max=20, message=_l("At most %(max)d characters.")),
        Regexp(r"^[A-Za-z0-9_.-]+$", message=_l("Use letters, digits, dot, dash or underscore."))])
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k, BRANCH_KIND_NAMES[k]) for k in BRANCH_KINDS[1:]],
                       validate_choice=False)
    parent = SelectField(_l("Parent"), validate_choice=False)

    def validate_kind(self, field):
        if field.data not in BRANCH_KINDS[1:]:
            raise ValidationError(_l("Choose a kind."))


class EditBranchForm(BranchForm):
    code = None  # codes tie imports and reports to a branch: they do not change
    kind = None


def _scope_branches():
    return list(Branch.select().where(branch_scope(current_user)).order_by(Branch.path))


def _branch_in_scope(branch_id):
    branch = Branch.select().where(branch_scope(current_user) & (Branch.id == branch_id)).first()
    if branch is None:
        abort(404)
    return branch


def _depth(branch):
    return len(branch.ancestors_path_ids()) - len(current_user.branch.ancestors_path_ids())


def _parent_choices(branches):
    return [SelectChoice(str(b.id), ("· " * _depth(b)) + b.name) for b in branches if b.closed_on is None]


def _placement_problem(kind, parent, branch=None):
    """Why kind cannot sit under parent (or branch cannot move there), or None."""
    if parent is None:
        return _l("Choose a parent.")
    if branch is not None and parent.path.startswith(branch.path):
        return _l("A branch cannot move under itself or one of its own branches.")
    if kind == "bank" and parent.kind != "union":
        # Every scope stops at a bank: a bank inside another bank would leak its data upwards.
        return _l("A bank can only sit under a provincial union, never under another bank.")
    if kind in ("branch", "outlet") and parent.bank is None:
        return _l("A branch or outlet must sit inside a bank.")
    return None


@bp.route("/branches")
@roles_required("admin")
def branches():
    """The branch tree of this admin's scope, drawn as a tree."""
    rows = _scope_branches()
    people = dict(User.select(User.branch, fn.COUNT(User.id)).where(User.active)
                  .group_by(User.branch).tuples())
    return render("admin/branches.html", branches=rows, depth=_depth, people=people,
                  kind_names=BRANCH_KIND_NAMES)


@bp.route("/branches/new", methods=["GET", "POST"])
@roles_required("admin")
def branch_new():
    """Add a branch or outlet (or, for a union's admin, a bank) under a branch in scope."""
    scope = _scope_branches()
    form = BranchForm(data=None if request.method == "POST" else {
        "parent": request.args.get("parent", str(current_user.branch.id)), "kind": "branch"})
    form.parent.choices = _parent_choices(scope)
    if form.validate_on_submit():
        parent = next((b for b in scope if str(b.id) == form.parent.data and b.closed_on is None), None)
        problem = _placement_problem(form.kind.data, parent)
        code = form.code.data.strip()
        if problem:
            form.parent.errors = [problem]
        elif Branch.select().where(fn.LOWER(Branch.code) == code.lower()).exists():
            form.code.errors = [_l("This code is taken.")]
        else:
            try:
                with database.obj.atomic():
                    branch = Branch.add(form.name.data.strip(), code, form.kind.data, parent)
                    AuditLog.record(current_user, "create", "branch", branch.id, ip=request.remote_addr,
                                    name=branch.name, parent=parent.id)
            except IntegrityError:
                form.code.errors = [_l("This code is taken.")]
            else:
                flash(_l("Saved."))
                return redirect(url_for("admin.branches"))
    status = 422 if form.errors else 200
    return render("admin/branch_form.html", form=form, branch=None), status


def _move(branch, parent):
    """Re-hang branch and its whole subtree under parent, rewriting their paths in one statement."""
    old = branch.path
    new = f"{parent.path}{branch.id}/"
    Branch.update(path=Value(new).concat(fn.SUBSTR(Branch.path, len(old) + 1))).where(
        Branch.path.startswith(old)).execute()
    Branch.update(parent=parent).where(Branch.id == branch.id).execute()


@bp.route("/branches/<int:branch_id>", methods=["GET", "POST"])
@roles_required("admin")
def branch_edit(branch_id):
    """Rename a branch or move it under another; close it, or delete it if nothing hangs on it."""
    branch = _branch_in_scope(branch_id)
    is_root = branch.id == current_user.branch.id
    scope = _scope_branches()
    form = EditBranchForm(data=None if request.method == "POST" else {
        "name": branch.name, "parent": str(branch.parent_id or "")})
    if is_root:
        # The admin's own branch has its parent outside their scope: they may rename it only.
        form.parent.choices = [SelectChoice(str(branch.parent_id or ""), "—")]
    else:
        form.parent.choices = _parent_choices(scope)
    if form.validate_on_submit():
        moving = not is_root and form.parent.data != str(branch.parent_id)
        parent = next((b for b in scope if str(b.id) == form.parent.data), None)
        problem = _placement_problem(branch.kind, parent, branch) if moving else None
        if problem:
            form.parent.errors = [problem]
        else:
            with database.obj.atomic():
                old_name, old_parent = branch.name, branch.parent_id
                Branch.update(name=form.name.data.strip()).where(Branch.id == branch.id).execute()
                if moving:
                    _move(branch, parent)
                AuditLog.record(current_user, "update", "branch", branch.id, ip=request.remote_addr,
                                name=[old_name, form.name.data.strip()],
                                parent=[old_parent, parent.id if moving else old_parent])
            flash(_l("Saved."))
            return redirect(url_for("admin.branches"))
    status = 422 if form.errors else 200
    return render("admin/branch_form.html", form=form, branch=branch, is_root=is_root,
                  in_use=_in_use(branch)), status


def _in_use(branch):
    """What keeps a branch from being deleted: its people, territories or branches."""
    return (User.select().where(User.branch == branch).exists()
            or Territory.select().where(Territory.branch == branch).exists()
            or Branch.select().where(Branch.parent == branch).exists())


@bp.route("/branches/<int:branch_id>/close", methods=["POST"])
@roles_required("admin")
def branch_close(branch_id):
    """Close a branch (it keeps its history but takes no new people), or reopen it."""
    _post_guard()
    branch = _branch_in_scope(branch_id)
    if branch.id == current_user.branch.id:
        abort(403)
    closing = request.form.get("closed") == "1"
    with database.obj.atomic():
        Branch.update(closed_on=clock.today() if closing else None).where(Branch.id == branch.id).execute()
        AuditLog.record(current_user, "close" if closing else "reopen", "branch", branch.id,
                        ip=request.remote_addr)
    flash(_l("Closed.") if closing else _l("Reopened."))
    return redirect(url_for("admin.branch_edit", branch_id=branch.id))


@bp.route("/branches/<int:branch_id>/delete", methods=["POST"])
@roles_required("admin")
def branch_delete(branch_id):
    """Delete a branch created by mistake; one with people or territories can only be closed."""
    _post_guard()
    branch = _branch_in_scope(branch_id)
    if branch.id == current_user.branch.id:
        abort(403)
    if _in_use(branch):
        flash(_l("This branch has people, territories or branches: close it instead."))
        return redirect(url_for("admin.branch_edit", branch_id=branch.id))
    try:
        with database.obj.atomic():
            Branch.delete().where(Branch.id == branch.id).execute()
            AuditLog.record(current_user, "delete", "branch", branch.id, ip=request.remote_addr,
                            name=branch.name, code=branch.code)
    except IntegrityError:
        # Customers, leads or products may still point at it: the database keeps them.
        flash(_l("This branch has people, territories or branches: close it instead."))
        return redirect(url_for("admin.branch_edit", branch_id=branch.id))
    flash(_l("Deleted."))
    return redirect(url_for("admin.branches"))
