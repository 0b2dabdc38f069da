"""Background jobs through REAL consumers (`flask worker` processes) on Huey's SQLite storage
(one test on Redis): imports from the page and the command, a worker killed mid-import,
periodic tasks with two consumers running, bad parameters, scope."""
import os
import signal

import pytest

from app import clock, jobs
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


def kill_worker_running(job_id, after_rows):
    """SIGKILL the worker process running the job once it has done after_rows rows."""
    job = wait_for(lambda: (j := the_job(job_id)).state == "running" and j.done >= after_rows and j,
                   what=f"job {job_id} to pass {after_rows} rows")
    os.kill(int(job.worker.split(":")[-1]), signal.SIGKILL)
    return job


def stale_check(wapp, seconds=1.6):
    """The periodic stale-job check, run once the dead worker's heartbeat is old enough."""
    clock_start = clock.now()
    wait_for(lambda: (clock.now() - clock_start).total_seconds() > seconds, what="the heartbeat to go stale")
    with wapp.app_context(), database.obj.connection_context():
        return jobs.requeue_stale()


@pytest.fixture
def slow(setting):
    """Imports slow enough to kill midway: 5 rows a chunk, 40 ms a row."""
    setting.update(IMPORT_ROW_DELAY=0.04, IMPORT_CHUNK_ROWS=5)


def test_a_worker_killed_mid_write_is_requeued_once_and_writes_each_row_once(slow, wapp, consumers):
    started(consumers, "--workers", "1", "--no-periodic")
    lead = signed_in(wapp)
    import_id = job_of(upload(lead, xlsx(rows(40))))
    check(lead, import_id)
    assert finished(import_id, "import_check").state == "done"
    confirm(lead, import_id)
    write = import_job_of(import_id, "import_write")
    kill_worker_running(write.id, after_rows=10)
    with database.obj.connection_context():
        assert Customer.select().where(Customer.name.startswith("客户")).count() == 0  # rolled back
    assert stale_check(wapp) == ([write.id], [])
    job = finished(import_id, "import_write")  # Huey's consumer started a new worker process
    assert (job.state, job.attempts, job.done) == ("done", 2, 40), job.error
    with database.obj.connection_context():
        names = [c.name for c in Customer.select().where(Customer.name.startswith("客户"))]
        assert sorted(names) == [f"客户{i:03d}" for i in range(40)]  # every row, none twice
        assert ImportJob.get_by_id(import_id).status == "done"


def test_a_job_killed_twice_fails_and_the_pages_say_so(slow, wapp, consumers):
    started(consumers, "--workers", "1", "--no-periodic")
    lead = signed_in(wapp)
    import_id = job_of(upload(lead, xlsx(rows(40))))
    check(lead, import_id)
    job = import_job_of(import_id, "import_check")
    kill_worker_running(job.id, after_rows=10)
    assert stale_check(wapp) == ([job.id], [])
    wait_for(lambda: the_job(job.id).attempts == 2, what="the second attempt")
    kill_worker_running(job.id, after_rows=10)
    assert stale_check(wapp) == ([], [job.id])
    job = the_job(job.id)
    assert job.state == "failed" and "两次" in job.error
    page = soup(lead.get(f"/jobs/{job.id}"))
    assert page.select_one(".job-error").get_text() == job.error
    assert page.select_one("[hx-trigger]") is None  # it stopped polling
    page = soup(lead.get(f"/imports/{import_id}"))
    assert page.select_one(".job-error").get_text() == job.error
    assert page.select_one("a[href$='/mapping']")  # check it again
