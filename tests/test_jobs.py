"""Background jobs through REAL consumers (`flask worker` processes) on Huey's SQLite storage
(one test on Redis): imports from the page and the command, a worker killed mid-import,
periodic tasks with two consumers running, bad parameters, scope."""
import os
import signal

import pytest

from app import clock, jobs
from app.db import database
from app.models import Customer, ImportJob, Job, PeriodicRun
from tests.conftest import TEST_ID_NUMBER_KEY, csrf_token, login, make_app, reset_database, soup
from tests.county import HASH, build_county
from tests.test_imports import check, job_of, make_id, upload, xlsx
from tests.workers import Consumers, wait_for


def rows(n, first=100):
    return [[f"客户{first + i:03d}", make_id(first + i), f"138{first + i:08d}", "茶园村", "一组", 3, 5]
            for i in range(n)]


@pytest.fixture
def setting(tmp_path):
    """The test's settings, shared by the test's app and its consumers."""
    return {"DATABASE_URL": f"sqlite:///{tmp_path}/zerentian.db", "HUEY_URL": f"sqlite:///{tmp_path}/huey.db",
            "SECRET_KEY": "test", "ID_NUMBER_KEY": TEST_ID_NUMBER_KEY, "PASSWORD_HASH_METHOD": HASH,
            "IMPORT_DIR": str(tmp_path / "uploads"), "HUEY_IMMEDIATE": False, "JOB_STALE_SECONDS": 1.0,
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
    """A consumer, once it runs (its scheduler and workers started, a heartbeat written)."""
    process = consumers.start(*args, **kwargs)
    up(consumers, process)
    return process


def up(consumers, process):
    wait_for(lambda: "The following commands are available" in consumers.log(process) or process.poll() is not None,
             what="the consumer to start")
    with consumers.app.app_context():
        wait_for(lambda: jobs.last_worker_heartbeat() is not None, what="a worker heartbeat")
    assert process.poll() is None, consumers.log(process)


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
    assert page.select_one(".job-state").get_text() == "已完成"
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


def stale_check(wapp, seconds=1.1):
    """The periodic stale-job check, run once the dead worker's heartbeat is old enough."""
    clock_start = clock.now()
    wait_for(lambda: (clock.now() - clock_start).total_seconds() > seconds, what="the heartbeat to go stale")
    with wapp.app_context(), database.obj.connection_context():
        return jobs.requeue_stale()


@pytest.fixture
def slow(setting):
    """Imports slow enough to kill midway: 5 rows a chunk, 25 ms a row (a second for 40 rows)."""
    setting.update(IMPORT_ROW_DELAY=0.025, IMPORT_CHUNK_ROWS=5)


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
        assert sorted(names) == [f"客户{100 + i:03d}" for i in range(40)]  # every row, none twice
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


def test_two_consumers_run_each_periodic_task_once_in_its_minute(wapp, consumers, setting):
    """Both consumers look for periodic tasks every second across 03:10 (Shanghai): the
    clean-up due then and the stale check of each minute each run once."""
    import datetime as dt
    import time

    from app.imports import uploads

    folder = os.path.join(setting["IMPORT_DIR"])
    os.makedirs(folder, exist_ok=True)
    old, fresh = os.path.join(folder, "old"), os.path.join(folder, "fresh")
    for path, moment in ((old, "2026-11-23T12:00+08:00"), (fresh, "2026-11-25T12:00+08:00")):
        open(path, "w").close()
        stamp = dt.datetime.fromisoformat(moment).timestamp()
        os.utime(path, (stamp, stamp))
    lead = signed_in(wapp)
    stale_preview = job_of(upload(lead, xlsx(rows(1))))
    kept_preview = job_of(upload(lead, xlsx(rows(1))))
    with database.obj.connection_context():
        ImportJob.update(status="checked", updated_at=clock.parse_moment("2026-11-23T12:00")).where(
            ImportJob.id == stale_preview).execute()
    # Both start together, a few seconds before 03:10 on their clock (the same clock: the second
    # starts that much later), so both are looking when the minute turns.
    base, t0 = dt.datetime.fromisoformat("2026-11-26T03:09:54+08:00"), time.monotonic()
    first = consumers.start("--workers", "1", at=base)
    second = consumers.start("--workers", "1", at=base + dt.timedelta(seconds=time.monotonic() - t0))
    up(consumers, first)
    up(consumers, second)
    slot = clock.parse_moment("2026-11-26T03:10")
    with database.obj.connection_context():
        run = wait_for(lambda: PeriodicRun.get_or_none(PeriodicRun.name == "clean_uploads", PeriodicRun.slot == slot,
                                                       PeriodicRun.finished_at.is_null(False)),
                       what="the 03:10 clean-up")
        wait_for(lambda: PeriodicRun.select().where(PeriodicRun.name == "check_stale_jobs", PeriodicRun.slot == slot,
                                                    PeriodicRun.finished_at.is_null(False)).exists(),
                 what="the 03:10 stale check")
        time.sleep(1.5)  # both schedulers look again at least once more within the minute
        runs = list(PeriodicRun.select().order_by(PeriodicRun.slot, PeriodicRun.name))
        assert ImportJob.get_or_none(ImportJob.id == stale_preview) is None
        assert ImportJob.get_or_none(ImportJob.id == kept_preview) is not None
    assert json_of(run.outcome) == {"files": 1, "previews": 1, "periodic_runs": 0}
    assert not os.path.exists(old) and os.path.exists(fresh)
    local = [(r.name, clock.to_local(r.slot).strftime("%H:%M")) for r in runs]
    # The first look also covers the minute before it (03:08 too when it came before 03:09).
    assert local[-3:] == [("check_stale_jobs", "03:09"), ("check_stale_jobs", "03:10"), ("clean_uploads", "03:10")]
    assert local[:-3] in ([], [("check_stale_jobs", "03:08")])
    logs = consumers.log(first) + consumers.log(second)
    for process in (first, second):  # both were running, periodic tasks on, before 03:10 came
        assert log_time(consumers.log(process), "Periodic tasks are enabled") < log_time(
            logs, "Executing app.jobs.periodic.clean_uploads")
    # Each run was queued by one consumer only, and executed once.
    assert logs.count("periodic task clean_uploads queued") == 1
    assert logs.count("periodic task check_stale_jobs queued") == len(local) - 1
    assert logs.count("Executing app.jobs.periodic.clean_uploads") == 1
    assert uploads.KEEP_DAYS == 2


def log_time(log, text):
    """The wall time of the first log line holding text."""
    line = next(line for line in log.splitlines() if text in line)
    return line[1:24]


def json_of(text):
    import json

    return json.loads(text)


def test_the_command_imports_on_the_worker_with_progress(wapp, consumers, tmp_path):
    started(consumers, "--workers", "1", "--no-periodic")
    from tests.test_imports import csv_bytes

    path = tmp_path / "建档.csv"
    path.write_bytes(csv_bytes(rows(12), encoding="gbk"))
    result = wapp.test_cli_runner().invoke(args=["import-customers", str(path), "--branch", "A1", "--yes"])
    assert result.exit_code == 0, result.output
    assert "new: 12" in result.output and "Writing" in result.output
    with database.obj.connection_context():
        check_job, write_job = Job.select().order_by(Job.id)
        assert [(j.kind, j.state, j.done, j.total) for j in (check_job, write_job)] == [
            ("import_check", "done", 12, 12), ("import_write", "done", 12, 12)]
        assert check_job.worker.split(":")[-1] != str(os.getpid())
        assert Customer.select().where(Customer.name.startswith("客户")).count() == 12


def test_a_job_whose_file_expired_fails_and_the_page_says_why(wapp, consumers):
    lead = signed_in(wapp)
    import_id = job_of(upload(lead, xlsx(rows(3))))
    with wapp.app_context(), database.obj.connection_context():
        from app.imports import uploads

        record = ImportJob.get_by_id(import_id)
        uploads.job_file(record).unlink()  # the clean-up took it while the job waited
        job = Job.submit("import_check", {"import_job": import_id}, None, record.branch_id,
                         key=f"import:{import_id}:check")
    started(consumers, "--workers", "1", "--no-periodic")
    job = wait_for(lambda: (j := the_job(job.id)).finished and j, what="the job to end")
    assert job.state == "failed" and job.error == "上传的文件已在 2 天后删除：请重新上传。"
    assert soup(lead.get(f"/jobs/{job.id}")).select_one(".job-error").get_text() == job.error


def test_the_same_import_queued_twice_runs_once(wapp, consumers):
    lead = signed_in(wapp)
    import_id = job_of(upload(lead, xlsx(rows(3))))
    with wapp.app_context(), database.obj.connection_context():
        record = ImportJob.get_by_id(import_id)
        ImportJob.update(status="checking").where(ImportJob.id == import_id).execute()
        asked = [Job.submit("import_check", {"import_job": import_id}, None, record.branch_id,
                            key=f"import:{import_id}:check") for _ in range(2)]
        Job.enqueue(asked[0])  # and a stray second message for the same job
    assert asked[0].id == asked[1].id
    worker = started(consumers, "--workers", "2", "--no-periodic")
    job = wait_for(lambda: (j := the_job(asked[0].id)).finished and j, what="the job to end")
    wait_for(lambda: consumers.log(worker).count("executed in") == 2, what="both messages to be taken")
    assert (job.state, job.attempts) == ("done", 1)
    with database.obj.connection_context():
        assert Job.select().count() == 1


@pytest.fixture
def redis_url(tmp_path, setting):
    """A throwaway redis-server on a free port, in the test's folder; skipped without the binary."""
    import shutil
    import socket
    import subprocess
    import time

    binary = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server")
                                              else None)
    if binary is None:
        pytest.skip("redis-server is not installed (.ci/system-packages.sh installs it)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    folder = tmp_path / "redis"
    folder.mkdir()
    server = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(folder),
                               "--save", "", "--appendonly", "no", "--daemonize", "no"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import redis

    client = redis.Redis(port=port)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                pytest.skip("redis-server did not start")
            time.sleep(0.05)
    client.close()
    url = f"redis://127.0.0.1:{port}/0"
    setting["HUEY_URL"] = url
    yield url
    server.terminate()
    server.wait(5)


def test_imports_from_the_page_and_the_command_run_on_redis(redis_url, wapp, consumers, tmp_path):
    from huey.storage import RedisStorage
    from tests.test_imports import csv_bytes

    assert isinstance(jobs.huey.storage, RedisStorage)
    started(consumers, "--workers", "1", "--no-periodic")
    lead = signed_in(wapp)
    import_id = job_of(upload(lead, xlsx(rows(12))))
    check(lead, import_id)
    assert finished(import_id, "import_check").state == "done"
    confirm(lead, import_id)
    write = finished(import_id, "import_write")
    assert (write.state, write.done, write.total) == ("done", 12, 12), write.error
    path = tmp_path / "建档.csv"
    path.write_bytes(csv_bytes(rows(5, first=300), encoding="gbk"))
    result = wapp.test_cli_runner().invoke(args=["import-customers", str(path), "--branch", "A1", "--yes"])
    assert result.exit_code == 0, result.output
    with database.obj.connection_context():
        assert Customer.select().where(Customer.name.startswith("客户")).count() == 12 + 5
        assert {j.state for j in Job.select()} == {"done"}
    with wapp.app_context():
        assert jobs.storage_ok() and jobs.last_worker_heartbeat() is not None


@pytest.fixture
def on_postgres(setting, postgres_url):
    setting["DATABASE_URL"] = postgres_url


def test_an_import_runs_on_the_worker_with_postgresql(on_postgres, wapp, consumers):
    """The same page import with the database on PostgreSQL (the worker processes' connections
    are their own: the consumer closes the pool before forking)."""
    started(consumers, "--workers", "2", "--no-periodic")
    lead = signed_in(wapp)
    import_id = job_of(upload(lead, xlsx(rows(12))))
    check(lead, import_id)
    assert finished(import_id, "import_check").state == "done"
    confirm(lead, import_id)
    write = finished(import_id, "import_write")
    assert (write.state, write.done, write.total) == ("done", 12, 12), write.error
    with database.obj.connection_context():
        assert Customer.select().where(Customer.name.startswith("客户")).count() == 12
