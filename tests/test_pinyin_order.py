"""Lists read in pinyin order, as a Chinese reader expects, on SQLite and PostgreSQL alike."""
from app.db import database
from app.models import Product, User
from app.models.lead import team_managers
from tests.conftest import soup
from tests.county import _customer, _user

PINYIN_ORDER = ["阿", "付", "世", "中"]  # a, fu, shi, zhong; by code point: 世 中 付 阿


def test_the_customers_tab_lists_names_in_pinyin_order(app, client, county, login_as):
    with app.app_context(), database.obj.connection_context():
        for name in ("世", "中", "付", "阿"):
            _customer(name, county.territories["V2"], 28.91, 107.615)
    client = login_as("mgr2")
    rows = [a.select_one(".row-main").contents[0].strip()
            for a in soup(client.get("/customers/")).select("a.row[href*='/customers/']") if a.select_one(".row-main")]
    assert [name for name in rows if name in PINYIN_ORDER] == PINYIN_ORDER


def test_people_and_products_are_listed_in_pinyin_order(app, county):
    with app.app_context(), database.obj.connection_context():
        bank = county.branches["A"]
        for name in ("世", "中", "付", "阿"):
            Product.create(bank=bank, name=name, kind="loan")
            _user(f"u{ord(name)}", "manager", county.branches["A2"], name)
        assert [p.name for p in Product.offered_by(bank) if p.kind == "loan"] == PINYIN_ORDER
        lead = User.get(User.username == "lead2")
        assert [u.name for u in team_managers(lead) if u.name in PINYIN_ORDER] == PINYIN_ORDER
