"""Customers (客户): the list and each customer's page."""
from flask import Blueprint, current_app, request
from flask_login import current_user
from peewee import JOIN

from app.models import Customer, Territory
from app.web import get_visible_or_404, render

bp = Blueprint("customers", __name__, url_prefix="/customers")


@bp.route("/")
def index():
    """Customers in the user's scope, searchable by name or phone tail, a page at a time."""
    q = request.args.get("q", "").strip()[:40]
    try:
        page = max(1, int(request.args.get("page", 1)))
    except ValueError:
        page = 1
    size = current_app.config["PAGE_SIZE"]
    query = Customer.visible_to(current_user)
    if q:
        query = query.where(Customer.search(q))
    query = (query.select_extend(Territory.name.alias("territory_name"))
             .join(Territory, JOIN.LEFT_OUTER, on=(Customer.territory == Territory.id))
             .order_by(Customer.village, Customer.group_name, Customer.name, Customer.id)
             .objects())
    customers = list(query.limit(size + 1).offset((page - 1) * size))
    more = len(customers) > size
    return render("customers/index.html", "partials/_customer_rows.html",
                  customers=customers[:size], q=q, page=page, more=more)


@bp.route("/<int:customer_id>")
def detail(customer_id):
    """One customer's archive, if the user's scope holds them."""
    customer = get_visible_or_404(Customer, customer_id)
    return render("customers/detail.html", customer=customer)
