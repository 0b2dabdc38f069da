"""Customer imports: hand-made .xlsx and .csv files through the real upload, mapping, dry run
and confirm pages (and the command), on SQLite and PostgreSQL."""
import datetime as dt
import io
import os

import pytest
from openpyxl import Workbook, load_workbook

from app import crypto
from app.imports import uploads
from app.db import database
from app.models import Customer, CustomerChange, Holding, ImportJob, ImportMapping, Job
from tests.conftest import csrf_token, login, soup

HEADER = ["户主姓名", "身份证号码", "联系电话", "村", "组", "存款余额(万元)", "承包面积(亩)"]


def make_id(seq, born="19800101"):
    first17 = f"520102{born}{seq:03d}"
    return first17 + crypto.check_digit(first17)


def xlsx(rows, header=HEADER, title=None, merges=()):
    book = Workbook()
    sheet = book.active
    if title:
        sheet.append([title])
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    for ref in merges:
        sheet.merge_cells(ref)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_bytes(rows, header=HEADER, encoding="utf-8"):
    lines = [",".join(str(c) for c in header)] + [",".join("" if c is None else str(c) for c in r) for r in rows]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def upload(client, data, filename="客户.xlsx", kind="archive", encoding="", branch=None):
    form = {"csrf_token": csrf_token(client, "/imports/"), "kind": kind, "encoding": encoding,
            "file": (io.BytesIO(data), filename)}
    if branch is not None:
        form["branch"] = str(branch)
    else:
        form["branch"] = soup(client.get("/imports/")).select_one("#branch option[selected]")["value"]
    return client.post("/imports/", data=form, content_type="multipart/form-data")


def job_of(response):
    assert response.status_code == 302, response.get_data(as_text=True)
    return int(response.location.split("/")[2])


def check(client, job_id, changes=None):
    """Post the mapping page as shown (with changes {column title: field}), wait for the dry run."""
    page = soup(client.get(f"/imports/{job_id}/mapping"))
    form = {"csrf_token": page.select_one("input[name=csrf_token]")["value"], "remember": "1"}
    for li in page.select("li.column"):
        select = li.select_one("select")
        chosen = select.select_one("option[selected]")
        form[select["name"]] = chosen["value"] if chosen else ""
        title = li.select_one(".column-title").get_text()
        if changes and title in changes:
            form[select["name"]] = changes[title]
    response = client.post(f"/imports/{job_id}/mapping", data=form)
    return response


def confirm(client, job_id):
    response = client.post(f"/imports/{job_id}/confirm", data={"csrf_token": csrf_token(client, f"/imports/{job_id}")})
    return response


def job_row(job_id):
    with database.obj.connection_context():
        return ImportJob.get_by_id(job_id)


def counts(job_id):
    return job_row(job_id).data("counts")


def customers(**where):
    with database.obj.connection_context():
        query = Customer.select()
        for name, value in where.items():
            query = query.where(getattr(Customer, name) == value)
        return list(query)


APP = {}


@pytest.fixture(autouse=True)
def remember_app(app, tmp_path):
    app.config["IMPORT_DIR"] = str(tmp_path / "uploads")
    # Not a pushed context for the whole test: the test client would share its `g` (and CSRF token).
    APP["app"] = app
    yield
    APP.clear()


def id_of(customer):
    """The customer's ID number in clear, decrypted with the app's key."""
    with APP["app"].app_context():
        return customer.id_number


@pytest.fixture
def lead(login_as, county):
    with APP["app"].app_context(), database.obj.connection_context():
        c = Customer.get_by_id(county.customers["c_v1"].id)
        c.set_id_number(make_id(1))
        c.save()
    return login_as("lead1")


def test_the_columns_are_guessed_from_chinese_headers_under_a_title_row(app, lead):
    data = xlsx([["杨一", make_id(50), "13800001111", "茶园村", "一组", 3, 5]], title="茶园村农户建档表",
                merges=["A1:G1"])
    job_id = job_of(upload(lead, data))
    page = soup(lead.get(f"/imports/{job_id}/mapping"))
    chosen = {li.select_one(".column-title").get_text(): li.select_one("option[selected]")["value"]
              for li in page.select("li.column")}
    assert chosen == {"户主姓名": "name", "身份证号码": "id_number", "联系电话": "phone", "村": "village",
                      "组": "group_name", "存款余额(万元)": "deposit_balance_wan", "承包面积(亩)": "scale_mu"}
    sample = page.get_text()
    assert "138****1111" in sample and "13800001111" not in sample  # phones and IDs masked in the preview
    assert make_id(50) not in sample
    assert not page.select(".error")  # a merged title above the header is fine


def test_dry_run_matches_counts_and_writes_only_on_confirm(app, lead, county):
    rows = [
        ["杨一", make_id(50), "13800001111", "茶园村", "一组", 3, 5],        # new, placed in G1 by name
        ["周大福", make_id(1), "13912345678", "茶园村", None, 70, None],     # by ID number: deposit changes
        ["吴小梅", make_id(51), "13912345678", None, None, 8, None],          # by phone + name: ID added
        ["郑家杂货店", None, "13912345678", "石板村", None, None, None],      # by phone + name: unchanged
        ["坏校验", make_id(52)[:-1] + ("0" if make_id(52)[-1] != "0" else "1"), None, "茶园村", None, None, None],
        ["坏电话", None, "1381234", "茶园村", None, None, None],
        ["负数", None, None, "茶园村", None, -5, None],
        ["杨一", make_id(50), "13800001111", "茶园村", "一组", 3, 5],        # repeats the first row
        ["外村人", None, "13700002222", "不存在村", "五组", None, None],     # new, no territory by that name
        [None, None, "13700003333", "茶园村", None, None, None],              # no name
    ]
    before = len(customers())
    job_id = job_of(upload(lead, xlsx(rows)))
    check(lead, job_id)
    assert counts(job_id) == {"new": 2, "updated": 2, "unchanged": 1, "refused": 5, "unplaced": 1}
    assert len(customers()) == before  # a dry run writes nothing
    page = soup(lead.get(f"/imports/{job_id}"))
    refused = {tr.select("td")[0].get_text(): tr.select_one("td.why").get_text() for tr in
               page.select("section:has(h2:-soup-contains('未通过的行')) tbody tr")}
    assert "校验位" in refused["6"]
    assert "11 位" in refused["7"]
    assert "不能为负数" in refused["8"]
    assert "第 2 行" in refused["9"]
    assert "姓名" in refused["11"]
    html = page.get_text()
    assert "13800001111" not in html and make_id(50) not in html  # masked in the preview lists
    assert "不存在村" in html

    response = confirm(lead, job_id)
    assert response.status_code == 302
    assert job_row(job_id).status == "done"
    assert len(customers()) == before + 2
    new = customers(name="杨一")[0]
    assert new.territory_id == county.territories["G1"].id and id_of(new) == make_id(50)
    assert new.deposit_balance_wan == 3 and new.scale_mu == 5
    assert customers(name="外村人")[0].territory_id is None  # imported, listed to place: never dropped
    zhou = customers(name="周大福")[0]
    assert zhou.deposit_balance_wan == 70 and zhou.tier == "gold"
    assert id_of(customers(name="吴小梅")[0]) == make_id(51)
    with database.obj.connection_context():
        fields = {c.field for c in CustomerChange.select().where(CustomerChange.customer == zhou.id)}
    assert "deposit_balance_wan" in fields
    unplaced = lead.get("/territories/unplaced").get_data(as_text=True)
    assert "外村人" in unplaced


def test_confirming_twice_writes_once(app, lead):
    job_id = job_of(upload(lead, xlsx([["杨一", make_id(50), "13800001111", "茶园村", "一组", 3, 5]])))
    check(lead, job_id)
    confirm(lead, job_id)
    confirm(lead, job_id)
    assert len(customers(name="杨一")) == 1


def test_refused_rows_download_as_excel_with_the_reason(app, lead):
    rows = [["杨一", make_id(50), "13800001111", "茶园村", "一组", 3, 5],
            ["坏电话", None, "1381234", "茶园村", None, None, None]]
    job_id = job_of(upload(lead, xlsx(rows)))
    check(lead, job_id)
    response = lead.get(f"/imports/{job_id}/refused.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    table = [[c.value for c in r] for r in sheet.iter_rows()]
    assert table[0][0] == "行号" and table[0][-1] == "原因" and table[0][1:-1] == HEADER
    assert table[1][0] == 3 and table[1][1] == "坏电话" and table[1][3] == "1381234"  # the user's own cells
    assert "11 位" in table[1][-1]
    assert len(table) == 2


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_scientific_notation_id_numbers_are_refused_with_nothing_written(app, lead, fmt):
    if fmt == "xlsx":
        data = xlsx([["杨一", 5.20102198001011e17, "13800001111", "茶园村", None, None, None],
                     ["杨二", make_id(60), "13800002222", "茶园村", None, 2, None]])
    else:
        data = csv_bytes([["杨一", "5.20102E+17", "13800001111", "茶园村", "", "", ""],
                          ["杨二", make_id(60), "13800002222", "茶园村", "", "2", ""]])
    job_id = job_of(upload(lead, data, filename=f"客户.{fmt}"))
    check(lead, job_id)
    page = soup(lead.get(f"/imports/{job_id}"))
    problem = page.select_one("#import-job .card p.error").get_text()
    assert "Excel" in problem and "文本" in problem and "第 2 行" in problem
    assert not page.select("form[action$='/confirm']")
    assert counts(job_id)["new"] == 1 and counts(job_id)["refused"] == 1  # the rest of the preview still useful
    confirm(lead, job_id)
    assert customers(name="杨二") == []


def test_a_gbk_csv_is_read_as_gbk(app, lead):
    data = csv_bytes([["杨一", make_id(50), "13800001111", "茶园村", "一组", 3, 5]], encoding="gbk")
    job_id = job_of(upload(lead, data, filename="客户.csv"))
    assert job_row(job_id).encoding == "gb18030"
    check(lead, job_id)
    confirm(lead, job_id)
    assert customers(name="杨一")[0].village == "茶园村"


def test_a_gbk_csv_declared_utf8_is_refused_with_the_reason(app, lead):
    data = csv_bytes([["杨一", make_id(50), "13800001111", "茶园村", "一组", 3, 5]], encoding="gbk")
    response = upload(lead, data, filename="客户.csv", encoding="utf-8")
    assert response.status_code == 422
    assert "GBK" in soup(response).select_one("p.error").get_text()
    assert ImportJob.select().count() == 0 if not database.obj.is_closed() else True


def test_a_utf8_csv_with_a_bom_and_garbled_text(app, lead):
    good = b"\xef\xbb\xbf" + csv_bytes([["杨一", make_id(50), "13800001111", "茶园村", "一组", 3, 5]])
    job_of(upload(lead, good, filename="客户.csv"))
    garbled = csv_bytes([["锟斤拷", make_id(50), "13800001111", "锟斤拷锟斤拷", "", "", ""]])
    response = upload(lead, garbled, filename="客户.csv")
    assert response.status_code == 422 and "锟斤拷" in soup(response).select_one("p.error").get_text()
    latin = csv_bytes([["杨一", "", "", "茶园村", "", "", ""]]).decode("utf-8").encode("utf-8").decode("latin-1")
    response = upload(lead, latin.encode("utf-8"), filename="客户.csv")
    assert response.status_code == 422 and "乱码" in soup(response).select_one("p.error").get_text()


@pytest.mark.parametrize("encoding, expected", [("utf-8", "utf-8"), ("gbk", "gb18030")])
def test_a_large_csv_whose_sample_ends_inside_a_character_is_read(tmp_path, encoding, expected):
    """The encoding is judged on the file's first 256 KB: a Chinese character cut at that
    edge is the sample's end, not a sign of garbling."""
    from app.imports.spreadsheet import SAMPLE_BYTES, detect_encoding
    line = "杨一,茶园村,一组\n".encode(encoding)
    lines = (SAMPLE_BYTES - 1) // len(line)
    body = b"x" * (SAMPLE_BYTES - 1 - len(line) * lines) + line * lines
    body += "杨二,茶园村,二组\n".encode(encoding) * 10  # the character at byte SAMPLE_BYTES is cut
    assert len(body[:SAMPLE_BYTES].decode(encoding, errors="replace").rstrip("\ufffd")) < SAMPLE_BYTES
    with pytest.raises(UnicodeDecodeError):
        body[:SAMPLE_BYTES].decode(encoding)
    path = tmp_path / "客户.csv"
    path.write_bytes(body)
    assert detect_encoding(path) == expected


@pytest.mark.parametrize("data, words", [
    (b"%PDF-1.4 not a sheet\x00\x01", "不是表格"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, ".xlsx"),
    (b"PK\x03\x04 broken zip", "不是表格"),
    (b"", "空"),
])
def test_a_file_that_is_not_a_spreadsheet_is_refused(app, lead, data, words):
    response = upload(lead, data, filename="客户.xlsx")
    assert response.status_code == 422
    assert words in soup(response).select_one("p.error").get_text()
    assert os.listdir(importer_dir(app)) == []


def importer_dir(app):
    with app.app_context():
        return uploads.upload_dir()


def test_merged_header_cells_are_refused_but_the_rows_still_show(app, lead):
    data = xlsx([["杨一", make_id(50), "13800001111", "茶园村", "一组", 3, 5]],
                header=["户主姓名", "身份证号码", "联系电话", "地址", None, "存款余额(万元)", "承包面积(亩)"],
                merges=["D1:E1"])
    job_id = job_of(upload(lead, data))
    page = soup(lead.get(f"/imports/{job_id}/mapping"))
    assert "合并" in page.select_one("p.error").get_text() and "D1:E1" in page.select_one("p.error").get_text()
    check(lead, job_id)
    page = soup(lead.get(f"/imports/{job_id}"))
    assert "合并" in page.select_one("#import-job p.error").get_text()
    assert not page.select("form[action$='/confirm']")
    assert counts(job_id)["new"] == 1
    confirm(lead, job_id)
    assert customers(name="杨一") == []


def test_a_saved_mapping_is_reused_for_the_next_file_of_the_same_shape(app, lead):
    header = ["客户", "手机", "所在村", "备注"]
    data = xlsx([["杨一", "13800001111", "茶园村", "老客户"]], header=header)
    job_id = job_of(upload(lead, data))
    check(lead, job_id, changes={"备注": "products_elsewhere"})
    with database.obj.connection_context():
        assert ImportMapping.select().count() == 1
    again = job_of(upload(lead, xlsx([["杨二", "13800002222", "石板村", "他行贷款"]], header=header)))
    page = soup(lead.get(f"/imports/{again}/mapping"))
    chosen = {li.select_one(".column-title").get_text(): li.select_one("option[selected]")["value"]
              for li in page.select("li.column")}
    assert chosen["备注"] == "products_elsewhere"


def test_the_weekly_core_banking_refresh_changes_tiers_and_reports_strangers(app, lead, county):
    with database.obj.connection_context():
        Customer.update(core_no="C002").where(Customer.id == county.customers["c_v2"].id).execute()
        Customer.update(core_no="C001").where(Customer.id == county.customers["c_v1"].id).execute()
    header = ["客户号", "客户名称", "存款余额", "贷款余额", "持有产品"]
    rows = [["C002", "郑家杂货店", 600000, 0, "节节高、未知产品"],   # 60 万 → gold
            ["C001", "周大福", 20000, 0, ""],                      # 2 万 → potential (was gold)
            ["C999", "陌生人", 1000, 0, ""]]                        # not in the archive
    job_id = job_of(upload(lead, xlsx(rows, header=header), kind="core"))
    page = soup(lead.get(f"/imports/{job_id}/mapping"))
    chosen = {li.select_one(".column-title").get_text(): li.select_one("option[selected]")["value"]
              for li in page.select("li.column")}
    assert chosen == {"客户号": "core_no", "客户名称": "name", "存款余额": "deposit_balance_yuan",
                      "贷款余额": "loan_balance_yuan", "持有产品": "products"}
    check(lead, job_id)
    assert counts(job_id) == {"updated": 2, "missing": 1, "tier_changes": 2}
    text = lead.get(f"/imports/{job_id}").get_data(as_text=True)
    assert "C999" in text and "未知产品" in text
    confirm(lead, job_id)
    shop = customers(core_no="C002")[0]
    assert shop.deposit_balance_wan == 60 and shop.tier == "gold" and shop.refreshed_on is not None
    assert customers(core_no="C001")[0].tier == "potential"
    with database.obj.connection_context():
        assert [h.product.name for h in Holding.select().where(Holding.customer == shop.id)] == ["节节高"]
    sheet = load_workbook(io.BytesIO(lead.get(f"/imports/{job_id}/refused.xlsx").data)).active
    assert [r[1].value for r in sheet.iter_rows(min_row=2)] == ["C999"]


def test_another_branch_cannot_reach_the_job(app, lead):
    job_id = job_of(upload(lead, xlsx([["杨一", make_id(50), "13800001111", "茶园村", "一组", 3, 5]])))
    client = app.test_client()
    login(client, "lead2")
    assert client.get(f"/imports/{job_id}").status_code == 404
    assert client.get(f"/imports/{job_id}/mapping").status_code == 404
    client = app.test_client()
    login(client, "admin")
    assert client.get(f"/imports/{job_id}").status_code == 200


def test_a_file_over_the_size_limit_is_refused(app, lead):
    app.config["IMPORT_MAX_BYTES"] = 2000
    response = upload(lead, b"a,b\n" + b"x,y\n" * 1000, filename="大.csv")
    assert response.status_code == 422
    assert "MB" in soup(response).select_one("p.error").get_text()


def running_check(job_id, **values):
    """The import's check as a background job a worker has taken (state running)."""
    from app import clock

    with database.obj.connection_context():
        record = job_row(job_id)
        ImportJob.update(status="checking").where(ImportJob.id == job_id).execute()
        now = clock.now()
        values = {"state": "running", "attempts": 1, "started_at": now, "heartbeat_at": now, **values}
        return Job.create(kind="import_check", key=f"import:{job_id}:check", branch=record.branch_id,
                          params=f'{{"import_job": {job_id}}}', **values)


def test_the_running_job_polls_and_htmx_gets_the_fragment(app, lead):
    job_id = job_of(upload(lead, xlsx([["杨一", make_id(50), "13800001111", "茶园村", "一组", 3, 5]])))
    running_check(job_id, done=400, total=1000)
    response = lead.get(f"/imports/{job_id}", headers={"HX-Request": "true"})
    fragment = soup(response)
    assert fragment.select_one("html") is None
    poller = fragment.select_one("#import-job")
    assert poller["hx-trigger"] == "every 1s"
    assert fragment.select_one("progress")["value"] == "400"
    assert fragment.select_one("progress")["max"] == "1000"


def test_old_uploads_are_cleaned(app, lead):
    from app import clock
    job_id = job_of(upload(lead, xlsx([["杨一", make_id(50), "13800001111", "茶园村", "一组", 3, 5]])))
    with app.app_context():
        path = uploads.job_file(job_row(job_id))
        old = clock.now().replace(tzinfo=dt.UTC).timestamp() - 3 * 86400  # three days before the business clock's now
        os.utime(path, (old, old))
        assert uploads.clean_old_files() == 1
    assert not path.exists()
    response = lead.get(f"/imports/{job_id}/mapping")
    assert response.status_code == 302


def test_the_command_checks_then_writes(app, runner, county, tmp_path):
    path = tmp_path / "建档.csv"
    path.write_bytes(csv_bytes([["杨一", make_id(50), "13800001111", "茶园村", "一组", 3, 5],
                                ["坏电话", "", "1381234", "茶园村", "", "", ""]], encoding="gbk"))
    result = runner.invoke(args=["import-customers", str(path), "--branch", "A1", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "new: 1" in result.output and "refused: 1" in result.output
    assert customers(name="杨一") == []
    out = tmp_path / "refused.xlsx"
    result = runner.invoke(args=["import-customers", str(path), "--branch", "A1", "--yes", "--refused", str(out)])
    assert result.exit_code == 0, result.output
    assert customers(name="杨一")[0].territory_id == county.territories["G1"].id
    assert load_workbook(out).active["B2"].value == "坏电话"


def test_a_check_whose_worker_died_twice_can_be_run_again(app, lead):
    """The stale-job check ends a job whose worker stopped twice; the page says why and offers
    to check the file again."""
    from app import clock, jobs

    job_id = job_of(upload(lead, xlsx([["杨一", make_id(50), "13800001111", "茶园村", "一组", 3, 5]])))
    task = running_check(job_id, attempts=2)
    assert lead.get(f"/imports/{job_id}/mapping").status_code == 302  # running: nothing to map
    clock.travel(dt.timedelta(minutes=11))
    with app.app_context(), database.obj.connection_context():
        assert jobs.requeue_stale() == ([], [task.id])
        error = Job.get_by_id(task.id).error
    page = soup(lead.get(f"/imports/{job_id}"))
    assert page.select_one("p.error").get_text() == error
    assert page.select_one("#import-job").get("hx-trigger") is None  # no more polling
    check(lead, job_id)
    assert counts(job_id) == {"new": 1}


def test_an_xlsx_is_read_as_excel_shows_it(tmp_path):
    """calamine reads the sheet: the same header, columns and values as openpyxl (which the
    mapping was designed with) finds in it, so no column shifts and no value changes."""
    import datetime as dt

    from app.imports.spreadsheet import Table, cell_text

    book = Workbook()
    sheet = book.active
    sheet["B2"] = "茶园村建档表"  # a title row, and nothing in column A at all
    for col, title in zip("BCDEFGH", HEADER):
        sheet[f"{col}3"] = title
    sheet.append([None, "王一", make_id(1), 13800001111, "茶园村", "一组", 12.5, 3])  # phone as a number
    sheet.append([None, "李二", 5.20102198001011e17, "13800002222", None, None, 0, None])  # ID damaged
    sheet.append([None, None, None, None, None, None, None, None])  # blank row, skipped
    sheet.append([None, "张三", make_id(3), "", "茶园村", dt.date(2024, 3, 1), True, "=G4+1"])
    sheet.merge_cells("E4:E5")  # a village merged over two households, filled down
    path = tmp_path / "upload"  # uploads are stored without their extension
    book.save(path)
    table = Table(path, "xlsx")
    try:
        assert table.header_row == 3 and table.header == ["", *HEADER]
        rows = list(table.rows())
    finally:
        table.close()
    assert [n for n, _ in rows] == [4, 5, 7]
    seen = [[cell_text(v) for v in r] for _, r in rows]
    assert seen == [["", "王一", make_id(1), "13800001111", "茶园村", "一组", "12.5", "3"],
                    ["", "李二", "5.20102198001011e+17", "13800002222", "茶园村", "", "0", ""],
                    ["", "张三", make_id(3), "", "茶园村", "2024-03-01", "1", ""]]
    assert rows[0][1][3] == 13800001111  # a whole number, not a float taken for a damaged phone
    assert isinstance(rows[1][1][2], float)  # the damaged ID stays a float, so it is refused


def test_non_finite_and_absurd_numbers_are_refused_rows(app, lead):
    """Issue 15: inf, -inf, nan and 1e308 were imported (shown and tiered), and 10^30 head of
    livestock gave a 500 at confirm. Each is a refused row with its reason; nothing is written."""
    header = HEADER + ["牲畜(头)"]
    rows = [["杨一", make_id(50), "13800001111", "茶园村", "一组", "inf", 5, 3],
            ["杨二", make_id(51), "13800002222", "茶园村", "一组", 3, "1e308", 3],
            ["杨三", make_id(52), "13800003333", "茶园村", "一组", "nan", 5, 3],
            ["杨四", make_id(53), "13800004444", "茶园村", "一组", 3, 5, "1" + "0" * 30],
            ["杨五", make_id(54), "13800005555", "茶园村", "一组", 3, 5, 12]]
    job_id = job_of(upload(lead, csv_bytes(rows, header=header), filename="客户.csv"))
    check(lead, job_id, changes={"牲畜(头)": "livestock_head"})
    assert counts(job_id)["refused"] == 4 and counts(job_id)["new"] == 1
    sheet = load_workbook(io.BytesIO(lead.get(f"/imports/{job_id}/refused.xlsx").data)).active
    reasons = [r[-1].value for r in list(sheet.iter_rows())[1:]]
    assert len(reasons) == 4 and all("之间的数" in why or "请输入数字" in why for why in reasons), reasons
    confirm(lead, job_id)
    assert [c.name for c in customers() if c.name.startswith("杨")] == ["杨五"]
    assert customers(name="杨五")[0].livestock_head == 12


def test_the_core_refresh_reads_maturities_with_the_products_and_refuses_impossible_ones(app, lead, county):
    """节节高（2027-03-01）: the product held and its maturity (issue 21); a maturity before the
    holding's start, beyond 30 years, or not a date refuses the row with the reason."""
    with database.obj.connection_context():
        for core_no, key in (("C001", "c_v1"), ("C002", "c_v2"), ("C003", "c_v3"), ("C004", "c_g1")):
            Customer.update(core_no=core_no).where(Customer.id == county.customers[key].id).execute()
        Holding.create(customer=county.customers["c_v2"], product=county.products["a"],
                       since=dt.date(2026, 3, 1))
    header = ["客户号", "客户名称", "存款余额", "贷款余额", "持有产品"]
    rows = [["C001", "周大福", 600000, 0, "节节高（2027-03-01）"],
            ["C002", "郑家杂货店", 0, 0, "节节高(2026-02-01)"],        # before its start, 2026-03-01
            ["C003", "孙大山", 0, 0, "节节高（2207-03-01）"],          # a typo of the year: beyond 30 years
            ["C004", "吴小梅", 80000, 0, "节节高（明年三月）"]]        # not a date
    job_id = job_of(upload(lead, xlsx(rows, header=header), kind="core"))
    check(lead, job_id)
    assert counts(job_id) == {"updated": 1, "refused": 3}
    text = lead.get(f"/imports/{job_id}").get_data(as_text=True)
    assert "早于起始日（2026-03-01）" in text
    assert "超过 30 年" in text
    assert "节节高：“明年三月”不是到期日" in text
    confirm(lead, job_id)
    with database.obj.connection_context():
        held = Holding.select().where(Holding.customer == county.customers["c_v1"].id).get()
        assert (held.product.name, held.matures_on) == ("节节高", dt.date(2027, 3, 1))
        assert Holding.select().where(Holding.customer == county.customers["c_v2"].id).get().matures_on is None
        assert not Holding.select().where(Holding.customer == county.customers["c_v3"].id).exists()
