"""The branch tree (机构): open, move, close and delete branches."""
from flask import abort, flash, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from peewee import IntegrityError, Value, fn
from wtforms import SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Regexp, ValidationError

from flask_wtf import FlaskForm

from app.db import database, tree_order
from app.models import AuditLog, Branch, Territory, User
from app import clock
from app.models.org import BRANCH_KINDS
from app.models.scope import branch_scope
from app.web import render, roles_required
from app.views.admin.common import bp, depth, post_guard


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
    return tree_order(Branch.select().where(branch_scope(current_user)).order_by(Branch.path))


def _branch_in_scope(branch_id):
    branch = Branch.select().where(branch_scope(current_user) & (Branch.id == branch_id)).first()
    if branch is None:
        abort(404)
    return branch


def _parent_choices(branches):
    return [SelectChoice(str(b.id), ("· " * depth(b)) + b.name) for b in branches if b.closed_on is None]


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
    return render("admin/branches.html", branches=rows, depth=depth, people=people,
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
    post_guard()
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
    post_guard()
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
