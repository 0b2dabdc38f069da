"""Settings: defaults, validation with Chinese messages, and every change in the audit log."""
import json

import pytest

from app.db import database
from app.models import AuditLog, Setting
from tests.conftest import csrf_token, soup

GOOD = {"check_in_radius_m": "150", "check_in_radius_cap_m": "300",
        "coverage_kinds": ["household", "merchant"], "stale_lead_days": "7", "late_check_in_days": "7",
        "session_idle_minutes": "60", "coverage_green_pct": "80", "coverage_amber_pct": "50",
        "coverage_period": "month", "gold_rhythm_days": "30",
        "mass_rhythm_days": "90", "potential_rhythm_days": "180"}


def _post(client, path="/admin/settings", **changes):
    data = {**GOOD, **changes, "csrf_token": csrf_token(client, path)}
    return client.post(path, data=data)


def test_defaults_before_any_change(app, county):
    with app.app_context(), database.obj.connection_context():
        bank = county.branches["A"]
        assert Setting.get(bank, "check_in_radius_m") == 100
        assert Setting.get(bank, "check_in_radius_cap_m") == 300
        assert Setting.get(bank, "coverage_kinds") == ["household", "merchant"]
        assert Setting.get(bank, "stale_lead_days") == 7
        assert Setting.get(bank, "session_idle_minutes") == 60
        assert (Setting.get(bank, "coverage_green_pct"), Setting.get(bank, "coverage_amber_pct")) == (80, 50)
        assert Setting.get(None, "stale_lead_days") == 7


def test_the_page_shows_each_value_with_its_meaning(login_as, client, county):
    login_as("admin")
    page = soup(client.get("/admin/settings"))
    assert page.select_one("[name=check_in_radius_m]")["value"] == "100"
    checked = {box["value"] for box in page.select("[name=coverage_kinds][checked]")}
    assert checked == {"household", "merchant"}
    helps = [p.get_text(strip=True) for p in page.select(".help")]
    assert "手机与客户位置的距离在此米数以内时，签到计为已核实。" in helps
    assert len(helps) == 12  # with the judging period and each tier's rhythm (issues 18, 17)
    # issue 15: how late a check-in may still be uploaded, default 7 days
    assert page.select_one("[name=late_check_in_days]")["value"] == "7"
    assert "离线签到在签到后这么多天内仍可上传；更早的签到将被拒绝并说明原因。" in helps


def test_a_change_is_saved_and_audited_with_old_and_new(login_as, client, county):
    login_as("admin")
    response = _post(client, check_in_radius_m="150", coverage_kinds=["household"])
    assert response.status_code == 302
    with database.obj.connection_context():
        bank = county.branches["A"]
        assert Setting.get(bank, "check_in_radius_m") == 150
        assert Setting.get(bank, "coverage_kinds") == ["household"]
        assert Setting.get(county.branches["B"], "check_in_radius_m") == 100  # other banks untouched
        entries = {json.loads(e.detail)["key"]: json.loads(e.detail) for e in
                   AuditLog.select().where(AuditLog.action == "change_setting")}
    assert set(entries) == {"check_in_radius_m", "coverage_kinds"}
    assert (entries["check_in_radius_m"]["old"], entries["check_in_radius_m"]["new"]) == ("100", "150")
    assert (entries["coverage_kinds"]["old"], entries["coverage_kinds"]["new"]) == (
        "household,merchant", "household")


@pytest.mark.parametrize("changes,field,message", [
    ({"check_in_radius_m": "abc"}, "check_in_radius_m", "请输入整数。"),
    ({"check_in_radius_m": "5"}, "check_in_radius_m", "请输入 10 到 1000 之间的数。"),
    ({"check_in_radius_m": "400"}, "check_in_radius_m", "签到半径不能大于定位精度上限。"),
    ({"coverage_kinds": []}, "coverage_kinds", "请至少选择一种客户类型。"),
    ({"coverage_kinds": ["household", "alien"]}, "coverage_kinds", "请至少选择一种客户类型。"),
    ({"stale_lead_days": "0"}, "stale_lead_days", "请输入 1 到 365 之间的数。"),
    ({"session_idle_minutes": "-3"}, "session_idle_minutes", "请输入 5 到 1440 之间的数。"),
    ({"coverage_green_pct": "101"}, "coverage_green_pct", "请输入 0 到 100 之间的数。"),
    ({"coverage_amber_pct": "半"}, "coverage_amber_pct", "请输入整数。"),
    ({"coverage_green_pct": "60", "coverage_amber_pct": "60"}, "coverage_amber_pct", "黄色的起点必须低于绿色的起点。"),
    ({"coverage_green_pct": "40"}, "coverage_amber_pct", "黄色的起点必须低于绿色的起点。"),
])
def test_a_bad_value_is_marked_and_nothing_changes(changes, field, message, login_as, client, county):
    login_as("admin")
    response = _post(client, **changes)
    assert response.status_code == 422
    box = soup(response).select_one(f"[name={field}]").find_parent(class_="field")
    assert "invalid" in box["class"]
    assert box.select_one(".field-error").get_text(strip=True) == message
    with database.obj.connection_context():
        assert Setting.select().count() == 0
        assert AuditLog.select().where(AuditLog.action == "change_setting").count() == 0


def test_the_union_admin_chooses_a_bank(login_as, client, county):
    login_as("union_admin")
    bank_b = county.branches["B"].id
    page = soup(client.get(f"/admin/settings?bank={bank_b}"))
    assert page.select_one("h2").get_text(strip=True) == "乙县农商行"
    assert _post(client, f"/admin/settings?bank={bank_b}", stale_lead_days="14").status_code == 302
    with database.obj.connection_context():
        assert Setting.get(county.branches["B"], "stale_lead_days") == 14
        assert Setting.get(county.branches["A"], "stale_lead_days") == 7


def test_a_bank_admin_cannot_reach_another_banks_settings(login_as, client, county):
    login_as("admin_b")
    page = soup(client.get(f"/admin/settings?bank={county.branches['A'].id}"))
    assert page.select_one("h2").get_text(strip=True) == "乙县农商行"
