"""The administration blueprint (管理, /admin): its home page and what its pages share."""
from flask import Blueprint, abort, request
from flask_login import current_user
from peewee import fn

from flask_wtf import FlaskForm

from app.db import chinese_order
from app.models import Branch, Product, Territory, User
from app.models.scope import branch_scope, user_scope
from app.web import arg_id, page_arg, render, roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


def page_number():
    """The ?page= number of a paged list (1 when missing or not a number; bounded)."""
    return page_arg(request.args)


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


def admin_bank(change=False):
    """The bank whose settings or products this admin sees: their own, or one chosen below them.

    Returns (bank, banks to pick from, whether this admin may change them). A sub-branch's
    admin reads their bank's values (the home page links here) but bank-wide values belong
    to the bank's admin: change=True (a form that writes) is refused with 403.
    """
    banks = list(Branch.select().where(branch_scope(current_user) & (Branch.kind == "bank"))
                 .order_by(chinese_order(Branch.name)))
    own = current_user.branch.bank
    if own is not None and current_user.branch.kind == "bank":
        return own, [own], True
    if not banks:
        if own is None or change:
            abort(403)
        return own, [own], False
    chosen = request.args.get("bank", type=arg_id)
    bank = next((b for b in banks if b.id == chosen), banks[0])
    return bank, banks, True


def post_guard():
    """Refuse a POST without a valid CSRF token (the buttons that post no form of their own)."""
    form = FlaskForm()
    if not form.validate_on_submit():
        abort(400)


def depth(branch):
    """How far below the admin's own branch a branch sits (for indenting the tree)."""
    return len(branch.ancestors_path_ids()) - len(current_user.branch.ancestors_path_ids())
