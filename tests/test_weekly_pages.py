"""The weekly reports page (issue 19): territories in scope, "make now" with progress, downloads
behind the scope check; a worker killed mid-report is retried and no half PDF is ever served;
the notebook also runs in a real Jupyter kernel (nbclient) on the same database.

SQLite only: these make PDFs (DEVELOPERS.md). Jobs run inside the request (HUEY_IMMEDIATE),
except in the killed-worker test, which starts real consumers (tests/workers.py).
"""
import os
import signal
from pathlib import Path

import jupytext
import pytest
from nbclient import NotebookClient

from app import clock, jobs
from app.db import database
from app.models import Job, ReportFile
from tests.conftest import TEST_ID_NUMBER_KEY, csrf_token, login, make_app, reset_database, soup
from tests.county import HASH, build_county
from tests.workers import Consumers, wait_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def rapp(tmp_path):
    application = make_app(f"sqlite:///{tmp_path}/zerentian.db", REPORTS_DIR=str(tmp_path / "reports"))
    reset_database(database.obj)
    with application.app_context(), database.obj.connection_context():
        application.county = build_county()
    yield application
    database.obj.close()


def signed_in(application, username):
    client = application.test_client()
    assert login(client, username).status_code == 302
    return client


def fetch(client, url):
    """GET url, its body read and the (file) response closed."""
    response = client.get(url)
    response.get_data()
    response.close()
    return response


def make_now(client, territory_id, week="2026-W48", htmx=True):
    headers = {"HX-Request": "true"} if htmx else {}
    return client.post(f"/reports/weekly/{territory_id}/generate", headers=headers,
                       data={"week": week, "csrf_token": csrf_token(client, "/reports/weekly")})


def test_the_page_lists_the_territories_in_scope(rapp):
    lead = signed_in(rapp, "lead1")  # branch A1: Z1 with V1 and V2, not A2's
    names = [n.get_text(" ", strip=True).split()[0] for n in soup(lead.get("/reports/weekly?week=2026-W48"))
             .select(".report-name")]
    assert names == ["城关片区", "茶园村", "石板村"]
    mgmt = soup(signed_in(rapp, "mgmt").get("/reports/weekly?week=2026-W48"))
    assert [n.get_text(" ", strip=True).split()[0] for n in mgmt.select(".report-name")] == [
        "城关片区", "茶园村", "石板村", "河坝片区", "河坝村"]


def test_a_bad_week_is_said_in_chinese(rapp):
    lead = signed_in(rapp, "lead1")
    page = soup(lead.get("/reports/weekly?week=2026-48"))
    assert "请按 ISO 周填写周次" in page.select_one(".error").get_text()
    response = make_now(lead, rapp.county.territories["V1"].id, week="48")
    assert response.status_code == 400 and "ISO 周" in response.get_data(as_text=True)


def test_make_now_then_download_within_scope_only(rapp):
    lead = signed_in(rapp, "lead1")
    v1 = rapp.county.territories["V1"]
    response = make_now(lead, v1.id)
    assert response.status_code == 200
    row = soup(response).select_one(f"#report-{v1.id}")
    link = row.select_one("a")
    assert link.get_text() == "下载 PDF"
    pdf = fetch(lead, link["href"])
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
    assert "2026-W48" in pdf.headers["Content-Disposition"]
    assert fetch(signed_in(rapp, "lead2"), link["href"]).status_code == 404  # another branch's territory
    assert fetch(signed_in(rapp, "mgr1"), link["href"]).status_code == 403   # managers read no reports
    assert fetch(signed_in(rapp, "mgmt"), link["href"]).status_code == 200
    # without htmx the form posts and redirects back to the week
    again = make_now(lead, v1.id, htmx=False)
    assert again.status_code == 302 and "week=2026-W48" in again.headers["Location"]
    with rapp.app_context(), database.obj.connection_context():
        assert ReportFile.select().count() == 1  # asked twice, nothing changed: one file


def test_a_territory_outside_the_scope_is_404(rapp):
    lead2 = signed_in(rapp, "lead2")
    assert make_now(lead2, rapp.county.territories["V1"].id).status_code == 404
    assert lead2.get(f"/reports/weekly/{rapp.county.territories['V1'].id}/status").status_code == 404


# --- a worker killed mid-report ------------------------------------------------------------------
@pytest.fixture
def setting(tmp_path):
    return {"DATABASE_URL": f"sqlite:///{tmp_path}/zerentian.db", "HUEY_URL": f"sqlite:///{tmp_path}/huey.db",
            "SECRET_KEY": "test", "ID_NUMBER_KEY": TEST_ID_NUMBER_KEY, "PASSWORD_HASH_METHOD": HASH,
            "HUEY_IMMEDIATE": False, "JOB_STALE_SECONDS": 1.5, "WORKER_HEARTBEAT_SECONDS": 0.5,
            "REPORTS_DIR": str(tmp_path / "reports"), "REPORT_STEP_DELAY": 1.0}


def test_a_worker_killed_mid_report_is_retried_and_no_half_pdf_is_served(setting, tmp_path):
    url = setting.pop("DATABASE_URL")
    application = make_app(url, **setting)
    setting["DATABASE_URL"] = url
    reset_database(database.obj)
    with application.app_context(), database.obj.connection_context():
        county = build_county()
    group = Consumers(tmp_path / "workers", setting)
    try:
        first = group.start("--workers", "1", "--no-periodic")
        lead = signed_in(application, "lead1")
        v1 = county.territories["V1"]
        assert make_now(lead, v1.id).status_code == 200

        def job():
            with database.obj.connection_context():
                return Job.select().where(Job.kind == "weekly_report").get().live_view()

        running = wait_for(lambda: (j := job()).state == "running" and j.done >= 2 and j, timeout=60,
                           what="the report to reach its PDF step")
        os.kill(int(running.worker.split(":")[-1]), signal.SIGKILL)
        group.stop(first)
        page = soup(lead.get(f"/reports/weekly/{v1.id}/status?week=2026-W48"))
        assert page.select_one("a") is None  # nothing to download: no half PDF is offered
        with database.obj.connection_context():
            assert ReportFile.select().count() == 0
        start = clock.now()
        wait_for(lambda: (clock.now() - start).total_seconds() > 1.6, what="the heartbeat to go stale")
        with application.app_context(), database.obj.connection_context():
            requeued, failed = jobs.requeue_stale()
        assert requeued == [running.id] and failed == []
        group.start("--workers", "1", "--no-periodic")
        done = wait_for(lambda: (j := job()).finished and j, timeout=90, what="the retried report")
        assert done.state == "done" and done.attempts == 2, done.error
        link = soup(lead.get(f"/reports/weekly/{v1.id}/status?week=2026-W48")).select_one("a")
        pdf = fetch(lead, link["href"])
        assert pdf.data.startswith(b"%PDF") and pdf.data.rstrip().endswith(b"%%EOF")
        week_folder = Path(setting["REPORTS_DIR"]) / "2026-W48"
        assert [p.name for p in week_folder.iterdir()] == [f"territory-{v1.id}.pdf"]  # no .part left
    finally:
        group.stop_all()
        database.obj.close()


# --- the same notebook in a real Jupyter kernel --------------------------------------------------
def test_the_notebook_runs_in_a_jupyter_kernel_on_the_same_database(rapp, tmp_path):
    v1 = rapp.county.territories["V1"]
    notebook = jupytext.read(ROOT / "reports" / "weekly_territory.py")
    parameters = next(i for i, c in enumerate(notebook.cells) if "parameters" in c.metadata.get("tags", []))
    injected = jupytext.reads(f"# %%\nterritory_id = {v1.id}\nweek = '2026-W48'\n", fmt="py:percent").cells[0]
    notebook.cells.insert(parameters + 1, injected)  # papermill's way: our values after the defaults
    env_before = dict(os.environ)
    os.environ.update(DATABASE_URL=rapp.config["DATABASE_URL"], ID_NUMBER_KEY=TEST_ID_NUMBER_KEY,
                      SECRET_KEY="test", ZRT_CLOCK_AT=clock.now().isoformat() + "+00:00")  # the test's moment
    try:
        NotebookClient(notebook, timeout=120, kernel_name="python3",
                       resources={"metadata": {"path": str(ROOT / "reports")}}).execute()
    finally:
        os.environ.clear()
        os.environ.update(env_before)
    outputs = ["".join(o.get("data", {}).get("text/html", "")) for c in notebook.cells if c.cell_type == "code"
               for o in c.get("outputs", [])]
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
    figures = next(h for h in outputs if "走访次数" in h)
    # The county's week 48 in 茶园村: one verified visit, one lead (as in test_weekly_reports).
    assert "<td>走访次数</td><td class=\"num\">1</td>" in figures
    assert "<td>新增线索</td><td class=\"num\">1</td>" in figures
    assert any("<svg" in h for h in outputs)  # the map and the chart display in Jupyter too


def test_the_monday_task_is_due_at_six_in_shanghai():
    """Registered with the job layer: Mondays 06:00 Asia/Shanghai (the crontab is in business time)."""
    import datetime as dt

    from app import tasks  # noqa: F401  (registers the periodic tasks)

    due, _ = jobs.PERIODIC["weekly_reports"]
    assert due(dt.datetime(2026, 11, 30, 6, 0))        # a Monday
    assert not due(dt.datetime(2026, 11, 30, 5, 59))
    assert not due(dt.datetime(2026, 12, 1, 6, 0))     # a Tuesday


def test_the_command_queues_a_weeks_reports(rapp):
    """`flask weekly-reports`: jobs run where they are queued here (HUEY_IMMEDIATE), so the file is made."""
    runner = rapp.test_cli_runner()
    v1 = rapp.county.territories["V1"]
    result = runner.invoke(args=["weekly-reports", "--week", "2026-W48", "--territory", str(v1.id)])
    assert result.exit_code == 0, result.output
    assert "1 reports queued for 2026-W48." in result.output
    assert (Path(rapp.config["REPORTS_DIR"]) / "2026-W48" / f"territory-{v1.id}.pdf").is_file()
    bad = runner.invoke(args=["weekly-reports", "--week", "2026-48"])
    assert bad.exit_code != 0 and "ISO 周" in bad.output
    with rapp.app_context(), database.obj.connection_context():
        plan = [(j.data("params")["kind"]) for j in Job.select().where(Job.kind == "weekly_report")]
    assert plan == ["territory"]


def test_management_makes_the_bank_summary_now(rapp):
    mgmt = signed_in(rapp, "mgmt")
    bank = rapp.county.branches["A"]
    response = mgmt.post(f"/reports/weekly/bank/{bank.id}/generate",
                         data={"week": "2026-W48", "csrf_token": csrf_token(mgmt, "/reports/weekly")})
    assert response.status_code == 302 and "/jobs/" in response.headers["Location"]
    page = soup(mgmt.get("/reports/weekly?week=2026-W48"))
    link = page.select_one(".card a")
    assert link.get_text(strip=True).startswith("甲县农商行")
    assert fetch(mgmt, link["href"]).data.startswith(b"%PDF")
    other = rapp.county.branches["B"]  # another bank: not in mgmt's scope
    assert mgmt.post(f"/reports/weekly/bank/{other.id}/generate",
                     data={"week": "2026-W48", "csrf_token": csrf_token(mgmt, "/reports/weekly")}).status_code == 404
    assert fetch(signed_in(rapp, "lead1"), link["href"]).status_code == 404  # team leads: their territories only
