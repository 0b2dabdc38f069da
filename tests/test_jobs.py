"""Background jobs through REAL consumers (`flask worker` processes) on Huey's SQLite storage
(one test on Redis): imports from the page and the command, a worker killed mid-import,
periodic tasks with two consumers running, bad parameters, scope."""
import os

import pytest

from app import jobs
from app.db import database
from app.models import Customer, ImportJob, Job
from tests.conftest import TEST_ID_NUMBER_KEY, csrf_token, login, make_app, reset_database, soup
from tests.county import HASH, build_county
from tests.test_imports import check, job_of, make_id, upload, xlsx
from tests.workers import Consumers, wait_for


def rows(n, first=100):
    return [[f"客户{i:03d}", make_id(first + i), f"138{i:08d}", "茶园村", "一组", 3, 5] for i in range(n)]


@pytest.fixture
def setting(tmp_path):
    """The test's settings, shared by the test's app and its consumers."""
    return {"DATABASE_URL": f"sqlite:///{tmp_path}/zerentian.db", "HUEY_URL": f"sqlite:///{tmp_path}/huey.db",
            "SECRET_KEY": "test", "ID_NUMBER_KEY": TEST_ID_NUMBER_KEY, "PASSWORD_HASH_METHOD": HASH,
            "IMPORT_DIR": str(tmp_path / "uploads"), "HUEY_IMMEDIATE": False, "JOB_STALE_SECONDS": 1.5,
            "WORKER_PERIODIC_SECONDS": 1, "WORKER_HEARTBEAT_SECONDS": 0.5}


@pytest.fixture
def wapp(setting):
    url = setting.pop("DATABASE_URL")
    application = make_app(url, **setting)
    setting["DATABASE_URL"] = url
    reset_database(database.obj)
    with application.app_context(), database.obj.connection_context():
        application.county = build_county()
    yield application
    database.obj.close()


@pytest.fixture
def consumers(wapp, setting, tmp_path):
    group = Consumers(tmp_path / "workers", setting)
    group.app = wapp
    yield group
    group.stop_all()


def started(consumers, *args, **kwargs):
    """A consumer, once its heartbeat is in the queue's storage."""
    process = consumers.start(*args, **kwargs)
    with consumers.app.app_context():
        wait_for(lambda: jobs.last_worker_heartbeat() is not None or process.poll() is not None,
                 what="the worker's heartbeat")
    assert process.poll() is None, consumers.log(process)
    return process


def signed_in(wapp, username="lead1"):
    client = wapp.test_client()
    assert login(client, username).status_code == 302
    return client


def the_job(job_id):
    with database.obj.connection_context():
        return Job.get_by_id(job_id).live_view()


def import_job_of(import_id, kind):
    with database.obj.connection_context():
        return Job.latest(kind, f"import:{import_id}:{'write' if kind == 'import_write' else 'check'}")


def finished(import_id, kind):
    job = wait_for(lambda: (j := import_job_of(import_id, kind)) and j.finished and j, what=f"{kind} to end")
    return job


def confirm(client, import_id):
    return client.post(f"/imports/{import_id}/confirm",
                       data={"csrf_token": csrf_token(client, f"/imports/{import_id}")})


def test_an_import_from_the_page_runs_on_the_worker_with_progress(wapp, consumers):
    started(consumers, "--workers", "1", "--no-periodic")
    lead = signed_in(wapp)
    import_id = job_of(upload(lead, xlsx(rows(12))))
    check(lead, import_id)
    job = finished(import_id, "import_check")
    assert job.state == "done" and (job.done, job.total) == (12, 12)
    assert job.worker and job.worker.split(":")[-1] != str(os.getpid())  # another process ran it
    page = soup(lead.get(f"/jobs/{job.id}"))
    assert page.select_one(".job-state").get_text() == "完成"
    assert page.select_one("progress")["value"] == "12"
    assert confirm(lead, import_id).status_code == 302
    write = finished(import_id, "import_write")
    assert write.state == "done", write.error
    with database.obj.connection_context():
        assert Customer.select().where(Customer.name.startswith("客户")).count() == 12
        assert ImportJob.get_by_id(import_id).status == "done"
