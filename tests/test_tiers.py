"""Tier rules: the admin changes them, every customer of the bank is re-tiered, pages say why."""
from app.db import database
from app.models import Customer, TierRule
from app.models.tier import DEFAULT_RULES, ordered, tier_of
from tests.conftest import csrf_token, login, soup


def _rules_post(client, rows):
    data = {"csrf_token": csrf_token(client, "/admin/tiers/")}
    blank = {"tier": "", "min_volume_wan": "", "min_rating": "", "min_scale_mu": ""}
    for i, row in enumerate(rows):
        for key, value in {**blank, **row}.items():
            data[f"rules-{i}-{key}"] = value
    return client.post("/admin/tiers/", data=data)


def test_the_default_rules():
    class C:
        def __init__(self, volume, rating=None, scale=None):
            self.business_volume_wan, self.credit_rating, self.scale_mu = volume, rating, scale
    rules = ordered(DEFAULT_RULES)
    assert tier_of(C(60), rules) == ("gold", "gold:50::")
    assert tier_of(C(25, "AAA"), rules) == ("gold", "gold:20:AAA:")
    assert tier_of(C(1, "AA"), rules) == ("mass", "mass::A:")
    assert tier_of(C(1, "B", 30), rules) == ("mass", "mass:::20")
    assert tier_of(C(1, "B", 3), rules) == ("potential", "potential:::")


def test_changing_the_rules_retiers_every_customer_of_the_bank(app, client, county):
    login(client, "admin")
    response = _rules_post(client, [
        {"tier": "gold", "min_volume_wan": "5"},
        {"tier": "mass", "min_rating": "A"},
        {"tier": "", "min_volume_wan": ""},
    ])
    assert response.status_code == 302
    with app.app_context(), database.obj.connection_context():
        bank_a = county.branches["A"].id
        assert [(r.position, r.tier, r.min_volume_wan) for r in
                TierRule.select().where(TierRule.bank == bank_a).order_by(TierRule.position)] == [
            (1, "gold", 5.0), (2, "mass", None)]
        tiers = {k: (c.tier, c.tier_rule) for k, c in
                 ((k, Customer.get_by_id(v.id)) for k, v in county.customers.items())}
    assert tiers["c_v1"] == ("gold", "gold:5::")
    assert tiers["c_g1"] == ("gold", "gold:5::")  # 8 万元 was mass by hand; gold under the new rule
    assert tiers["c_v2"] == ("potential", "potential:::")
    assert tiers["c_b"] == ("mass", None)  # another bank's customers are left alone
    page = soup(client.get(f"/customers/{county.customers['c_g1'].id}"))
    assert "5" in page.select_one(".tier-rule").text and page.select_one(".tier-gold")
    # an edit re-tiers under the bank's rules too
    with app.app_context(), database.obj.connection_context():
        c = Customer.get_by_id(county.customers["c_v2"].id)
        c.update_archive(county.users["admin"], {"credit_rating": "AA"})
        assert (c.tier, c.tier_rule) == ("mass", "mass::A:")


def test_bad_rules_are_refused_and_nothing_changes(app, client, county):
    login(client, "admin")
    response = _rules_post(client, [{"tier": "gold", "min_volume_wan": "很多"},
                                    {"tier": "mass"}, {"tier": "gold", "min_scale_mu": "-1"}])
    assert response.status_code == 400
    page = soup(response)
    assert page.select_one("#rules-0-min_volume_wan-error").text == "请输入数字，例如 12.5。"
    assert page.select_one("#rules-1-tier-error") is not None
    assert page.select_one("#rules-2-min_scale_mu-error").text == "不能为负数。"
    with app.app_context(), database.obj.connection_context():
        assert TierRule.select().count() == 0
        assert Customer.get_by_id(county.customers["c_g1"].id).tier == "mass"


def test_only_admins_set_rules(client, county):
    login(client, "lead1")
    assert _rules_post(client, [{"tier": "gold", "min_volume_wan": "1"}]).status_code == 403


def test_the_admin_home_links_to_the_tier_rules(client, county):
    login(client, "admin")
    page = soup(client.get("/admin/"))
    assert page.select_one("title").text.startswith("管理")
    assert page.select_one("main a[href='/admin/tiers/']") is not None
