"""Territories (片区 / 村 / 街道): the 地图 tab."""
from flask import Blueprint
from flask_login import current_user
from peewee import JOIN, fn

from app.models import Customer, Territory
from app.web import render

bp = Blueprint("territories", __name__)


@bp.route("/map")
def map():
    """The territories the user may see, as a tree with customer counts."""
    territories = (Territory.visible_to(current_user)
                   .select(Territory, fn.COUNT(Customer.id).alias("customer_count"))
                   .join(Customer, JOIN.LEFT_OUTER, on=(Customer.territory == Territory.id))
                   .where(Territory.retired_on.is_null())
                   .group_by(Territory.id)
                   .order_by(Territory.path))
    return render("territories/map.html", territories=territories)
