"""The field loop on a phone (390×844) with emulated geolocation: Today, check-ins, the counters."""
import os

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from app.models import Customer, Visit
from tests.browser.conftest import CHROMIUM_ARGS, PHONE, _is_csp_violation, screenshot  # noqa: F401
from tests.browser.test_shell import MIN_TAP, SMALL_TARGETS_JS

pytestmark = pytest.mark.browser
M_LAT = 1 / 110_836


@pytest.fixture
def phone(browser, tmp_path):
    """A phone page that may use geolocation; .move_to(lat, lng, accuracy) moves the phone."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=1, locale="zh-CN",
                                  timezone_id="Asia/Shanghai", permissions=["geolocation"],
                                  geolocation={"latitude": 28.905, "longitude": 107.605, "accuracy": 20})
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" or _is_csp_violation(m.text) else None)
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.move_to = lambda lat, lng, accuracy=10: context.set_geolocation(
        {"latitude": lat, "longitude": lng, "accuracy": accuracy})
    yield page
    context.close()


@pytest.fixture
def photos(live, tmp_path):
    live.app.config["PHOTO_DIR"] = str(tmp_path / "photos")
    return tmp_path / "photos"


def big_photo(path):
    """A 1600×1200 photo of noise: well over 200 KB as the camera gives it."""
    rng = np.random.default_rng(8)
    Image.fromarray(rng.integers(0, 255, (1200, 1600, 3), dtype=np.uint8)).save(path, "JPEG", quality=95)
    assert os.path.getsize(path) > 1_000_000
    return path


def counters(page):
    return page.locator(".visits-today").inner_text(), page.locator(".covered").inner_text()


def walk_names(page):
    return page.locator(".to-visit .walk-row .row-main").evaluate_all(
        "spans => spans.map(s => s.firstChild.textContent.trim())")


def check_in_from_today(page, name):
    page.locator(".to-visit .walk-row", has_text=name).get_by_role("link", name="签到").click()
    expect(page.locator("h1")).to_have_text("签到")


def test_a_manager_checks_in_verified_unverified_and_refused(live, live_server, signed_in, phone, photos, tmp_path):
    with live.app.app_context(), live.db.connection_context():
        v1 = live.county.territories["V1"]
        common = dict(kind="household", branch=v1.branch_id, territory=v1.id, consent=True, village="茶园村")
        wang = Customer.create(name="王二婶", lat=28.912, lng=107.607, tier="gold", group_name="二组", **common)
        li = Customer.create(name="李三", lat=28.913, lng=107.603, tier="mass", group_name="二组", **common)
    g1 = live.county.customers["c_g1"]

    page = phone
    signed_in(page, "mgr1")
    page.goto(f"{live_server}/today")
    expect(page.locator("#locate-status")).to_have_text("按离你的距离由近到远排列。")
    assert counters(page) == ("1", "1/4")
    assert walk_names(page)[0] == "吴小梅"  # the phone stands at 吴小梅's door
    assert set(walk_names(page)) == {"吴小梅", "王二婶", "李三"}
    assert page.evaluate(SMALL_TARGETS_JS, MIN_TAP) == []
    screenshot(page, "field-today")

    # 1. thirty metres from 吴小梅, with a shop-front photo: verified
    page.move_to(g1.lat + 30 * M_LAT, g1.lng, 8)
    check_in_from_today(page, "吴小梅")
    expect(page.locator("#gps-status")).to_have_text("已定位，精度 8 米。")
    expect(page.locator("#gps-distance")).to_have_text("距客户约 30 米。")  # once the fix is known
    expect(page.locator("input[name=outcome]:checked")).to_have_count(0)  # nothing chosen for the manager
    page.get_by_text("有意向", exact=True).first.click()
    page.locator("#photo").set_input_files(big_photo(tmp_path / "door.jpg"))
    expect(page.locator("#photo-status")).to_contain_text("KB")
    assert page.evaluate(SMALL_TARGETS_JS, MIN_TAP) == []
    screenshot(page, "field-check-in-form")
    page.get_by_role("button", name="签到").click()
    expect(page.locator(".verification .verified")).to_have_text("已核实")
    expect(page.locator(".verification .distance")).to_have_text("距客户 30 米")
    expect(page.locator("img.visit-photo")).to_be_visible()
    stored = list(photos.rglob("*.jpg"))
    assert len(stored) == 1 and os.path.getsize(stored[0]) <= 200 * 1024
    assert page.locator("img.visit-photo").evaluate("img => img.naturalWidth") <= 1280
    screenshot(page, "field-visit-verified")
    page.get_by_role("link", name="返回今日").click()
    assert counters(page) == ("2", "2/4")
    assert "吴小梅" not in walk_names(page)

    # 2. eight hundred metres from 王二婶: saved, unverified, the distance shown
    page.move_to(wang.lat + 800 * M_LAT, wang.lng, 10)
    check_in_from_today(page, "王二婶")
    expect(page.locator("#gps-status")).to_have_text("已定位，精度 10 米。")
    page.get_by_text("见到本人", exact=True).first.click()
    page.get_by_role("button", name="签到").click()
    expect(page.locator(".verification .unverified")).to_have_text("未核实")
    expect(page.locator(".verification .distance")).to_have_text("距客户 800 米")
    expect(page.locator(".notice")).to_contain_text("未核实，距客户 800 米")
    screenshot(page, "field-visit-unverified")
    page.get_by_role("link", name="返回今日").click()
    assert counters(page) == ("3", "2/4")  # one more visit; coverage counts verified visits only
    assert walk_names(page) == ["李三"]

    # 3. a fix from another continent: refused, nothing saved
    page.move_to(48.8566, 2.3522, 10)
    check_in_from_today(page, "李三")
    expect(page.locator("#gps-status")).to_have_text("已定位，精度 10 米。")
    page.get_by_text("见到本人", exact=True).first.click()
    page.get_by_role("button", name="签到").click()
    expect(page.locator(".refusal")).to_have_text("定位在中国境外，请检查手机定位设置。")
    screenshot(page, "field-check-in-refused")
    page.goto(f"{live_server}/today")
    assert counters(page) == ("3", "2/4")
    assert walk_names(page) == ["李三"]
    with live.app.app_context(), live.db.connection_context():
        assert Visit.select().where(Visit.customer == li.id).count() == 0
    # the refusal answers 422, which Chromium logs; nothing else may have gone wrong
    assert [e for e in page.errors if "status of 422" not in e] == []


def test_the_ledger_and_customer_timeline_on_a_phone(live, live_server, signed_in, phone):
    page = phone
    signed_in(page, "mgr1")
    page.goto(f"{live_server}/ledger")
    screenshot(page, "field-ledger")
    page.goto(f"{live_server}/customers/{live.county.customers['c_g1'].id}")
    expect(page.locator(".timeline")).to_be_visible()
    screenshot(page, "field-customer-timeline")
    page.goto(f"{live_server}/visits/met")
    assert page.evaluate(SMALL_TARGETS_JS, MIN_TAP) == []
    screenshot(page, "field-met")
    assert page.errors == []
