"""Products admin: the bank's catalogue, kinds, limits, retiring; only the admin's own bank."""
import pytest

from app.db import database
from app.models import AuditLog, Product
from tests.conftest import csrf_token, soup


def _post(client, path, **data):
    form = {"name": "月月红", "kind": "deposit", "description": "按月付息的定期存款。",
            "amount_limit_wan": "", "active": "y", **data}
    form = {k: v for k, v in form.items() if v is not None}
    form["csrf_token"] = csrf_token(client, path)
    return client.post(path, data=form)


def _error(response, name):
    box = soup(response).select_one(f"[name={name}]").find_parent(class_="field")
    assert "invalid" in box["class"]
    return box.select_one(".field-error").get_text(strip=True)


def test_the_catalogue_lists_the_banks_products(login_as, client, county):
    login_as("admin")
    names = [row.select_one(".row-main").contents[0].strip()
             for row in soup(client.get("/admin/products")).select("#product-rows a.row")]
    assert names == ["节节高"]


def test_an_admin_adds_a_product(login_as, client, county):
    login_as("admin")
    response = _post(client, "/admin/products/new", name="惠农贷", kind="loan", amount_limit_wan="30")
    assert response.status_code == 302
    with database.obj.connection_context():
        product = Product.get(Product.name == "惠农贷")
        assert (product.bank_id, product.kind, product.amount_limit_wan, product.active) == (
            county.branches["A"].id, "loan", 30.0, True)
        assert AuditLog.get(AuditLog.entity == "product").action == "create"


def test_retiring_keeps_the_product_but_stops_offering_it(login_as, client, county):
    login_as("admin")
    product = county.products["a"]
    response = _post(client, f"/admin/products/{product.id}", name="节节高", active=None)
    assert response.status_code == 302
    with database.obj.connection_context():
        assert Product.get_by_id(product.id).active is False
        assert list(Product.offered_by(county.branches["A"])) == []
    badge = soup(client.get("/admin/products")).select_one(".badge.off")
    assert badge.get_text(strip=True) == "已停售"


@pytest.mark.parametrize("data,field,message", [
    ({"amount_limit_wan": "-1"}, "amount_limit_wan", "限额不能小于零。"),
    ({"amount_limit_wan": "abc"}, "amount_limit_wan", "请输入数字。"),
    ({"name": "节节高"}, "name", "已有同名产品。"),
    ({"name": ""}, "name", "请输入产品名称。"),
    ({"kind": "crypto"}, "kind", "请选择类型。"),
])
def test_bad_input_marks_the_field_and_nothing_changes(data, field, message, login_as, client, county):
    login_as("admin")
    with database.obj.connection_context():
        before = Product.select().count()
    response = _post(client, "/admin/products/new", **data)
    assert response.status_code == 422
    assert _error(response, field) == message
    with database.obj.connection_context():
        assert Product.select().count() == before


def test_a_limit_below_zero_on_edit_changes_nothing(login_as, client, county):
    login_as("admin")
    product = county.products["a"]
    response = _post(client, f"/admin/products/{product.id}", name="节节高二", amount_limit_wan="-5")
    assert response.status_code == 422
    with database.obj.connection_context():
        assert Product.get_by_id(product.id).name == "节节高"


def test_another_banks_product_is_404(login_as, client, county):
    login_as("admin")
    assert client.get(f"/admin/products/{county.products['b'].id}").status_code == 404
    response = _post(client, f"/admin/products/{county.products['b'].id}", name="改名")
    assert response.status_code == 404
