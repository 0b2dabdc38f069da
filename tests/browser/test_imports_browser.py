"""Customer import in a real browser: upload, mapping, dry run polled by htmx, preview; screenshots."""
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import DESKTOP, open_page, screenshot
from tests.test_imports import make_id, xlsx

pytestmark = pytest.mark.browser


def test_upload_map_check_and_preview(browser, page, live, live_server, signed_in, tmp_path):
    live.app.config["IMPORT_DIR"] = str(tmp_path / "uploads")
    rows = [["杨一", make_id(50), "13800001111", "茶园村", "一组", 3, 5],
            ["坏电话", None, "1381234", "茶园村", None, None, None],
            ["外村人", None, "13700002222", "不存在村", "五组", None, None],
            ["周大福", None, "13912345678", "茶园村", None, 70, None]]
    path = tmp_path / "茶园村建档.xlsx"
    path.write_bytes(xlsx(rows, title="茶园村农户建档表", merges=["A1:G1"]))
    signed_in(page, "lead1")
    page.goto(f"{live_server}/imports/")
    screenshot(page, "imports-upload")
    page.set_input_files("#file", str(path))
    page.get_by_role("button", name="读取文件").click()
    expect(page.locator("li.column")).to_have_count(7)
    screenshot(page, "imports-mapping")
    page.get_by_role("button", name="逐行检查（暂不写入）").click()
    expect(page.locator(".counters")).to_be_visible(timeout=15000)  # htmx polls until the check ends
    screenshot(page, "imports-preview")
    url = page.url
    desktop = open_page(browser, DESKTOP)
    signed_in(desktop, "lead1")
    desktop.goto(url)
    screenshot(desktop, "imports-preview-desktop")
    desktop.context.close()
    page.get_by_role("button", name="确认写入：新增 2，更新 1").click()
    expect(page.get_by_text("已于")).to_be_visible(timeout=15000)
    assert page.errors == []
