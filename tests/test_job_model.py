"""The job record on SQLite and PostgreSQL: one live job per key, scope, progress, a task
whose parameters no longer make sense. Tasks run where they are queued here (HUEY_IMMEDIATE);
tests/test_jobs.py runs them on real consumers."""
import pytest
from peewee import IntegrityError

from app import clock
from app.db import database
from app.models import Job
from tests.conftest import login, soup, user


@pytest.fixture
def a1(ctx):
    from app.models import Branch

    return Branch.get(Branch.code == "A1")


def test_a_key_holds_one_live_job_and_submit_returns_it(ctx, a1):
    live = Job.create(kind="import_check", key="import:7:check", branch=a1.id, params="{}", state="running")
    again = Job.submit("import_check", {"import_job": 7}, user(ctx, "lead1"), a1, key="import:7:check")
    assert again.id == live.id
    assert Job.select().count() == 1
    with pytest.raises(IntegrityError), database.atomic():
        Job.create(kind="import_check", key="import:7:check", branch=a1.id, params="{}", state="queued")
    Job.update(state="done").where(Job.id == live.id).execute()
    # Ended: the same key may run again (the import checked once more).
    Job.create(kind="import_check", key="import:7:check", branch=a1.id, params="{}", state="queued")


def test_a_task_whose_import_is_gone_fails_with_a_chinese_reason(ctx, a1):
    job = Job.submit("import_check", {"import_job": 999999}, user(ctx, "lead1"), a1, key="import:999999:check")
    job = Job.get_by_id(job.id)
    assert (job.state, job.attempts) == ("failed", 1)
    assert job.error == "此任务对应的导入已不存在。"


def test_progress_beats_the_heartbeat(ctx, a1):
    job = Job.create(kind="import_check", branch=a1.id, params="{}", state="running")
    clock.pin("2026-11-25T15:00+08:00", frozen=True)
    job.progress(5, 20, "第 1 块")
    row = Job.get_by_id(job.id)
    assert (row.done, row.total, row.message, row.percent) == (5, 20, "第 1 块", 25)
    assert row.heartbeat_at == clock.now()


@pytest.mark.parametrize("viewer, sees", [("lead1", True), ("admin", True), ("union_admin", True), ("lead2", False),
                                          ("admin_b", False), ("mgr1", False), ("mgr2", True)])
def test_a_job_is_seen_within_the_scope_and_by_who_asked(ctx, a1, viewer, sees):
    job = Job.create(kind="import_check", branch=a1.id, user=user(ctx, "mgr2").id, params="{}", state="done")
    assert (Job.visible_to(user(ctx, viewer)).where(Job.id == job.id).count() == 1) is sees


def test_a_job_of_another_branch_is_a_404(app, county, client):
    with app.app_context(), database.obj.connection_context():
        from app.models import Branch

        other = Job.create(kind="import_check", branch=Branch.get(Branch.code == "B").id, params="{}",
                           state="running", done=3, total=10)
        mine = Job.create(kind="import_check", branch=Branch.get(Branch.code == "A1").id, params="{}",
                          state="running", done=3, total=10)
    login(client, "lead1")
    assert client.get(f"/jobs/{other.id}").status_code == 404
    page = client.get(f"/jobs/{mine.id}", headers={"HX-Request": "true"})
    fragment = soup(page)
    assert fragment.select_one("html") is None
    assert fragment.select_one("[hx-trigger]")["hx-trigger"] == "every 1s"
    assert fragment.select_one("progress")["value"] == "3"
