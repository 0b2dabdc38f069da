"""Weekly PDF reports (issue 19): the figures read back from the PDF, past weeks that stay
true after later changes, every character's glyph embedded, an empty week, a new territory.

A few PDFs are made once for the module (SQLite: PDF tests run on one engine); the hand-made
county of tests/county.py plus week 47 (tests/weekly_county.py) holds figures written here
by hand. The model-level check that coverage of a closed week stays true runs on both engines.
"""
import datetime as dt
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont

from app import clock, pdf, reporting
from app.db import database
from app.models import Customer, Territory, User, Visit
from app.models.merge import merge_customers
from app.models.weekly import WEEK, close_week
from tests.conftest import make_app, reset_database
from tests.county import build_county
from tests.weekly_county import RARE, WEEK47, add_week47

LABELS = ["走访次数", "已核实走访占比", "走访客户数", "走访覆盖率", "新建档客户", "新增线索", "办理笔数",
          "办理金额（万元）", "逾期未跟进"]
# 茶园村 (V1 and its group G1) in week 47, counted by hand: 周大福, 吴小梅 and 𠇔阿婆 (new that
# week); three visits, two verified (周大福, 𠇔阿婆); 吴小梅's lead won (5.0 万元); one follow-up
# due on 19 November, not done.
WEEK47_V1 = {"走访次数": "3", "已核实走访占比": "66.7%", "走访客户数": "3", "走访覆盖率": "66.7%（2/3）",
             "新建档客户": "1", "新增线索": "1", "办理笔数": "1", "办理金额（万元）": "5.0", "逾期未跟进": "1"}
# Week 46: nothing happened; 周大福 and 吴小梅 existed, neither was visited.
WEEK46_V1 = {"走访次数": "0", "已核实走访占比": "—", "走访客户数": "0", "走访覆盖率": "0.0%（0/2）",
             "新建档客户": "0", "新增线索": "0", "办理笔数": "0", "办理金额（万元）": "0", "逾期未跟进": "0"}
# Week 48 so far (Wednesday 15:00): the county's one verified visit to 周大福 an hour ago and
# its lead; the follow-up is still overdue.
WEEK48_V1 = {"走访次数": "1", "已核实走访占比": "100.0%", "走访客户数": "1", "走访覆盖率": "33.3%（1/3）",
             "新建档客户": "0", "新增线索": "1", "办理笔数": "0", "办理金额（万元）": "0", "逾期未跟进": "1"}


def pdf_text(path):
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def key_figures(text):
    """{label: (this week, last week)} from the key-figures table of a report's text."""
    found = {}
    for line in text.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if cells and cells[0] in LABELS and cells[0] not in found and len(cells) >= 3:
            found[cells[0]] = (cells[1], cells[2])
    return found


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The county with week 47, and the reports the tests read, each made once."""
    folder = tmp_path_factory.mktemp("weekly")
    clock.pin("2026-11-25T15:00+08:00")
    application = make_app(f"sqlite:///{folder}/zerentian.db")
    application.config["REPORTS_DIR"] = str(folder / "reports")
    pdfs = {}
    with application.app_context(), database.obj.connection_context():
        reset_database(database.obj)
        county = build_county()
        rare = add_week47(county)
        v1 = county.territories["V1"]
        pdfs["w48"] = reporting.make("territory", v1.id, "2026-W48")
        pdfs["w47"] = reporting.make("territory", v1.id, "2026-W47")
        pdfs["again"] = reporting.make("territory", v1.id, "2026-W47")  # nothing changed: skipped
        # Later: 𠇔阿婆 moves to 石板村, 周大福 becomes a potential customer, 吴小梅's archive is
        # merged into 周大福's (her visit and lead move with it).
        Customer.get_by_id(rare.id).move_to(28.91, 107.615)
        Customer.update(tier="potential").where(Customer.id == county.customers["c_v1"].id).execute()
        admin = User.get_by_id(county.users["admin"].id)
        merge_customers(admin, Customer.get_by_id(county.customers["c_v1"].id),
                        Customer.get_by_id(county.customers["c_g1"].id))
        pdfs["w47_later"] = reporting.make("territory", v1.id, "2026-W47")
        new = Territory.add("新建村", "village", county.branches["A1"], county.territories["Z1"], code="VN")
        pdfs["new"] = reporting.make("territory", new.id, "2026-W48")
        pdfs["empty"] = reporting.make("territory", county.territories["V2"].id, "2026-W40")
        pdfs["bank"] = reporting.make("bank", county.branches["A"].id, "2026-W48")
        html, _ = reporting.render_html("territory", v1.id, "2026-W47")
        application.config["REPORT_FONTS"] = False
        bare_html, _ = reporting.render_html("territory", v1.id, "2026-W47")
    yield {"pdfs": pdfs, "folder": folder, "html": html, "bare_html": bare_html, "county": county}
    database.obj.close()
    clock.reset()


def test_this_weeks_key_figures_read_back_from_the_pdf(made):
    figures = key_figures(pdf_text(made["pdfs"]["w48"]["path"]))
    assert {k: v[0] for k, v in figures.items()} == WEEK48_V1
    assert {k: v[1] for k, v in figures.items()} == WEEK47_V1  # "last week" is week 47


def test_a_past_week_gives_the_same_figures_after_later_changes(made):
    before = pdf_text(made["pdfs"]["w47"]["path"])
    after = pdf_text(made["pdfs"]["w47_later"]["path"])
    assert made["pdfs"]["w47_later"]["status"] == "made"  # the inputs changed, so it was made again
    for text in (before, after):
        figures = key_figures(text)
        assert {k: v[0] for k, v in figures.items()} == WEEK47_V1
        assert {k: v[1] for k, v in figures.items()} == WEEK46_V1
    # The tier mix of week 47 is still 1 gold, 1 mass, 1 potential after the tier changed.
    for text in (before, after):
        tiers = {m.group(1): (int(m.group(2)), int(m.group(3)))
                 for m in re.finditer(r"^\s*(黄金|大众|潜在)\s{2,}(\d+)\s{2,}(\d+)", text, re.MULTILINE)}
        assert tiers == {"黄金": (1, 1), "大众": (1, 1), "潜在": (0, 1)}
    assert RARE in after  # moved away later, still in week 47's notes


def test_an_unchanged_report_is_skipped(made):
    assert made["pdfs"]["again"]["status"] == "skipped"
    assert made["pdfs"]["again"]["path"] == made["pdfs"]["w47"]["path"]


def test_files_sit_under_the_week_and_no_temporary_file_remains(made):
    week_folder = made["folder"] / "reports" / "2026-W47"
    assert sorted(p.name for p in week_folder.iterdir()) == [f"territory-{made['county'].territories['V1'].id}.pdf"]


def test_a_new_territory_and_an_empty_week_give_a_clean_report(made):
    for key in ("new", "empty"):
        text = pdf_text(made["pdfs"][key]["path"])
        figures = key_figures(text)
        assert figures["走访次数"] == ("0", "0")
        assert figures["走访覆盖率"] == ("—（0/0）", "—（0/0）")
        assert "没有逾期未跟进的客户" in text
        assert "本周没有填写走访记录" in text
        for junk in ("None", "nan", "Traceback", "{"):
            assert junk not in text


def test_the_bank_summary_lists_branches_zones_and_the_weakest(made):
    text = pdf_text(made["pdfs"]["bank"]["path"])
    for words in ("全行关键指标", "城关支行", "河坝支行", "城关片区", "河坝片区", "覆盖率最低", "进行中的营销活动"):
        assert words in text
    assert "乙县" not in text  # another bank's territories never appear


def embedded_fonts(path):
    """The embedded fonts of a PDF (pdffonts) as the font files they were cut from."""
    lines = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout.splitlines()[2:]
    names = [line.split()[0].split("+", 1)[-1] for line in lines if " yes " in line]
    catalogue = subprocess.run(["fc-list", "--format", "%{family[0]}|%{postscriptname}|%{file}|%{index}\n"],
                               capture_output=True, text=True, check=True).stdout.splitlines()
    files = []
    for name in names:
        base = re.sub(r"-(Bold|Oblique|Italic|Regular|BoldOblique)$", "", name)
        if base.startswith("ZrtSansSC"):
            prepared = pdf.prepared_fonts(Path(reporting.ROOT) / "instance" / "fonts")
            files.append((prepared["bold" if "Bold" in name else "normal"], 0))
            continue
        for entry in catalogue:
            family, postscript, file, index = entry.split("|")
            if base in (postscript, family.replace(" ", "-")):
                files.append((Path(file), int(index or 0)))
                break
        else:
            raise AssertionError(f"embedded font {name} not found on this machine")
    return files


def unrendered(path):
    """Characters pdftotext reads from the PDF that no embedded font's cmap holds."""
    text = set(pdf_text(path)) - set(" \n\t\f\r")
    cmaps = set()
    for file, index in embedded_fonts(path):
        with TTFont(file, fontNumber=index, lazy=True) as font:
            cmaps |= set(font.getBestCmap())
    return sorted(c for c in text if ord(c) not in cmaps)


def test_every_character_has_its_glyph_in_an_embedded_font(made):
    path = made["pdfs"]["w47"]["path"]
    text = pdf_text(path)
    assert RARE in text and "茶园村" in text
    assert unrendered(path) == []


def test_without_the_cjk_fonts_the_glyph_test_fails(made, tmp_path):
    """The control: the same report rendered where fontconfig knows only DejaVu."""
    conf = tmp_path / "fonts.conf"
    conf.write_text('<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
                    f'<dir>/usr/share/fonts/truetype/dejavu</dir><cachedir>{tmp_path}/cache</cachedir></fontconfig>')
    (tmp_path / "report.html").write_text(made["bare_html"], encoding="utf-8")
    env = dict(os.environ, FONTCONFIG_FILE=str(conf))
    subprocess.run([sys.executable, "-c", "import sys, weasyprint; weasyprint.HTML(sys.argv[1]).write_pdf(sys.argv[2])",
                    str(tmp_path / "report.html"), str(tmp_path / "bare.pdf")], env=env, check=True,
                   capture_output=True)
    text = pdf_text(tmp_path / "bare.pdf")
    assert "茶园村" not in text or unrendered(tmp_path / "bare.pdf") != []


def test_week_parameters_are_iso_weeks():
    assert WEEK.match("2026-W48") and not WEEK.match("2026-48")


@pytest.fixture
def week47(ctx):
    add_week47(ctx)
    return ctx


def test_coverage_of_a_closed_week_stays_true(week47, backend):
    """Visit.coverage, the one definition, reads the closed week's snapshot (both engines)."""
    county = week47
    v1 = county.territories["V1"]
    viewer = User.get_by_id(county.users["mgmt"].id)
    end = WEEK47 + dt.timedelta(days=7)

    def covered():
        return (Visit.coverage(viewer, WEEK47, end, by="territory", among=[v1.id, county.territories["V2"].id]),
                Visit.coverage(viewer, WEEK47, end))

    assert close_week(WEEK47) and not close_week(WEEK47)  # once
    assert not close_week(dt.date(2026, 11, 23))  # the open week is never closed
    first = covered()
    assert first[0][v1.id] == (2, 3, 2 / 3)
    rare = Customer.get(Customer.name == "\U000201D4阿婆")
    rare.move_to(28.91, 107.615)
    admin = User.get_by_id(county.users["admin"].id)
    merge_customers(admin, Customer.get_by_id(county.customers["c_v1"].id),
                    Customer.get_by_id(county.customers["c_g1"].id))
    assert covered() == first


def test_pages_carry_the_header_footer_and_page_numbers(made):
    pages = pdf_text(made["pdfs"]["w47"]["path"]).split("\f")
    pages = [p for p in pages if p.strip()]
    total = len(pages)
    assert total >= 3
    for number, page in enumerate(pages, 1):
        assert re.search(rf"第\s*{number}\s*页\s*/\s*共\s*{total}\s*页", page)
        if number > 1:  # the cover has no running header
            assert "甲县农商行" in page and re.search(r"茶园村\s*·\s*2026-W47\s*周报", page)
    assert "关键指标" in pages[1] and "关键指标" not in pages[0]  # the figures start a new page


def test_the_weeks_figures_on_both_engines(week47, backend):
    """The figures the notebook prints, counted by the model queries (no PDF), on SQLite and PostgreSQL."""
    from app.models import weekly

    county = week47
    bank, v1 = county.branches["A"], county.territories["V1"]
    places = weekly.subtree_ids(v1)
    frame = weekly.WeekFrame(bank, WEEK47, places)
    figures = frame.figures(places, weekly.coverage(bank, WEEK47, [v1.id])[v1.id])
    assert {k: figures[k] for k in ("visits", "verified", "customers_visited", "coverage", "new_archives",
                                    "leads", "won", "won_amount", "overdue", "customers")} == {
        "visits": 3, "verified": 2, "customers_visited": 3, "coverage": (2, 3, 2 / 3), "new_archives": 1,
        "leads": 1, "won": 1, "won_amount": 5.0, "overdue": 1, "customers": 3}
    ids = frame.customer_ids(places)
    assert weekly.funnel(frame, ids) == {"new": 1, "contacted": 1, "qualified": 1, "won": 1, "lost": 0}
    late, total = weekly.overdue(frame, ids)
    assert total == 1 and late[0]["customer_name"] == "周大福" and late[0]["tier"] == "gold" and late[0]["days"] == 3
    assert [r["name"] for r in weekly.highlights(frame, ids)] == [RARE, "周大福"]  # "interested" before "met"
