"""Hostile and careless files at the doors that take files: the customer import (page and
command), a visit's photo, the territory import and the map's drawing. Each is refused with a
message; none reaches a reader that would hold it whole. Files people's data sit in are ours alone."""
import io
import os
import stat
import zipfile

import pytest
from openpyxl import Workbook, load_workbook

from app import exports
from app.db import database
from app.models import Territory, Visit
from tests.conftest import csrf_token, login, soup
from tests.hostile import deep_json, png_declaring, sparse_xlsx
from tests import test_imports
from tests.test_imports import HEADER, check, csv_bytes, importer_dir, job_of, make_id, upload, xlsx

# The import tests' fixtures: uploads kept in the test's folder, a team lead signed in.
remember_app, lead = test_imports.remember_app, test_imports.lead

ROW = ["杨一", make_id(50), "13800001111", "茶园村", "一组", 3, 5]


def header_cells(extra):
    cells = {f"{chr(65 + i)}1": title for i, title in enumerate(HEADER)}
    cells.update(extra)
    return cells


def refusal(response):
    assert response.status_code == 422, response.status_code
    return soup(response).select_one("p.error").get_text()


# --- 1. spreadsheet bombs ------------------------------------------------------------------
def test_a_tiny_xlsx_reaching_the_last_cell_excel_has_is_refused_before_it_is_read(app, lead):
    """1.5 KB declaring A1 and XFD1048576: the reader would build 17 billion cells (512 GB)."""
    data = sparse_xlsx({"A1": "户主姓名", "XFD1048576": "x"})
    assert len(data) < 2000
    text = refusal(upload(lead, data))
    assert "第 1048576 行" in text and "最多 250000 行" in text
    assert os.listdir(importer_dir(app)) == []


def test_a_far_cell_below_the_list_is_refused_even_when_the_dimension_lies(app, lead):
    """A1 + J1000000 was accepted and took 419 MB; the declared <dimension> says A1:G2."""
    data = sparse_xlsx(header_cells({"J1000000": "x"}), dimension="A1:G2")
    assert "第 1000000 行" in refusal(upload(lead, data))


def test_a_wide_xlsx_and_a_wide_csv_are_refused_naming_the_column(app, lead):
    assert "第 AAA 列（共 703 列）" in refusal(upload(lead, sparse_xlsx(header_cells({"AAA2": "x"}))))
    wide = ",".join(HEADER + ["x"] * 100_000) + "\r\n"
    text = refusal(upload(lead, wide.encode(), filename="宽.csv"))
    assert "共 100007 列" in text and "最多 200 列" in text


def test_the_limits_are_configuration(app, lead):
    rows = [ROW, ["杨二", make_id(51), "13800001112", "茶园村", "一组", 3, 5]]
    app.config["IMPORT_MAX_ROWS"] = 2  # the header and one row
    assert "第 3 行" in refusal(upload(lead, xlsx(rows)))
    assert "最多 2 行" in refusal(upload(lead, csv_bytes(rows), filename="名单.csv"))
    app.config["IMPORT_MAX_ROWS"] = 3
    app.config["IMPORT_MAX_CELLS"] = 20  # 3 rows × 7 columns
    assert "21 个单元格" in refusal(upload(lead, xlsx(rows)))
    app.config["IMPORT_MAX_CELLS"] = 21
    job_of(upload(lead, xlsx(rows)))


def test_the_command_refuses_a_bomb_in_chinese(app, runner, county, tmp_path):
    path = tmp_path / "炸弹.xlsx"
    path.write_bytes(sparse_xlsx({"A1": "户主姓名", "XFD1048576": "x"}))
    result = runner.invoke(args=["import-customers", str(path), "--branch", "A1", "--dry-run"])
    assert result.exit_code == 1
    assert "第 1048576 行" in result.output
    assert os.listdir(importer_dir(app)) == []


# --- 2. a decompression bomb as a visit photo --------------------------------------------------
def test_a_photo_declaring_400_million_pixels_is_refused_with_a_reason(app, client, county, tmp_path):
    from tests.test_visits import post_check_in

    app.config["PHOTO_DIR"] = str(tmp_path / "photos")
    login(client, "mgr1")
    with database.obj.connection_context():
        before = Visit.select().count()
    for width in (20000, 9000):  # past Pillow's own error, and past its warning only
        photo = png_declaring(width, 20000)
        response = post_check_in(client, county.customers["c_v1"], 30, photo=(io.BytesIO(photo), "door.png"))
        assert response.status_code == 422
        assert "像素远超手机相机" in soup(response).select_one(".refusal").text
    with database.obj.connection_context():
        assert Visit.select().count() == before
    assert not (tmp_path / "photos").exists() or not any((tmp_path / "photos").rglob("*.*"))


# --- 3. GeoJSON nested deep, names that are not text ------------------------------------------
def territory_upload(client, data, branch):
    fields = {"csrf_token": csrf_token(client, "/territories/import"), "branch": str(branch), "datum": "wgs84",
              "file": (io.BytesIO(data), "territories.geojson")}
    return client.post("/territories/import", data=fields, content_type="multipart/form-data")


def territories(app):
    with database.obj.connection_context():
        return Territory.select().count()


def test_a_geojson_nested_50000_deep_is_refused_on_import_and_on_the_map(app, county, login_as):
    client = login_as("lead1")
    before = territories(app)
    response = territory_upload(client, deep_json(50_000), county.branches["A1"].id)
    assert response.status_code == 422
    assert "嵌套超过 32 层" in soup(response).select_one("#preview p.error").get_text()
    # Deep, but not deep enough for Python to give up: still no GeoJSON.
    nested = b'{"type": "FeatureCollection", "datum": "wgs84", "features": ' + deep_json(500) + b"}"
    assert "嵌套超过 32 层" in soup(territory_upload(client, nested, county.branches["A1"].id)).get_text()
    token = csrf_token(client, "/me")
    for path in ("/map/territories", f"/map/territories/{county.territories['V1'].id}/shape"):
        response = client.post(path, data=b'{"geometry": ' + deep_json(50_000) + b"}",
                               content_type="application/json", headers={"X-CSRFToken": token})
        assert response.status_code == 422
        assert "嵌套超过 32 层" in response.get_json()["messages"][0]
    assert territories(app) == before


def test_a_feature_name_that_is_an_object_is_refused_not_stored_as_python_text(app, county, login_as):
    from tests.test_map import post_drawn, sq
    from tests.test_territory_import import collection, new_zone_features

    client = login_as("lead1")
    before = territories(app)
    features = new_zone_features()
    features[0]["properties"]["name"] = {"zh": "新区"}
    features[1]["properties"]["kind"] = ["village"]
    response = territory_upload(client, collection(features), county.branches["A1"].id)
    assert response.status_code == 422
    text = soup(response).select_one("#preview tbody").get_text()
    assert "要素的 name 必须是文字" in text and "要素的 kind 必须是文字" in text
    assert "{'zh'" not in response.get_data(as_text=True)
    drawn = post_drawn(client, sq(107.601, 28.911, 107.609, 28.919), name={"zh": "甲"}, kind="group")
    assert drawn.status_code == 422 and "name 必须是文字" in drawn.get_json()["messages"][0]
    assert territories(app) == before


# --- 4. formula injection -------------------------------------------------------------------
INJECTED = "=cmd|' /C calc'!A0"


def test_a_formula_in_an_upload_comes_back_as_text_in_the_refused_rows(app, lead):
    rows = [[INJECTED, None, "1381234", "@SUM(A1)", "-2+3", "+86", "\t=1"]]
    job_id = job_of(upload(lead, csv_bytes(rows), filename="名单.csv"))
    check(lead, job_id)
    response = lead.get(f"/imports/{job_id}/refused.xlsx")
    with zipfile.ZipFile(io.BytesIO(response.data)) as archive:
        sheet_xml = archive.read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet_xml  # no cell is a formula Excel would run
    row = load_workbook(io.BytesIO(response.data)).active[2]
    assert row[1].value == INJECTED and row[1].data_type == "s" and row[1].quotePrefix
    assert [c.value for c in row[4:8]] == ["@SUM(A1)", "-2+3", "+86", "=1"]  # as read (cells are trimmed)
    assert {c.data_type for c in row[4:8]} == {"s"}


@pytest.mark.parametrize("write_only", [True, False])
def test_every_export_writes_risky_text_as_text(write_only):
    book = Workbook(write_only=write_only)
    sheet = book.create_sheet("x") if write_only else book.active
    values = [INJECTED, "+1", "-1", "@x", "\tx", "\rx", "王一", -5, 3.5, None]
    exports.row(sheet, values)
    out = io.BytesIO()
    book.save(out)
    cells = load_workbook(out).worksheets[0][1]
    assert [c.value for c in cells][:9] == [v.replace("\r", "\n") if isinstance(v, str) else v  # XML's newline
                                            for v in values[:9]]
    assert [c.data_type for c in cells][:9] == ["s"] * 7 + ["n", "n"]


# --- 5. permissions -------------------------------------------------------------------------
def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_uploads_photos_the_database_and_keys_are_the_servers_alone(app, lead, backend, tmp_path):
    os.umask(0o022)  # the usual umask, which made them 0644 in 0755 folders
    try:
        job_id = job_of(upload(lead, xlsx([ROW, ["坏电话", None, "1381234", "茶园村", None, None, None]])))
        check(lead, job_id)
        folder = importer_dir(app)
        assert mode(folder) == 0o700
        assert {name: mode(folder / name) for name in os.listdir(folder)} == {
            name: 0o600 for name in os.listdir(folder)} and len(os.listdir(folder)) == 3
        assert mode(app.instance_path) == 0o700
        for key in ("secret_key", "id_number_key"):
            if os.path.exists(os.path.join(app.instance_path, key)):
                assert mode(os.path.join(app.instance_path, key)) == 0o600
        if backend == "sqlite":
            assert mode(tmp_path / "zerentian.db") == 0o600
    finally:
        os.umask(0o022)


def test_a_visit_photo_is_the_servers_alone(app, client, county, tmp_path):
    from tests.test_visits import jpeg, post_check_in

    app.config["PHOTO_DIR"] = str(tmp_path / "photos")
    login(client, "mgr1")
    response = post_check_in(client, county.customers["c_v1"], 20, photo=(io.BytesIO(jpeg()), "door.jpg"))
    assert response.status_code == 302
    (photo,) = (tmp_path / "photos").rglob("*.jpg")
    assert mode(photo) == 0o600
    assert mode(photo.parent) == 0o700 and mode(tmp_path / "photos") == 0o700


def test_a_new_sqlite_database_is_created_private(tmp_path):
    from app import create_app

    path = tmp_path / "new.db"
    create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": "x", "ID_NUMBER_KEY": "y"})
    assert mode(path) == 0o600


def test_an_xlsx_with_a_damaged_deflate_stream_is_refused(app, lead):
    """Found by the fuzz run (tests/fuzz_readers.py, file seed 700009): bytes flipped inside the
    compressed sheet made the streaming measure raise zlib.error, a 500."""
    import random

    from tests.fuzz_readers import xlsx_file

    data = xlsx_file(random.Random(700009))
    assert refusal(upload(lead, data))
    assert os.listdir(importer_dir(app)) == []


def test_cells_without_references_are_placed_as_the_reader_places_them(app, lead):
    """A writer may leave out r="…": each cell follows the previous one, a row the previous row."""
    from tests.hostile import NS, xlsx_parts

    cells = "".join(f"<c><v>{i}</v></c>" for i in range(300))
    sheet = f'<worksheet xmlns="{NS}"><sheetData><row>{cells}</row></sheetData></worksheet>'
    assert "共 300 列" in refusal(upload(lead, xlsx_parts({"xl/worksheets/sheet1.xml": sheet})))
    prefixed = (f'<x:worksheet xmlns:x="{NS}"><x:sheetData><x:row r="1"><x:c r="A1"><x:v>1</x:v></x:c>'
                f'<x:c r="B900000"><x:v>1</x:v></x:c></x:row></x:sheetData></x:worksheet>')
    assert "第 900000 行" in refusal(upload(lead, xlsx_parts({"xl/worksheets/sheet1.xml": prefixed})))
