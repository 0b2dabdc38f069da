"""The bank's product catalogue (产品): what managers offer on a visit."""
from flask import abort, flash, redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from peewee import IntegrityError
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, ValidationError

from flask_wtf import FlaskForm

from app.db import chinese_order
from app.db import database
from app.models import AuditLog, Branch, Product
from app.models.product import PRODUCT_KINDS
from app.models.scope import branch_scope
from app.web import render, roles_required
from app.views.admin.common import admin_bank, bp


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
    bank, banks, editable = admin_bank()
    rows = (Product.select().where(Product.bank == bank)
            .order_by(Product.active.desc(), Product.kind, chinese_order(Product.name)))
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
    bank, banks, _ = admin_bank(change=True)
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
