"""A SQLite file's committed rows reach the database file without a request waiting for it.

The WAL's copy into the file ends in an fsync (up to 600 ms on the bench machine); a
thread makes it every SQLITE_CHECKPOINT_SECONDS so that no check-in's commit does.
Reading the file with immutable=1 shows only what was copied into it, never the WAL.
"""
import sqlite3
import time

from app import create_app
from app.db import close_all, database
from app.models import Branch
from tests.conftest import HASH, TEST_ID_NUMBER_KEY, reset_database


def rows_in_the_file(path):
    reader = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return reader.execute("SELECT COUNT(*) FROM branch").fetchone()[0]
    finally:
        reader.close()


def app_on(path, every):
    return create_app({"TESTING": True, "DATABASE_URL": f"sqlite:///{path}", "SECRET_KEY": "test",
                       "ID_NUMBER_KEY": TEST_ID_NUMBER_KEY, "PASSWORD_HASH_METHOD": HASH,
                       "SQLITE_CHECKPOINT_SECONDS": every})


def write_a_branch(app):
    reset_database(database.obj)
    with app.app_context(), database.obj.connection_context():
        database.obj.execute_sql("PRAGMA wal_checkpoint(TRUNCATE)")  # the schema is in the file
        Branch.create(kind="bank", name="测试农商行", code="T", path="/1/")
    # The pooled connection stays open, so nothing else copies the WAL into the file.


def test_committed_rows_reach_the_database_file_within_seconds(tmp_path):
    path = tmp_path / "z.db"
    write_a_branch(app_on(path, 0.2))
    deadline = time.monotonic() + 10
    while rows_in_the_file(path) == 0 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert rows_in_the_file(path) == 1
    close_all()


def test_without_the_thread_they_wait_in_the_wal(tmp_path):
    """The control: what the thread does is not done by anything else."""
    path = tmp_path / "z.db"
    write_a_branch(app_on(path, 0))
    time.sleep(1)
    assert rows_in_the_file(path) == 0
    close_all()
