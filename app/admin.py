"""Administration (管理): the bank's users, branches, territories and products."""
from flask import Blueprint
from flask_login import current_user
from peewee import fn

from app.models import Branch, Product, Territory, User
from app.models.scope import branch_scope, user_scope
from app.web import render, roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


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
